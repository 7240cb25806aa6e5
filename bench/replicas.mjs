#!/usr/bin/env node
// Replicas (issue #20's Speed: "1 versus 3 replicas behind haproxy on this 2-core machine: calls/s
// and CPU per replica, with the limit of the machine said plainly"). `tools/call` of
// server-everything's `echo` (Streamable HTTP, its own process) through:
//   - direct: the SDK client straight to server-everything (the floor);
//   - solo: one `patchbay serve --http 127.0.0.1:0 --state redis://…` replica, no balancer;
//   - solo behind haproxy: the same replica through Debian's haproxy (one backend);
//   - 3 replicas behind haproxy: three more replicas, round-robin per request, no affinity.
// Every replica runs as bench/gateway.mjs's gateway rows do: a deny rule, a limit (counted in
// Redis: one script per decision, batched) and the audit log on (one stream in Redis). All
// replicas share one Redis (Debian's redis-server, no persistence). 1 and 32 calls in flight on
// one client per row, in interleaved rounds. No timing assertions: the bench fails only when a
// call's answer is wrong.
//
// Usage: npm run build && node bench/replicas.mjs
// Environment:
//   BENCH_CALLS_C1    measured calls per row at concurrency 1 (default 300)
//   BENCH_CALLS_C32   measured calls per row at concurrency 32 (default 1500)
//   BENCH_WARMUP      checked, untimed calls per row at c=1 first (default 50; then 64 at c=32)
//   BENCH_ROUNDS      rounds, one batch of each row per round (default 5)
//   BENCH_ROWS        only these rows, comma-separated (direct, solo, solo-lb, trio-lb)
//   BENCH_HOST_ERA    the client's version negotiation: auto (default: 2026-07-28 with patchbay,
//                     no sessions; the 2025 era with server-everything) or legacy (2025-era
//                     sessions everywhere: the 3-replica row then needs sessions shared in Redis)
//
// Beside latency and calls/s, each row gives the CPU time per call of every process involved
// (from /proc: the client, haproxy, each replica, Redis, server-everything), how many cores they
// kept busy together, how busy the whole machine was meanwhile (/proc/stat: other work included),
// the Redis commands run per call (INFO commandstats), and how the balancer spread the calls.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { spawnSync } from 'node:child_process';

import {
  DENIED_TOOL,
  LIMIT,
  applyPolicy,
  auditSummary,
  benchSandbox,
  cpuMs,
  everything,
  patchbay as runPatchbay,
  repo,
  startEverything,
} from './gateway-parts.mjs';
import {
  addCommandsBetween,
  connectClient,
  fixedMs,
  freePort,
  installed,
  load,
  loadNow,
  quantile,
  redisCommands,
  startHaproxy,
  startRedis,
  startServe,
} from './replica-parts.mjs';
import { packageVersion } from './processes.mjs';

const script = 'bench/replicas.mjs';
for (const [command, flag] of [
  ['redis-server', '--version'],
  ['redis-cli', '--version'],
  ['haproxy', '-v'],
])
  if (!installed(command, flag)) {
    console.error(`${script}: ${command} is not installed (Debian: apt-get install redis-server haproxy).`);
    process.exit(1);
  }

const positiveInt = (name, fallback) => {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`${script}: ${name} must be a positive integer, not ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
};
const callsC1 = positiveInt('BENCH_CALLS_C1', 300);
const callsC32 = positiveInt('BENCH_CALLS_C32', 1500);
const warmup = positiveInt('BENCH_WARMUP', 50);
const rounds = positiveInt('BENCH_ROUNDS', 5);
const era = process.env.BENCH_HOST_ERA || 'auto';
if (!['auto', 'legacy'].includes(era)) {
  console.error(`${script}: BENCH_HOST_ERA must be auto or legacy`);
  process.exit(2);
}
const CONCURRENCY = 32;

const { root, project, env, fail, orFail } = benchSandbox(script, 'replicas');
const patchbay = (args) => orFail(runPatchbay(args, env, project));
const loadBefore = loadNow();

// ---------------------------------------------------------------------------------------------
// Set-up: the upstream, one sandbox (config, policy, token) for every replica, Redis, the
// replicas, haproxy.

const server = await orFail(startEverything());
console.error(`server-everything (Streamable HTTP) at ${server.url}`);
await patchbay(['add', 'ev', server.url]);
await orFail(applyPolicy(['ev'], env, project));
const token = (await patchbay(['serve', '--print-token'])).trim();
const auth = { Authorization: `Bearer ${token}` };

const redis = await orFail(startRedis());
console.error(`redis-server at ${redis.url} (pid ${redis.child.pid})`);

const [soloLb, trioLb] = [await freePort(), await freePort()];
const replicaArgs = (lbPort) => [
  '--state',
  redis.url,
  '--public-url',
  `http://127.0.0.1:${lbPort}`,
  '--trust-proxy',
  '127.0.0.1',
];
// The solo replica announces its balancer's URL; it still answers on its own address (the Host
// check takes both), which the no-balancer row uses.
const solo = await orFail(startServe(env, project, 'replica solo', replicaArgs(soloLb)));
const trio = await orFail(
  Promise.all([0, 1, 2].map((i) => startServe(env, project, `replica r${i}`, replicaArgs(trioLb)))),
);
for (const [name, replica] of [['solo', solo], ...trio.map((replica, i) => [`r${i}`, replica])])
  console.error(`replica ${name} on 127.0.0.1:${replica.port} (pid ${replica.child.pid})`);
const haproxy = await orFail(
  startHaproxy(root, [
    { port: soloLb, backends: [{ name: 'solo', port: solo.port }] },
    { port: trioLb, backends: trio.map((replica, i) => ({ name: `r${i}`, port: replica.port })) },
  ]),
);
console.error(`haproxy (pid ${haproxy.child.pid}): solo at :${soloLb}, 3 replicas at :${trioLb}`);

// ---------------------------------------------------------------------------------------------
// The rows. `replicas`: the gateway processes behind it, by the name the balancer gives them.

const rows = [
  {
    id: 'direct',
    label: 'direct: SDK client → server-everything',
    url: server.url,
    tool: 'echo',
    replicas: {},
    haproxy: false,
  },
  {
    id: 'solo',
    label: '1 replica, no balancer (--state redis)',
    url: solo.url,
    tool: 'ev__echo',
    headers: auth,
    replicas: { solo: solo.child.pid },
    haproxy: false,
  },
  {
    id: 'solo-lb',
    label: '1 replica behind haproxy',
    url: `http://127.0.0.1:${soloLb}/mcp`,
    tool: 'ev__echo',
    headers: auth,
    replicas: { solo: solo.child.pid },
    haproxy: true,
  },
  {
    id: 'trio-lb',
    label: '3 replicas behind haproxy (round-robin per request)',
    url: `http://127.0.0.1:${trioLb}/mcp`,
    tool: 'ev__echo',
    headers: auth,
    replicas: Object.fromEntries(trio.map((replica, i) => [`r${i}`, replica.child.pid])),
    haproxy: true,
  },
];
// BENCH_ROWS=solo-lb,trio-lb keeps only those rows (e.g. to look at one path longer).
const only = (process.env.BENCH_ROWS ?? '').split(',').filter(Boolean);
const unknown = only.filter((id) => !rows.some((row) => row.id === id));
if (unknown.length > 0)
  fail(`BENCH_ROWS: no row ${unknown.join(', ')} (${rows.map((row) => row.id).join(', ')})`);
if (only.length > 0) rows.splice(0, rows.length, ...rows.filter((row) => only.includes(row.id)));
const emptyRun = () => ({
  latencies: [],
  ms: 0,
  cpu: { client: 0, haproxy: 0, redis: 0, upstream: 0, replicas: {} },
  machineBusyMs: 0,
  redis: {},
  served: {},
  connections: {},
});
for (const row of rows)
  Object.assign(row, { errors: 0, errorTexts: new Map(), calls: 0, c1: emptyRun(), c32: emptyRun() });

const header = [
  `node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model?.trim() ?? 'unknown'}), load average ${loadBefore} at the start`,
  `patchbay (commit ${spawnSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim()}); ` +
    `upstream ${packageVersion(everything)}; ${spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.split(' ').slice(0, 3).join(' ')}; ` +
    `${spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0].split(' - ')[0]}`,
  `per row: ${warmup} + ${2 * CONCURRENCY} warm-up calls, then ${callsC1} calls at c=1 and ${callsC32} at c=${CONCURRENCY} ` +
    `(on one client) in ${rounds} interleaved rounds; client version negotiation: ${era}`,
];
console.error(header.join('\n'));

for (const row of rows) {
  try {
    Object.assign(row, await connectClient(row.url, { headers: row.headers ?? {}, era }));
    const { tools } = await row.client.listTools(undefined, { timeout: 30_000 });
    if (!tools.some((tool) => tool.name === row.tool)) throw new Error(`no tool ${row.tool} in its listing`);
    if (row.tool !== 'echo' && tools.some((tool) => tool.name === `ev__${DENIED_TOOL}`))
      throw new Error(`the denied tool ev__${DENIED_TOOL} is listed: the deny rule is not in force`);
  } catch (error) {
    fail(`${row.label}: did not connect: ${error.message}`);
  }
  const w1 = await load(row, warmup, 1);
  const w32 = await load(row, 2 * CONCURRENCY, CONCURRENCY);
  row.calls += warmup + 2 * CONCURRENCY;
  console.error(`${row.label}: ${row.protocol}, warm-up ${w1.errors + w32.errors} errors`);
}

// What each process spends with no call at all (timers, haproxy's health checks, readiness): a
// share of every replica's CPU per call that does not shrink with load, the more so the fewer calls
// each replica serves.
const IDLE_MS = 3000;
const idlePids = {
  ...Object.fromEntries(
    [solo, ...trio].map((replica, i) => [i === 0 ? 'solo' : `r${i - 1}`, replica.child.pid]),
  ),
  haproxy: haproxy.child.pid,
  redis: redis.child.pid,
};
const idleBefore = Object.fromEntries(Object.entries(idlePids).map(([name, pid]) => [name, cpuMs(pid)]));
await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
const idle = Object.fromEntries(
  Object.entries(idlePids).map(([name, pid]) => [name, ((cpuMs(pid) - idleBefore[name]) * 1000) / IDLE_MS]),
);

// ---------------------------------------------------------------------------------------------
// Measurement: interleaved rounds, each row one batch at c=1, then each one at c=32, each round
// starting one row further along.

/** Busy and total jiffies of the whole machine (every process, other work included). */
function machineJiffies() {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const values = fields.map(Number);
  const idle = values[3] + (values[4] ?? 0);
  const total = values.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

const share = (total, round) =>
  Math.floor((total * (round + 1)) / rounds) - Math.floor((total * round) / rounds);
for (let round = 0; round < rounds; round++) {
  const parts = [];
  for (const [key, total, concurrency] of [
    ['c1', callsC1, 1],
    ['c32', callsC32, CONCURRENCY],
  ])
    for (let i = 0; i < rows.length; i++) {
      const row = rows[(round + i) % rows.length];
      const run = row[key];
      const served = { ...row.served };
      const before = {
        client: process.cpuUsage(),
        haproxy: cpuMs(haproxy.child.pid),
        redis: cpuMs(redis.child.pid),
        upstream: cpuMs(server.child.pid),
        replicas: Object.fromEntries(Object.entries(row.replicas).map(([name, pid]) => [name, cpuMs(pid)])),
        machine: machineJiffies(),
        commands: redisCommands(redis.port),
        balancer: row.haproxy ? await haproxy.stats() : null,
      };
      const batch = await load(row, share(total, round), concurrency);
      const client = process.cpuUsage(before.client);
      const machine = machineJiffies();
      run.cpu.client += (client.user + client.system) / 1000;
      if (row.haproxy) run.cpu.haproxy += cpuMs(haproxy.child.pid) - before.haproxy;
      run.cpu.redis += cpuMs(redis.child.pid) - before.redis;
      run.cpu.upstream += cpuMs(server.child.pid) - before.upstream;
      for (const [name, pid] of Object.entries(row.replicas))
        run.cpu.replicas[name] = (run.cpu.replicas[name] ?? 0) + cpuMs(pid) - before.replicas[name];
      // Busy share of all cores over the batch, as core-milliseconds.
      run.machineBusyMs +=
        ((machine.busy - before.machine.busy) / (machine.total - before.machine.total)) *
        cpus().length *
        batch.ms;
      addCommandsBetween(run.redis, before.commands, redisCommands(redis.port));
      if (row.haproxy) {
        const after = await haproxy.stats();
        for (const name of Object.keys(row.replicas)) {
          const was = before.balancer[name] ?? { connect: 0, reuse: 0 };
          const now = after[name] ?? was;
          run.connections[name] = (run.connections[name] ?? 0) + now.connect - was.connect;
        }
      }
      for (const [name, n] of Object.entries(row.served))
        run.served[name] = (run.served[name] ?? 0) + n - (served[name] ?? 0);
      run.latencies.push(...batch.latencies);
      run.ms += batch.ms;
      row.calls += batch.latencies.length + batch.errors;
      parts.push(
        `${row.id} c=${concurrency} ${batch.ms.toFixed(0)} ms${batch.errors ? ` (${batch.errors} errors)` : ''}`,
      );
    }
  console.error(`round ${round + 1}/${rounds}: ${parts.join(', ')}`);
}
const loadAfter = loadNow();

for (const row of rows) await row.client.close().catch(() => undefined);
await haproxy.stop();
for (const replica of [solo, ...trio]) await replica.stop();
// The replicas' audit lines are one stream in Redis: exported as JSONL, as a SIEM would take them.
const auditExport = join(root, 'audit-export.jsonl');
writeFileSync(auditExport, await patchbay(['log', '--state', redis.url, '--jsonl']));
const audit = auditSummary(auditExport);
// The size of an audit line, for sizing a stream or a log (echo's short arguments: a floor).
const auditText = readFileSync(auditExport, 'utf8');
const auditLineBytes =
  Buffer.byteLength(auditText) / Math.max(1, auditText.split('\n').filter(Boolean).length);
await redis.stop();
await server.stop();

// ---------------------------------------------------------------------------------------------
// The tables.

const perSecond = (value) => (Number.isFinite(value) ? value.toFixed(0) : 'n/a');
const sum = (values) => values.reduce((a, b) => a + b, 0);
const BOTH = [
  ['c1', 1],
  ['c32', CONCURRENCY],
];
for (const row of rows)
  for (const [key] of BOTH) {
    const run = row[key];
    const sorted = [...run.latencies].sort((a, b) => a - b);
    const calls = run.latencies.length;
    const replicaCpu = sum(Object.values(run.cpu.replicas));
    const processesCpu = run.cpu.client + run.cpu.haproxy + run.cpu.redis + run.cpu.upstream + replicaCpu;
    Object.assign(run, {
      calls,
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      rate: run.ms > 0 ? (calls * 1000) / run.ms : NaN,
      replicaCpu,
      processesCores: processesCpu / run.ms,
      machineCores: run.machineBusyMs / run.ms,
      // PING is the replicas' readiness checks, not the calls'.
      redisPerCall:
        sum(Object.entries(run.redis).map(([name, c]) => (name === 'ping' ? 0 : c.calls))) / calls,
      redisUsPerCall:
        sum(Object.entries(run.redis).map(([name, c]) => (name === 'ping' ? 0 : c.usec))) / calls,
    });
  }
const perCall = (run, value) =>
  run.calls > 0 && Number.isFinite(value) ? (value / run.calls).toFixed(2) : '—';
const table = [
  '| path | c | p50 | p99 | calls/s | CPU ms/call: client · haproxy · replicas · redis · upstream | cores busy: ours / machine | Redis cmds/call · µs | errors |',
  '| --- | --: | --: | --: | --: | --: | --: | --: | --: |',
];
for (const row of rows)
  for (const [key, concurrency] of BOTH) {
    const run = row[key];
    table.push(
      `| ${row.label}${row.errors ? ' ⚠' : ''} | ${concurrency} | ${fixedMs(run.p50)} | ${fixedMs(run.p99)} | ${perSecond(run.rate)} | ` +
        `${perCall(run, run.cpu.client)} · ${row.haproxy ? perCall(run, run.cpu.haproxy) : '—'} · ` +
        `${Object.keys(row.replicas).length ? perCall(run, run.replicaCpu) : '—'} · ${perCall(run, run.cpu.redis)} · ` +
        `${perCall(run, run.cpu.upstream)} | ${run.processesCores.toFixed(2)} / ${run.machineCores.toFixed(2)} | ` +
        `${run.redisPerCall.toFixed(2)} · ${run.redisUsPerCall.toFixed(1)} µs | ${row.errors} |`,
    );
  }

// CPU per replica: its time per call it served, and the share of a core it kept busy.
const replicaLines = [];
for (const row of rows.filter((candidate) => Object.keys(candidate.replicas).length > 0))
  for (const [key, concurrency] of BOTH) {
    const run = row[key];
    const parts = Object.entries(run.cpu.replicas).map(([name, ms]) => {
      const served = row.haproxy ? (run.served[name] ?? 0) : run.calls;
      return (
        `${name} ${(ms / Math.max(1, served)).toFixed(2)} ms per call it served (${served} calls, ` +
        `${((100 * served) / Math.max(1, sum(Object.values(run.served)) || run.calls)).toFixed(0)}% of the HTTP requests), ` +
        `${(ms / run.ms).toFixed(2)} of a core` +
        (row.haproxy ? `, ${run.connections[name] ?? 0} new connections from haproxy` : '')
      );
    });
    replicaLines.push(`${row.label}, c=${concurrency}: ${parts.join('; ')}.`);
  }

const byId = new Map(rows.map((row) => [row.id, row]));
const verdicts = [];
if (byId.has('solo-lb') && byId.has('trio-lb') && byId.has('direct')) {
  const one = byId.get('solo-lb').c32;
  const three = byId.get('trio-lb').c32;
  const direct = byId.get('direct').c32;
  verdicts.push(
    `3 vs 1 replica behind haproxy, c=${CONCURRENCY}: ${perSecond(three.rate)} vs ${perSecond(one.rate)} calls/s ` +
      `(${(three.rate / one.rate).toFixed(2)}×); the gateway CPU per call ${perCall(three, three.replicaCpu)} vs ` +
      `${perCall(one, one.replicaCpu)} ms summed over the replicas; direct, with no gateway, did ${perSecond(direct.rate)} calls/s.`,
  );
  verdicts.push(
    `The limit of this machine: ${cpus().length} cores, shared by the load generator, haproxy, the replicas, Redis ` +
      `and server-everything (and, on a shared machine, whatever else runs). At c=${CONCURRENCY} these processes kept ` +
      `${three.processesCores.toFixed(2)} cores busy with 3 replicas and ${one.processesCores.toFixed(2)} with 1 ` +
      `(the whole machine: ${three.machineCores.toFixed(2)} and ${one.machineCores.toFixed(2)} of ${cpus().length}). ` +
      `When the cores are full, more replicas cannot add calls/s: they split the same CPU. Read the 3-replica row ` +
      `for what it does cost (CPU per call, spread, no errors across replicas), not for how it scales; ` +
      `scaling out needs cores (machines) per replica.`,
  );
}
if (byId.has('solo'))
  for (const [key, concurrency] of BOTH) {
    const run = byId.get('solo')[key];
    const commands = Object.entries(run.redis)
      .filter(([name]) => name !== 'ping')
      .map(
        ([name, c]) =>
          `${name} ${(c.calls / run.calls).toFixed(2)} (${(c.usec / c.calls).toFixed(1)} µs each)`,
      )
      .join(', ');
    verdicts.push(
      `Redis commands per call through the solo replica, c=${concurrency}: ${commands || 'none'} (INFO ` +
        `commandstats, whose µs are Redis's own execution time without the sockets; it counts the commands a script runs too: the limit's EVALSHA runs a GET of each window per ` +
        `batch, an INCR per call, and a PEXPIRE when it opens a window; at c=${CONCURRENCY} one EVALSHA decides the calls that waited together).`,
    );
  }

const notes = [
  `Protocol each row's client negotiated: ${rows.map((row) => `${row.id} ${row.protocol}`).join(', ')}.`,
  `The replicas' policy: ${DENIED_TOOL} denied on ev (unlisted, checked), a limit of ${LIMIT} on ev counted in ` +
    `Redis, the audit log on (one stream in Redis for all four replicas, read back with patchbay log --state --jsonl). Its lines: ${
      Object.entries(audit)
        .map(([key, count]) => `${key} ${count}`)
        .join(', ') || 'none'
    } (${auditLineBytes.toFixed(0)} bytes a line on average); calls made through the replicas (warm-up included): ${sum(rows.filter((row) => row.id !== 'direct').map((row) => row.calls))}.`,
  `Idle (${IDLE_MS / 1000} s without calls, after the warm-up), CPU ms per second: ${Object.entries(idle)
    .map(([name, ms]) => `${name} ${ms.toFixed(1)}`)
    .join(', ')} (10 ms ticks: ±${(10000 / IDLE_MS).toFixed(1)}).`,
  `haproxy: one thread, round-robin per request, no affinity, /healthz checked every 2 s per replica ` +
    `(those checks are in the replicas' CPU, a few per second). Redis commands/call leaves out PING ` +
    `(the replicas' readiness checks) and the bench's own INFO.`,
  `CPU is user + system time from /proc/<pid>/stat (10 ms ticks) over the measured batches, divided by the calls; ` +
    `"cores busy" is CPU time over wall time: of the processes of this bench, and of the whole machine from /proc/stat ` +
    `(other work included).`,
  `Load average ${loadBefore} at the start, ${loadAfter} at the end.`,
];
const broken = rows.filter((row) => row.errors > 0);
for (const row of broken)
  notes.push(
    `⚠ ${row.id}: ${row.errors} errors; e.g. ${[...row.errorTexts.values()].map((text) => `"${text}"`).join('; ')}`,
  );
for (const [what, stderr] of [
  ['replica solo', solo.stderr],
  ...trio.map((replica, i) => [`replica r${i}`, replica.stderr]),
  ['haproxy', haproxy.stderr],
])
  if (stderr.warnings > 0)
    notes.push(`${what} wrote warnings on stderr: ${stderr.text.trim().split('\n').slice(-2).join(' | ')}`);

console.log(header.join('  \n'));
console.log('');
console.log(table.join('\n'));
console.log('');
console.log(replicaLines.map((line) => `- ${line}`).join('\n'));
console.log(`\n${verdicts.map((line) => `- ${line}`).join('\n')}`);
console.log(`\n${notes.map((note) => `- ${note}`).join('\n')}`);
if (broken.length > 0) fail(`${broken.map((row) => row.id).join(', ')} had errors (see above).`);
