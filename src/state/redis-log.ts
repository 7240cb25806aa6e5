/**
 * A shared log in Redis (the audit log of replicas): one Stream, `patchbay:{<name>}:stream`, each
 * entry `id` (the line's unique id) and `line` (its JSON). It is bounded with an approximate
 * MAXLEN (`XADD … MAXLEN ~ n`: Redis trims whole nodes, so it holds n lines or slightly more),
 * DEFAULT_MAX_LINES unless the store was opened with another (`openState`'s `maxLogLines`:
 * `serve --audit-max-lines`, a deployment's `"audit": { "maxLines" }`); older lines are dropped
 * by Redis: export them as you go.
 *
 * Idempotent appends. A connection that drops while a write is in flight leaves its outcome
 * unknown, and the writer sends such lines again (spooled-log.ts). So one Lua script, atomic on
 * the server, adds each line's id to a set of the ids seen in the hour the line was made
 * (`patchbay:{<name>}:seen:<hour>`, SADD) and appends the line only when the id was new: a line
 * that did land is not appended twice. A set lives SEEN_TTL_S after its last addition: a line
 * with an unknown outcome sent again later than that (an outage of more than six hours) could be
 * recorded twice. The sets cost about 50 bytes per line of the last six hours or so in Redis's
 * memory (300 calls/s: ~320 MB), beside the stream's ~360 bytes per line.
 *
 * The hash tag `{<name>}` keeps the stream and its sets in one slot (one script may touch them
 * all on a Redis Cluster too).
 */

import { createHash, randomBytes } from 'node:crypto';

import { runScript, type RedisCommands } from './redis-connection.js';
import { checkNamespace, type LoggedLine } from './store.js';

/** About a month of an active team's calls, in ~300 MB of Redis memory at ~300 bytes a line. */
export const DEFAULT_MAX_LINES = 1_000_000;
/** How long a line's id is remembered after its hour: the horizon of a safe retry. */
export const SEEN_TTL_S = 6 * 3600;
/** A write that takes longer is given up (its outcome unknown, so it is sent again later). */
export const APPEND_TIMEOUT_MS = 3_000;
const HOUR_MS = 3_600_000;

/**
 * KEYS[1]: the stream; KEYS[1 + i]: the seen-set of line i. ARGV[1]: MAXLEN, ARGV[2]: the sets'
 * TTL (s), then per line i its id (ARGV[1 + 2i]) and text (ARGV[2 + 2i]). Returns lines appended.
 */
const SCRIPT = `
local added = 0
for i = 1, #KEYS - 1 do
  local id = ARGV[1 + i * 2]
  if redis.call('SADD', KEYS[i + 1], id) == 1 then
    redis.call('EXPIRE', KEYS[i + 1], ARGV[2])
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'id', id, 'line', ARGV[2 + i * 2])
    added = added + 1
  end
end
return added
`;
const APPEND_SCRIPT = { text: SCRIPT, sha: createHash('sha1').update(SCRIPT).digest('hex') };

/** Stream entries asked for per XRANGE: a reader holds at most one page. */
const PAGE = 500;

/** `<ms base36>.<random>`: the time it was made (its seen-set) and 64 random bits. */
export function lineId(now = Date.now()): string {
  return `${now.toString(36)}.${randomBytes(8).toString('hex')}`;
}

function madeAt(id: string): number {
  const at = parseInt(id.slice(0, id.indexOf('.')), 36);
  return Number.isFinite(at) ? at : Date.now();
}

export class RedisLog {
  readonly stream: string;
  private readonly seenPrefix: string;

  constructor(
    private readonly client: RedisCommands,
    prefix: string,
    name: string,
    private readonly maxLines = DEFAULT_MAX_LINES,
  ) {
    const tag = `${prefix}{${checkNamespace(name)}}`;
    this.stream = `${tag}:stream`;
    this.seenPrefix = `${tag}:seen:`;
  }

  /** Append lines in order, each at most once. Rejects when Redis cannot be reached or is late. */
  async append(lines: readonly LoggedLine[]): Promise<number> {
    if (lines.length === 0) return 0;
    const keys = [
      this.stream,
      ...lines.map((line) => this.seenPrefix + Math.floor(madeAt(line.id) / HOUR_MS)),
    ];
    const args = [
      String(this.maxLines),
      String(SEEN_TTL_S),
      ...lines.flatMap((line) => [line.id, line.line]),
    ];
    return Number(await withDeadline(runScript(this.client, APPEND_SCRIPT, keys, args), APPEND_TIMEOUT_MS));
  }

  /** Every line from `sinceMs` (the stream's clock: when Redis stored it) on, paged. */
  async *read(options: { sinceMs?: number } = {}): AsyncIterable<LoggedLine> {
    let start = options.sinceMs === undefined ? '-' : `${Math.max(0, Math.floor(options.sinceMs))}-0`;
    for (;;) {
      const page = (await this.client.xRange(this.stream, start, '+', { COUNT: PAGE })) ?? [];
      for (const entry of page) {
        const { id, line } = entry.message as Record<string, string | undefined>;
        if (typeof id === 'string' && typeof line === 'string') yield { id, line };
      }
      if (page.length < PAGE) return;
      // Exclusive: the page after the last entry read.
      start = `(${page[page.length - 1]!.id}`;
    }
  }
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
