/**
 * Limit windows in Redis, exact across replicas: one Lua script per batch of decisions checks
 * every window of each call and counts the call in all of them only when none is at its limit,
 * in the order the calls came, as one atomic step on the server (no read-then-write between
 * replicas). Each counter lives as long as its window (PEXPIRE on its first count).
 *
 * The script is sent by its SHA-1 (EVALSHA); a Redis that does not know it (first use, after a
 * restart or SCRIPT FLUSH) answers NOSCRIPT, and it is sent whole once (runScript).
 *
 * The calls of one process that arrive while a script is in flight wait together and go in the
 * next one: at many calls in flight, one round trip decides them all, with the same answers.
 *
 * Keys are `patchbay:{limits}:<counter>`: the hash tag puts every counter in one slot, so that a
 * script may touch any of them on a Redis Cluster too.
 */

import { createHash } from 'node:crypto';

import { runScript, type RedisCommands } from './redis-connection.js';
import type { ChargeResult, WindowCharge, WindowCounters } from './store.js';

export const WINDOW_PREFIX = 'patchbay:{limits}:';

/**
 * KEYS: the batch's distinct counters. ARGV[1]: the number of calls; then per call its number
 * of windows n and n triples (index into KEYS, limit, ttl ms). Returns per call
 * {admitted (1|0), count before the call of each window...}.
 */
const SCRIPT = `
local counts = {}
local results = {}
local at = 2
for call = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[at])
  at = at + 1
  local reply = {1}
  for w = 0, n - 1 do
    local index = tonumber(ARGV[at + w * 3])
    local count = counts[index]
    if count == nil then
      count = tonumber(redis.call('GET', KEYS[index]) or '0')
      counts[index] = count
    end
    reply[w + 2] = count
    if count >= tonumber(ARGV[at + w * 3 + 1]) then reply[1] = 0 end
  end
  if reply[1] == 1 then
    local seen = {}
    for w = 0, n - 1 do
      local index = tonumber(ARGV[at + w * 3])
      if not seen[index] then
        seen[index] = true
        local count = redis.call('INCR', KEYS[index])
        counts[index] = count
        if count == 1 then redis.call('PEXPIRE', KEYS[index], ARGV[at + w * 3 + 2]) end
      end
    end
  end
  at = at + n * 3
  results[call] = reply
end
return results
`;

const SCRIPT_SHA = createHash('sha1').update(SCRIPT).digest('hex');
const CHARGE_SCRIPT = { text: SCRIPT, sha: SCRIPT_SHA };

/**
 * A decision that takes longer is refused as unavailable (a Redis that stopped answering without
 * closing the connection). Should the script still run later, it only counts calls that were
 * refused: never one too many admitted.
 */
const CHARGE_TIMEOUT_MS = 3_000;

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

interface Pending {
  calls: ReadonlyArray<readonly WindowCharge[]>;
  resolve: (results: ChargeResult[]) => void;
  reject: (error: unknown) => void;
}

export class RedisWindows implements WindowCounters {
  private waiting: Pending[] = [];
  private running = false;

  constructor(private readonly client: RedisCommands) {}

  charge(calls: ReadonlyArray<readonly WindowCharge[]>): Promise<ChargeResult[]> {
    if (calls.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.waiting.push({ calls, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  async read(keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return [];
    const values = await this.client.mGet(keys.map((key) => WINDOW_PREFIX + key));
    return values.map((value) => (value === null ? 0 : Number(value)));
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.waiting.length > 0) {
      const group = this.waiting.splice(0);
      try {
        const results = await this.run(group.flatMap((pending) => pending.calls));
        let at = 0;
        for (const pending of group) {
          pending.resolve(results.slice(at, at + pending.calls.length));
          at += pending.calls.length;
        }
      } catch (error) {
        for (const pending of group) pending.reject(error);
      }
    }
    this.running = false;
  }

  private async run(calls: ReadonlyArray<readonly WindowCharge[]>): Promise<ChargeResult[]> {
    const keys: string[] = [];
    const indexOf = new Map<string, number>();
    const args: string[] = [String(calls.length)];
    for (const call of calls) {
      args.push(String(call.length));
      for (const window of call) {
        let index = indexOf.get(window.key);
        if (index === undefined) {
          keys.push(WINDOW_PREFIX + window.key);
          indexOf.set(window.key, (index = keys.length));
        }
        args.push(String(index), String(window.limit), String(Math.max(1, Math.ceil(window.ttlMs))));
      }
    }
    const reply = (await withDeadline(this.evalScript(keys, args), CHARGE_TIMEOUT_MS)) as number[][];
    return reply.map(([admitted, ...used]) => ({ admitted: admitted === 1, used: used.map(Number) }));
  }

  private evalScript(keys: string[], args: string[]): Promise<unknown> {
    return runScript(this.client, CHARGE_SCRIPT, keys, args);
  }
}
