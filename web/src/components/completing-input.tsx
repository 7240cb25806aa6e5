import { useId, useState } from 'preact/hooks';

import { useCompletions } from '../lib/use-completions';
import type { CompletionRequest } from '../types';

/**
 * A text field that offers the server's completions in a `<datalist>` as the person types (the
 * browser shows them under the field). Each value is a server's string, shown as an option's
 * text, never as markup.
 */
export function CompletingInput({
  server,
  completionRef,
  argument,
  value,
  context,
  onValue,
  testid,
  id,
  ariaRequired,
  ariaInvalid,
  ariaDescribedBy,
}: {
  server: string;
  completionRef: CompletionRequest['ref'];
  argument: string;
  value: string;
  /** The other fields' values, which a server may narrow its answer by. */
  context: Record<string, string>;
  onValue: (value: string) => void;
  testid: string;
  id: string;
  ariaRequired?: boolean;
  ariaInvalid?: boolean;
  ariaDescribedBy?: string;
}) {
  const listId = useId();
  const [active, setActive] = useState(false);
  const others = Object.fromEntries(
    Object.entries(context).filter(([name, given]) => name !== argument && given !== ''),
  );
  const suggestions = useCompletions(server, completionRef, argument, value, others, active);
  return (
    <>
      <input
        id={id}
        aria-required={ariaRequired}
        aria-invalid={ariaInvalid}
        aria-describedby={ariaDescribedBy}
        autocomplete="off"
        spellcheck={false}
        list={listId}
        value={value}
        onFocus={() => setActive(true)}
        onInput={(event) => {
          setActive(true);
          onValue(event.currentTarget.value);
        }}
        data-testid={testid}
      />
      <datalist id={listId} data-testid={`${testid}-suggestions`}>
        {suggestions.map((suggestion) => (
          <option key={suggestion} value={suggestion} />
        ))}
      </datalist>
    </>
  );
}
