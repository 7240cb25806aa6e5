/** A `${VAR}` reference is read from the environment when patchbay connects: not a secret. */
const isReference = (value: string) => value.startsWith('${');

/**
 * A value that is either a secret (masked) or a `${VAR}` reference (shown). Both branches render
 * an `<input>` in the same place, so Preact flips its type in place and focus stays while typing.
 */
export function SecretInput(props: {
  id: string;
  value: string;
  placeholder?: string;
  onValue: (value: string) => void;
  testid: string;
}) {
  const common = {
    id: props.id,
    autocomplete: 'off',
    spellcheck: false,
    placeholder: props.placeholder,
    value: props.value,
    onInput: (event: Event) => props.onValue((event.currentTarget as HTMLInputElement).value),
    'data-testid': props.testid,
  };
  return isReference(props.value) ? <input type="text" {...common} /> : <input type="password" {...common} />;
}
