#!/usr/bin/env node
// A large tool result through the gateway: `blob` of bench/big-server.mjs returns one text item of
// BENCH_LARGE_MIB MiB (default 10), called straight, through the bare HTTP pass-through (the
// floor) and through `patchbay serve --http` (with the deny rule, limit and audit log of
// bench/gateway.mjs) twice: to big-server as a 2026-07-28 upstream (the full path: SDK client and
// server) and to a second big-server that serves 2025-era sessions (BIG_SERVER_SESSIONS=1; the hot
// path, which passes the bytes through — each answer's x-patchbay-relay header is counted to show
// which path served it). For each call: its time, and the peak resident memory the relay process
// gained during it — its VmHWM is reset to its current RSS just before the call
// (/proc/<pid>/clear_refs, 5) and read just after, so the peak is the kernel's, not a sample's.
// A relay that streams the answer gains far less than the result's size; one that holds it whole
// gains a multiple of it (the bytes, the decoded string, the parsed message, the re-encoded one).
// The upstream server's peak is reported too: it builds the whole result, so it holds it whole.
//
// Usage: npm run build && node bench/gateway-large.mjs
// Environment: BENCH_LARGE_MIB (default 10), BENCH_LARGE_RUNS calls per path (default 5; the
// first of each is a warm-up and not counted), BENCH_GATEWAY_NODE_OPTIONS as in gateway.mjs.

import { join } from 'node:path';

import {
  applyPolicy,
  baseEnv,
  benchSandbox,
  memory,
  mib,
  patchbay,
  positiveNumber,
  repo,
  resetPeak,
  sleep,
  startGateway,
  startListening,
  startPassthrough,
} from './gateway-parts.mjs';

const script = 'bench/gateway-large.mjs';
const number = (name, fallback) => positiveNumber(script, name, fallback);
const sizeMib = number('BENCH_LARGE_MIB', 10);
const runs = Math.max(2, Math.round(number('BENCH_LARGE_RUNS', 5)));

const { project, env, fail, orFail } = benchSandbox(script, 'large');

const { Client, StreamableHTTPClientTransport } = await import('@modelcontextprotocol/client');

const big = await orFail(startListening('big-server', [join(repo, 'bench/big-server.mjs')], baseEnv));
const big25 = await orFail(
  startListening('big-server (2025 sessions)', [join(repo, 'bench/big-server.mjs')], {
    ...baseEnv,
    BIG_SERVER_SESSIONS: '1',
  }),
);
await orFail(patchbay(['add', 'big', big.url], env, project));
await orFail(patchbay(['add', 'big25', big25.url], env, project));
await orFail(applyPolicy(['big', 'big25'], env, project));
const token = (await orFail(patchbay(['serve', '--print-token'], env, project))).trim();
const gateway = await orFail(startGateway(env, project, 'patchbay serve --http'));
const floor = await orFail(startPassthrough(big.url));
await sleep(500);
if (!resetPeak(gateway.child.pid))
  fail('cannot reset VmHWM through /proc/<pid>/clear_refs here; the peak would not be per call.');

async function connect(url, headers = {}, relays = { hot: 0 }) {
  const client = new Client({ name: 'patchbay-bench-large', version: '0.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers },
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      if (response.headers.get('x-patchbay-relay') === 'hot') relays.hot++;
      return response;
    },
  });
  await client.connect(transport, { timeout: 30_000 });
  return client;
}
const paths = [
  { id: 'direct', label: 'direct: SDK client → big-server', url: big.url, tool: 'blob', relay: null },
  {
    id: 'floor',
    label: 'bare node:http pass-through → big-server',
    url: floor.url,
    tool: 'blob',
    relay: floor.child.pid,
  },
  {
    id: 'gateway',
    label: 'patchbay serve --http (deny rule, limit, audit) → big-server, 2026-07-28 (full path)',
    url: gateway.url,
    headers: { Authorization: `Bearer ${token}` },
    tool: 'big__blob',
    upstream: big,
    relay: gateway.child.pid,
  },
  {
    id: 'gateway-hot',
    label: 'patchbay serve --http (deny rule, limit, audit) → big-server, 2025 session (hot path)',
    url: gateway.url,
    headers: { Authorization: `Bearer ${token}` },
    tool: 'big25__blob',
    upstream: big25,
    relay: gateway.child.pid,
  },
];
for (const path of paths) {
  path.relays = { hot: 0 };
  path.client = await orFail(connect(path.url, path.headers, path.relays));
  path.results = [];
}

const expectedLength = Math.round(sizeMib * 1024 * 1024);
async function measure(path) {
  const upstream = path.upstream ?? big;
  const relayBefore = path.relay ? memory(path.relay) : null;
  if (path.relay) resetPeak(path.relay);
  resetPeak(upstream.child.pid);
  const upstreamBefore = memory(upstream.child.pid);
  const started = performance.now();
  const result = await path.client.callTool(
    { name: path.tool, arguments: { mib: sizeMib } },
    { timeout: 120_000 },
  );
  const ms = performance.now() - started;
  const text = result.content?.[0]?.text;
  if (result.isError || typeof text !== 'string' || text.length !== expectedLength || !text.startsWith('abc'))
    fail(
      `${path.id}: expected ${expectedLength} characters of text, got ${JSON.stringify(result).slice(0, 300)}`,
    );
  const relayAfter = path.relay ? memory(path.relay) : null;
  const upstreamAfter = memory(upstream.child.pid);
  return {
    ms,
    relayExtra: relayAfter ? relayAfter.hwm - relayBefore.rss : null,
    relayBefore: relayBefore?.rss ?? null,
    upstreamExtra: upstreamAfter.hwm - upstreamBefore.rss,
  };
}

console.error(`${sizeMib} MiB results, ${runs} calls per path (the first a warm-up), in rounds`);
for (let run = 0; run < runs; run++) {
  for (const path of paths) {
    const result = await measure(path);
    if (run > 0) path.results.push(result);
    console.error(
      `run ${run + 1} ${path.id}: ${result.ms.toFixed(0)} ms, relay +${mib(result.relayExtra)} ` +
        `(from ${mib(result.relayBefore)}), upstream +${mib(result.upstreamExtra)}`,
    );
    await sleep(200);
  }
}

const median = (values) => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : NaN;
};
const max = (values) => Math.max(...values.filter(Number.isFinite));
const direct = median(paths[0].results.map((r) => r.ms));
console.log(
  `${sizeMib} MiB tool result (one text item), ${runs - 1} measured calls per path after a warm-up; ` +
    `node ${process.version}\n`,
);
console.log(
  '| path | time (median) | vs direct | relay peak extra RSS (median · max) | upstream peak extra RSS (median) |',
);
console.log('| --- | --: | --: | --: | --: |');
for (const path of paths) {
  const ms = median(path.results.map((r) => r.ms));
  const extras = path.results.map((r) => r.relayExtra);
  console.log(
    `| ${path.label} | ${ms.toFixed(0)} ms | ${(ms / direct).toFixed(2)}× | ` +
      `${path.relay ? `${mib(median(extras))} · ${mib(max(extras))}` : '—'} | ` +
      `${mib(median(path.results.map((r) => r.upstreamExtra)))} |`,
  );
}
console.log(
  `\n- Answers the hot path gave (x-patchbay-relay: hot), of ${runs} calls each: ` +
    `full-path row ${paths[2].relays.hot}, hot-path row ${paths[3].relays.hot}.`,
);
for (const gw of paths.slice(2)) {
  const gwExtra = max(gw.results.map((r) => r.relayExtra));
  console.log(
    `- Target (${gw.id}): the gateway's peak extra memory well under the result's size (streamed): at most ` +
      `${mib(gwExtra)} for ${sizeMib} MiB (${(gwExtra / sizeMib).toFixed(2)}× the size) — ` +
      `${gwExtra < sizeMib / 2 ? 'met' : 'MISSED'} (taking "well under" as below half).`,
  );
}
console.log(
  `- The floor, a bare pipe, peaked at ${mib(max(paths[1].results.map((r) => r.relayExtra)))}: socket ` +
    'and stream buffers not yet given back.',
);
console.log(
  '- Peak extra RSS: VmHWM after the call minus VmRSS before it, VmHWM reset just before the call; ' +
    'it counts heap the garbage collector had not yet given back, so it is an upper bound of what ' +
    'the relay held at once.',
);

for (const path of paths) await path.client.close().catch(() => undefined);
await gateway.stop();
await floor.stop();
await big.stop();
await big25.stop();
