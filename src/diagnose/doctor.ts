/**
 * `diagnose(server)`: walk a server's layers in the order a connection climbs them and stop at
 * the first that fails (the rest are reported as skipped). Each server gets one time budget;
 * `diagnoseAll` runs servers in parallel and keeps config order. A diagnosis changes nothing:
 * no file is written, no client registered, no token requested, and a session the checks open
 * is closed again.
 */

import type { Socket } from 'node:net';

import { maskArgs, maskUrl } from '../config/mask.js';
import { getOwn, isObject } from '../core/json-source.js';
import type { RefreshState } from '../auth/refresh.js';
import type { Paths } from '../core/paths.js';
import { mapBounded } from '../core/pool.js';
import type { ServerEntry } from '../config/entry.js';
import type { EffectiveServer } from '../config/registry.js';
import type { HttpClient } from '../connect/network.js';
import type { Session } from '../connect/session.js';
import { PatchbayError } from '../errors.js';
import { Deadline } from '../core/deadline.js';
import {
  failed,
  notChecked,
  passed,
  skippedAfter,
  type Diagnosis,
  type Finding,
  type Layer,
  type Verdict,
} from './findings.js';
import { checkAuth } from './layers/auth.js';
import { checkCommand } from './layers/command.js';
import { checkConfig } from './layers/config.js';
import type { LayerContext } from './layers/context.js';
import { checkDns } from './layers/dns.js';
import { checkHttp } from './layers/http.js';
import { checkMcp, checkTools } from './layers/mcp.js';
import { checkProxy } from './layers/proxy.js';
import { checkTcp } from './layers/tcp.js';
import { checkTls } from './layers/tls.js';
import { openTunnel } from './layers/tunnel.js';
import { bareHost, clean, portOf, shellWord } from './text.js';

export interface DiagnoseOptions {
  /** The budget per server (`--timeout`, PATCHBAY_TIMEOUT, 10 s); an entry's own `timeout` wins. */
  timeoutMs: number;
  env: NodeJS.ProcessEnv;
  /** Where stored logins and era hints are (resolved by the caller from its environment). */
  paths: Paths;
  /** Working directory for stdio servers and headersHelpers. */
  cwd: string;
  /** Renew a due or expired login before the handshake (default true); false: `--no-refresh`. */
  refresh?: boolean;
  /** Whose refreshes the handshakes share (a console's); default the process's. */
  refreshState?: RefreshState;
}

/** Large enough that 50 servers are not queued behind each other. */
export const DIAGNOSE_POOL_SIZE = 64;
const CLOSE_GRACE_MS = 2_000;

export async function diagnoseAll(
  servers: EffectiveServer[],
  options: DiagnoseOptions & { onResult?: (index: number, diagnosis: Diagnosis) => void },
): Promise<Diagnosis[]> {
  return mapBounded(servers, DIAGNOSE_POOL_SIZE, async (server, index) => {
    const diagnosis = await diagnose(server, options);
    options.onResult?.(index, diagnosis);
    return diagnosis;
  });
}

export async function diagnose(server: EffectiveServer, options: DiagnoseOptions): Promise<Diagnosis> {
  const template = server.winner.entry;
  const deadline = new Deadline(template?.timeout ?? options.timeoutMs, { unref: true });
  const run = new Run(planFor(server));
  let verdict: Verdict = 'ok';
  try {
    const config = checkConfig(server, options.env);
    run.record(config.finding);
    if (config.notContacted) verdict = 'skipped';
    if (!config.resolved || !template) {
      run.skipRest('config');
    } else {
      const context: LayerContext = {
        name: server.name,
        scope: server.winner.scope,
        file: server.winner.path,
        entry: config.resolved,
        template,
        env: options.env,
        paths: options.paths,
        cwd: options.cwd,
        deadline,
        refresh: options.refresh !== false,
        ...(options.refreshState ? { refreshState: options.refreshState } : {}),
      };
      const needsAuth =
        config.resolved.transport === 'stdio'
          ? await walkStdio(context, run)
          : await walkRemote(context, run);
      if (needsAuth) verdict = 'needs-auth';
    }
  } catch (error) {
    // A bug, not a finding about the server: say so where it happened, and stop.
    const layer = run.nextLayer() ?? 'config';
    run.record(
      failed(
        layer,
        `internal error: ${clean(error instanceof Error ? error.message : String(error), 200)}`,
        {},
        'This is a bug in patchbay; please report it with the command you ran',
      ),
    );
    run.skipRest(layer);
  } finally {
    deadline.dispose();
  }
  if (verdict === 'ok' && run.findings.some((finding) => finding.status === 'fail')) verdict = 'failed';
  return {
    name: server.name,
    scope: server.winner.scope,
    file: server.winner.path,
    transport: template?.transport ?? null,
    target: targetOf(server),
    verdict,
    findings: run.findings,
    durationMs: deadline.elapsedMs(),
  };
}

/** The findings so far, and the layers still to report. */
class Run {
  readonly findings: Finding[] = [];

  constructor(private readonly plan: Layer[]) {}

  record(finding: Finding): void {
    this.findings.push(finding);
  }

  nextLayer(): Layer | undefined {
    return this.plan.find((layer) => !this.findings.some((finding) => finding.layer === layer));
  }

  skipRest(failedLayer: Layer): void {
    for (let layer = this.nextLayer(); layer; layer = this.nextLayer())
      this.record(skippedAfter(layer, failedLayer));
  }
}

function planFor(server: EffectiveServer): Layer[] {
  const entry = server.winner.entry;
  const raw = server.winner.raw;
  const stdio = entry ? entry.transport === 'stdio' : isObject(raw) && getOwn(raw, 'command') !== undefined;
  if (stdio) return ['config', 'command', 'mcp', 'tools'];
  const url = entry?.url ?? (isObject(raw) ? getOwn(raw, 'url') : undefined);
  const https = typeof url === 'string' && /^https:/i.test(url);
  return [
    'config',
    'proxy',
    'dns',
    'tcp',
    ...(https ? (['tls'] as const) : []),
    'http',
    'auth',
    'mcp',
    'tools',
  ];
}

// ---------------------------------------------------------------------------------------------
// stdio: config → command → MCP → tools

async function walkStdio(context: LayerContext, run: Run): Promise<boolean> {
  const command = await checkCommand(context);
  run.record(command);
  if (command.status === 'fail') {
    run.skipRest('command');
    return false;
  }
  return walkMcp(context, run);
}

// ---------------------------------------------------------------------------------------------
// http / sse: config → proxy → DNS → TCP → TLS → HTTP → auth → MCP → tools

async function walkRemote(context: LayerContext, run: Run): Promise<boolean> {
  const url = new URL(context.entry.url!);
  const https = url.protocol === 'https:';
  const host = bareHost(url);
  const port = portOf(url);
  const urlFix = `Check the host name in the URL: patchbay get ${context.name}`;

  const proxied = await checkProxy(url, context.env);
  run.record(proxied.finding);
  if (proxied.proxy === undefined) {
    run.skipRest('proxy');
    return false;
  }
  const proxy = proxied.proxy;

  let socket: Socket | undefined;
  try {
    if (proxy) {
      const proxyHost = bareHost(proxy);
      const proxyFix = 'Check the proxy variable (HTTPS_PROXY / HTTP_PROXY), or list this host in NO_PROXY';
      const dns = await checkDns(proxyHost, context.deadline, { role: 'proxy', urlFix: proxyFix });
      run.record(dns.finding);
      run.record(notChecked('dns', `${host}: resolved by the proxy`, { host, via: 'proxy' }));
      if (!dns.addresses) return stop(run, 'dns');
      const tcp = await checkTcp(proxyHost, dns.addresses, portOf(proxy), context.deadline, {
        role: 'proxy',
        fix: proxyFix,
      });
      run.record(tcp.finding);
      if (!tcp.socket) return stop(run, 'tcp');
      socket = tcp.socket;
      if (https && proxy.protocol === 'http:') {
        const tunnel = await openTunnel(socket, proxy, host, port, context.deadline);
        run.record(tunnel.finding);
        if (!tunnel.socket) return stop(run, 'tcp');
      } else {
        run.record(notChecked('tcp', `${host}:${port}: connected by the proxy`, { via: 'proxy' }));
        socket.destroy();
        socket = undefined;
        if (https)
          run.record(notChecked('tls', 'through an https proxy: checked by the MCP layer', { via: 'proxy' }));
      }
    } else {
      const dns = await checkDns(host, context.deadline, { urlFix });
      run.record(dns.finding);
      if (!dns.addresses) return stop(run, 'dns');
      const tcp = await checkTcp(host, dns.addresses, port, context.deadline, {
        fix: `Start the server, or check the port in the URL: patchbay get ${context.name}`,
      });
      run.record(tcp.finding);
      if (!tcp.socket) return stop(run, 'tcp');
      socket = tcp.socket;
    }

    if (https && socket) {
      const { loadTlsMaterial } = await import('../connect/network.js');
      let material;
      try {
        material = await loadTlsMaterial(context.entry.tls, context.env);
      } catch (error) {
        if (!(error instanceof PatchbayError)) throw error;
        run.record(failed('tls', clean(error.message, 300), { setting: 'tls' }, error.hint));
        return stop(run, 'tls');
      }
      const tls = await checkTls(context, socket, host, material);
      socket = undefined;
      run.record(tls);
      if (tls.status === 'fail') return stop(run, 'tls');
    }
  } finally {
    socket?.destroy();
  }

  let http: HttpClient;
  try {
    const { createHttpClient } = await import('../connect/network.js');
    http = await createHttpClient({
      env: context.env,
      ...(context.entry.tls ? { tls: context.entry.tls } : {}),
      connectTimeoutMs: context.deadline.remainingMs(),
    });
  } catch (error) {
    if (!(error instanceof PatchbayError)) throw error;
    run.record(failed('http', clean(error.message, 300), {}, error.hint));
    return stop(run, 'http');
  }
  try {
    const answer = await checkHttp(context, http);
    run.record(answer.finding);
    if (answer.finding.status === 'fail') return stop(run, 'http');
    const auth = await checkAuth(context, http, answer);
    // The HTTP layer asks without the stored login; when there is one, the MCP layer (which
    // sends it, renewed if need be) says whether it is accepted, not this challenge.
    if (auth.finding.status === 'fail' && auth.needsAuth && (await hasStoredLogin(context))) {
      run.record(
        passed(
          'auth',
          `${auth.finding.summary.replace(/^login required: /, '')}; a stored login answers it (see mcp)`,
          { ...auth.finding.evidence, storedLogin: true },
        ),
      );
    } else {
      run.record(auth.finding);
    }
    if (run.findings.at(-1)!.status === 'fail') {
      run.skipRest('auth');
      return auth.needsAuth;
    }
  } finally {
    await http.close();
  }
  return walkMcp(context, run);
}

/** Whether a login is stored for the server, whatever its state (the index only, no secret read). */
async function hasStoredLogin(context: LayerContext): Promise<boolean> {
  const { storedAccess } = await import('../auth/stored-token.js');
  return (await storedAccess(context.entry.url!, context.paths).catch(() => undefined)) !== undefined;
}

function stop(run: Run, layer: Layer): false {
  run.skipRest(layer);
  return false;
}

/** MCP then tools; true when the failure is a missing or rejected credential. */
async function walkMcp(context: LayerContext, run: Run): Promise<boolean> {
  const mcp = await checkMcp(context);
  run.record(mcp.finding);
  if (!mcp.session) {
    run.skipRest('mcp');
    return mcp.needsAuth;
  }
  try {
    run.record(await checkTools(context, mcp.session));
  } finally {
    await closeWithin(mcp.session);
  }
  return false;
}

async function closeWithin(session: Session): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    session.close().catch(() => undefined),
    new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS))),
  ]);
  clearTimeout(timer);
}

/** The URL or command line as configured, secrets masked. */
function targetOf(server: EffectiveServer): string {
  const entry: ServerEntry | undefined = server.winner.entry;
  if (entry?.transport === 'stdio')
    return [entry.command ?? '', ...maskArgs(entry.args ?? [])].map((word) => shellWord(word)).join(' ');
  if (entry?.url) return maskUrl(entry.url);
  const raw = server.winner.raw;
  const url = isObject(raw) ? getOwn(raw, 'url') : undefined;
  const command = isObject(raw) ? getOwn(raw, 'command') : undefined;
  if (typeof url === 'string') return maskUrl(url);
  return typeof command === 'string' ? command : '';
}
