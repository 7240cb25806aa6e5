import { useEffect, useId, useMemo, useRef, useState } from 'preact/hooks';
import { api, ApiError, toApiError } from '../api';
import { formatMs } from '../lib/format';
import {
  buildArguments,
  fieldsFromSchema,
  initialValues,
  type Field,
  type FieldValues,
} from '../lib/schema-form';
import type { CallOutcome, TaskRun, ToolView } from '../types';
import { ConfirmDialog } from './confirm-dialog';
import { ContentList, Json } from './content';
import { ErrorNotice } from './ui';

function FieldInput({
  field,
  id,
  value,
  error,
  onChange,
}: {
  field: Field;
  id: string;
  value: string | boolean;
  error: string | undefined;
  onChange: (value: string | boolean) => void;
}) {
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [field.description || field.kind === 'json' ? hintId : '', error ? errorId : '']
    .filter(Boolean)
    .join(' ');
  const common = {
    id,
    name: field.name,
    'aria-required': field.required,
    'aria-invalid': error ? true : undefined,
    'aria-describedby': describedBy || undefined,
  } as const;
  const text = typeof value === 'string' ? value : '';

  const label = (
    <label for={id}>
      {field.label}
      {field.required ? (
        <span class="required" aria-hidden="true">
          {' '}
          *
        </span>
      ) : null}
      {field.required ? <span class="visually-hidden"> (required)</span> : null}
      {field.label !== field.name ? <span class="muted mono"> {field.name}</span> : null}
    </label>
  );

  let control;
  switch (field.kind) {
    case 'boolean':
      return (
        <div class="field field-check">
          <label class="check">
            <input
              type="checkbox"
              {...common}
              checked={value === true}
              onChange={(event) => onChange(event.currentTarget.checked)}
            />
            {field.label}
            {field.required ? <span class="visually-hidden"> (required)</span> : null}
          </label>
          {field.description ? (
            <p class="field-hint" id={hintId}>
              {field.description}
            </p>
          ) : null}
        </div>
      );
    case 'enum':
      control = (
        <select {...common} value={text} onChange={(event) => onChange(event.currentTarget.value)}>
          <option value="">{field.required ? 'Choose…' : '(not set)'}</option>
          {field.options.map((option, index) => (
            <option key={index} value={String(index)}>
              {option.label}
            </option>
          ))}
        </select>
      );
      break;
    case 'number':
    case 'integer':
      control = (
        <input
          {...common}
          inputMode={field.kind === 'integer' ? 'numeric' : 'decimal'}
          autocomplete="off"
          value={text}
          onInput={(event) => onChange(event.currentTarget.value)}
        />
      );
      break;
    case 'json':
      control = (
        <textarea
          {...common}
          class="mono"
          rows={4}
          spellcheck={false}
          value={text}
          onInput={(event) => onChange(event.currentTarget.value)}
        />
      );
      break;
    default:
      control = (
        <input
          {...common}
          autocomplete="off"
          spellcheck={false}
          value={text}
          onInput={(event) => onChange(event.currentTarget.value)}
        />
      );
  }

  return (
    <div class="field">
      {label}
      {control}
      {field.description || field.kind === 'json' ? (
        <p class="field-hint" id={hintId}>
          {field.description}
          {field.kind === 'json' ? `${field.description ? ' · ' : ''}JSON (${field.expected ?? 'any'})` : ''}
        </p>
      ) : null}
      {error ? (
        <p class="field-error" id={errorId}>
          {error}
        </p>
      ) : null}
    </div>
  );
}

export function CallResult({ outcome, elapsedMs }: { outcome: CallOutcome; elapsedMs: number | null }) {
  const failed = outcome.status === 'tool-error';
  return (
    <section
      class={`result${failed ? ' result-error' : ''}`}
      data-testid="result"
      data-status={outcome.status}
      aria-label="Result"
      role={failed ? 'alert' : undefined}
    >
      <p class="result-head">
        <strong>{failed ? 'The tool reported an error' : 'Result'}</strong>
        {elapsedMs !== null ? <span class="muted"> · {formatMs(elapsedMs)}</span> : null}
      </p>
      {outcome.content.length > 0 ? (
        <ContentList blocks={outcome.content} />
      ) : (
        <p class="muted">No content.</p>
      )}
      {outcome.structuredContent !== undefined ? (
        <div class="structured">
          <p class="result-subhead">Structured content</p>
          <Json value={outcome.structuredContent} />
        </div>
      ) : null}
    </section>
  );
}

/** How often the page asks for a task's status (the server's own interval, within bounds). */
function pollMs(run: TaskRun): number {
  return Math.min(2_000, Math.max(300, run.task.pollInterval ?? 500));
}

/**
 * A task the console started (a tool whose execution requires one): its status and the server's
 * message as they move, a way to cancel it, then its result as a call's.
 */
function TaskProgress({
  server,
  first,
  onEnded,
}: {
  server: string;
  first: TaskRun;
  onEnded: (run: TaskRun) => void;
}) {
  const [run, setRun] = useState<TaskRun>(first);
  const [error, setError] = useState<ApiError | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const ended = useRef(onEnded);
  ended.current = onEnded;

  useEffect(() => {
    if (run.done) {
      ended.current(run);
      return;
    }
    const timer = setTimeout(() => {
      api.task(server, run.task.taskId).then(setRun, (failure: unknown) => setError(toApiError(failure)));
    }, pollMs(run));
    return () => clearTimeout(timer);
  }, [server, run]);

  const cancel = async () => {
    setCancelling(true);
    try {
      setRun(await api.cancelTask(server, run.task.taskId));
    } catch (failure) {
      setError(toApiError(failure));
    } finally {
      setCancelling(false);
    }
  };

  return (
    <section class="result task-progress" data-testid="task" data-status={run.task.status} aria-live="polite">
      <p class="result-head">
        <strong>Task {run.task.status.replace('_', ' ')}</strong>
        <span class="muted mono"> {run.task.taskId}</span>
      </p>
      {run.task.statusMessage ? <p data-testid="task-message">{run.task.statusMessage}</p> : null}
      {run.done ? null : (
        <div class="form-actions form-actions-start">
          <button
            type="button"
            class="button"
            disabled={cancelling}
            onClick={() => void cancel()}
            data-testid="task-cancel"
          >
            {cancelling ? 'Cancelling…' : 'Cancel task'}
          </button>
        </div>
      )}
      <ErrorNotice error={error ?? (run.error ? new ApiError(run.error, 200) : null)} testid="task-error" />
    </section>
  );
}

/** "Try it": a form generated from the tool's input schema, sent through the console's call path. */
export function TryTool({
  server,
  tool,
  onCalled,
}: {
  server: string;
  tool: ToolView;
  onCalled?: () => void;
}) {
  const id = useId();
  const fields = useMemo(() => fieldsFromSchema(tool.inputSchema), [tool.inputSchema]);
  const [values, setValues] = useState<FieldValues>(() => initialValues(fields));
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [outcome, setOutcome] = useState<CallOutcome | null>(null);
  const [elapsed, setElapsed] = useState<number | null>(null);
  const [approval, setApproval] = useState<{ because: string; args: Record<string, unknown> } | null>(null);
  const [task, setTask] = useState<{ run: TaskRun; started: number } | null>(null);

  const send = async (args: Record<string, unknown>, approved: boolean) => {
    setBusy(true);
    setError(null);
    const started = performance.now();
    try {
      const result = await api.call(server, tool.name, args, approved);
      if (result.status === 'needs-approval' && !approved) {
        setOutcome(null);
        setApproval({ because: result.because ?? `${tool.name} is set to need approval.`, args });
        return;
      }
      setApproval(null);
      if (result.status === 'task' && result.task) {
        setOutcome(null);
        setTask({ run: { tool: tool.name, task: result.task, done: false }, started });
        return;
      }
      setTask(null);
      setOutcome(result);
      setElapsed(performance.now() - started);
      onCalled?.();
    } catch (failure) {
      setApproval(null);
      setOutcome(null);
      setTask(null);
      setError(toApiError(failure));
    } finally {
      setBusy(false);
    }
  };

  const submit = (event: Event) => {
    event.preventDefault();
    const built = buildArguments(fields, values);
    if (!built.ok) {
      setFieldErrors(built.errors);
      return;
    }
    setFieldErrors({});
    void send(built.arguments, false);
  };

  return (
    <div class="try">
      <form class="try-form" onSubmit={submit} noValidate data-testid={`try-${tool.name}`}>
        {fields.length === 0 ? <p class="muted">This tool takes no arguments.</p> : null}
        {fields.map((field, index) => (
          <FieldInput
            key={field.name}
            field={field}
            id={`${id}-${index}`}
            value={values[field.name] ?? field.initial}
            error={fieldErrors[field.name]}
            onChange={(value) => setValues((current) => ({ ...current, [field.name]: value }))}
          />
        ))}
        <div class="form-actions form-actions-start">
          <button
            type="submit"
            class="button button-primary"
            disabled={busy || (task !== null && !task.run.done)}
            data-testid={`try-${tool.name}-run`}
          >
            {busy || (task !== null && !task.run.done) ? 'Running…' : 'Run'}
          </button>
          {tool.decision === 'deny' ? <span class="muted">Blocked: the call will be refused.</span> : null}
        </div>
      </form>
      <ErrorNotice error={error} testid="call-error" />
      {task ? (
        <TaskProgress
          key={task.run.task.taskId}
          server={server}
          first={task.run}
          onEnded={(run) => {
            setTask({ run, started: task.started });
            if (run.outcome) {
              setOutcome(run.outcome);
              setElapsed(performance.now() - task.started);
            }
            onCalled?.();
          }}
        />
      ) : null}
      {outcome ? <CallResult outcome={outcome} elapsedMs={elapsed} /> : null}
      <ConfirmDialog
        open={approval !== null}
        title={`Run ${tool.name}?`}
        confirmLabel="Run it"
        busy={busy}
        onCancel={() => setApproval(null)}
        onConfirm={() => {
          if (approval) void send(approval.args, true);
        }}
      >
        <p>This tool needs approval before each call.</p>
        <p class="because">{approval?.because}</p>
      </ConfirmDialog>
    </div>
  );
}
