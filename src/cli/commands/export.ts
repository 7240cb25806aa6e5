/**
 * `patchbay export --to <host>`: write patchbay's servers into a host's own files, keeping
 * everything else in them. Same report and exit codes as `import`: 0 when everything was handled
 * (skips included, each with its reason), 1 when a write failed, 2 for usage errors and broken files.
 */

import { EXIT } from '../../errors.js';
import type { Scope } from '../../config/entry.js';
import { applyExport, planExport, type ExportItem } from '../../config/hosts/export-plan.js';
import { getHost, parseHost, type HostId } from '../../config/hosts/index.js';
import { createContext } from '../../config/registry.js';
import { note, paint, printJson, useColor, warn, writeLine, type Io } from '../io.js';
import { terminalText } from '../../core/terminal-text.js';
import { parseScope } from './add.js';
import { maskedEntry, printReport, skipsOf, type ReportItem } from './import.js';

export interface ExportOptions {
  host: HostId;
  /** Only this scope's entries; otherwise every effective server. */
  scope?: Scope;
  dryRun: boolean;
  force: boolean;
  json: boolean;
  /** Whose file locations to use; `process.platform` unless a test says otherwise. */
  platform?: NodeJS.Platform;
}

export function parseExportOptions(raw: {
  to?: string;
  scope?: string;
  dryRun?: boolean;
  force?: boolean;
  json?: boolean;
}): ExportOptions {
  const options: ExportOptions = {
    host: parseHost(raw.to, '--to'),
    dryRun: Boolean(raw.dryRun),
    force: Boolean(raw.force),
    json: Boolean(raw.json),
  };
  if (raw.scope !== undefined) options.scope = parseScope(raw.scope);
  return options;
}

export async function runExport(options: ExportOptions, io: Io): Promise<number> {
  const context = createContext(io.env, io.cwd, io.paths);
  const host = getHost(options.host);
  const platform = options.platform ?? process.platform;
  const planOptions = { scope: options.scope, force: options.force, platform };
  const plan = await planExport(context, host, planOptions);
  const result = options.dryRun
    ? { taken: plan.items, skipped: plan.skipped, failed: [], backups: [] }
    : await applyExport(context, plan, planOptions);

  const taken = result.taken.map((item: ExportItem): ReportItem & { scope: Scope } => ({
    name: item.name,
    scope: item.scope,
    from: item.from,
    to: item.to,
    action: item.action,
    notes: item.notes,
    entry: maskedEntry(item.entry),
  }));
  const skipped = skipsOf(result.skipped, result.failed);
  const rewritten = new Set(
    result.taken.filter((item) => item.action !== 'unchanged').map((item) => item.to),
  );
  // From the plan, so that a dry run gives exactly the warnings the write gives.
  const warnings = plan.warnings;

  if (options.json) {
    printJson(io, {
      target: { host: host.id, files: plan.files },
      source: { scope: options.scope ?? null },
      dryRun: options.dryRun,
      taken,
      skipped,
      warnings,
      backups: result.backups,
    });
  } else {
    const p = paint(useColor(io, 'stdout'));
    const what = options.scope ? `patchbay's ${options.scope} scope` : "patchbay's servers";
    const heading = `Export ${what} to ${host.displayName}`;
    writeLine(io.stdout, p.bold(options.dryRun ? `${heading}: dry run, nothing written` : heading));
    for (const file of plan.files) {
      const state = file.exists ? 'exists' : options.dryRun ? 'would be created' : 'new';
      writeLine(io.stdout, p.dim(`  ${terminalText(file.path)} (${file.scope}): ${state}`));
    }
    printReport(io, p, taken, skipped, options.dryRun, 'export');
    for (const warning of warnings) warn(io, warning);
    for (const { backup } of result.backups) note(io, `The previous file is kept as ${backup}`);
    const backedUp = plan.files.filter((file) => file.exists && rewritten.has(file.path));
    if (options.dryRun && backedUp.length > 0)
      note(
        io,
        `Each changed file is copied first to <file>.patchbay-backup-<time> (${backedUp.map((file) => file.path).join(', ')}).`,
      );
    if (options.dryRun && rewritten.size > 0) {
      writeLine(
        io.stderr,
        `To export for real: patchbay export --to ${host.id}${options.scope ? ` -s ${options.scope}` : ''}${options.force ? ' --force' : ''}`,
      );
    } else if (rewritten.size > 0) {
      writeLine(io.stderr, `Restart ${host.displayName} (or reload its MCP servers) to pick up the change.`);
    }
  }
  return result.failed.length > 0 ? EXIT.error : EXIT.ok;
}
