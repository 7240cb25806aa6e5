import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, openAuthorizationUrl, toApiError, type ApiError } from '../api';
import { ConfirmDialog } from '../components/confirm-dialog';
import { DoctorFindings } from '../components/doctor';
import { Hint } from '../components/rich-text';
import { Chip, ErrorNotice, Loading, Monogram, StatusPill } from '../components/ui';
import { fromNow, plural } from '../lib/format';
import { href } from '../router';
import type { AuthView, ConnectorSummary } from '../types';

export function AuthLine({ auth }: { auth: AuthView }) {
  if (auth.kind === 'none') return null;
  if (auth.kind === 'header') return <p class="meta">Authenticates with configured headers.</p>;
  if (!auth.loggedIn) return <p class="meta">OAuth · not logged in.</p>;
  const parts = ['OAuth · logged in'];
  if (auth.issuer) parts.push(`at ${auth.issuer}`);
  if (auth.scope) parts.push(`(scope: ${auth.scope})`);
  let expiry = '';
  if (auth.expiresAt !== null) {
    const expired = auth.expiresAt <= Date.now();
    expiry = `${expired ? 'token expired' : 'token expires'} ${fromNow(auth.expiresAt)}`;
    if (auth.refreshable) expiry += ', renews automatically';
  }
  return (
    <p class="meta" data-testid="auth-info">
      {parts.join(' ')}
      {expiry ? ` · ${expiry}` : ''}
    </p>
  );
}

export function needsLogin(connector: ConnectorSummary): boolean {
  return connector.status === 'needs-auth' || (connector.auth.kind === 'oauth' && !connector.auth.loggedIn);
}

type Action = 'approve' | 'enable' | 'disable' | 'login' | 'logout' | 'remove';

interface RowProps {
  connector: ConnectorSummary;
  checking: boolean;
  onChanged: () => void;
  onRemoved: (connector: ConnectorSummary) => void;
}

function ConnectorRow({ connector, checking, onChanged, onRemoved }: RowProps) {
  const { name } = connector;
  const [busy, setBusy] = useState<Action | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [confirmRemove, setConfirmRemove] = useState(false);
  const [showDoctor, setShowDoctor] = useState(false);

  const run = async (action: Action, work: () => Promise<unknown>, after: () => void = onChanged) => {
    setBusy(action);
    setError(null);
    try {
      await work();
      after();
    } catch (failure) {
      setError(toApiError(failure));
    } finally {
      setBusy(null);
    }
  };

  const login = () =>
    run(
      'login',
      async () => openAuthorizationUrl((await api.login(name)).authorizationUrl),
      () => undefined,
    );

  const disabled = connector.status === 'disabled';
  const checkingThis = checking && connector.status === 'unchecked';

  return (
    <li class="connector" data-testid={`connector-${name}`} aria-busy={checkingThis || busy !== null}>
      <div class="connector-main">
        <Monogram name={name} />
        <div class="connector-text">
          <div class="connector-title">
            <h2 class="connector-name">{name}</h2>
            <StatusPill status={connector.status} checking={checking} testid={`status-${name}`} />
          </div>
          <p class="meta">
            <span class="scope">{connector.scope}</span>
            {connector.transport ? <> · {connector.transport}</> : null} ·{' '}
            <span class="mono break" title={connector.file}>
              {connector.target}
            </span>
          </p>
          {connector.server ? (
            <p class="meta">
              {connector.server.name} {connector.server.version}
              {connector.toolCount !== null ? ` · ${plural(connector.toolCount, 'tool')}` : ''}
            </p>
          ) : null}
          <AuthLine auth={connector.auth} />
        </div>
      </div>

      {connector.status === 'failed' || (connector.reason && connector.status !== 'connected') ? (
        <div class={`notice ${connector.status === 'failed' ? 'notice-error' : 'notice-info'}`}>
          {connector.reason ? <p class="notice-message">{connector.reason}</p> : null}
          <Hint
            hint={connector.hint}
            covered={['login', 'logout', 'doctor', 'approve', 'enable', 'disable', 'remove', 'get']}
          />
        </div>
      ) : null}

      {connector.changedTools.length > 0 ? (
        <div class="notice notice-warn" data-testid={`changed-${name}`}>
          <p class="notice-message">
            <Chip tone="warn">Changed since first allowed</Chip>{' '}
            {connector.changedTools.map((tool, index) => (
              <span key={tool}>
                {index > 0 ? ', ' : ''}
                <span class="mono">{tool}</span>
              </span>
            ))}
          </p>
          <Hint hint={`Review the new definitions: patchbay review ${name}`} />
        </div>
      ) : null}

      <div class="actions" role="group" aria-label={`Actions for ${name}`}>
        {connector.status === 'pending-approval' ? (
          <button
            type="button"
            class="button button-primary"
            disabled={busy !== null}
            onClick={() => run('approve', () => api.approve(name))}
            data-testid={`approve-${name}`}
          >
            {busy === 'approve' ? 'Approving…' : 'Approve'}
          </button>
        ) : null}
        {needsLogin(connector) && !disabled && connector.status !== 'pending-approval' ? (
          <button
            type="button"
            class="button button-primary"
            disabled={busy !== null}
            onClick={login}
            data-testid={`login-${name}`}
          >
            {busy === 'login' ? 'Opening login…' : 'Log in'}
          </button>
        ) : null}
        {connector.auth.loggedIn ? (
          <button
            type="button"
            class="button"
            disabled={busy !== null}
            onClick={() => run('logout', () => api.logout(name))}
            data-testid={`logout-${name}`}
          >
            {busy === 'logout' ? 'Logging out…' : 'Log out'}
          </button>
        ) : null}
        {connector.status === 'failed' ? (
          <button
            type="button"
            class="button"
            aria-expanded={showDoctor}
            onClick={() => setShowDoctor(!showDoctor)}
            data-testid={`doctor-${name}`}
          >
            {showDoctor ? 'Hide doctor' : 'Doctor'}
          </button>
        ) : null}
        <a
          class="button"
          href={href.server(name)}
          aria-label={`Configure ${name}`}
          data-testid={`open-${name}`}
        >
          Configure
        </a>
        <button
          type="button"
          class="button"
          disabled={busy !== null}
          onClick={() => run(disabled ? 'enable' : 'disable', () => api.setEnabled(name, disabled))}
          data-testid={`toggle-${name}`}
        >
          {disabled
            ? busy === 'enable'
              ? 'Enabling…'
              : 'Enable'
            : busy === 'disable'
              ? 'Disabling…'
              : 'Disable'}
        </button>
        <button
          type="button"
          class="button button-quiet-danger"
          disabled={busy !== null}
          onClick={() => setConfirmRemove(true)}
          data-testid={`remove-${name}`}
        >
          Remove
        </button>
      </div>

      <ErrorNotice
        error={error}
        testid={`error-${name}`}
        covered={['login', 'logout', 'approve', 'enable', 'disable', 'remove']}
      />
      {showDoctor ? <DoctorFindings name={name} /> : null}

      <ConfirmDialog
        open={confirmRemove}
        title={`Remove ${name}?`}
        confirmLabel="Remove"
        danger
        busy={busy === 'remove'}
        onCancel={() => setConfirmRemove(false)}
        onConfirm={() =>
          void run(
            'remove',
            () => api.remove(name, connector.scope),
            () => onRemoved(connector),
          ).finally(() => setConfirmRemove(false))
        }
      >
        <p>
          This removes <strong>{name}</strong> from the {connector.scope} configuration (
          <span class="mono break">{connector.file}</span>). Every host using patchbay loses its tools.
        </p>
      </ConfirmDialog>
    </li>
  );
}

/** Poll a server's login state until it is logged in (at most LOGIN_WAIT_MS). */
async function waitForLogin(name: string, live: () => boolean): Promise<void> {
  const until = Date.now() + LOGIN_WAIT_MS;
  while (live() && Date.now() < until) {
    try {
      if ((await api.auth(name)).loggedIn) return;
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}

const LOGIN_WAIT_MS = 20_000;

export function ConnectorsPage({
  notice,
  onDismissNotice,
}: {
  notice: string | null;
  onDismissNotice: () => void;
}) {
  const [list, setList] = useState<ConnectorSummary[] | null>(null);
  const [checking, setChecking] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const generation = useRef(0);
  const checkedOnce = useRef(false);

  const check = useCallback(async () => {
    const mine = ++generation.current;
    setChecking(true);
    try {
      const checked = await api.servers(true);
      if (mine === generation.current) {
        checkedOnce.current = true;
        setList(checked);
        setError(null);
      }
    } catch (failure) {
      if (mine === generation.current) setError(toApiError(failure));
    } finally {
      if (mine === generation.current) setChecking(false);
    }
  }, []);

  const [finishing, setFinishing] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    // The configured list first (no network, instant), then every server contacted in parallel by
    // the API, and the rows updated in place.
    void (async () => {
      try {
        const quick = await api.servers(false);
        if (live && !checkedOnce.current) setList(quick);
      } catch (failure) {
        const error = toApiError(failure);
        if (live) setError(error);
        if (error.status === 401) return;
      }
      // Back from a login: the browser may arrive before patchbay has its tokens; wait for them.
      const login = new URLSearchParams(location.search).get('login');
      if (login !== null) {
        history.replaceState(null, '', `${location.pathname}${location.hash}`);
        if (live) setFinishing(login);
        await waitForLogin(login, () => live);
        if (live) setFinishing(null);
      }
      if (live) await check();
    })();
    return () => {
      live = false;
      generation.current++;
    };
  }, [check]);

  return (
    <div class="page">
      <div class="page-head">
        <div>
          <h1>Connectors</h1>
          <p class="lede">MCP servers patchbay connects to, for every host that uses it.</p>
        </div>
        <div class="page-actions">
          <button
            type="button"
            class="button"
            onClick={() => void check()}
            disabled={checking}
            aria-busy={checking}
            data-testid="refresh"
          >
            {checking ? 'Checking…' : 'Refresh'}
          </button>
          <a class="button button-primary" href={href.add()} data-testid="add-connector">
            Add custom connector
          </a>
        </div>
      </div>

      {notice ? (
        <div class="notice notice-ok" role="status">
          <p class="notice-message">{notice}</p>
          <button type="button" class="link-button" onClick={onDismissNotice}>
            Dismiss
          </button>
        </div>
      ) : null}

      {finishing !== null ? (
        <div class="notice" role="status" data-testid="login-finishing">
          <p class="notice-message">Finishing the login to {finishing}…</p>
        </div>
      ) : null}

      <ErrorNotice error={error} testid="connectors-error" />
      <p class="visually-hidden" role="status" aria-live="polite">
        {checking ? 'Checking connectors…' : list ? `${plural(list.length, 'connector')} checked.` : ''}
      </p>

      {list === null && !error ? <Loading label="Loading connectors…" /> : null}
      {list && list.length === 0 ? (
        <div class="empty">
          <p>No connectors yet.</p>
          <p class="muted">
            Add one by its URL with <a href={href.add()}>Add custom connector</a>.
          </p>
        </div>
      ) : null}
      {list && list.length > 0 ? (
        <ul class="connector-list" data-testid="connector-list">
          {list.map((connector) => (
            <ConnectorRow
              key={`${connector.scope}:${connector.name}`}
              connector={connector}
              checking={checking}
              onChanged={() => void check()}
              onRemoved={(removed) => {
                setList(
                  (current) =>
                    current?.filter(
                      (entry) => entry.name !== removed.name || entry.scope !== removed.scope,
                    ) ?? null,
                );
                void check();
              }}
            />
          ))}
        </ul>
      ) : null}
    </div>
  );
}
