import { useState } from 'preact/hooks';
import { api, toApiError, type ApiError } from '../api';
import { HeaderRows, type HeaderRow } from '../components/header-rows';
import { SecretInput } from '../components/secret-input';
import { ErrorNotice } from '../components/ui';
import { href } from '../router';
import type { NewConnector, Scope } from '../types';

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
              <HeaderRows
                rows={headers}
                setRows={setHeaders}
                idPrefix=""
                testidPrefix="add"
                namePlaceholder="Authorization"
              />
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
