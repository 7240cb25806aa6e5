/**
 * A running gateway's lifecycle (`patchbay serve`, `patchbay connect`): the upstreams as the config
 * files say, the policy over them, the listener (stdio, or Streamable HTTP with its token), the
 * config watched and applied while serving, and the shutdown when stopped. What the person running
 * it reads is the caller's to print: every event is a callback.
 */

import { staticState, unusableError } from '../config/status.js';
import { teamPolicyPath } from '../config/policy-files.js';
import { hasBrokenFile, type Registry } from '../config/registry.js';
import { watchConfigFiles } from '../config/watch.js';
import type { Paths } from '../core/paths.js';
import { PatchbayError } from '../errors.js';
import { ToolPolicy } from '../policy/enforce.js';
import { configuredServerKey } from '../policy/pins.js';
import { Gateway, type GatewayUpstream } from './gateway.js';
import type { Deployment } from './deployment.js';
import type { HttpLimits, ListenerEvents } from './http.js';
import { listenerOptions, type ListenerOptions } from './operations.js';
import type { TeamFront } from './team.js';
import { PolicyGate } from './policy-gate.js';

/** Set for the processes a gateway starts: a gateway among its own upstreams would start itself forever. */
export const GATEWAY_MARK = 'PATCHBAY_GATEWAY_PID';

export interface StartOptions extends HttpLimits, ListenerOptions {
  /** Serve Streamable HTTP here; undefined: stdio. */
  http: { host: string; port: number } | undefined;
  /** `patchbay connect <name>`: that one server over stdio, under its own names. */
  bridge?: boolean;
  /** Only these configured servers (all when undefined). */
  servers: string[] | undefined;
  /** --dangerously-no-auth: HTTP hosts need no token. */
  noAuth: boolean;
  /** `serve --config FILE`: a team deployment (who signs in how, public URL, vault); HTTP only. */
  deployment?: Deployment;
  /** `--state redis://…` (or the deployment's "state"): the gateway's state in Redis; unset: files. HTTP only. */
  state?: string;
  /** Connect timeout of an upstream whose entry sets none. */
  timeoutMs: number;
  /** The audit log keeps each call's arguments (secrets masked). */
  logArguments: boolean;
  /** HTTP: `/metrics` answers without authentication (a scraper on a private network). */
  metricsPublic?: boolean;
  /** HTTP: `--public-url`, the base URL hosts reach this gateway by (a load balancer in front). */
  publicUrl?: URL;
  /** HTTP with a shared store: the audit stream keeps about this many lines (`--audit-max-lines`). */
  auditMaxLines?: number;
}

export interface GatewayCallbacks {
  env: NodeJS.ProcessEnv;
  /** Where patchbay's files are, resolved once for the gateway's lifetime. */
  paths: Paths;
  cwd: string;
  version: string;
  /** On stdio, the host closing this ends the gateway. */
  stdin: NodeJS.ReadableStream;
  /** Aborted (SIGINT, SIGTERM): the gateway closes. */
  stop: AbortSignal | undefined;
  /** The registry as the config files say now (the caller reports broken files as it likes). */
  load: () => Promise<Registry>;
  /** Something hosts cannot be told but the person running the gateway should. */
  onWarning: (message: string) => void;
  /** A config change is served now, with these servers. */
  onReloaded: (servers: string[]) => void;
  /** A config change was not applied (the servers stay as they were). */
  onReloadFailed: (error: unknown) => void;
  /** HTTP: refusals before the gateway (status, reason, peer) and TLS reloads. */
  listenerEvents?: ListenerEvents;
  /** HTTP: stopped; the calls in flight get `withinMs` to finish. */
  onDraining?: (inFlight: number, withinMs: number) => void;
  /** HTTP: the drain is over; `cut` calls were still in flight and are ended. */
  onDrained?: (cut: number) => void;
}

export interface RunningGateway {
  /** The HTTP endpoint hosts connect to; undefined on stdio. */
  url: string | undefined;
  /** HTTP: the address it listens on (`127.0.0.1:7431`), which a public URL may not show. */
  listening?: string;
  /** Hosts must send the gateway token (HTTP without --dangerously-no-auth). */
  tokenRequired: boolean;
  /** The servers served at start, in config order. */
  servers: string[];
  /** Resolves once the gateway was stopped (or, on stdio, its host went away) and has closed. */
  done: Promise<void>;
  /** Where an HTTP gateway's state lives, for the person running it (`redis at redis://host:6379`; never a password). */
  state?: string;
}

export async function startGateway(
  options: StartOptions,
  callbacks: GatewayCallbacks,
): Promise<RunningGateway> {
  const { env } = callbacks;
  if (env[GATEWAY_MARK]) {
    throw new PatchbayError(
      'usage',
      `patchbay serve was started by another patchbay gateway (pid ${env[GATEWAY_MARK]}): it would serve itself.`,
      {
        hint: 'Remove the server entry that runs "patchbay serve" from patchbay\'s own servers (patchbay list shows it).',
      },
    );
  }
  const { upstreams, files, registry } = await configuredUpstreams(options, callbacks);
  const { deployment } = options;
  // On HTTP, a perMember upstream is called with each member's own login: that needs the vault.
  const perMember = upstreams
    .filter((upstream) => upstream.entry?.perMember)
    .map((upstream) => upstream.name);
  if (options.http && perMember.length > 0 && !deployment?.vault)
    throw new PatchbayError(
      'usage',
      `${perMember.join(', ')} ${perMember.length > 1 ? 'are' : 'is'} called with each member's own login (perMember), which a gateway keeps in its member vault; this gateway has none.`,
      {
        hint: deployment
          ? `Add "vault": { "key": "env:PATCHBAY_VAULT_KEY" } to ${deployment.file} (a 32-byte key: openssl rand -base64 32).`
          : 'Serve a team with patchbay serve --config FILE and a vault.key, or remove perMember from the entry (patchbay set <name> --unset per-member).',
      },
    );
  // HTTP only: a stdio gateway has nowhere to serve /metrics.
  const metrics = options.http ? await gatewayMetrics(() => gateway.upstreams) : undefined;
  // Every HTTP gateway has its state store: files on this machine, or Redis (--state) for replicas.
  const opened = options.http
    ? await (
        await import('../state/open.js')
      ).openState(
        options.state,
        callbacks.paths.gatewayState,
        options.auditMaxLines !== undefined ? { maxLogLines: options.auditMaxLines } : {},
      )
    : undefined;
  const state = opened && metrics ? metrics.measured(opened) : opened;
  // HTTP only, and the SDK loaded only when an OTLP endpoint is configured.
  const tracing = options.http ? await gatewayTracing(env, deployment, callbacks) : undefined;
  const memberVault =
    state && deployment?.vault
      ? { vault: await openMemberVault(deployment, callbacks, state), state }
      : undefined;
  const policy = new ToolPolicy({
    paths: callbacks.paths,
    sources: registry.policy.sources,
    onWarning: callbacks.onWarning,
    // A gateway decides many calls: it keeps the usage file's lock across a burst of them.
    holdLimitLock: true,
    // A store that counts windows itself (Redis) counts the limits, exactly across replicas.
    ...(state?.windows
      ? { limits: (await import('../policy/limits.js')).storeLimitCounter(state.windows, state.description) }
      : {}),
    // A shared store (--state redis://…) keeps the pins, so replicas agree; files: this machine's pins.json.
    ...(state && options.state !== undefined
      ? { pins: (await import('../policy/pin-records.js')).storePins(state) }
      : {}),
    // A store with a shared log (Redis): every replica records its calls in one audit stream.
    ...(state?.log ? { audit: state.log('audit', { onWarning: callbacks.onWarning }) } : {}),
  });
  const gateway: Gateway = new Gateway({
    upstreams,
    onWarning: callbacks.onWarning,
    ...(metrics ? { observe: metrics.metrics.observe } : {}),
    ...(tracing ? { tracing } : {}),
    gate: new PolicyGate({
      policy,
      logArguments: options.logArguments,
      paths: { userConfigPath: registry.context.userConfigPath, projectRoot: registry.context.projectRoot },
      reload: async () => (await callbacks.load()).policy.sources,
    }),
    env: { ...env, [GATEWAY_MARK]: String(process.pid) },
    paths: callbacks.paths,
    // The gateway's own, not the process's: its upstreams share one refresh per login.
    refreshState: new (await import('../auth/refresh.js')).RefreshState(),
    ...(memberVault ? { memberVault } : {}),
    // Paused input_required calls across replicas (stdio gateways have no store: in memory).
    ...(state ? { state } : {}),
    cwd: callbacks.cwd,
    version: callbacks.version,
    ...(options.bridge ? { bridge: true } : {}),
  });
  const stopped = new Promise<void>((resolve) => {
    callbacks.stop?.addEventListener('abort', () => resolve(), { once: true });
  });
  // A config edit while serving (patchbay add in another terminal, an editor): served as it is saved.
  const watcher = watchConfigFiles(
    files,
    () =>
      void configuredUpstreams(options, callbacks, true)
        .then((next) => {
          // Never served with a shared login instead: a perMember server needs the vault.
          const added = next.upstreams.filter((upstream) => upstream.entry?.perMember);
          if (options.http && !memberVault && added.length > 0)
            throw new PatchbayError(
              'usage',
              `${added.map((upstream) => upstream.name).join(', ')} is perMember, and this gateway has no member vault; the change is not served.`,
              { hint: 'Serve with patchbay serve --config FILE and a vault.key.' },
            );
          policy.update(next.registry.policy.sources);
          return gateway.reconfigure(next.upstreams);
        })
        .then(() => callbacks.onReloaded(gateway.upstreams.map((upstream) => upstream.name)))
        .catch(callbacks.onReloadFailed),
  );
  const servers = upstreams.map((upstream) => upstream.name);
  if (!options.http) {
    const { serveStdioFront } = await import('./stdio-front.js');
    const handle = await serveStdioFront(gateway);
    const hostGone = new Promise<void>((resolve) => callbacks.stdin.once('end', () => resolve()));
    const done = Promise.race([stopped, hostGone]).then(async () => {
      watcher.close();
      await handle.close().catch(() => undefined);
      await gateway.close();
      await policy.close();
    });
    return { url: undefined, tokenRequired: false, servers, done };
  }
  const { serveHttp } = await import('./http.js');
  const listener = listenerOptions(options, () => gateway.upstreams.length);
  const listening = withMetrics(listener.http(callbacks.listenerEvents), metrics!, options.metricsPublic);
  // A store that can go away (Redis) is a check of its own; files are never "unreachable".
  if (state && options.state !== undefined)
    listener.readiness.add('state', async () =>
      (await state.reachable()) ? { ready: true } : { ready: false, reason: 'unreachable' },
    );
  const { gatewayToken } = await import('./token.js');
  const { firstOf, staticToken } = await import('./inbound.js');
  if (deployment && state) {
    const { teamFront } = await import('./team.js');
    let team: TeamFront | undefined;
    const served = await serveHttp(gateway, {
      ...options.http,
      state,
      authenticator: undefined,
      ...(deployment.publicUrl ? { publicUrl: deployment.publicUrl } : {}),
      front: async (resource) =>
        (team = await teamFront({
          deployment,
          paths: callbacks.paths,
          state,
          resource,
          ...(gateway.members ? { members: gateway.members } : {}),
          ...(listening.trustedProxies ? { trustedProxies: listening.trustedProxies } : {}),
        })),
      ...limitsSet(options),
      ...listening,
    });
    metrics?.metrics.countSessions({ owned: () => served.sessions(), held: () => served.sessionCopies() });
    const done = stopped.then(async () => {
      await listener.drain(served, callbacks);
      watcher.close();
      await served.close();
      await team?.close();
      await gateway.close();
      await policy.close();
      await state.close();
      await tracing?.shutdown();
    });
    return {
      url: served.url,
      listening: served.listening,
      tokenRequired: true,
      servers,
      done,
      state: state.description,
    };
  }
  const token = options.noAuth ? undefined : await gatewayToken(callbacks.paths);
  const authenticator =
    token === undefined
      ? undefined
      : firstOf([staticToken(token)], 'A bearer token is required: patchbay serve --print-token shows it.');
  const served = await serveHttp(gateway, {
    ...options.http,
    ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
    ...(state ? { state } : {}),
    authenticator,
    ...limitsSet(options),
    ...listening,
  });
  metrics?.metrics.countSessions({ owned: () => served.sessions(), held: () => served.sessionCopies() });
  const done = stopped.then(async () => {
    await listener.drain(served, callbacks);
    watcher.close();
    await served.close();
    await gateway.close();
    await policy.close();
    await state?.close();
    await tracing?.shutdown();
  });
  return {
    url: served.url,
    listening: served.listening,
    tokenRequired: token !== undefined,
    servers,
    done,
    ...(state ? { state: state.description } : {}),
  };
}

/** The gateway's metrics (gateway/metrics.ts, loaded only for an HTTP gateway), and its state store timed. */
async function gatewayMetrics(upstreams: () => ReadonlyArray<{ name: string; problem(): unknown }>) {
  const { GatewayMetrics, measuredState, metricsRoute } = await import('./metrics.js');
  const metrics = new GatewayMetrics({
    upstreams: () => upstreams().map((upstream) => ({ name: upstream.name, up: !upstream.problem() })),
  });
  return {
    metrics,
    route: (isPublic: boolean) => metricsRoute(metrics, isPublic),
    measured: (store: import('../state/store.js').StateStore) => measuredState(store, metrics.stateSeconds),
  };
}

/** OpenTelemetry trace export (telemetry.ts) when the environment or the deployment file configures it. */
async function gatewayTracing(
  env: NodeJS.ProcessEnv,
  deployment: Deployment | undefined,
  callbacks: Pick<GatewayCallbacks, 'version' | 'onWarning'>,
) {
  const { startTelemetry, telemetryConfig } = await import('./telemetry.js');
  const config = telemetryConfig(env, deployment);
  return config ? startTelemetry(config, callbacks.version, callbacks.onWarning) : undefined;
}

/** The listener's options with `/metrics` among its routes, and its refusals counted. */
function withMetrics(
  http: ReturnType<ReturnType<typeof listenerOptions>['http']>,
  metrics: Awaited<ReturnType<typeof gatewayMetrics>>,
  isPublic = false,
): typeof http {
  const events = http.events;
  return {
    ...http,
    routes: [...(http.routes ?? []), metrics.route(isPublic)],
    events: {
      ...events,
      onRefused(refused) {
        metrics.metrics.refused(refused.reason);
        events?.onRefused?.(refused);
      },
    },
  };
}

/** The member vault of a deployment: its key read (never from beside the data) and checked. */
async function openMemberVault(
  deployment: Deployment,
  callbacks: Pick<GatewayCallbacks, 'env' | 'paths'>,
  state: import('../state/store.js').StateStore,
) {
  const [{ MemberVault, readVaultKey, storeLock }, { openCredentialStore }] = await Promise.all([
    import('../auth/member-vault.js'),
    import('../auth/store.js'),
  ]);
  const key = await readVaultKey(deployment.vault!.key, callbacks.env, callbacks.paths.gatewayState);
  const vault = new MemberVault(state, key, {
    // One refresh per member login across every replica on the store, not only in this process.
    lock: storeLock(state),
    // A pre-registered client's secret is the operator's (patchbay set <name> oauth.client-secret).
    clientSecret: async (name, url) =>
      (await openCredentialStore(callbacks.env, { paths: callbacks.paths })).getClientSecret(name, url),
  });
  await vault.check();
  return vault;
}

/** The servers to serve, as the config files say now, and those files (to watch). */
async function configuredUpstreams(
  options: StartOptions,
  callbacks: Pick<GatewayCallbacks, 'load' | 'env'>,
  whileServing = false,
) {
  const registry = await callbacks.load();
  // Half-saved: serving without that file's servers would drop them from every host.
  if (whileServing && hasBrokenFile(registry))
    throw new PatchbayError('config-parse', 'a config file does not parse (see above)');
  const wanted = options.servers;
  if (wanted) {
    const known = new Set(registry.servers.map((server) => server.name));
    const missing = wanted.filter((name) => !known.has(name));
    if (missing.length)
      throw new PatchbayError('not-found', `No server named ${missing.join(', ')} is configured.`, {
        hint: 'See all servers with: patchbay list --no-check',
      });
  }
  const upstreams: GatewayUpstream[] = [];
  for (const server of registry.servers) {
    if (wanted && !wanted.includes(server.name)) continue;
    const state = staticState(server, callbacks.env);
    // `patchbay connect x` bridges one server: one that can never be served (waiting for approval,
    // disabled, blocked) stops it at start-up with that situation's code, not an empty bridge.
    if (
      options.bridge &&
      !whileServing &&
      (state.status === 'pending-approval' || state.status === 'disabled')
    )
      throw unusableError(server.name, state, 'connect to');
    // Pending approval and rejected servers are not served; a broken entry is, to say why.
    if (state.status === 'pending-approval' || state.status === 'disabled') continue;
    upstreams.push({
      name: server.name,
      entry: state.resolved,
      ...(state.resolved
        ? {}
        : {
            unusable: { reason: state.reason ?? state.status, ...(state.hint ? { hint: state.hint } : {}) },
          }),
      timeoutMs: state.resolved?.timeout ?? options.timeoutMs,
      // Pins follow the entry as written: a rotated token in a ${VAR} is the same server.
      pinKey: configuredServerKey(server),
    });
  }
  return {
    upstreams,
    registry,
    // The team's policy file is watched even before it exists: creating it changes the policy.
    files: [
      ...new Set([...registry.files.map((file) => file.path), teamPolicyPath(registry.context.projectRoot)]),
    ],
  };
}

const LIMITS = [
  'maxSessions',
  'sessionIdleMs',
  'headersTimeoutMs',
  'requestTimeoutMs',
  'maxConnections',
  'maxConnectionsPerClient',
] as const satisfies ReadonlyArray<keyof HttpLimits>;

/** The limits given (a zero or unset one keeps the listener's default). */
function limitsSet(options: HttpLimits): HttpLimits {
  return Object.fromEntries(LIMITS.filter((limit) => options[limit]).map((limit) => [limit, options[limit]]));
}
