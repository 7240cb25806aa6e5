import { useId, useState } from 'preact/hooks';
import { api, toApiError, type ApiError } from '../api';
import type { ConnectorDetail, PromptOutcome } from '../types';
import { CompletingInput } from './completing-input';
import { ContentBlockView } from './content';
import { ErrorNotice } from './ui';

type Prompt = ConnectorDetail['prompts'][number];

function PromptItem({ server, prompt }: { server: string; prompt: Prompt }) {
  const id = useId();
  const [values, setValues] = useState<Record<string, string>>({});
  const [missing, setMissing] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [outcome, setOutcome] = useState<PromptOutcome | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    const absent = prompt.arguments
      .filter((arg) => arg.required && !(values[arg.name] ?? '').trim())
      .map((a) => a.name);
    setMissing(absent);
    if (absent.length > 0) return;
    const args = Object.fromEntries(Object.entries(values).filter(([, value]) => value !== ''));
    setBusy(true);
    setError(null);
    try {
      setOutcome(await api.prompt(server, prompt.name, args));
    } catch (failure) {
      setOutcome(null);
      setError(toApiError(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <li class="card prompt" data-testid={`prompt-${prompt.name}`}>
      <h3 class="item-title">
        {prompt.title ?? prompt.name}
        {prompt.title && prompt.title !== prompt.name ? <span class="muted mono"> {prompt.name}</span> : null}
      </h3>
      {prompt.description ? <p class="description">{prompt.description}</p> : null}
      <form onSubmit={submit} noValidate data-testid={`prompt-${prompt.name}-form`}>
        {prompt.arguments.map((arg, index) => {
          const inputId = `${id}-${index}`;
          const isMissing = missing.includes(arg.name);
          return (
            <div class="field" key={arg.name}>
              <label for={inputId}>
                {arg.name}
                {arg.required ? (
                  <span class="required" aria-hidden="true">
                    {' '}
                    *
                  </span>
                ) : null}
                {arg.required ? <span class="visually-hidden"> (required)</span> : null}
              </label>
              <CompletingInput
                id={inputId}
                server={server}
                completionRef={{ type: 'prompt', name: prompt.name }}
                argument={arg.name}
                context={values}
                ariaRequired={arg.required}
                ariaInvalid={isMissing || undefined}
                ariaDescribedBy={arg.description || isMissing ? `${inputId}-hint` : undefined}
                value={values[arg.name] ?? ''}
                onValue={(value) => setValues((current) => ({ ...current, [arg.name]: value }))}
                testid={`prompt-${prompt.name}-${arg.name}`}
              />
              {arg.description || isMissing ? (
                <p class={isMissing ? 'field-error' : 'field-hint'} id={`${inputId}-hint`}>
                  {isMissing ? 'Required. ' : ''}
                  {arg.description}
                </p>
              ) : null}
            </div>
          );
        })}
        <div class="form-actions form-actions-start">
          <button
            type="submit"
            class="button button-primary"
            disabled={busy}
            data-testid={`prompt-${prompt.name}-run`}
          >
            {busy ? 'Getting…' : 'Get messages'}
          </button>
        </div>
      </form>
      <ErrorNotice error={error} />
      {outcome ? (
        <section class="messages" data-testid="prompt-messages" aria-label="Messages">
          {outcome.description ? <p class="muted">{outcome.description}</p> : null}
          <ol class="message-list">
            {outcome.messages.map((message, index) => (
              <li key={index} class={`message message-${message.role === 'user' ? 'user' : 'other'}`}>
                <p class="message-role">{message.role}</p>
                <ContentBlockView block={message.content} />
              </li>
            ))}
          </ol>
        </section>
      ) : null}
    </li>
  );
}

export function PromptsPanel({ server, prompts }: { server: string; prompts: Prompt[] }) {
  if (prompts.length === 0) return <p class="muted">This server offers no prompts.</p>;
  return (
    <ul class="prompt-list">
      {prompts.map((prompt) => (
        <PromptItem key={prompt.name} server={server} prompt={prompt} />
      ))}
    </ul>
  );
}
