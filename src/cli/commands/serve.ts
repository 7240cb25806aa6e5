/**
 * `patchbay serve [--http [host:]port] [--servers a,b]`: every configured server behind one MCP
 * endpoint, over stdio (the default, for hosts that start it) or Streamable HTTP.
 *
 * Safe by default: HTTP binds 127.0.0.1 unless a host is named; another interface needs
 * --dangerously-expose, and still a token; --dangerously-no-auth is refused off loopback.
 */

import { EXIT, PatchbayError } from '../../errors.js';
import { staticState, unusableError } from '../../config/status.js';
import { isLoopbackHost } from '../../core/loopback.js';
import { validateName } from '../../config/validate.js';
import { timeoutFrom } from '../health.js';
import { parseDuration } from '../../core/duration.js';
import { note, writeLine, type Io } from '../io.js';
import { hasBrokenFile, loadForCommand } from '../registry-loader.js';
import { teamPolicyPath } from '../../config/policy-files.js';
import { configuredServerKey } from '../../policy/pins.js';
import { packageVersion } from '../../core/version.js';

/** Set for the processes a gateway starts: a gateway among its own upstreams would start itself forever. */
export const GATEWAY_MARK = 'PATCHBAY_GATEWAY_PID';

export interface ServeOptions {
  http: { host: string; port: number } | undefined;
  /** `patchbay connect <name>`: that one server over stdio, under its own names. */
  bridge?: boolean;
  servers: string[] | undefined;
  printToken: boolean;
  expose: boolean;
  noAuth: boolean;
  timeoutMs: number;
  /** The audit log keeps each call's arguments (secrets masked). */
  logArguments: boolean;
  /** HTTP: 2025-era sessions held at once, and how long one may stay idle. */
  maxSessions?: number;
  sessionIdleMs?: number;
  /** HTTP: how long a client may take to send its headers, and its whole request (not the answer). */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** HTTP: connections open at once, in all and from one client address. */
  maxConnections?: number;
  maxConnectionsPerClient?: number;
}

/** The flags that only mean something with --http (their option names). */
const HTTP_ONLY = {
  maxSessions: '--max-sessions',
  sessionIdleTimeout: '--session-idle-timeout',
  headersTimeout: '--headers-timeout',
  requestTimeout: '--request-timeout',
  maxConnections: '--max-connections',
  maxConnectionsPerClient: '--max-connections-per-client',
} as const;

export function parseServeOptions(
  raw: {
    http?: string | boolean;
    servers?: string;
    printToken?: boolean;
    dangerouslyExpose?: boolean;
    dangerouslyNoAuth?: boolean;
    timeout?: string;
    maxSessions?: string;
    sessionIdleTimeout?: string;
    headersTimeout?: string;
    requestTimeout?: string;
    maxConnections?: string;
    maxConnectionsPerClient?: string;
    logArguments?: boolean;
  },
  env: NodeJS.ProcessEnv,
): ServeOptions {
  const httpOnly = (Object.keys(HTTP_ONLY) as Array<keyof typeof HTTP_ONLY>).filter(
    (flag) => raw[flag] !== undefined,
  );
  if (!raw.http && httpOnly.length > 0)
    throw new PatchbayError('usage', `${httpOnly.map((flag) => HTTP_ONLY[flag]).join(', ')} go with --http.`);
  const headersTimeoutMs =
    raw.headersTimeout === undefined ? undefined : parseDuration(raw.headersTimeout, '--headers-timeout');
  const requestTimeoutMs =
    raw.requestTimeout === undefined ? undefined : parseDuration(raw.requestTimeout, '--request-timeout');
  if (headersTimeoutMs !== undefined && requestTimeoutMs !== undefined && headersTimeoutMs > requestTimeoutMs)
    throw new PatchbayError('usage', '--headers-timeout cannot be longer than --request-timeout.', {
      hint: 'The request timeout runs from the same first byte and includes the headers.',
    });
  const http =
    raw.http === undefined || raw.http === false ? undefined : parseListen(raw.http === true ? '' : raw.http);
  const servers = raw.servers
    ?.split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  if (http) {
    if (!isLoopbackHost(http.host) && !raw.dangerouslyExpose)
      throw new PatchbayError(
        'usage',
        `Refusing to serve on ${http.host}: only this computer (127.0.0.1) by default.`,
        {
          hint: `To let other machines reach every server patchbay holds, add --dangerously-expose (a token is still required).`,
        },
      );
    if (raw.dangerouslyNoAuth && !isLoopbackHost(http.host))
      throw new PatchbayError('usage', '--dangerously-no-auth is refused off loopback.', {
        hint: 'Keep the token, or serve on 127.0.0.1.',
      });
  } else if (raw.dangerouslyExpose || raw.dangerouslyNoAuth) {
    throw new PatchbayError('usage', '--dangerously-expose and --dangerously-no-auth go with --http.');
  }
  return {
    http,
    servers: servers?.length ? servers : undefined,
    printToken: Boolean(raw.printToken),
    expose: Boolean(raw.dangerouslyExpose),
    noAuth: Boolean(raw.dangerouslyNoAuth),
    timeoutMs: timeoutFrom(raw.timeout, env),
    logArguments: Boolean(raw.logArguments),
    ...(raw.maxSessions !== undefined
      ? { maxSessions: positiveNumber('--max-sessions', raw.maxSessions, 1) }
      : {}),
    ...(raw.sessionIdleTimeout !== undefined
      ? { sessionIdleMs: parseDuration(raw.sessionIdleTimeout, '--session-idle-timeout') }
      : {}),
    ...(headersTimeoutMs !== undefined ? { headersTimeoutMs } : {}),
    ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
    ...(raw.maxConnections !== undefined
      ? { maxConnections: positiveNumber('--max-connections', raw.maxConnections, 1) }
      : {}),
    ...(raw.maxConnectionsPerClient !== undefined
      ? {
          maxConnectionsPerClient: positiveNumber(
            '--max-connections-per-client',
            raw.maxConnectionsPerClient,
            1,
          ),
        }
      : {}),
  };
}

/** A whole positive number of a flag, times `unit`. */
function positiveNumber(flag: string, text: string, unit: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < 1)
    throw new PatchbayError(
      'usage',
      `Invalid ${flag} ${JSON.stringify(text)}: expected a whole number above 0.`,
    );
  return value * unit;
}

/** `patchbay connect <name>`: one configured server as a stdio MCP server (the mcp-remote use). */
export function parseConnectOptions(
  name: string,
  raw: { timeout?: string; logArguments?: boolean },
  env: NodeJS.ProcessEnv,
): ServeOptions {
  return {
    http: undefined,
    bridge: true,
    servers: [validateName(name)],
    printToken: false,
    expose: false,
    noAuth: false,
    timeoutMs: timeoutFrom(raw.timeout, env),
    logArguments: Boolean(raw.logArguments),
  };
}

/** `8080`, `127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:0` (empty: 127.0.0.1 and port 7431). */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:(\[[^\]]+\]|[^:]+):)?(\d{1,5})$/.exec(text.trim());
  if (text.trim() === '') return { host: '127.0.0.1', port: DEFAULT_PORT };
  const port = Number(match?.[2]);
  if (!match || port > 65_535)
    throw new PatchbayError('usage', `Invalid --http ${JSON.stringify(text)}: expected [host:]port.`, {
      hint: 'For example: patchbay serve --http 7431, or --http 127.0.0.1:7431',
    });
  const host = match[1]?.replace(/^\[|\]$/g, '') ?? '127.0.0.1';
  return { host, port };
}

export const DEFAULT_PORT = 7431;

export async function runServe(options: ServeOptions, io: Io): Promise<number> {
  if (options.printToken) {
    const { gatewayToken, gatewayTokenPath } = await import('../../gateway/token.js');
    writeLine(io.stdout, await gatewayToken(io.env));
    note(io, `(kept in ${gatewayTokenPath(io.env)}, mode 0600)`);
    return EXIT.ok;
  }
  if (io.env[GATEWAY_MARK]) {
    throw new PatchbayError(
      'usage',
      `patchbay serve was started by another patchbay gateway (pid ${io.env[GATEWAY_MARK]}): it would serve itself.`,
      {
        hint: 'Remove the server entry that runs "patchbay serve" from patchbay\'s own servers (patchbay list shows it).',
      },
    );
  }
  const { upstreams, files, registry } = await configuredUpstreams(options, io);
  const { Gateway } = await import('../../gateway/gateway.js');
  const { PolicyGate } = await import('../../gateway/policy-gate.js');
  const { ToolPolicy } = await import('../../policy/enforce.js');
  const policy = new ToolPolicy({
    env: io.env,
    sources: registry.policy.sources,
    onWarning: (message) => note(io, message),
  });
  const gateway = new Gateway({
    upstreams,
    onWarning: (message) => note(io, message),
    gate: new PolicyGate({
      policy,
      env: io.env,
      logArguments: options.logArguments,
      paths: { userConfigPath: registry.context.userConfigPath, projectRoot: registry.context.projectRoot },
      reload: async () => (await loadForCommand(io)).policy.sources,
    }),
    env: { ...io.env, [GATEWAY_MARK]: String(process.pid) },
    cwd: io.cwd,
    version: packageVersion(),
    ...(options.bridge ? { bridge: true } : {}),
  });
  const stopped = new Promise<void>((resolve) => {
    io.interrupt?.addEventListener('abort', () => resolve(), { once: true });
  });
  // A config edit while serving (patchbay add in another terminal, an editor): served as it is saved.
  const { watchConfigFiles } = await import('../../config/watch.js');
  const watcher = watchConfigFiles(
    files,
    () =>
      void configuredUpstreams(options, io, true)
        .then((next) => {
          policy.update(next.registry.policy.sources);
          return gateway.reconfigure(next.upstreams);
        })
        .then(() => note(io, `The configuration changed; now serving ${describe(gateway.upstreams)}.`))
        .catch((error: unknown) =>
          note(
            io,
            `The configuration changed but was not applied (the servers stay as they were): ${error instanceof Error ? error.message : String(error)}`,
          ),
        ),
  );
  if (!options.http) {
    const { serveStdio } = await import('@modelcontextprotocol/server/stdio');
    const handle = serveStdio(() => gateway.createServer());
    note(io, `patchbay ${options.bridge ? 'bridge' : 'gateway'} on stdio: ${describe(upstreams)}`);
    await Promise.race([stopped, new Promise<void>((resolve) => io.stdin.once('end', () => resolve()))]);
    watcher.close();
    await handle.close().catch(() => undefined);
    await gateway.close();
    return EXIT.ok;
  }
  const { serveHttp } = await import('../../gateway/http.js');
  const { gatewayToken } = await import('../../gateway/token.js');
  const token = options.noAuth ? undefined : await gatewayToken(io.env);
  const served = await serveHttp(gateway, {
    ...options.http,
    token,
    ...(options.maxSessions ? { maxSessions: options.maxSessions } : {}),
    ...(options.sessionIdleMs ? { sessionIdleMs: options.sessionIdleMs } : {}),
    ...(options.headersTimeoutMs ? { headersTimeoutMs: options.headersTimeoutMs } : {}),
    ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    ...(options.maxConnections ? { maxConnections: options.maxConnections } : {}),
    ...(options.maxConnectionsPerClient ? { maxConnectionsPerClient: options.maxConnectionsPerClient } : {}),
  });
  note(io, `patchbay gateway at ${served.url}: ${describe(upstreams)}`);
  note(
    io,
    token
      ? `Hosts send "Authorization: Bearer <token>"; patchbay serve --print-token shows it.`
      : 'No token required (--dangerously-no-auth): any program on this computer can use every server.',
  );
  await stopped;
  watcher.close();
  await served.close();
  await gateway.close();
  return EXIT.ok;
}

/** The servers to serve, as the config files say now, and those files (to watch). */
async function configuredUpstreams(options: ServeOptions, io: Io, whileServing = false) {
  const registry = await loadForCommand(io);
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
  const upstreams = [];
  for (const server of registry.servers) {
    if (wanted && !wanted.includes(server.name)) continue;
    const state = staticState(server, io.env);
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

function describe(upstreams: Array<{ name: string }>): string {
  return upstreams.length === 0
    ? 'no servers configured (patchbay add …)'
    : `${upstreams.length} server${upstreams.length === 1 ? '' : 's'} (${upstreams.map((upstream) => upstream.name).join(', ')})`;
}
