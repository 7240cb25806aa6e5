/**
 * `patchbay serve --http --state redis://…` records every call in one audit stream in Redis, and
 * Redis stopped and started under load loses nothing and counts nothing twice: hosts keep calling
 * a limited tool and a tool without limits while Redis goes away and comes back (an append-only,
 * fsynced Redis, as an audit stream is deployed). gateway-redis-limits.test.ts checks the refusal's
 * wording and /readyz one call at a time; this one checks the same under load, and that the audit
 * stream then holds every completed call exactly once (by id), the ones spooled while Redis was
 * away included, and that `patchbay log/stats --state` and `log --jsonl` read it.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { hasRedis, startRedis, type RedisServer } from '../helpers/redis.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

const LIMIT = 150;
const STREAM = 'patchbay:{audit}:stream';

let sandbox: Sandbox;
let everything: EverythingServer;
let redis: RedisServer;
let redisDir: string;
let gateway: RunningGateway;

beforeAll(async () => {
  sandbox = await createSandbox();
  redisDir = await mkdtemp(join(tmpdir(), 'patchbay-redis-'));
  [everything, redis] = await Promise.all([
    startEverything('streamableHttp'),
    startRedis({ persistIn: redisDir }),
  ]);
  await sandbox.run(['add', 'ev', everything.url]);
  await sandbox.run(['limit', 'ev', 'echo', `${LIMIT}/hour`]);
  gateway = await startGateway(sandbox, ['--state', redis.url]);
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await everything?.close();
  await redis?.close();
  await sandbox?.cleanup();
  if (redisDir) await rm(redisDir, { recursive: true, force: true });
});

async function host() {
  const client = new Client(
    { name: 'load-host', version: '1.0.0' },
    { versionNegotiation: { mode: 'legacy' } },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gateway.url), {
      requestInit: { headers: { Authorization: `Bearer ${gateway.token}` } },
    }),
  );
  return client;
}

interface Completed {
  tool: 'echo' | 'get-sum';
  isError: boolean;
  text: string;
  /** Started and answered while Redis was down. */
  whileDown: boolean;
  /** Started before Redis was stopped. */
  startedBefore: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function readyz(): Promise<number> {
  return (await fetch(new URL('/readyz', gateway.url))).status;
}

async function streamLines(): Promise<Array<{ id: string; line: string }>> {
  const client = createClient({ url: redis.url });
  await client.connect();
  try {
    const entries = await client.xRange(STREAM, '-', '+');
    return (entries ?? []).map((entry) => entry.message as { id: string; line: string });
  } finally {
    await client.close();
  }
}

describe.skipIf(!hasRedis())('the audit stream while Redis stops and starts under load', () => {
  it('refuses limited calls clearly while down, serves the rest, recovers, admits no more than the limit, and records every completed call once', async () => {
    const hosts = await Promise.all(Array.from({ length: 6 }, () => host()));
    const completed: Completed[] = [];
    // 0: Redis up; 1: Redis down; 2: up again.
    let phase = 0;
    let running = true;
    const loops = hosts.map(async (client, index) => {
      for (let round = 0; running; round++) {
        const tool = (index + round) % 2 === 0 ? 'echo' : 'get-sum';
        const startedIn = phase;
        const result = await client.callTool(
          tool === 'echo'
            ? { name: 'ev__echo', arguments: { message: `h${index} r${round}` } }
            : { name: 'ev__get-sum', arguments: { a: index, b: round } },
          { timeout: 30_000 },
        );
        completed.push({
          tool,
          isError: Boolean(result.isError),
          text: JSON.stringify(result.content),
          whileDown: startedIn === 1 && phase === 1,
          startedBefore: startedIn === 0,
        });
      }
    });
    try {
      await sleep(1_000);
      phase = 1;
      await redis.kill();
      // Calls in flight at the kill may wait for their answer from Redis (bounded); then calls go on.
      const downDeadline = Date.now() + 20_000;
      const down = (tool: string) => completed.filter((call) => call.whileDown && call.tool === tool).length;
      while (down('echo') < 10 || down('get-sum') < 10) {
        expect(Date.now()).toBeLessThan(downDeadline);
        await sleep(100);
      }
      expect(await readyz()).toBe(503);
      phase = 2;
      await redis.restart();
      // The gateway reconnects on its own.
      const deadline = Date.now() + 15_000;
      while ((await readyz()) !== 200) {
        expect(Date.now()).toBeLessThan(deadline);
        await sleep(100);
      }
      // Until the limit is reached, so that over-admission would show.
      const limitDeadline = Date.now() + 30_000;
      while (!completed.some((call) => call.text.includes('Usage limit reached for ev echo'))) {
        expect(Date.now()).toBeLessThan(limitDeadline);
        await sleep(100);
      }
      await sleep(300);
      running = false;
      await Promise.all(loops);

      // While Redis was down: the limited tool refused with a reason that names the store, the
      // other tool served.
      const downEcho = completed.filter((call) => call.whileDown && call.tool === 'echo');
      const downSum = completed.filter((call) => call.whileDown && call.tool === 'get-sum');
      for (const call of downEcho) {
        expect(call.isError).toBe(true);
        expect(call.text).toMatch(/could not be reached \(redis at redis:\/\/127\.0\.0\.1:\d+/);
      }
      for (const call of downSum) expect(call.isError, call.text).toBe(false);
      // The counts survived the restart (an append-only Redis): never one admitted over the limit.
      const admitted = completed.filter((call) => call.tool === 'echo' && !call.isError).length;
      expect(admitted).toBeLessThanOrEqual(LIMIT);
      // A call whose count Redis made just as it was stopped, whose answer never came back, was
      // refused (failing closed) and still counted: only those may be missing from the limit.
      const unsure = completed.filter(
        (call) =>
          call.tool === 'echo' &&
          call.startedBefore &&
          call.isError &&
          /could not be reached/.test(call.text),
      ).length;
      expect(admitted).toBeGreaterThanOrEqual(LIMIT - unsure);
    } finally {
      running = false;
      await Promise.allSettled(loops);
      await Promise.all(hosts.map((client) => client.close()));
    }

    // Every completed call is in the stream exactly once, the spooled ones included.
    let lines: Array<{ id: string; line: string }> = [];
    const flushed = Date.now() + 15_000;
    while ((lines = await streamLines()).length < completed.length && Date.now() < flushed) await sleep(200);
    const ids = new Set(lines.map((line) => line.id));
    expect(ids.size).toBe(lines.length);
    expect(lines.length).toBe(completed.length);
    const entries = lines.map(
      (line) => JSON.parse(line.line) as { tool: string; decision: string; outcome: string },
    );
    expect(entries.filter((entry) => entry.tool === 'echo').length).toBe(
      completed.filter((call) => call.tool === 'echo').length,
    );
    // Each admitted echo call is one ok line (LIMIT, or fewer by calls counted as Redis stopped).
    const admittedEcho = completed.filter((call) => call.tool === 'echo' && !call.isError).length;
    expect(entries.filter((entry) => entry.tool === 'echo' && entry.outcome === 'ok').length).toBe(
      admittedEcho,
    );
    expect(gateway.stderr()).toMatch(/spooled lines sent/);

    // The readers: the same figures through patchbay log/stats --state, and the export.
    const stats = await sandbox.run(['stats', '--state', redis.url, '--json']);
    expect(stats.code, stats.stderr).toBe(0);
    const rows = JSON.parse(stats.stdout) as Array<{ tool: string; calls: number }>;
    expect(rows.reduce((sum, row) => sum + row.calls, 0)).toBe(completed.length);
    const exported = await sandbox.run(['log', '--state', redis.url, '--jsonl']);
    expect(exported.code, exported.stderr).toBe(0);
    const exportedLines = exported.stdout.trimEnd().split('\n');
    expect(exportedLines).toHaveLength(completed.length);
    expect(JSON.parse(exportedLines[0]!)).toMatchObject({ via: 'gateway', server: 'ev' });
    const listed = await sandbox.run(['log', 'ev', '--state', redis.url, '--json', '--since', '1h']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toHaveLength(completed.length);
    // This machine's audit file got none of them.
    const local = await sandbox.run(['log', '--json']);
    expect(JSON.parse(local.stdout || '[]')).toHaveLength(0);
  }, 120_000);
});
