import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, openAuthorizationUrl, toApiError, type ApiError } from '../api';
import { DoctorFindings } from '../components/doctor';
import { LimitsEditor } from '../components/limits';
import { PromptsPanel } from '../components/prompts';
import { ResourcesPanel } from '../components/resources';
import { Tabs } from '../components/tabs';
import { Markdown } from '../components/markdown';
import { Hint } from '../components/rich-text';
import { GroupSettings, ToolsPanel } from '../components/tools';
import { ErrorNotice, Loading, Monogram, StatusPill } from '../components/ui';
import { useLoad } from '../lib/use-load';
import { href } from '../router';
import type { AuthView, ConnectorDetail } from '../types';
import { AuthLine, needsLogin } from './connectors';

function LoginButtons({
  name,
  auth,
  showLogin,
  onChanged,
  children,
}: {
  name: string;
  auth: AuthView;
  showLogin: boolean;
  onChanged: () => void;
  children?: ComponentChildren;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const act = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (failure) {
      setError(toApiError(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <div class="actions">
        {showLogin ? (
          <button
            type="button"
            class="button button-primary"
            disabled={busy}
            onClick={() =>
              void act(async () => openAuthorizationUrl((await api.login(name)).authorizationUrl))
            }
            data-testid={`login-${name}`}
          >
            Log in
          </button>
        ) : null}
        {auth.loggedIn ? (
          <button
            type="button"
            class="button"
            disabled={busy}
            onClick={() =>
              void act(async () => {
                await api.logout(name);
                onChanged();
              })
            }
            data-testid={`logout-${name}`}
          >
            Log out
          </button>
        ) : null}
        {children}
      </div>
      <ErrorNotice error={error} covered={['login', 'logout']} />
    </>
  );
}

function Header({ detail, onChanged }: { detail: ConnectorDetail; onChanged: () => void }) {
  return (
    <header class="detail-head">
      <Monogram name={detail.name} />
      <div class="detail-head-text">
        <div class="connector-title">
          <h1 class="detail-name">{detail.name}</h1>
          <StatusPill status={detail.status} testid={`status-${detail.name}`} />
        </div>
        <p class="meta">
          <span class="scope">{detail.scope}</span>
          {detail.transport ? <> · {detail.transport}</> : null} ·{' '}
          <span class="mono break">{detail.target}</span>
        </p>
        {detail.server ? (
          <p class="meta">
            {detail.server.name} {detail.server.version}
            {detail.server.protocolVersion ? ` · protocol ${detail.server.protocolVersion}` : ''}
          </p>
        ) : null}
        <p class="meta">
          Saved in <span class="mono break">{detail.file}</span>
        </p>
        <AuthLine auth={detail.auth} />
        <LoginButtons
          name={detail.name}
          auth={detail.auth}
          showLogin={needsLogin(detail)}
          onChanged={onChanged}
        >
          {detail.transport === 'http' || detail.transport === 'sse' ? (
            <a class="button" href={href.edit(detail.name)} data-testid={`edit-${detail.name}`}>
              Edit
            </a>
          ) : null}
        </LoginButtons>
      </div>
    </header>
  );
}

/** When the page could not be loaded: what the API said, and the ways forward. */
function Unreachable({ name, error, onRetry }: { name: string; error: ApiError; onRetry: () => void }) {
  // No such server: nothing to log in to, retry or diagnose.
  if (error.status === 404)
    return (
      <div class="card" data-testid="detail-not-found">
        <ErrorNotice error={error} testid="detail-error" />
        <p>
          <a href={href.connectors()}>Back to Connectors</a>
        </p>
      </div>
    );
  return <UnreachableServer name={name} error={error} onRetry={onRetry} />;
}

function UnreachableServer({ name, error, onRetry }: { name: string; error: ApiError; onRetry: () => void }) {
  const auth = useLoad(() => api.auth(name), name);
  const [doctor, setDoctor] = useState(false);
  return (
    <div class="card">
      <ErrorNotice error={error} testid="detail-error" covered={['login', 'doctor']} />
      {auth.data ? (
        <LoginButtons
          name={name}
          auth={auth.data}
          showLogin={auth.data.kind === 'oauth' && !auth.data.loggedIn}
          onChanged={onRetry}
        />
      ) : null}
      <div class="actions">
        <button type="button" class="button" onClick={onRetry}>
          Try again
        </button>
        <button
          type="button"
          class="button"
          aria-expanded={doctor}
          onClick={() => setDoctor(!doctor)}
          data-testid={`doctor-${name}`}
        >
          {doctor ? 'Hide doctor' : 'Doctor'}
        </button>
      </div>
      {doctor ? <DoctorFindings name={name} /> : null}
    </div>
  );
}

/**
 * The project's .patchbay.json while what it loosens waits for the user (pending or rejected):
 * its deny/ask rules and limits already apply; its allows wait for `patchbay approve --policy`.
 */
function ProjectPolicyNotice({ policy }: { policy: ConnectorDetail['projectPolicy'] }) {
  if (!policy || (policy.state !== 'pending' && policy.state !== 'rejected')) return null;
  const waiting = policy.changes.filter((change) => change.effect === 'loosens');
  if (waiting.length === 0) return null;
  return (
    <div class="notice notice-warn" data-testid="project-policy-notice">
      <p class="notice-message">
        {policy.state === 'pending' ? 'Not approved: ' : 'Rejected: '}
        {policy.path} would{' '}
        {waiting.map((change) => (change.kind === 'default' ? `set ${change.what}` : change.what)).join(', ')}
        . Until you approve it, only what it tightens applies.
      </p>
      <Hint hint={policy.hint} />
    </div>
  );
}

/** Why the server is not connected, with the doctor one click away (it exists and failed). */
function NotConnected({ detail }: { detail: ConnectorDetail }) {
  const [doctor, setDoctor] = useState(false);
  const failed = detail.status === 'failed';
  return (
    <div class={`notice ${failed ? 'notice-error' : 'notice-info'}`} data-testid="not-connected">
      <p class="notice-message">{detail.reason ?? 'Not connected.'}</p>
      <Hint hint={detail.hint} covered={['login', 'doctor', 'approve', 'enable', 'get']} />
      {failed ? (
        <div class="actions">
          <button
            type="button"
            class="button"
            aria-expanded={doctor}
            onClick={() => setDoctor(!doctor)}
            data-testid={`doctor-${detail.name}`}
          >
            {doctor ? 'Hide doctor' : 'Doctor'}
          </button>
        </div>
      ) : null}
      {doctor ? <DoctorFindings name={detail.name} /> : null}
    </div>
  );
}

const TABS = ['tools', 'resources', 'prompts'];

export function DetailPage({
  name,
  query,
  notice,
}: {
  name: string;
  query: URLSearchParams;
  notice: string | null;
}) {
  const detail = useLoad(() => api.detail(name), name);
  const asked = query.get('tab');
  const [tab, setTabState] = useState(asked && TABS.includes(asked) ? asked : 'tools');
  const setTab = (next: string) => {
    setTabState(next);
    history.replaceState(null, '', href.server(name, next === 'tools' ? {} : { tab: next }));
  };
  // A link to another tab of this page (the page stays mounted): that tab.
  useEffect(() => {
    setTabState(asked && TABS.includes(asked) ? asked : 'tools');
  }, [asked]);
  const data = detail.data;
  const connected = data?.status === 'connected';

  return (
    <div class="page">
      <p class="breadcrumb">
        <a href={href.connectors()}>← Connectors</a>
      </p>
      {notice ? (
        <div class="notice notice-ok" role="status" data-testid="detail-notice">
          <p class="notice-message">{notice}</p>
        </div>
      ) : null}
      {detail.loading && !data ? <Loading label={`Connecting to ${name}…`} /> : null}
      {detail.error && !data ? (
        <>
          <h1>{name}</h1>
          <Unreachable name={name} error={detail.error} onRetry={() => void detail.reload()} />
        </>
      ) : null}
      {data ? (
        <>
          <Header detail={data} onChanged={() => void detail.reload()} />
          {detail.error ? <ErrorNotice error={detail.error} /> : null}
          {!connected ? <NotConnected detail={data} /> : null}

          <ProjectPolicyNotice policy={data.projectPolicy} />

          {data.instructions ? (
            <details class="card instructions" open data-testid="instructions">
              <summary>Instructions from the server</summary>
              <Markdown text={data.instructions} testid="instructions-markdown" />
            </details>
          ) : null}

          <section class="card" aria-labelledby="permissions-title">
            <h2 id="permissions-title" class="section-title">
              Tool permissions
            </h2>
            <GroupSettings server={name} groups={data.groups} tools={data.tools} onSaved={detail.reload} />
          </section>

          <section class="card" aria-labelledby="server-limits-title">
            <h2 id="server-limits-title" class="section-title">
              Limits for the whole server
            </h2>
            <LimitsEditor
              server={name}
              pattern="*"
              limits={data.limits.filter((limit) => limit.pattern === '*')}
              onSaved={detail.reload}
              testid="server-limits"
            />
          </section>

          {connected ? (
            <Tabs
              label={`${name} contents`}
              selected={tab}
              onSelect={setTab}
              tabs={[
                { id: 'tools', label: `Tools · ${data.tools.length}` },
                { id: 'resources', label: `Resources · ${data.resources.length + data.templates.length}` },
                { id: 'prompts', label: `Prompts · ${data.prompts.length}` },
              ]}
            >
              {tab === 'tools' ? (
                <ToolsPanel server={name} tools={data.tools} onSaved={detail.reload} />
              ) : null}
              {tab === 'resources' ? (
                <ResourcesPanel server={name} detail={data} initial={query.get('resource')} />
              ) : null}
              {tab === 'prompts' ? <PromptsPanel server={name} prompts={data.prompts} /> : null}
            </Tabs>
          ) : (
            <p class="muted card" data-testid="contents-unavailable">
              Its tools, resources and prompts show here once {name} is connected.
            </p>
          )}
          <p class="visually-hidden" role="status">
            {detail.loading ? `Refreshing ${name}…` : ''}
          </p>
        </>
      ) : null}
    </div>
  );
}
