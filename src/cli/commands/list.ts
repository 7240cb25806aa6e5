/** `patchbay list`: every configured server, which scope won, and whether it works. */

import { EXIT } from '../../errors.js';
import { staticState, type ServerStatus } from '../../config/status.js';
import type { ProbeResult } from '../../connect/probe.js';
import { checkMany, preloadChecks, type CheckTarget } from '../../use/check-many.js';
import { timeoutFrom } from '../health.js';
import { paint, printJson, useColor, writeLine, type Io, type Paint } from '../io.js';
import { terminalText } from '../../core/terminal-text.js';
import { liveView } from '../progress.js';
import { hasBrokenFile, loadForCommand } from '../registry-loader.js';
import {
  connectedDetails,
  flagChangedTools,
  healthExitCode,
  printNoServers,
  serverView,
  STATUS_SYMBOL,
  targetText,
  type ServerView,
} from '../server-view.js';

export interface ListOptions {
  json: boolean;
  check: boolean;
  timeoutMs: number;
  showSecrets: boolean;
  /** Renew due or expired logins during the check (default); false with --no-refresh. */
  refresh: boolean;
}

export function parseListOptions(
  raw: { json?: boolean; check?: boolean; timeout?: string; showSecrets?: boolean; refresh?: boolean },
  env: NodeJS.ProcessEnv,
): ListOptions {
  const timeoutMs = timeoutFrom(raw.timeout, env);
  return {
    json: Boolean(raw.json),
    check: raw.check !== false,
    timeoutMs,
    showSecrets: Boolean(raw.showSecrets),
    refresh: raw.refresh !== false,
  };
}

export async function runList(options: ListOptions, io: Io): Promise<number> {
  if (options.check) preloadChecks();
  const registry = await loadForCommand(io);
  const targets = registry.servers.map((server) => ({ server, state: staticState(server, io.env) }));
  const closing: Array<Promise<void>> = [];
  const probes = options.check ? await checkWithProgress(targets, options, io, closing) : [];
  const views = targets.map(({ server, state }, i) =>
    serverView(server, state, probes[i], { showSecrets: options.showSecrets }),
  );
  await flagChangedTools(registry.servers, views, io);

  if (options.json) printJson(io, views);
  else printTable(views, io, registry.context.projectRoot);
  // The sessions end after the output: a server's DELETE is not the user's wait.
  await Promise.all(closing);

  if (hasBrokenFile(registry)) return EXIT.usage;
  return healthExitCode(views);
}

/** All checks at once; on a terminal each result shows as it arrives, under a progress line. */
async function checkWithProgress(
  targets: CheckTarget[],
  options: ListOptions,
  io: Io,
  closing: Array<Promise<void>>,
): Promise<Array<ProbeResult | undefined>> {
  const live = liveView(io);
  const p = paint(useColor(io, 'stderr'));
  const total = targets.filter((target) => target.state.resolved).length;
  let done = 0;
  const status = () => `Checking ${total} server${total === 1 ? '' : 's'}… ${done}/${total} done`;
  if (total > 0) live.status(status());
  try {
    return await checkMany(targets, {
      timeoutMs: options.timeoutMs,
      cwd: io.cwd,
      env: io.env,
      paths: io.paths,
      refresh: options.refresh,
      // Tools only: what tells a host the server works. Resources and prompts cost two more
      // requests per server; `get` counts them.
      offers: 'tools',
      closing,
      onResult: (index, result) => {
        done++;
        const colour = statusColour(p, result.status, result.renewsOnUse === true);
        const detail = result.reason ? `${result.status}: ${terminalText(result.reason)}` : result.status;
        live.add(
          `${colour(STATUS_SYMBOL[result.status])} ${targets[index]!.server.name}  ${colour(detail)} ${p.dim(`(${result.durationMs} ms)`)}`,
        );
        live.status(status());
      },
    });
  } finally {
    live.finish();
  }
}

/** A login that renews on next use is not a problem: shown in cyan, not in a warning colour. */
export function statusColour(p: Paint, status: ServerStatus, renewsOnUse = false): (text: string) => string {
  if (renewsOnUse) return p.cyan;
  if (status === 'connected') return p.green;
  if (status === 'failed') return p.red;
  if (status === 'unchecked' || status === 'disabled') return p.dim;
  return p.yellow;
}

function printTable(views: ServerView[], io: Io, projectRoot: string): void {
  const p = paint(useColor(io, 'stdout'));
  if (views.length === 0) return printNoServers(io);
  const nameWidth = Math.max(...views.map((view) => view.name.length));
  const scopeWidth = Math.max(...views.map((view) => view.scope.length));
  const transportWidth = Math.max(...views.map((view) => (view.transport ?? '?').length));
  const full = views.map((view) => terminalText(targetText(view)));
  // Long commands would push every status off screen: the column is capped and a longer target
  // shortened with an ellipsis, so the columns stay; `patchbay get <name>` shows it in full.
  const targetWidth = Math.min(TARGET_WIDTH, Math.max(...full.map((target) => target.length)));
  const targets = full.map((target) => shorten(target, targetWidth));
  writeLine(io.stderr, p.dim(`Project: ${projectRoot}`));
  views.forEach((view, index) => {
    const colour = statusColour(p, view.status, view.renewsOnUse);
    const detail = [view.status, view.reason ? terminalText(view.reason) : null].filter(Boolean).join(': ');
    const extras =
      view.status === 'connected' ? connectedDetails(view).map((name) => terminalText(name)) : [];
    if (view.durationMs !== null) extras.push(`${view.durationMs} ms`);
    if (view.perMember) extras.push('per member');
    if (view.shadows.length > 0) extras.push(`shadows ${view.shadows.map((s) => s.scope).join(', ')}`);
    const line = [
      colour(STATUS_SYMBOL[view.status]),
      view.name.padEnd(nameWidth),
      view.scope.padEnd(scopeWidth),
      (view.transport ?? '?').padEnd(transportWidth),
      targets[index]!.padEnd(targetWidth),
      colour(detail) + (extras.length ? p.dim(` (${extras.join(' \u00b7 ')})`) : ''),
    ].join('  ');
    writeLine(io.stdout, line);
    if (view.hint && view.status !== 'unchecked' && (view.status !== 'connected' || view.fellBackToSse))
      writeLine(io.stdout, `   ${' '.repeat(nameWidth)}${p.dim(`\u2192 ${terminalText(view.hint)}`)}`);
    if (view.changedTools.length > 0) {
      const names = view.changedTools.map((name) => terminalText(name)).join(', ');
      writeLine(
        io.stdout,
        `   ${' '.repeat(nameWidth)}${p.yellow(`\u2192 changed since first allowed: ${names} (asked before use): patchbay review ${view.name}`)}`,
      );
    }
  });
  const shortened = views.filter((_, index) => targets[index] !== full[index]);
  if (shortened.length > 0)
    writeLine(io.stderr, p.dim(`Shortened: the full target is in patchbay get ${shortened[0]!.name}.`));
}

const TARGET_WIDTH = 48;

function shorten(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}\u2026`;
}
