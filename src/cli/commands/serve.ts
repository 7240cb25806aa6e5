/**
 * `patchbay serve [--http [host:]port] [--servers a,b]`: every configured server behind one MCP
 * endpoint, over stdio (the default, for hosts that start it) or Streamable HTTP.
 *
 * Safe by default: HTTP binds 127.0.0.1 unless a host is named; another interface needs
 * --dangerously-expose, and still a token; --dangerously-no-auth is refused off loopback.
 */

import { resolve } from 'node:path';

import { EXIT, PatchbayError } from '../../errors.js';
import { isLoopbackHost } from '../../core/loopback.js';
import { validateName } from '../../config/validate.js';
import { timeoutFrom } from '../health.js';
import { parseDuration } from '../../core/duration.js';
import type { StartOptions } from '../../gateway/serve.js';
import { DEFAULT_DRAIN_MS } from '../../gateway/drain.js';
import { TrustedProxies } from '../../gateway/proxies.js';
import { gatewayLog, LOG_FORMATS, type LogFormat } from '../gateway-log.js';
import { drainOnSignal } from '../signals.js';
import { note, writeLine, type Io } from '../io.js';
import { loadForCommand } from '../registry-loader.js';
import { packageVersion } from '../../core/version.js';
import { parseStateOption } from '../../state/open.js';

/**
 * What `patchbay serve` was asked for: how to start the gateway (gateway/serve.ts), and the
 * flags that stay here (--print-token prints and exits; --dangerously-expose was checked by parse).
 */
export interface ServeOptions extends StartOptions {
  printToken: boolean;
  expose: boolean;
  /** `--config FILE`: a team deployment, read by runServe (gateway/deployment.ts). */
  configFile?: string;
  /** `--log-format`; unset: the deployment's `logs`, else text. */
  logFormat?: LogFormat;
}

/** The flags that only mean something with --http (their option names). */
/** The fewest lines an audit stream may be capped at (its trimming is approximate). */
const MIN_AUDIT_LINES = 1000;

const HTTP_ONLY = {
  maxSessions: '--max-sessions',
  sessionIdleTimeout: '--session-idle-timeout',
  headersTimeout: '--headers-timeout',
  requestTimeout: '--request-timeout',
  maxConnections: '--max-connections',
  maxConnectionsPerClient: '--max-connections-per-client',
  tlsCert: '--tls-cert',
  tlsKey: '--tls-key',
  trustProxy: '--trust-proxy',
  publicUrl: '--public-url',
  drainTimeout: '--drain-timeout',
  metricsPublic: '--metrics-public',
  state: '--state',
  auditMaxLines: '--audit-max-lines',
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
    config?: string;
    tlsCert?: string;
    tlsKey?: string;
    trustProxy?: string;
    publicUrl?: string;
    drainTimeout?: string;
    logFormat?: string;
    metricsPublic?: boolean;
    state?: string;
    auditMaxLines?: string;
  },
  env: NodeJS.ProcessEnv,
): ServeOptions {
  if (raw.config !== undefined && raw.dangerouslyNoAuth)
    throw new PatchbayError('usage', '--dangerously-no-auth does not go with --config.', {
      hint: 'A team deployment always authenticates; say how in its auth section.',
    });
  const httpOnly = (Object.keys(HTTP_ONLY) as Array<keyof typeof HTTP_ONLY>).filter(
    (flag) => raw[flag] !== undefined,
  );
  // A deployment file serves HTTP (its listen address, or the default one).
  if (!raw.http && raw.config === undefined && httpOnly.length > 0)
    throw new PatchbayError('usage', `${httpOnly.map((flag) => HTTP_ONLY[flag]).join(', ')} go with --http.`);
  if ((raw.tlsCert === undefined) !== (raw.tlsKey === undefined))
    throw new PatchbayError('usage', '--tls-cert and --tls-key go together.', {
      hint: 'Give the PEM certificate (chain) and its private key: --tls-cert cert.pem --tls-key key.pem',
    });
  if (raw.logFormat !== undefined && !(LOG_FORMATS as readonly string[]).includes(raw.logFormat))
    throw new PatchbayError(
      'usage',
      `Invalid --log-format ${JSON.stringify(raw.logFormat)}: expected text or json.`,
    );
  const state = parseStateOption(raw.state);
  const auditMaxLines =
    raw.auditMaxLines === undefined ? undefined : positiveNumber('--audit-max-lines', raw.auditMaxLines, 1);
  if (auditMaxLines !== undefined && auditMaxLines < MIN_AUDIT_LINES)
    throw new PatchbayError(
      'usage',
      `--audit-max-lines ${auditMaxLines} is too few: at least ${MIN_AUDIT_LINES}.`,
      {
        hint: 'The stream is trimmed approximately; export it (patchbay log --state … --jsonl) to keep more.',
      },
    );
  // Files rotate the audit log by size; the cap is the shared stream's (a deployment's "state" counts).
  if (auditMaxLines !== undefined && state === undefined && raw.config === undefined)
    throw new PatchbayError('usage', '--audit-max-lines goes with --state redis://…', {
      hint: 'On files the audit log rotates by size (audit.jsonl, kept 0600).',
    });
  const publicUrl = raw.publicUrl === undefined ? undefined : parsePublicUrl(raw.publicUrl);
  if (publicUrl && raw.config !== undefined)
    throw new PatchbayError('usage', '--public-url does not go with --config.', {
      hint: 'Set "publicUrl" in the deployment file.',
    });
  const trustedProxies = raw.trustProxy
    ?.split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  // Checked here, so that a wrong entry is a usage error before anything starts.
  if (trustedProxies) new TrustedProxies(trustedProxies);
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
  // With --config, whether the address may be exposed depends on the file (runServe checks it).
  if (http && raw.config === undefined) {
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
  } else if (!http && raw.config === undefined && (raw.dangerouslyExpose || raw.dangerouslyNoAuth)) {
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
    ...(raw.config !== undefined ? { configFile: raw.config } : {}),
    ...(state !== undefined ? { state } : {}),
    ...(auditMaxLines !== undefined ? { auditMaxLines } : {}),
    ...(raw.tlsCert !== undefined && raw.tlsKey !== undefined
      ? { tls: { cert: resolve(raw.tlsCert), key: resolve(raw.tlsKey) } }
      : {}),
    ...(trustedProxies ? { trustedProxies } : {}),
    ...(publicUrl ? { publicUrl } : {}),
    ...(raw.drainTimeout !== undefined
      ? { drainMs: parseDuration(raw.drainTimeout, '--drain-timeout') }
      : {}),
    ...(raw.logFormat !== undefined ? { logFormat: raw.logFormat as LogFormat } : {}),
    ...(raw.metricsPublic ? { metricsPublic: true } : {}),
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

/** `--public-url`: http(s), a base URL without a path (the MCP endpoint is `<it>/mcp`). */
function parsePublicUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new PatchbayError('usage', `Invalid --public-url ${JSON.stringify(text)}: not a URL.`, {
      hint: 'Give the base URL hosts use, for example --public-url https://mcp.example.com',
    });
  }
  if (
    (url.protocol !== 'https:' && url.protocol !== 'http:') ||
    url.pathname !== '/' ||
    url.search ||
    url.hash
  )
    throw new PatchbayError(
      'usage',
      `Invalid --public-url ${JSON.stringify(text)}: an http(s) base URL without a path is expected.`,
      {
        hint: 'Give the base URL hosts use, for example --public-url https://mcp.example.com (its MCP endpoint is …/mcp).',
      },
    );
  // Tokens travel to it: plain http only to this computer, as the deployment file's publicUrl.
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname.replace(/^\[|\]$/g, '')))
    throw new PatchbayError('usage', `--public-url ${url.origin} must be https (http only on loopback).`, {
      hint: 'Terminate TLS at the load balancer and give its https URL.',
    });
  return url;
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
    const { gatewayToken } = await import('../../gateway/token.js');
    writeLine(io.stdout, await gatewayToken(io.paths));
    note(io, `(kept in ${io.paths.gatewayToken}, mode 0600)`);
    return EXIT.ok;
  }
  if (options.configFile !== undefined) ({ options, io } = await withDeployment(options, io));
  const log = gatewayLog(io, options.logFormat ?? 'text');
  // The process waits for the drain after SIGTERM instead of ending at once (cli/signals.ts).
  if (options.http) drainOnSignal(options.drainMs ?? DEFAULT_DRAIN_MS);
  const { startGateway } = await import('../../gateway/serve.js');
  const gateway = await startGateway(options, {
    env: io.env,
    paths: io.paths,
    cwd: io.cwd,
    version: packageVersion(),
    stdin: io.stdin,
    stop: io.interrupt,
    load: () => loadForCommand(io),
    onWarning: (message) => log.warn('warning', message),
    onReloaded: (servers) =>
      log.info('reload', `The configuration changed; now serving ${describe(servers)}.`, { servers }),
    onReloadFailed: (error) =>
      log.warn(
        'reload-failed',
        `The configuration changed but was not applied (the servers stay as they were): ${error instanceof Error ? error.message : String(error)}`,
      ),
    listenerEvents: {
      onRefused: (refused) => log.refused(refused),
      onTlsReloaded: () => log.info('tls-reload', 'The TLS certificate changed; serving the new one.'),
      onTlsReloadFailed: (error) =>
        log.warn(
          'tls-reload-failed',
          `The TLS files changed but were not applied (the old pair stays): ${error.message}`,
        ),
    },
    onDraining: (inFlight, withinMs) =>
      log.info(
        'draining',
        inFlight === 0
          ? 'Stopping: no call in flight.'
          : `Stopping: waiting up to ${Math.round(withinMs / 1000)}s for ${inFlight} call${inFlight === 1 ? '' : 's'} in flight.`,
        { inFlight, withinMs },
      ),
    onDrained: (cut) => {
      if (cut > 0)
        log.warn('drain-timeout', `${cut} call${cut === 1 ? ' was' : 's were'} still in flight and ended.`, {
          cut,
        });
    },
  });
  if (gateway.url === undefined) {
    log.info(
      'start',
      `patchbay ${options.bridge ? 'bridge' : 'gateway'} on stdio: ${describe(gateway.servers)}`,
      {
        transport: 'stdio',
        servers: gateway.servers,
      },
    );
  } else {
    // Behind a load balancer (--public-url) the URL is not where this replica listens: said too.
    const elsewhere = gateway.listening && new URL(gateway.url).host !== gateway.listening;
    log.info(
      'start',
      `patchbay gateway at ${gateway.url}${elsewhere ? ` (listening on ${gateway.listening})` : ''}: ${describe(gateway.servers)}`,
      { url: gateway.url, listening: gateway.listening, servers: gateway.servers },
    );
    // Said only when it is not the default (files on this machine): replicas share it.
    if (options.state !== undefined && gateway.state)
      log.info(
        'state',
        `Gateway state (limit counts, keys, vault, sign-ins, audit log) in ${gateway.state}.`,
        {
          state: gateway.state,
        },
      );
    if (options.logFormat !== 'json')
      note(
        io,
        gateway.tokenRequired
          ? `Hosts send "Authorization: Bearer <token>"; patchbay serve --print-token shows it.`
          : 'No token required (--dangerously-no-auth): any program on this computer can use every server.',
      );
    else if (!gateway.tokenRequired) log.warn('no-auth', 'No token required (--dangerously-no-auth).');
  }
  await gateway.done;
  if (gateway.url !== undefined) log.info('stop', 'patchbay gateway stopped.');
  return EXIT.ok;
}

function describe(servers: string[]): string {
  return servers.length === 0
    ? 'no servers configured (patchbay add …)'
    : `${servers.length} server${servers.length === 1 ? '' : 's'} (${servers.join(', ')})`;
}

/**
 * `--config FILE`: the deployment read and applied. Its listen address, servers and project
 * directory count where no flag says otherwise; an address other machines can reach needs API
 * keys or OAuth on (or --dangerously-expose for the static token alone).
 */
async function withDeployment(options: ServeOptions, io: Io): Promise<{ options: ServeOptions; io: Io }> {
  const { loadDeployment } = await import('../../gateway/deployment.js');
  const deployment = await loadDeployment(options.configFile!, io.env, io.cwd);
  const http = options.http ?? deployment.listen ?? { host: '127.0.0.1', port: DEFAULT_PORT };
  const { auth } = deployment;
  const signsMembersIn = auth.apiKeys || auth.oauth !== undefined || auth.authorizationServer !== undefined;
  if (!signsMembersIn && !auth.staticToken)
    throw new PatchbayError(
      'usage',
      `${deployment.file} turns every way in off: a gateway never serves without authentication.`,
      {
        hint: 'Turn on auth.staticToken, auth.apiKeys, auth.oauth or auth.authorizationServer in the file.',
      },
    );
  if (!isLoopbackHost(http.host) && !signsMembersIn && !options.expose)
    throw new PatchbayError(
      'usage',
      `Refusing to serve on ${http.host}: ${deployment.file} turns on only the static token, meant for one person on this computer.`,
      {
        hint: 'Turn on auth.apiKeys or auth.oauth / auth.authorizationServer in the file, or add --dangerously-expose.',
      },
    );
  const servers = options.servers ?? deployment.servers;
  if (options.auditMaxLines !== undefined && (options.state ?? deployment.state) === undefined)
    throw new PatchbayError(
      'usage',
      `--audit-max-lines goes with a shared store; ${deployment.file} has no "state".`,
      {
        hint: 'Add "state": "redis://…" to the file (or --state), or leave the flag out: on files the audit log rotates by size.',
      },
    );
  // A flag says otherwise than the file: the flag wins.
  const tls = options.tls ?? deployment.tls;
  const trustedProxies = options.trustedProxies ?? deployment.trustedProxies;
  return {
    options: {
      ...options,
      http,
      deployment,
      servers,
      ...(tls ? { tls } : {}),
      trustedProxies,
      drainMs: options.drainMs ?? deployment.drainMs,
      ...(options.metricsPublic || deployment.metrics === 'public' ? { metricsPublic: true } : {}),
      // --state wins over the file's "state", --audit-max-lines over its "audit".
      ...((options.state ?? deployment.state) !== undefined
        ? { state: options.state ?? deployment.state }
        : {}),
      ...((options.auditMaxLines ?? deployment.auditMaxLines) !== undefined
        ? { auditMaxLines: options.auditMaxLines ?? deployment.auditMaxLines }
        : {}),
      logFormat: options.logFormat ?? deployment.logs,
    },
    io: deployment.project ? { ...io, cwd: deployment.project } : io,
  };
}
