#!/usr/bin/env node
// What the Redis state costs a call end to end (issue #20's Speed: "per-call cost of the Redis
// state at 1 in flight ≤ 0.3 ms p50 over the file default, same run"). Two gateways set up alike
// (server-everything's `echo` over Streamable HTTP as `ev`, a deny rule, a limit and the audit log
// on, as bench/gateway.mjs's gateway rows), each in its own sandbox: one with the file default
// (the limit counted in the machine's usage file), one with `--state redis://…` (counted in
// Redis). One call in flight, batches of the two interleaved in the same rounds; the difference of
// the p50s is the figure. bench/limit-store.mjs times the limit decision alone.
//
// Usage: npm run build && node bench/state-cost.mjs
// Environment:
//   BENCH_CALLS       measured calls per gateway (default 2000)
//   BENCH_WARMUP      checked, untimed calls per gateway first (default 100)
//   BENCH_ROUNDS      rounds, one batch of each gateway per round, alternating which goes first
//                     (default 10)
//   BENCH_HOST_ERA    the client's version negotiation: auto (default: 2026-07-28 with patchbay)
//                     or legacy (a 2025-era session, as bench/gateway.mjs's client)
//   BENCH_LIMIT       off: no limit on ev (the deny rule and the audit log stay), so that what
//                     differs is the rest of the state (the audit stream, sessions…) without the
//                     usage file's fsync on one side and the window script on the other
// No timing assertions: it prints the figures and the target beside them, and fails only when a
// call's answer is wrong.

import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

import {
  applyPolicy,
  DENIED_TOOL,
  auditFile,
  auditSummary,
  benchSandbox,
  cpuMs,
  LIMIT,
  patchbay as runPatchbay,
  repo,
  sandboxEnv,
  startEverything,
} from './gateway-parts.mjs';
import {
  addCommandsBetween,
  connectClient,
  installed,
  load,
  loadNow,
  quantile,
  redisCommands,
  startRedis,
  startServe,
} from './replica-parts.mjs';

const script = 'bench/state-cost.mjs';
for (const [command, flag] of [
  ['redis-server', '--version'],
  ['redis-cli', '--version'],
])
  if (!installed(command, flag)) {
    console.error(`${script}: ${command} is not installed (Debian: apt-get install redis-server).`);
    process.exit(1);
  }
const positiveInt = (name, fallback) => {
  const value = Number(process.env[name] || fallback);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`${script}: ${name} must be a positive integer`);
    process.exit(2);
  }
  return value;
};
const calls = positiveInt('BENCH_CALLS', 2000);
const warmup = positiveInt('BENCH_WARMUP', 100);
const rounds = positiveInt('BENCH_ROUNDS', 10);
const era = process.env.BENCH_HOST_ERA || 'auto';
const withLimit = process.env.BENCH_LIMIT !== 'off';
if (!['auto', 'legacy'].includes(era)) {
  console.error(`${script}: BENCH_HOST_ERA must be auto or legacy`);
  process.exit(2);
}

const { root, fail, orFail } = benchSandbox(script, 'state-cost');
const loadBefore = loadNow();

const server = await orFail(startEverything());
const redis = await orFail(startRedis());

/** A sandbox of its own (config, policy, token, usage file, audit log) and its gateway. */
async function gateway(id, label, args) {
  const home = join(root, `${id}-home`);
  const project = join(root, `${id}-project`);
  for (const dir of [home, project]) mkdirSync(dir, { recursive: true });
  const env = sandboxEnv(home, project);
  await orFail(runPatchbay(['add', 'ev', server.url], env, project));
  if (withLimit) await orFail(applyPolicy(['ev'], env, project));
  else await orFail(runPatchbay(['permit', 'ev', DENIED_TOOL, 'deny'], env, project));
  const token = (await orFail(runPatchbay(['serve', '--print-token'], env, project))).trim();
  const gw = await orFail(startServe(env, project, label, args));
  return { id, label, home, gw, headers: { Authorization: `Bearer ${token}` } };
}
const rows = [
  await gateway('files', 'patchbay serve --http (state: files, the default)', []),
  await gateway('redis', `patchbay serve --http --state redis://… (Debian's redis-server, loopback)`, [
    '--state',
    redis.url,
  ]),
];
for (const row of rows) {
  Object.assign(row, await connectClient(row.gw.url, { headers: row.headers, era }), {
    tool: 'ev__echo',
    errors: 0,
    errorTexts: new Map(),
    latencies: [],
    roundP50: [],
    ms: 0,
    cpu: 0,
    redis: {},
  });
  const { tools } = await row.client.listTools(undefined, { timeout: 30_000 });
  if (!tools.some((tool) => tool.name === row.tool)) fail(`${row.label}: no ${row.tool} listed`);
  await load(row, warmup, 1);
  console.error(`${row.label}: pid ${row.gw.child.pid}, ${row.protocol}, warmed up (${row.errors} errors)`);
}

const share = (round) => Math.floor((calls * (round + 1)) / rounds) - Math.floor((calls * round) / rounds);
for (let round = 0; round < rounds; round++) {
  const parts = [];
  for (let i = 0; i < rows.length; i++) {
    const row = rows[(round + i) % rows.length];
    const cpu = cpuMs(row.gw.child.pid);
    const commands = redisCommands(redis.port);
    const batch = await load(row, share(round), 1);
    row.cpu += cpuMs(row.gw.child.pid) - cpu;
    addCommandsBetween(row.redis, commands, redisCommands(redis.port));
    row.latencies.push(...batch.latencies);
    row.ms += batch.ms;
    row.roundP50.push(
      quantile(
        [...batch.latencies].sort((a, b) => a - b),
        0.5,
      ),
    );
    parts.push(`${row.id} ${batch.ms.toFixed(0)} ms${batch.errors ? ` (${batch.errors} errors)` : ''}`);
  }
  console.error(`round ${round + 1}/${rounds}: ${parts.join(', ')}`);
}
const loadAfter = loadNow();
for (const row of rows) {
  await row.client.close().catch(() => undefined);
  await row.gw.stop();
  row.audit = auditSummary(auditFile(row.home));
}
await redis.stop();
await server.stop();

const ms3 = (value) => `${value.toFixed(3)} ms`;
const table = [
  '| gateway | calls | p50 | p90 | p99 | mean | gateway CPU ms/call | Redis commands/call | errors |',
  '| --- | --: | --: | --: | --: | --: | --: | --: | --: |',
];
for (const row of rows) {
  const sorted = [...row.latencies].sort((a, b) => a - b);
  const n = sorted.length;
  Object.assign(row, {
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    mean: sorted.reduce((a, b) => a + b, 0) / n,
    cpuPerCall: row.cpu / n,
  });
  const commands = Object.entries(row.redis).filter(([name]) => name !== 'ping');
  table.push(
    `| ${row.label}${row.errors ? ' ⚠' : ''} | ${n} | ${ms3(row.p50)} | ${ms3(row.p90)} | ${ms3(row.p99)} | ${ms3(row.mean)} | ` +
      `${row.cpuPerCall.toFixed(2)} | ${
        commands.length
          ? commands
              .map(([name, c]) => `${name} ${(c.calls / n).toFixed(2)} (${(c.usec / c.calls).toFixed(1)} µs)`)
              .join(', ')
          : '0'
      } | ${row.errors} |`,
  );
}
const [files, redisRow] = rows;
const signed = (value) => `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(3)} ms`;
const delta = redisRow.p50 - files.p50;
const perRound = redisRow.roundP50.map((p50, i) => p50 - files.roundP50[i]).sort((a, b) => a - b);
const lines = [
  `Redis minus files, p50: ${signed(delta)} (issue #20's target: at most +0.3 ms) — ${delta <= 0.3 ? 'met' : 'MISSED'} in this run.`,
  `Per round (${rounds} rounds of ${calls / rounds} calls each), the p50 difference ranged ${signed(perRound[0])} … ` +
    `${signed(perRound[perRound.length - 1])}, median ${signed(quantile(perRound, 0.5))}: the run's noise.`,
  `Mean: ${signed(redisRow.mean - files.mean)}; the gateway's CPU per call: ${signed(redisRow.cpuPerCall - files.cpuPerCall)} ` +
    `(10 ms ticks over ${calls} calls: ±${(20 / calls).toFixed(3)} ms).`,
  `Both gateways: a deny rule, ${withLimit ? `a limit of ${LIMIT} on ev` : 'no limit (BENCH_LIMIT=off)'} and the audit log on; their audit logs hold ` +
    rows
      .map(
        (row) =>
          `${row.id}: ${
            Object.entries(row.audit)
              .map(([key, count]) => `${key} ${count}`)
              .join(', ') || 'none'
          }`,
      )
      .join('; ') +
    ` (calls made, warm-up included: ${calls + warmup} each). Redis commands are INFO commandstats, a script's own ` +
    `commands counted too (the limit's EVALSHA runs a GET and an INCR), PING (readiness) left out.`,
  `Client version negotiation ${era}: ${rows.map((row) => `${row.id} ${row.protocol}`).join(', ')}.`,
  `node ${process.version}, ${cpus().length} CPUs; patchbay commit ${spawnSync(
    'git',
    ['-C', repo, 'rev-parse', '--short', 'HEAD'],
    {
      encoding: 'utf8',
    },
  ).stdout.trim()}. Load average ${loadBefore} at the start, ${loadAfter} at the end.`,
];
console.log(table.join('\n'));
console.log(`\n${lines.map((line) => `- ${line}`).join('\n')}`);
const broken = rows.filter((row) => row.errors > 0);
if (broken.length > 0)
  fail(
    broken
      .map((row) => `${row.id}: ${row.errors} errors, e.g. ${[...row.errorTexts.values()].join('; ')}`)
      .join('\n'),
  );
