import { useState } from 'preact/hooks';
import { api, toApiError, type ApiError } from '../api';
import { ErrorNotice } from '../components/ui';
import { href } from '../router';
import type { NewConnector, Scope } from '../types';

interface HeaderRow {
  id: number;
  name: string;
  value: string;
}

let nextRowId = 1;
const emptyRow = (): HeaderRow => ({ id: nextRowId++, name: '', value: '' });

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

/** The request as typed; the server validates it exactly as `patchbay add` does. */
export function toNewConnector(form: {
  name: string;
  url: string;
  transport: 'http' | 'sse';
  headers: HeaderRow[];
  clientId: string;
  clientSecret: string;
  callbackPort: string;
  scope: Scope;
}): NewConnector {
  const connector: NewConnector = {
    name: form.name.trim(),
    url: form.url.trim(),
    transport: form.transport,
    scope: form.scope,
  };
  const headers = form.headers.filter((row) => row.name.trim() !== '');
  if (headers.length > 0)
    connector.headers = Object.fromEntries(headers.map((row) => [row.name.trim(), row.value]));
  const oauth: NonNullable<NewConnector['oauth']> = {};
  if (form.clientId.trim()) oauth.clientId = form.clientId.trim();
  if (form.clientSecret) oauth.clientSecret = form.clientSecret;
  if (form.callbackPort.trim()) oauth.callbackPort = Number(form.callbackPort.trim());
  if (Object.keys(oauth).length > 0) connector.oauth = oauth;
  return connector;
}

export function AddPage({ onAdded }: { onAdded: (name: string) => void }) {
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [transport, setTransport] = useState<'http' | 'sse'>('http');
  const [headers, setHeaders] = useState<HeaderRow[]>([]);
  const [clientId, setClientId] = useState('');
  const [clientSecret, setClientSecret] = useState('');
  const [callbackPort, setCallbackPort] = useState('');
  const [scope, setScope] = useState<Scope>('local');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const updateHeader = (id: number, patch: Partial<HeaderRow>) =>
    setHeaders((rows) => rows.map((row) => (row.id === id ? { ...row, ...patch } : row)));

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    if (callbackPort.trim() && !/^\d+$/.test(callbackPort.trim())) {
      setError(
        toApiError(
          new Error(`Callback port ${JSON.stringify(callbackPort.trim())} is not a port number (1–65535).`),
        ),
      );
      return;
    }
    setBusy(true);
    try {
      const added = await api.add(
        toNewConnector({ name, url, transport, headers, clientId, clientSecret, callbackPort, scope }),
      );
      onAdded(added.name);
    } catch (failure) {
      setError(toApiError(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="page page-narrow">
      <p class="breadcrumb">
        <a href={href.connectors()}>← Connectors</a>
      </p>
      <h1>Add custom connector</h1>
      <p class="lede">
        Connect a remote MCP server by its URL. patchbay saves it and every host that uses patchbay sees it.
      </p>

      <form
        class="card form"
        onSubmit={submit}
        noValidate
        data-testid="add-form"
        aria-describedby="add-error-region"
      >
        <div class="field">
          <label for="add-name">Name</label>
          <input
            id="add-name"
            name="name"
            autocomplete="off"
            spellcheck={false}
            aria-required="true"
            value={name}
            onInput={(event) => setName(event.currentTarget.value)}
            data-testid="add-name"
          />
          <p class="field-hint">How hosts and the CLI refer to it: letters, digits, - and _.</p>
        </div>
        <div class="field">
          <label for="add-url">Remote MCP server URL</label>
          <input
            id="add-url"
            name="url"
            inputMode="url"
            autocomplete="off"
            spellcheck={false}
            placeholder="https://example.com/mcp"
            aria-required="true"
            value={url}
            onInput={(event) => setUrl(event.currentTarget.value)}
            data-testid="add-url"
          />
        </div>

        <details class="advanced" data-testid="add-advanced">
          <summary>Advanced settings</summary>
          <div class="advanced-body">
            <fieldset class="field">
              <legend>Transport</legend>
              <div class="radio-row">
                <label class="radio">
                  <input
                    type="radio"
                    name="transport"
                    value="http"
                    checked={transport === 'http'}
                    onChange={() => setTransport('http')}
                    data-testid="add-transport-http"
                  />
                  Streamable HTTP
                </label>
                <label class="radio">
                  <input
                    type="radio"
                    name="transport"
                    value="sse"
                    checked={transport === 'sse'}
                    onChange={() => setTransport('sse')}
                    data-testid="add-transport-sse"
                  />
                  SSE (legacy)
                </label>
              </div>
            </fieldset>

            <fieldset class="field">
              <legend>Headers</legend>
              <p class="field-hint">
                Each value is a secret (stored, never shown again) or a <span class="mono">{'${VAR}'}</span>{' '}
                reference read from the environment.
              </p>
              {headers.map((row, index) => (
                <div class="header-row" key={row.id}>
                  <div class="field">
                    <label for={`header-name-${row.id}`}>Header {index + 1} name</label>
                    <input
                      id={`header-name-${row.id}`}
                      autocomplete="off"
                      spellcheck={false}
                      placeholder="Authorization"
                      value={row.name}
                      onInput={(event) => updateHeader(row.id, { name: event.currentTarget.value })}
                      data-testid={`add-header-name-${index}`}
                    />
                  </div>
                  <div class="field">
                    <label for={`header-value-${row.id}`}>Header {index + 1} value</label>
                    <SecretInput
                      id={`header-value-${row.id}`}
                      placeholder={'Bearer … or ${API_TOKEN}'}
                      value={row.value}
                      onValue={(value) => updateHeader(row.id, { value })}
                      testid={`add-header-value-${index}`}
                    />
                  </div>
                  <button
                    type="button"
                    class="button button-quiet"
                    onClick={() => setHeaders((rows) => rows.filter((other) => other.id !== row.id))}
                    aria-label={`Remove header ${index + 1}`}
                    data-testid={`add-header-remove-${index}`}
                  >
                    Remove
                  </button>
                </div>
              ))}
              <button
                type="button"
                class="button button-start"
                onClick={() => setHeaders((rows) => [...rows, emptyRow()])}
                data-testid="add-header-add"
              >
                Add header
              </button>
            </fieldset>

            <fieldset class="field">
              <legend>OAuth</legend>
              <p class="field-hint">
                Only for servers that need a pre-registered client; most register themselves.
              </p>
              <div class="grid-2">
                <div class="field">
                  <label for="add-client-id">Client ID</label>
                  <input
                    id="add-client-id"
                    autocomplete="off"
                    spellcheck={false}
                    value={clientId}
                    onInput={(event) => setClientId(event.currentTarget.value)}
                    data-testid="add-client-id"
                  />
                </div>
                <div class="field">
                  <label for="add-client-secret">Client secret</label>
                  <SecretInput
                    id="add-client-secret"
                    value={clientSecret}
                    onValue={setClientSecret}
                    testid="add-client-secret"
                  />
                </div>
                <div class="field">
                  <label for="add-callback-port">Callback port</label>
                  <input
                    id="add-callback-port"
                    inputMode="numeric"
                    autocomplete="off"
                    placeholder="any free port"
                    value={callbackPort}
                    onInput={(event) => setCallbackPort(event.currentTarget.value)}
                    data-testid="add-callback-port"
                  />
                </div>
              </div>
            </fieldset>

            <div class="field">
              <label for="add-scope">Save in</label>
              <select
                id="add-scope"
                value={scope}
                onChange={(event) => setScope(event.currentTarget.value as Scope)}
                data-testid="add-scope"
              >
                <option value="local">Local — this project, only you</option>
                <option value="project">Project — .mcp.json, shared with the team</option>
                <option value="user">User — every project, only you</option>
              </select>
            </div>
          </div>
        </details>

        <div id="add-error-region">
          <ErrorNotice error={error} testid="add-error" />
        </div>

        <div class="form-actions">
          <a class="button" href={href.connectors()}>
            Cancel
          </a>
          <button type="submit" class="button button-primary" disabled={busy} data-testid="add-submit">
            {busy ? 'Adding…' : 'Add'}
          </button>
        </div>
      </form>
    </div>
  );
}
