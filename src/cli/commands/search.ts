/**
 * `patchbay search <words...>`: servers of an MCP Registry whose name, title or description holds
 * every word. The registry itself matches names by substring on the first word (its `search`); the
 * other words narrow that here. Newest versions only; pages followed up to --limit.
 */

import { EXIT, PatchbayError } from '../../errors.js';
import { terminalText } from '../../core/terminal-text.js';
import { transportsOf, type RegistryServer } from '../../config/server-json.js';
import { paint, printJson, useColor, warn, writeLine, type Io } from '../io.js';
import { withRegistry } from '../registry-session.js';

export interface SearchOptions {
  words: string[];
  registry?: string;
  limit: number;
  json: boolean;
  timeout?: string;
}

export interface RawSearchFlags {
  registry?: string;
  limit?: string;
  json?: boolean;
  timeout?: string;
}

const DEFAULT_LIMIT = 30;
const MAX_LIMIT = 500;

export function parseSearchOptions(words: string[], flags: RawSearchFlags): SearchOptions {
  const cleaned = words.map((word) => word.trim()).filter(Boolean);
  if (cleaned.length === 0) {
    throw new PatchbayError('usage', 'Missing the words to search for.', {
      hint: 'patchbay search filesystem',
    });
  }
  let limit = DEFAULT_LIMIT;
  if (flags.limit !== undefined) {
    limit = Number(flags.limit);
    if (!/^\d+$/.test(flags.limit) || limit < 1 || limit > MAX_LIMIT) {
      throw new PatchbayError(
        'usage',
        `Invalid --limit ${JSON.stringify(flags.limit)}: expected a whole number from 1 to ${MAX_LIMIT}.`,
      );
    }
  }
  return {
    words: cleaned,
    limit,
    json: Boolean(flags.json),
    ...(flags.registry !== undefined ? { registry: flags.registry } : {}),
    ...(flags.timeout !== undefined ? { timeout: flags.timeout } : {}),
  };
}

/** Every word, case-insensitively, somewhere in the name, title or description. */
export function matchesWords(item: RegistryServer, words: string[]): boolean {
  const haystack = [item.server.name, item.server.title ?? '', item.server.description]
    .join('\n')
    .toLowerCase();
  return words.every((word) => haystack.includes(word.toLowerCase()));
}

export async function runSearch(options: SearchOptions, io: Io): Promise<number> {
  const { searchServers } = await import('../../connect/registry-api.js');
  const { base, result } = await withRegistry(io, options.registry, options.timeout, async (request) => ({
    base: request.base,
    result: await searchServers(request, options.words[0]!, options.limit, (item) =>
      matchesWords(item, options.words),
    ),
  }));
  for (const broken of result.skipped)
    warn(io, `left out ${broken.name ?? 'a server'}: its server.json is not valid (${broken.problem}).`);
  if (options.json) {
    printJson(io, {
      registry: base.href,
      servers: result.servers.map(jsonView),
      more: result.more,
    });
    return EXIT.ok;
  }
  const p = paint(useColor(io, 'stdout'));
  if (result.servers.length === 0) {
    writeLine(io.stderr, `No server on ${base.origin} matches ${options.words.join(' ')}.`);
    writeLine(
      io.stderr,
      p.dim('The registry matches names: try one word of the name, e.g. patchbay search github'),
    );
    return EXIT.ok;
  }
  printTable(result.servers, io);
  const shown = `${result.servers.length} server${result.servers.length === 1 ? '' : 's'} from ${base.origin}`;
  writeLine(io.stderr, p.dim(result.more ? `${shown}; more match: raise --limit or add words.` : shown));
  writeLine(
    io.stderr,
    p.dim(`Add one: patchbay add <name> --from-registry ${result.servers[0]!.server.name}`),
  );
  return EXIT.ok;
}

function jsonView(item: RegistryServer) {
  const s = item.server;
  return {
    name: s.name,
    ...(s.title !== undefined ? { title: s.title } : {}),
    description: s.description,
    version: s.version,
    ...(item.status !== undefined ? { status: item.status } : {}),
    ...(s.websiteUrl !== undefined ? { websiteUrl: s.websiteUrl } : {}),
    transports: transportsOf(s),
    remotes: (s.remotes ?? []).map((r) => ({ type: r.type, url: r.url })),
    packages: (s.packages ?? []).map((p) => ({
      registryType: p.registryType,
      identifier: p.identifier,
      ...(p.version !== undefined ? { version: p.version } : {}),
      transport: p.transport.type,
    })),
  };
}

function printTable(servers: RegistryServer[], io: Io): void {
  const p = paint(useColor(io, 'stdout'));
  const rows = servers.map((item) => ({
    name: terminalText(item.server.name),
    version: terminalText(item.server.version),
    transports: terminalText(transportsOf(item.server).join(',')),
    description: terminalText(item.server.description),
    deprecated: item.status !== undefined && item.status !== 'active',
  }));
  const width = (key: 'name' | 'version' | 'transports', title: string) =>
    Math.max(title.length, ...rows.map((row) => row[key].length));
  const nameWidth = Math.min(width('name', 'NAME'), 60);
  const versionWidth = Math.min(width('version', 'VERSION'), 16);
  const transportWidth = Math.min(width('transports', 'TRANSPORTS'), 24);
  const columns = (io.stdout as { columns?: number }).columns || 120;
  const descriptionWidth = Math.max(20, columns - nameWidth - versionWidth - transportWidth - 6);
  const line = (cells: string[]) => cells.join('  ').trimEnd();
  writeLine(
    io.stdout,
    p.dim(
      line([
        'NAME'.padEnd(nameWidth),
        'VERSION'.padEnd(versionWidth),
        'TRANSPORTS'.padEnd(transportWidth),
        'DESCRIPTION',
      ]),
    ),
  );
  for (const row of rows) {
    const description = row.deprecated ? `(not active) ${row.description}` : row.description;
    writeLine(
      io.stdout,
      line([
        p.bold(cut(row.name, nameWidth).padEnd(nameWidth)),
        cut(row.version, versionWidth).padEnd(versionWidth),
        cut(row.transports, transportWidth).padEnd(transportWidth),
        cut(description, descriptionWidth),
      ]),
    );
  }
}

function cut(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}\u2026`;
}
