import type { Dispatch, StateUpdater } from 'preact/hooks';
import { SecretInput } from './secret-input';

/** One header being typed on the add or the edit page. */
export interface HeaderRow {
  id: number;
  name: string;
  /** Empty for a stored header being edited: its value is kept, unseen. */
  value: string;
  /** The stored header this row keeps the value of (edit page); null for a new one. */
  from: string | null;
}

let nextRowId = 1;

/** A new row: empty, or (with `from`) one standing for a stored header whose value stays unseen. */
export function headerRow(name = '', from: string | null = null): HeaderRow {
  return { id: nextRowId++, name, value: '', from };
}

/**
 * The header rows of the add and the edit page, with "Add header" and "Remove". `idPrefix` and
 * `testidPrefix` keep each page's element ids and test ids apart.
 */
export function HeaderRows(props: {
  rows: HeaderRow[];
  setRows: Dispatch<StateUpdater<HeaderRow[]>>;
  idPrefix: string;
  testidPrefix: string;
  namePlaceholder?: string;
}) {
  const { rows, setRows, idPrefix, testidPrefix } = props;
  const update = (id: number, patch: Partial<HeaderRow>) =>
    setRows((all) => all.map((row) => (row.id === id ? { ...row, ...patch } : row)));
  return (
    <>
      {rows.map((row, index) => (
        <div class="header-row" key={row.id} data-testid={`${testidPrefix}-header-${index}`}>
          <div class="field">
            <label for={`${idPrefix}header-name-${row.id}`}>Header {index + 1} name</label>
            <input
              id={`${idPrefix}header-name-${row.id}`}
              autocomplete="off"
              spellcheck={false}
              placeholder={props.namePlaceholder}
              value={row.name}
              onInput={(event) => update(row.id, { name: event.currentTarget.value })}
              data-testid={`${testidPrefix}-header-name-${index}`}
            />
          </div>
          <div class="field">
            <label for={`${idPrefix}header-value-${row.id}`}>Header {index + 1} value</label>
            <SecretInput
              id={`${idPrefix}header-value-${row.id}`}
              placeholder={row.from !== null ? 'unchanged' : 'Bearer … or ${API_TOKEN}'}
              value={row.value}
              onValue={(value) => update(row.id, { value })}
              testid={`${testidPrefix}-header-value-${index}`}
            />
          </div>
          <button
            type="button"
            class="button button-quiet"
            onClick={() => setRows((all) => all.filter((other) => other.id !== row.id))}
            aria-label={`Remove header ${index + 1}`}
            data-testid={`${testidPrefix}-header-remove-${index}`}
          >
            Remove
          </button>
        </div>
      ))}
      <button
        type="button"
        class="button button-start"
        onClick={() => setRows((all) => [...all, headerRow()])}
        data-testid={`${testidPrefix}-header-add`}
      >
        Add header
      </button>
    </>
  );
}
