/**
 * The audit stream on Redis (#20): what an audit line costs, and what a replica killed with -9
 * loses, through the code the gateway uses (state/redis.ts `log('audit')`: the batching, spooling
 * writer of state/spooled-log.ts over the Lua append of state/redis-log.ts).
 *
 * 1. Latency of one line at 1 in flight: a PING (the round-trip floor), a bare XADD, and the
 *    gateway's write (SADD of the line's id + XADD in one script). Then lines/s with 32 writers.
 * 2. The loss window. The gateway's hot path answers first and writes the line just after
 *    (setImmediate), so a replica killed in between loses the lines of calls it had just answered.
 *    A child process plays the replica: `inFlight` calls, each "answers" (a line on its stdout,
 *    a pipe: written synchronously) after a 1 ms upstream, then writes its audit line as the hot
 *    path does. First a run that is not killed reports answer → acknowledged-by-Redis times;
 *    then `kills` runs are killed with SIGKILL at a random moment, and every answered call is
 *    looked up in the stream: the ones missing are the loss.
 *
 *     npm run build && node bench/audit-stream.mjs [lines=2000] [kills=10] [inFlight=16]
 *
 * Starts Debian's redis-server on a free loopback port (no persistence) and stops it after.
 */

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { startRedis } from './replica-parts.mjs';

const repo = new URL('..', import.meta.url);
const { RedisState } = await import(new URL('dist/state/redis.js', repo).href);

// ------------------------------------------------------------------------------------------
// The child: a replica answering calls and writing their audit lines as the hot path does.
if (process.argv[2] === '--replica') {
  const [, , , url, directory, name, inFlight] = process.argv;
  const state = await RedisState.connect(url, { directory });
  const log = state.log(name);
  const windows = [];
  let stop = false;
  process.on('SIGTERM', () => (stop = true));
  let next = 0;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  await Promise.all(
    Array.from({ length: Number(inFlight) }, async () => {
      while (!stop) {
        await sleep(1);
        const call = `c${next++}`;
        // The answer is out (a pipe's write is synchronous on Linux) ...
        process.stdout.write(`${call}\n`);
        const answered = performance.now();
        // ... and the line is written just after, off the path.
        setImmediate(
          () =>
            void log.write(JSON.stringify({ call })).then(() => windows.push(performance.now() - answered)),
        );
      }
    }),
  );
  await state.close();
  windows.sort((a, b) => a - b);
  const at = (q) => windows[Math.min(windows.length - 1, Math.floor(q * windows.length))];
  process.stdout.write(`window ${at(0.5)} ${at(0.99)} ${windows[windows.length - 1]} ${windows.length}\n`);
  process.exit(0);
}

// ------------------------------------------------------------------------------------------
// The parent.
const lines = Number(process.argv[2] ?? 2000);
const kills = Number(process.argv[3] ?? 10);
const inFlight = Number(process.argv[4] ?? 16);

const redis = await startRedis();
const { url } = redis;
const directory = await mkdtemp(join(tmpdir(), 'patchbay-bench-audit-'));
const state = await RedisState.connect(url, { directory });
// The store's own connection (a plain client here: one redis-server).
const connection = state['connection'];
const client = connection.commands;

const percentiles = (times) => {
  times.sort((a, b) => a - b);
  const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  return `p50 ${at(0.5).toFixed(3)} ms  p90 ${at(0.9).toFixed(3)} ms  p99 ${at(0.99).toFixed(3)} ms`;
};

try {
  console.log(`audit line, 1 in flight, ${lines} each; load ${loadavg()[0].toFixed(2)}`);
  const line = JSON.stringify({
    time: new Date().toISOString(),
    host: 'bench',
    via: 'gateway',
    server: 'ev',
    tool: 'echo',
    decision: 'allowed',
    outcome: 'ok',
    durationMs: 1.2,
    argumentBytes: 20,
    resultBytes: 60,
  });
  const log = state.log('bench-latency');
  const rows = [
    ['redis PING (round-trip floor)', () => connection.ping()],
    ['bare XADD', () => client.xAdd('bench:bare', '*', { line })],
    ['audit write (SADD id + XADD)', () => log.write(line)],
  ];
  for (const [name, run] of rows) {
    for (let i = 0; i < 200; i++) await run();
    const times = [];
    const cpu = process.cpuUsage();
    for (let i = 0; i < lines; i++) {
      const start = performance.now();
      await run();
      times.push(performance.now() - start);
    }
    const used = process.cpuUsage(cpu);
    console.log(
      `${name.padEnd(30)} ${percentiles(times)}  client CPU ${((used.user + used.system) / 1000 / lines).toFixed(3)} ms/line`,
    );
  }
  {
    const started = performance.now();
    let left = lines * 5;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (left-- > 0) await log.write(line);
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `audit write, 32 in flight: ${Math.round((lines * 5) / seconds)} lines/s (batched per round trip)`,
    );
  }

  // The loss window: answer → acknowledged, in a run that is not killed.
  const replica = (name) =>
    spawn(
      process.execPath,
      [fileURLToPath(import.meta.url), '--replica', url, directory, name, String(inFlight)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
  {
    const child = replica('bench-window');
    const output = createInterface({ input: child.stdout });
    let summary;
    output.on('line', (text) => {
      if (text.startsWith('window ')) summary = text.split(' ').slice(1).map(Number);
    });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    const [p50, p99, max, count] = summary;
    console.log(
      `\nloss window (answer sent → line acknowledged by Redis), ${inFlight} calls in flight, ${count} calls: ` +
        `p50 ${p50.toFixed(3)} ms  p99 ${p99.toFixed(3)} ms  max ${max.toFixed(3)} ms`,
    );
  }

  // kill -9 at a random moment: answered calls missing from the stream.
  let lost = 0;
  let answeredAll = 0;
  const perKill = [];
  for (let run = 0; run < kills; run++) {
    const name = `bench-kill-${run}`;
    const child = replica(name);
    const answered = [];
    createInterface({ input: child.stdout }).on('line', (text) => answered.push(text));
    await new Promise((resolve) => setTimeout(resolve, 400 + Math.random() * 600));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const stored = new Set();
    for await (const entry of state.log(name).read()) stored.add(JSON.parse(entry.line).call);
    const missing = answered.filter((call) => !stored.has(call)).length;
    lost += missing;
    answeredAll += answered.length;
    perKill.push(missing);
  }
  console.log(
    `kill -9 under load, ${kills} runs: ${answeredAll} calls answered, ${lost} of their lines lost ` +
      `(per kill: ${perKill.join(', ')})`,
  );
} finally {
  await state.close();
  await redis.stop();
  await rm(directory, { recursive: true, force: true });
}
