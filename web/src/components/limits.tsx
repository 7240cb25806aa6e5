import { useId, useState } from 'preact/hooks';
import { api, toApiError, type ApiError } from '../api';
import { formatTime } from '../lib/format';
import type { LimitView } from '../types';
import { ErrorNotice } from './ui';

const UNITS = ['minute', 'hour', 'day'] as const;

function LimitLine({ limit, onRemove, busy }: { limit: LimitView; onRemove: () => void; busy: boolean }) {
  const usage =
    limit.used !== null
      ? `${limit.used} used${limit.reopensAt ? ` · window resets ${formatTime(limit.reopensAt)}` : ''}`
      : null;
  return (
    <li class="limit-line">
      <span>
        <strong>{limit.limit}</strong>
        {limit.pattern !== '*' ? <span class="muted"> for {limit.pattern}</span> : null}
        <span class="muted"> · {limit.scope}</span>
        {usage ? <span class="muted"> · {usage}</span> : null}
      </span>
      <button type="button" class="link-button" disabled={busy} onClick={onRemove}>
        Remove
      </button>
    </li>
  );
}

/** The limits that apply to `pattern` (a tool name or `*`), and a form to set one: "N per unit". */
export function LimitsEditor({
  server,
  pattern,
  limits,
  onSaved,
  testid,
}: {
  server: string;
  pattern: string;
  limits: LimitView[];
  onSaved: () => Promise<void>;
  testid: string;
}) {
  const id = useId();
  const [count, setCount] = useState('');
  const [unit, setUnit] = useState<(typeof UNITS)[number]>('hour');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const save = async (limit: string, scope?: LimitView['scope'], forPattern = pattern) => {
    setBusy(true);
    setError(null);
    try {
      await api.setLimit(server, forPattern, limit, scope);
      await onSaved();
      setCount('');
    } catch (failure) {
      setError(toApiError(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="limits" data-testid={testid}>
      {limits.length > 0 ? (
        <ul class="limit-list">
          {limits.map((limit) => (
            <LimitLine
              key={`${limit.scope}:${limit.pattern}`}
              limit={limit}
              busy={busy}
              onRemove={() => void save('none', limit.scope, limit.pattern)}
            />
          ))}
        </ul>
      ) : (
        <p class="muted">No limit.</p>
      )}
      <form
        class="limit-form"
        onSubmit={(event) => {
          event.preventDefault();
          void save(`${count.trim()}/${unit}`);
        }}
      >
        <label for={`${id}-count`} class="visually-hidden">
          Calls allowed
        </label>
        <input
          id={`${id}-count`}
          class="input-small"
          inputMode="numeric"
          placeholder="N"
          value={count}
          onInput={(event) => setCount(event.currentTarget.value)}
          data-testid={`${testid}-count`}
        />
        <span aria-hidden="true">per</span>
        <label for={`${id}-unit`} class="visually-hidden">
          Per
        </label>
        <select
          id={`${id}-unit`}
          value={unit}
          onChange={(event) => setUnit(event.currentTarget.value as (typeof UNITS)[number])}
          data-testid={`${testid}-unit`}
        >
          {UNITS.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
        <button
          type="submit"
          class="button"
          disabled={busy || count.trim() === ''}
          data-testid={`${testid}-save`}
        >
          {busy ? 'Saving…' : 'Set limit'}
        </button>
      </form>
      <ErrorNotice error={error} />
    </div>
  );
}
