import { useState } from 'preact/hooks';
import { api, openAuthorizationUrl, toApiError, type ApiError } from '../api';
import { DoctorFindings } from '../components/doctor';
import { LimitsEditor } from '../components/limits';
import { PromptsPanel } from '../components/prompts';
import { ResourcesPanel } from '../components/resources';
import { Tabs } from '../components/tabs';
import { ToolsPanel } from '../components/tools';
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
}: {
  name: string;
  auth: AuthView;
  showLogin: boolean;
  onChanged: () => void;
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
      </div>
      <ErrorNotice error={error} />
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
        />
      </div>
    </header>
  );
}

/** When the server cannot be reached: what the API said, and the ways forward. */
function Unreachable({ name, error, onRetry }: { name: string; error: ApiError; onRetry: () => void }) {
  const auth = useLoad(() => api.auth(name), name);
  const [doctor, setDoctor] = useState(false);
  return (
    <div class="card">
      <ErrorNotice error={error} testid="detail-error" />
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
      {policy.hint ? <p class="notice-hint">{policy.hint}</p> : null}
    </div>
  );
}

export function DetailPage({ name }: { name: string }) {
  const detail = useLoad(() => api.detail(name), name);
  const [tab, setTab] = useState('tools');
  const data = detail.data;

  return (
    <div class="page">
      <p class="breadcrumb">
        <a href={href.connectors()}>← Connectors</a>
      </p>
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
          {data.reason && data.status !== 'connected' ? (
            <div class="notice notice-error">
              <p class="notice-message">{data.reason}</p>
              {data.hint ? <p class="notice-hint">{data.hint}</p> : null}
            </div>
          ) : null}

          <ProjectPolicyNotice policy={data.projectPolicy} />

          {data.instructions ? (
            <details class="card instructions" open={data.instructions.length < 600}>
              <summary>Instructions from the server</summary>
              <pre class="text-block">{data.instructions}</pre>
            </details>
          ) : null}

          <section class="card" aria-labelledby="server-limits-title">
            <h2 id="server-limits-title" class="section-title">
              Limits for the whole server
            </h2>
            <LimitsEditor
              server={name}
              pattern="*"
              limits={data.limits}
              onSaved={detail.reload}
              testid="server-limits"
            />
          </section>

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
            {tab === 'tools' ? <ToolsPanel server={name} tools={data.tools} onSaved={detail.reload} /> : null}
            {tab === 'resources' ? <ResourcesPanel server={name} detail={data} /> : null}
            {tab === 'prompts' ? <PromptsPanel server={name} prompts={data.prompts} /> : null}
          </Tabs>
          <p class="visually-hidden" role="status">
            {detail.loading ? `Refreshing ${name}…` : ''}
          </p>
        </>
      ) : null}
    </div>
  );
}
