import { useId, useRef, useState } from 'preact/hooks';
import { api, toApiError, type ApiError } from '../api';
import { expandTemplate, templateVariables } from '../lib/uri-template';
import type { ConnectorDetail, ReadOutcome } from '../types';
import { ResourceContents } from './content';
import { ErrorNotice, Loading } from './ui';

type Template = ConnectorDetail['templates'][number];

function TemplateForm({
  template,
  onRead,
  busy,
}: {
  template: Template;
  onRead: (uri: string) => void;
  busy: boolean;
}) {
  const id = useId();
  const variables = templateVariables(template.uriTemplate);
  const [values, setValues] = useState<Record<string, string>>({});
  const uri = expandTemplate(template.uriTemplate, values);
  return (
    <li class="card resource-template" data-testid={`template-${template.name}`}>
      <h3 class="item-title">{template.title ?? template.name}</h3>
      <p class="mono break muted">{template.uriTemplate}</p>
      {template.description ? <p class="description">{template.description}</p> : null}
      <form
        class="template-form"
        onSubmit={(event) => {
          event.preventDefault();
          onRead(uri);
        }}
      >
        {variables.map((name, index) => (
          <div class="field" key={name}>
            <label for={`${id}-${index}`}>{name}</label>
            <input
              id={`${id}-${index}`}
              autocomplete="off"
              spellcheck={false}
              value={values[name] ?? ''}
              onInput={(event) => setValues((current) => ({ ...current, [name]: event.currentTarget.value }))}
              data-testid={`template-${template.name}-${name}`}
            />
          </div>
        ))}
        <p class="muted">
          Reads <span class="mono break">{uri}</span>
        </p>
        <div class="form-actions form-actions-start">
          <button type="submit" class="button" disabled={busy} data-testid={`template-${template.name}-read`}>
            Read
          </button>
        </div>
      </form>
    </li>
  );
}

export function ResourcesPanel({ server, detail }: { server: string; detail: ConnectorDetail }) {
  const [reading, setReading] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<{ uri: string; result: ReadOutcome } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const view = useRef<HTMLElement>(null);

  const read = async (uri: string) => {
    setReading(uri);
    setError(null);
    try {
      const result = await api.read(server, uri);
      setOutcome({ uri, result });
    } catch (failure) {
      setOutcome(null);
      setError(toApiError(failure));
    } finally {
      setReading(null);
      // Bring the answer into view and give keyboard users a place to continue from.
      requestAnimationFrame(() => view.current?.focus());
    }
  };

  if (detail.resources.length === 0 && detail.templates.length === 0) {
    return <p class="muted">This server offers no resources.</p>;
  }

  return (
    <div class="resources">
      {detail.resources.length > 0 ? (
        <ul class="resource-list">
          {detail.resources.map((resource) => (
            <li key={resource.uri}>
              <button
                type="button"
                class="resource-item"
                onClick={() => void read(resource.uri)}
                aria-busy={reading === resource.uri}
                data-testid={`resource-${resource.uri}`}
              >
                <span class="item-title">{resource.title ?? resource.name}</span>
                <span class="mono break muted">{resource.uri}</span>
                {resource.description ? <span class="description">{resource.description}</span> : null}
                {resource.mimeType ? <span class="muted">{resource.mimeType}</span> : null}
              </button>
            </li>
          ))}
        </ul>
      ) : null}

      {reading ? <Loading label={`Reading ${reading}…`} /> : null}
      <section
        class="resource-view-wrap"
        ref={view}
        tabIndex={-1}
        aria-label="Resource contents"
        aria-live="polite"
      >
        <ErrorNotice error={error} testid="resource-error" />
        {outcome ? (
          <div class="card resource-view" data-testid="resource-view">
            <div class="resource-view-head">
              <h3 class="item-title mono break">{outcome.uri}</h3>
              <button type="button" class="link-button" onClick={() => setOutcome(null)}>
                Close
              </button>
            </div>
            {outcome.result.contents.length === 0 ? <p class="muted">The resource is empty.</p> : null}
            {outcome.result.contents.map((content, index) => (
              <ResourceContents
                key={index}
                uri={content.uri}
                mimeType={content.mimeType}
                text={content.text}
                blob={content.blob}
              />
            ))}
          </div>
        ) : null}
      </section>

      {detail.templates.length > 0 ? (
        <>
          <h3 class="section-title">Templates</h3>
          <ul class="template-list">
            {detail.templates.map((template) => (
              <TemplateForm
                key={template.uriTemplate}
                template={template}
                busy={reading !== null}
                onRead={(uri) => void read(uri)}
              />
            ))}
          </ul>
        </>
      ) : null}
    </div>
  );
}
