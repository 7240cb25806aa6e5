/**
 * `patchbay import --from <host>`: copy a host's servers into one patchbay scope.
 *
 * The report is the command's data (stdout; `--json` for scripts). Exit 0 when everything was
 * handled, including servers skipped for a stated reason (a skip is a decision, not a failure;
 * the report says why); 1 when a write failed; 2 for usage errors and broken files.
 */

import { EXIT } from '../../errors.js';
import type { Scope, ServerEntry } from '../../config/entry.js';
import { getHost, parseHost, type HostId } from '../../config/hosts/index.js';
import {
  applyImport,
  planImport,
  type ImportItem,
  type SkippedServer,
} from '../../config/hosts/import-plan.js';
import { maskEntry } from '../../config/mask.js';
import { createContext } from '../../config/registry.js';
import { paint, printJson, useColor, writeLine, type Io, type Paint } from '../io.js';
import { terminalText } from '../../core/terminal-text.js';
import { targetText } from '../server-view.js';
import { parseScope } from './add.js';

export interface ImportOptions {
  host: HostId;
  scope: Scope;
  dryRun: boolean;
  force: boolean;
  json: boolean;
  /** Whose file locations to use; `process.platform` unless a test says otherwise. */
  platform?: NodeJS.Platform;
}

export function parseImportOptions(raw: {
  from?: string;
  scope?: string;
  dryRun?: boolean;
  force?: boolean;
  json?: boolean;
}): ImportOptions {
  return {
    host: parseHost(raw.from, '--from'),
    scope: parseScope(raw.scope),
    dryRun: Boolean(raw.dryRun),
    force: Boolean(raw.force),
    json: Boolean(raw.json),
  };
}

export interface ReportItem {
  name: string;
  from: string;
  to: string;
  action: 'add' | 'replace' | 'unchanged';
  notes: string[];
  entry: ServerEntry;
}

export interface ReportSkip {
  name: string;
  from?: string;
  reason: string;
  /** The server was to be written but the write failed. */
  failed?: boolean;
}

/** A server as the report shows it: secrets masked, `${VAR}` references left readable. */
export function maskedEntry(entry: ServerEntry): ServerEntry {
  return JSON.parse(JSON.stringify(maskEntry(entry))) as ServerEntry;
}

export function skipsOf(skipped: SkippedServer[], failed: SkippedServer[]): ReportSkip[] {
  return [...skipped, ...failed.map((item) => ({ ...item, failed: true }))];
}

export async function runImport(options: ImportOptions, io: Io): Promise<number> {
  const context = createContext(io.env, io.cwd, io.paths);
  const host = getHost(options.host);
  const platform = options.platform ?? process.platform;
  const plan = await planImport(context, host, { scope: options.scope, force: options.force, platform });
  const result = options.dryRun
    ? { taken: plan.items, skipped: plan.skipped, failed: [] }
    : await applyImport(context, plan);

  const taken = result.taken.map((item: ImportItem): ReportItem & { sourceName?: string } => ({
    name: item.name,
    ...(item.sourceName !== item.name ? { sourceName: item.sourceName } : {}),
    from: item.from,
    to: item.to,
    action: item.action,
    notes: item.notes,
    entry: maskedEntry(item.entry),
  }));
  const skipped = skipsOf(result.skipped, result.failed);
  const found = plan.files.filter((file) => file.exists);

  if (options.json) {
    printJson(io, {
      source: { host: host.id, files: plan.files },
      target: { scope: plan.scope, file: plan.targetPath },
      dryRun: options.dryRun,
      taken,
      skipped,
    });
  } else {
    const p = paint(useColor(io, 'stdout'));
    const heading = `Import from ${host.displayName} into patchbay's ${plan.scope} scope (${plan.targetPath})`;
    writeLine(io.stdout, p.bold(options.dryRun ? `${heading}: dry run, nothing written` : heading));
    for (const file of plan.files) {
      const what = file.exists ? `${file.servers} server${file.servers === 1 ? '' : 's'}` : 'not found';
      writeLine(io.stdout, p.dim(`  read ${file.path} (${file.scope}): ${what}`));
    }
    if (found.length === 0) {
      writeLine(
        io.stdout,
        `Nothing to import: no ${host.displayName} configuration at ${plan.files.map((file) => file.path).join(' or ')}.`,
      );
    } else {
      printReport(io, p, taken, skipped, options.dryRun, 'import');
    }
  }
  if (!options.json && taken.some((item) => item.action !== 'unchanged') && !options.dryRun) {
    writeLine(io.stderr, 'Check them with: patchbay list');
  } else if (!options.json && options.dryRun && taken.some((item) => item.action !== 'unchanged')) {
    writeLine(
      io.stderr,
      `To import for real: patchbay import --from ${host.id}${plan.scope === 'local' ? '' : ` -s ${plan.scope}`}${options.force ? ' --force' : ''}`,
    );
  }
  return result.failed.length > 0 ? EXIT.error : EXIT.ok;
}

const ACTION_WORDS = {
  import: {
    add: ['Added', 'Would add'],
    replace: ['Replaced', 'Would replace'],
    unchanged: ['Already present', 'Already present'],
  },
  export: {
    add: ['Written', 'Would write'],
    replace: ['Replaced', 'Would replace'],
    unchanged: ['Already present', 'Already present'],
  },
} as const;

/** The human report shared by import and export: taken servers by action, then the skipped ones. */
export function printReport(
  io: Io,
  p: Paint,
  taken: Array<ReportItem & { sourceName?: string }>,
  skipped: ReportSkip[],
  dryRun: boolean,
  verb: 'import' | 'export',
): void {
  const clean = (value: string) => terminalText(value);
  for (const action of ['add', 'replace', 'unchanged'] as const) {
    const items = taken.filter((item) => item.action === action);
    if (items.length === 0) continue;
    writeLine(io.stdout, '');
    writeLine(io.stdout, `${ACTION_WORDS[verb][action][dryRun ? 1 : 0]} (${items.length}):`);
    const width = Math.max(...items.map((item) => clean(item.name).length));
    for (const item of items) {
      const marker = action === 'unchanged' ? p.dim('=') : p.green(action === 'add' ? '+' : '~');
      const target = clean(
        targetText({
          transport: item.entry.transport,
          url: item.entry.url ?? null,
          command: item.entry.command ?? null,
          args: item.entry.args ?? null,
        }),
      );
      const origin = verb === 'import' ? `from ${item.from}` : `to ${item.to}`;
      writeLine(
        io.stdout,
        `  ${marker} ${clean(item.name).padEnd(width)}  ${item.entry.transport.padEnd(5)}  ${target}  ${p.dim(clean(origin))}`,
      );
      for (const note of item.notes) writeLine(io.stdout, `      ${p.yellow('note:')} ${clean(note)}`);
    }
  }
  if (skipped.length > 0) {
    writeLine(io.stdout, '');
    writeLine(io.stdout, `Skipped (${skipped.length}):`);
    for (const skip of skipped) {
      const marker = skip.failed ? p.red('✘') : p.yellow('-');
      writeLine(
        io.stdout,
        `  ${marker} ${clean(skip.name)}: ${clean(skip.reason)}${skip.from ? p.dim(` (${clean(skip.from)})`) : ''}`,
      );
    }
  }
  if (taken.length === 0 && skipped.length === 0)
    writeLine(io.stdout, `Nothing to ${verb}: no servers found.`);
}
