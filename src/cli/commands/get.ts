/** `patchbay get <name>`: one server in full, with where it came from and what it shadows. */

import { findServer, notFoundError } from '../../config/registry.js';
import { staticState } from '../../config/status.js';
import { validateName } from '../../config/validate.js';
import { checkMany, preloadChecks, type CheckTarget } from '../../use/check-many.js';
import { timeoutFrom } from '../health.js';
import { paint, printJson, useColor, writeLine, type Io } from '../io.js';
import { terminalText } from '../../core/terminal-text.js';
import { liveView } from '../progress.js';
import { loadForCommand } from '../registry-loader.js';
import {
  connectedDetails,
  detailView,
  flagChangedTools,
  healthExitCode,
  targetText,
  type DetailView,
} from '../server-view.js';

export interface GetOptions {
  name: string;
  json: boolean;
  check: boolean;
  resolved: boolean;
  showSecrets: boolean;
  timeoutMs: number;
  /** Renew a due or expired login during the check (default); false with --no-refresh. */
  refresh: boolean;
}

export function parseGetOptions(
  name: string,
  raw: {
    json?: boolean;
    check?: boolean;
    resolved?: boolean;
    showSecrets?: boolean;
    timeout?: string;
    refresh?: boolean;
  },
  env: NodeJS.ProcessEnv,
): GetOptions {
  const timeoutMs = timeoutFrom(raw.timeout, env);
  return {
    name: validateName(name),
    json: Boolean(raw.json),
    check: raw.check !== false,
    resolved: Boolean(raw.resolved),
    showSecrets: Boolean(raw.showSecrets),
    timeoutMs,
    refresh: raw.refresh !== false,
  };
}

export async function runGet(options: GetOptions, io: Io): Promise<number> {
  if (options.check) preloadChecks();
  const registry = await loadForCommand(io);
  const server = findServer(registry, options.name);
  if (!server) throw notFoundError(registry, options.name);
  const state = staticState(server, io.env);
  const closing: Array<Promise<void>> = [];
  const [probe] = options.check ? await checkOne({ server, state }, options, io, closing) : [undefined];
  const view = detailView(server, state, probe, options);
  await flagChangedTools([server], [view], io);
  if (options.json) printJson(io, view);
  else printDetail(view, io);
  // The session ends after the output: the server's DELETE is not the user's wait.
  await Promise.all(closing);
  return healthExitCode([view]);
}

async function checkOne(target: CheckTarget, options: GetOptions, io: Io, closing: Array<Promise<void>>) {
  const live = liveView(io);
  if (target.state.resolved) live.status(`Checking ${target.server.name}\u2026`);
  try {
    return await checkMany([target], {
      timeoutMs: options.timeoutMs,
      cwd: io.cwd,
      env: io.env,
      paths: io.paths,
      refresh: options.refresh,
      closing,
    });
  } finally {
    live.finish();
  }
}

function printDetail(view: DetailView, io: Io): void {
  const p = paint(useColor(io, 'stdout'));
  const out = (label: string, value: string) =>
    writeLine(io.stdout, `  ${p.dim(label.padEnd(12))}${terminalText(value)}`);
  writeLine(io.stdout, p.bold(view.name));
  out('scope', `${view.scope} (${view.file})`);
  out('transport', view.transport ?? '?');
  if (view.transport === 'stdio') {
    out('command', targetText(view));
    for (const [key, value] of Object.entries(view.env ?? {})) out('env', `${key}=${value}`);
  } else {
    out('url', view.url ?? '');
    for (const [key, value] of Object.entries(view.headers ?? {})) out('header', `${key}: ${value}`);
    if (view.headersHelper) out('headers via', view.headersHelper);
    if (view.oauth) {
      for (const [key, value] of Object.entries(view.oauth)) out(`oauth`, `${key} = ${String(value)}`);
    }
    for (const [key, value] of Object.entries(view.tls ?? {})) out('tls', `${key} = ${String(value)}`);
    if (view.perMember) out('credentials', "per member (a team gateway uses each member's own login)");
  }
  if (view.timeout !== null) out('timeout', `${view.timeout} ms`);
  if (view.resolved) {
    writeLine(io.stdout, `  ${p.dim('resolved')}`);
    if (view.resolved.url) out('  url', view.resolved.url);
    for (const [key, value] of Object.entries(view.resolved.headers ?? {}))
      out('  header', `${key}: ${value}`);
    if (view.resolved.command)
      out('  command', [view.resolved.command, ...(view.resolved.args ?? [])].join(' '));
    for (const [key, value] of Object.entries(view.resolved.env ?? {})) out('  env', `${key}=${value}`);
  }
  const statusLine = [view.status, view.reason].filter(Boolean).join(': ');
  out('status', statusLine + (view.step && view.status !== 'connected' ? ` (at: ${view.step})` : ''));
  if (view.server) out('server', `${view.server.name} ${view.server.version}`);
  if (view.server?.protocolVersion)
    out('protocol', `${view.server.protocolVersion}${view.era ? ` (${view.era} era)` : ''}`);
  if (view.transportUsed)
    out('connected', `over ${view.transportUsed}${view.fellBackToSse ? ' (fell back from http)' : ''}`);
  const offers = connectedDetails({ ...view, server: null, transportUsed: null });
  if (offers.length > 0) out('offers', offers.join(', '));
  if (view.durationMs !== null) out('checked in', `${view.durationMs} ms`);
  for (const shadow of view.shadows) out('shadows', `${shadow.scope} entry in ${shadow.file}`);
  if (view.hint && view.status !== 'unchecked' && (view.status !== 'connected' || view.fellBackToSse))
    out('next', view.hint);
}
