import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { api, toApiError, type ApiError } from '../api';
import { expandTemplate, templateVariables } from '../lib/uri-template';
import { href } from '../router';
import type { ConnectorDetail, ReadOutcome } from '../types';
import { CompletingInput } from './completing-input';
import { ResourceContents } from './content';
import { ErrorNotice, Loading } from './ui';

type Template = ConnectorDetail['templates'][number];

function TemplateForm({
  server,
  template,
  onRead,
  busy,
}: {
  server: string;
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
            <CompletingInput
              id={`${id}-${index}`}
              server={server}
              completionRef={{ type: 'template', uri: template.uriTemplate }}
              argument={name}
              context={values}
              value={values[name] ?? ''}
              onValue={(value) => setValues((current) => ({ ...current, [name]: value }))}
              testid={`template-${template.name}-${name}`}
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

function Viewer({
  outcome,
  error,
  onClose,
  view,
}: {
  outcome: { uri: string; result: ReadOutcome } | null;
  error: ApiError | null;
  onClose: () => void;
  view: { current: HTMLElement | null };
}) {
  return (
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
            <button type="button" class="link-button" onClick={onClose}>
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
  );
}

/**
 * The server's resources and templates. A resource opens right under its entry, and the address
 * names it (`#/server/<name>?tab=resources&resource=<uri>`), so a link or a reload opens the page
 * at that resource, scrolled into view.
 */
export function ResourcesPanel({
  server,
  detail,
  initial,
}: {
  server: string;
  detail: ConnectorDetail;
  /** The resource named in the address, opened at once. */
  initial: string | null;
}) {
  const [reading, setReading] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(initial);
  const [outcome, setOutcome] = useState<{ uri: string; result: ReadOutcome } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const view = useRef<HTMLElement>(null);

  const read = async (uri: string) => {
    setReading(uri);
    setSelected(uri);
    setError(null);
    // The address names what is open, without a navigation.
    history.replaceState(null, '', href.server(server, { tab: 'resources', resource: uri }));
    try {
      const result = await api.read(server, uri);
      setOutcome({ uri, result });
    } catch (failure) {
      setOutcome(null);
      setError(toApiError(failure));
    } finally {
      setReading(null);
      scrollPending.current = true;
    }
  };

  // Once the answer is on the page: bring its item into view and give keyboard users a place to
  // continue from.
  const scrollPending = useRef(false);
  useEffect(() => {
    if (!scrollPending.current || reading !== null) return;
    scrollPending.current = false;
    view.current?.focus({ preventScroll: true });
    view.current?.parentElement?.scrollIntoView({ block: 'start' });
  }, [outcome, error, reading]);

  useEffect(() => {
    if (initial) void read(initial);
    // Only the resource the page was opened at.
  }, []);

  const close = () => {
    setOutcome(null);
    setError(null);
    setSelected(null);
    history.replaceState(null, '', href.server(server, { tab: 'resources' }));
  };

  if (detail.resources.length === 0 && detail.templates.length === 0) {
    return <p class="muted">This server offers no resources.</p>;
  }

  const listed = selected !== null && detail.resources.some((resource) => resource.uri === selected);
  const viewer = <Viewer outcome={outcome} error={error} onClose={close} view={view} />;

  return (
    <div class="resources">
      {/* A resource that is not in the list (read from a template): its contents come first. */}
      {!listed && (outcome || error) ? viewer : null}
      {detail.resources.length > 0 ? (
        <ul class="resource-list">
          {detail.resources.map((resource) => (
            <li key={resource.uri} data-testid={`resource-item-${resource.uri}`}>
              <button
                type="button"
                class="resource-item"
                onClick={() => void read(resource.uri)}
                aria-busy={reading === resource.uri}
                aria-current={selected === resource.uri ? 'true' : undefined}
                aria-expanded={selected === resource.uri}
                data-testid={`resource-${resource.uri}`}
              >
                <span class="item-title">{resource.title ?? resource.name}</span>
                <span class="mono break muted">{resource.uri}</span>
                {resource.description ? <span class="description">{resource.description}</span> : null}
                {resource.mimeType ? <span class="muted">{resource.mimeType}</span> : null}
              </button>
              {reading === resource.uri ? <Loading label={`Reading ${resource.uri}…`} /> : null}
              {selected === resource.uri ? viewer : null}
            </li>
          ))}
        </ul>
      ) : null}

      {reading && !listed ? <Loading label={`Reading ${reading}…`} /> : null}

      {detail.templates.length > 0 ? (
        <>
          <h3 class="section-title">Templates</h3>
          <ul class="template-list">
            {detail.templates.map((template) => (
              <TemplateForm
                key={template.uriTemplate}
                server={server}
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
