import { useState } from 'preact/hooks';
import { api, toApiError, type ApiError } from '../api';
import { HeaderRows, headerRow, type HeaderRow } from '../components/header-rows';
import { SecretInput } from '../components/secret-input';
import { ErrorNotice, Loading } from '../components/ui';
import { useLoad } from '../lib/use-load';
import { href } from '../router';
import type { ConnectorConfig, ConnectorEdit } from '../types';

/** The edit as sent: a stored header left empty keeps its value (the page never had it). */
export function toConnectorEdit(form: {
  url: string;
  transport: 'http' | 'sse';
  headers: HeaderRow[];
  clientId: string;
  clientSecret: string;
  removeClientSecret: boolean;
  callbackPort: string;
  scopes: string;
  authServerMetadataUrl: string;
}): ConnectorEdit {
  const oauth: NonNullable<ConnectorEdit['oauth']> = {};
  if (form.clientId.trim()) oauth.clientId = form.clientId.trim();
  if (form.clientSecret) oauth.clientSecret = form.clientSecret;
  if (form.removeClientSecret) oauth.removeClientSecret = true;
  if (form.callbackPort.trim()) oauth.callbackPort = Number(form.callbackPort.trim());
  if (form.scopes.trim()) oauth.scopes = form.scopes.trim();
  if (form.authServerMetadataUrl.trim()) oauth.authServerMetadataUrl = form.authServerMetadataUrl.trim();
  return {
    url: form.url.trim(),
    transport: form.transport,
    headers: form.headers
      .filter((row) => row.name.trim() !== '')
      .map((row) =>
        row.value === '' && row.from !== null
          ? { name: row.name.trim(), from: row.from }
          : { name: row.name.trim(), value: row.value },
      ),
    oauth,
  };
}

function EditForm({ config, onSaved }: { config: ConnectorConfig; onSaved: (message: string) => void }) {
  const [url, setUrl] = useState(config.url);
  const [transport, setTransport] = useState(config.transport);
  const [headers, setHeaders] = useState<HeaderRow[]>(() =>
    config.headers.map((name) => headerRow(name, name)),
  );
  const [clientId, setClientId] = useState(config.oauth.clientId ?? '');
  const [clientSecret, setClientSecret] = useState('');
  const [removeClientSecret, setRemoveClientSecret] = useState(false);
  const [callbackPort, setCallbackPort] = useState(config.oauth.callbackPort?.toString() ?? '');
  const [scopes, setScopes] = useState(config.oauth.scopes ?? '');
  const [metadataUrl, setMetadataUrl] = useState(config.oauth.authServerMetadataUrl ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [warnings, setWarnings] = useState<string[]>([]);

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
      const outcome = await api.edit(
        config.name,
        config.scope,
        toConnectorEdit({
          url,
          transport,
          headers,
          clientId,
          clientSecret,
          removeClientSecret,
          callbackPort,
          scopes,
          authServerMetadataUrl: metadataUrl,
        }),
      );
      if (outcome.warnings.length > 0) setWarnings(outcome.warnings);
      else onSaved(`Saved ${config.name}.`);
    } catch (failure) {
      setError(toApiError(failure));
    } finally {
      setBusy(false);
    }
  };

  if (warnings.length > 0)
    return (
      <div class="card" data-testid="edit-warnings">
        <p>Saved {config.name}, with a warning:</p>
        {warnings.map((warning) => (
          <p key={warning} class="notice notice-warn">
            {warning}
          </p>
        ))}
        <div class="form-actions">
          <a class="button button-primary" href={href.server(config.name)}>
            Back to {config.name}
          </a>
        </div>
      </div>
    );

  return (
    <form class="card form" onSubmit={submit} noValidate data-testid="edit-form">
      <p class="muted">
        Saved in the {config.scope} configuration, <span class="mono break">{config.file}</span>. Stored
        header values and the client secret are never shown: leave a field empty to keep what is stored.
      </p>
      <div class="field">
        <label for="edit-url">Remote MCP server URL</label>
        <input
          id="edit-url"
          inputMode="url"
          autocomplete="off"
          spellcheck={false}
          value={url}
          onInput={(event) => setUrl(event.currentTarget.value)}
          data-testid="edit-url"
        />
        {url.includes('****') ? (
          <p class="field-hint">A secret in the address is masked; to change it, type the whole address.</p>
        ) : null}
      </div>

      <fieldset class="field">
        <legend>Transport</legend>
        <div class="radio-row">
          <label class="radio">
            <input
              type="radio"
              name="edit-transport"
              checked={transport === 'http'}
              onChange={() => setTransport('http')}
              data-testid="edit-transport-http"
            />
            Streamable HTTP
          </label>
          <label class="radio">
            <input
              type="radio"
              name="edit-transport"
              checked={transport === 'sse'}
              onChange={() => setTransport('sse')}
              data-testid="edit-transport-sse"
            />
            SSE (legacy)
          </label>
        </div>
      </fieldset>

      <fieldset class="field">
        <legend>Headers</legend>
        <HeaderRows rows={headers} setRows={setHeaders} idPrefix="edit-" testidPrefix="edit" />
      </fieldset>

      <fieldset class="field">
        <legend>OAuth</legend>
        <div class="grid-2">
          <div class="field">
            <label for="edit-client-id">Client ID</label>
            <input
              id="edit-client-id"
              autocomplete="off"
              spellcheck={false}
              value={clientId}
              onInput={(event) => setClientId(event.currentTarget.value)}
              data-testid="edit-client-id"
            />
          </div>
          <div class="field">
            <label for="edit-client-secret">Client secret</label>
            <SecretInput
              id="edit-client-secret"
              placeholder={config.oauth.hasClientSecret ? 'unchanged' : 'none'}
              value={clientSecret}
              onValue={setClientSecret}
              testid="edit-client-secret"
            />
            {config.oauth.hasClientSecret ? (
              <label class="radio">
                <input
                  type="checkbox"
                  checked={removeClientSecret}
                  onChange={(event) => setRemoveClientSecret(event.currentTarget.checked)}
                  data-testid="edit-remove-client-secret"
                />
                Remove the stored secret
              </label>
            ) : null}
          </div>
          <div class="field">
            <label for="edit-callback-port">Callback port</label>
            <input
              id="edit-callback-port"
              inputMode="numeric"
              autocomplete="off"
              placeholder="any free port"
              value={callbackPort}
              onInput={(event) => setCallbackPort(event.currentTarget.value)}
              data-testid="edit-callback-port"
            />
          </div>
          <div class="field">
            <label for="edit-scopes">Scopes</label>
            <input
              id="edit-scopes"
              autocomplete="off"
              spellcheck={false}
              placeholder="as the server asks"
              value={scopes}
              onInput={(event) => setScopes(event.currentTarget.value)}
              data-testid="edit-scopes"
            />
          </div>
        </div>
        <div class="field">
          <label for="edit-metadata-url">Authorization server metadata URL</label>
          <input
            id="edit-metadata-url"
            inputMode="url"
            autocomplete="off"
            spellcheck={false}
            placeholder="discovered from the server"
            value={metadataUrl}
            onInput={(event) => setMetadataUrl(event.currentTarget.value)}
            data-testid="edit-metadata-url"
          />
        </div>
      </fieldset>

      <ErrorNotice error={error} testid="edit-error" />

      <div class="form-actions">
        <a class="button" href={href.server(config.name)}>
          Cancel
        </a>
        <button type="submit" class="button button-primary" disabled={busy} data-testid="edit-submit">
          {busy ? 'Saving…' : 'Save'}
        </button>
      </div>
    </form>
  );
}

export function EditPage({ name, onSaved }: { name: string; onSaved: (message: string) => void }) {
  const config = useLoad(() => api.config(name), name);
  return (
    <div class="page page-narrow">
      <p class="breadcrumb">
        <a href={href.server(name)}>← {name}</a>
      </p>
      <h1>Edit {name}</h1>
      {config.loading && !config.data ? <Loading label={`Loading ${name}…`} /> : null}
      <ErrorNotice error={config.error} testid="edit-load-error" />
      {config.data ? <EditForm config={config.data} onSaved={onSaved} /> : null}
    </div>
  );
}
