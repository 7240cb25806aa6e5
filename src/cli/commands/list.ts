/** `patchbay list`: every configured server, which scope won, and whether it works. */

import { EXIT } from '../../errors.js';
import { staticState } from '../../config/status.js';
import { checkServers, timeoutFrom } from '../health.js';
import { paint, printJson, sanitizeForTerminal, useColor, writeLine, type Io } from '../io.js';
import { hasBrokenFile, loadForCommand } from '../registry-loader.js';
import { isDegraded, serverView, STATUS_SYMBOL, targetText, type ServerView } from '../server-view.js';

export interface ListOptions {
  json: boolean;
  check: boolean;
  timeoutMs: number;
  showSecrets: boolean;
}

export function parseListOptions(
  raw: { json?: boolean; check?: boolean; timeout?: string; showSecrets?: boolean },
  env: NodeJS.ProcessEnv,
): ListOptions {
  const timeoutMs = timeoutFrom(raw.timeout, env);
  return {
    json: Boolean(raw.json),
    check: raw.check !== false,
    timeoutMs,
    showSecrets: Boolean(raw.showSecrets),
  };
}

export async function runList(options: ListOptions, io: Io): Promise<number> {
  const registry = await loadForCommand(io);
  const targets = registry.servers.map((server) => ({ server, state: staticState(server, io.env) }));
  const probes = options.check
    ? await checkServers(targets, { timeoutMs: options.timeoutMs, cwd: io.cwd })
    : [];
  const views = targets.map(({ server, state }, i) =>
    serverView(server, state, probes[i], { showSecrets: options.showSecrets }),
  );

  if (options.json) printJson(io, views);
  else printTable(views, io, registry.context.projectRoot);

  if (hasBrokenFile(registry)) return EXIT.usage;
  return views.some((view) => isDegraded(view.status)) ? EXIT.degraded : EXIT.ok;
}

function printTable(views: ServerView[], io: Io, projectRoot: string): void {
  const p = paint(useColor(io, 'stdout'));
  if (views.length === 0) {
    writeLine(io.stderr, 'No MCP servers configured.');
    writeLine(
      io.stderr,
      'Add one with: patchbay add <name> <url>   or   patchbay add <name> -- <command> [args...]',
    );
    return;
  }
  const nameWidth = Math.max(...views.map((view) => view.name.length));
  const scopeWidth = Math.max(...views.map((view) => view.scope.length));
  const transportWidth = Math.max(...views.map((view) => (view.transport ?? '?').length));
  const targets = views.map((view) => sanitizeForTerminal(targetText(view)));
  // Long commands would push every status off screen; cap the column and let long ones overflow.
  const targetWidth = Math.min(48, Math.max(...targets.map((target) => target.length)));
  writeLine(io.stderr, p.dim(`Project: ${projectRoot}`));
  views.forEach((view, index) => {
    const colour =
      view.status === 'connected'
        ? p.green
        : view.status === 'failed'
          ? p.red
          : view.status === 'unchecked' || view.status === 'disabled'
            ? p.dim
            : p.yellow;
    const detail = [view.status, view.reason ? sanitizeForTerminal(view.reason) : null]
      .filter(Boolean)
      .join(': ');
    const extras: string[] = [];
    if (view.toolCount !== null) extras.push(`${view.toolCount} tool${view.toolCount === 1 ? '' : 's'}`);
    if (view.durationMs !== null) extras.push(`${view.durationMs} ms`);
    if (view.shadows.length > 0) extras.push(`shadows ${view.shadows.map((s) => s.scope).join(', ')}`);
    const line = [
      colour(STATUS_SYMBOL[view.status]),
      view.name.padEnd(nameWidth),
      view.scope.padEnd(scopeWidth),
      (view.transport ?? '?').padEnd(transportWidth),
      targets[index]!.padEnd(targetWidth),
      colour(detail) + (extras.length ? p.dim(` (${extras.join(', ')})`) : ''),
    ].join('  ');
    writeLine(io.stdout, line);
    if (view.hint && view.status !== 'connected' && view.status !== 'unchecked')
      writeLine(io.stdout, `   ${' '.repeat(nameWidth)}${p.dim(`→ ${view.hint}`)}`);
  });
}
