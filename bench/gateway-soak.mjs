#!/usr/bin/env node
// A bounded soak of the gateway: `patchbay serve --http` (with the deny rule, limit and audit log
// of bench/gateway.mjs) in front of server-everything over Streamable HTTP, `echo` called with 32
// in flight on one SDK client, without pause, for BENCH_SOAK_MINUTES (default 10). The gateway's
// resident memory (VmRSS) is sampled every BENCH_SOAK_SAMPLE_S seconds (default 5). Reported: the
// RSS after the warm-up (the first minute; half of a run shorter than 2 minutes), at the end, the
// growth between them in %, the highest sample, an RSS per minute, and calls done and errors.
// Issue #18's target: growth after warm-up at most 10% over 10 minutes. A shorter run says so.
// To tell a leak from a heap that grows under load, the gateway's own /metrics (prom-client's
// default metrics) is read with each sample: V8's heap in use (its lowest value in each minute,
// i.e. after the collections of that minute, is what a leak raises), the heap V8 reserved, and
// memory outside the heap (Buffers).
//
// Usage: npm run build && node bench/gateway-soak.mjs        (BENCH_SOAK_MINUTES=2 for a check)

import { loadavg } from 'node:os';

import {
  applyPolicy,
  benchSandbox,
  cpuMs,
  memory,
  mib,
  patchbay,
  positiveNumber,
  startEverything,
  startGateway,
} from './gateway-parts.mjs';

const script = 'bench/gateway-soak.mjs';
const number = (name, fallback) => positiveNumber(script, name, fallback);
const minutes = number('BENCH_SOAK_MINUTES', 10);
const sampleMs = number('BENCH_SOAK_SAMPLE_S', 5) * 1000;
const durationMs = minutes * 60_000;
const warmupMs = Math.min(60_000, durationMs / 2);
const CONCURRENCY = 32;

// The SDK client's AbortSignal.any warnings (node 20) would print once per call on a long run.
let clientWarnings = 0;
process.removeAllListeners('warning');
process.on('warning', () => clientWarnings++);

const { project, env, orFail } = benchSandbox(script, 'soak');

const { Client, StreamableHTTPClientTransport } = await import('@modelcontextprotocol/client');

const server = await orFail(startEverything());
await orFail(patchbay(['add', 'ev', server.url], env, project));
await orFail(applyPolicy(['ev'], env, project));
const token = (await orFail(patchbay(['serve', '--print-token'], env, project))).trim();
const gateway = await orFail(startGateway(env, project, 'patchbay serve --http'));
const pid = gateway.child.pid;
const client = new Client({ name: 'patchbay-bench-soak', version: '0.0.0' });
await orFail(
  client.connect(
    new StreamableHTTPClientTransport(new URL(gateway.url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
    { timeout: 30_000 },
  ),
);

console.error(
  `${script}: ${minutes} min at ${CONCURRENCY} in flight through ${gateway.url} (pid ${pid}); ` +
    `RSS every ${sampleMs / 1000} s, warm-up ${warmupMs / 1000} s`,
);
const started = performance.now();
const elapsed = () => performance.now() - started;
const samples = [{ ms: 0, rss: memory(pid)?.rss ?? NaN, calls: 0 }];
const heapSamples = [];
const metricsUrl = new URL('/metrics', gateway.url);
async function sampleHeap() {
  try {
    const text = await (await fetch(metricsUrl, { headers: { authorization: `Bearer ${token}` } })).text();
    // In MiB, as memory() gives RSS.
    const read = (name) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
    heapSamples.push({
      ms: elapsed(),
      used: read('nodejs_heap_size_used_bytes'),
      total: read('nodejs_heap_size_total_bytes'),
      external: read('nodejs_external_memory_bytes'),
    });
  } catch {
    // A missed sample is only a gap.
  }
}
let calls = 0;
let errors = 0;
const errorTexts = new Set();
const cpuBefore = cpuMs(pid);

const sampler = setInterval(() => {
  const sample = { ms: elapsed(), rss: memory(pid)?.rss ?? NaN, calls };
  samples.push(sample);
  void sampleHeap();
  if (samples.length % Math.max(1, Math.round(60_000 / sampleMs)) === 0)
    console.error(
      `  ${(sample.ms / 60_000).toFixed(1)} min: RSS ${mib(sample.rss)}, ${calls} calls, ${errors} errors`,
    );
}, sampleMs);

let sequence = 0;
async function worker() {
  while (elapsed() < durationMs && errors < 1000) {
    const message = `soak ${++sequence}`;
    try {
      const result = await client.callTool({ name: 'ev__echo', arguments: { message } }, { timeout: 30_000 });
      if (result.isError || result.content?.[0]?.text !== `Echo: ${message}`)
        throw new Error(`unexpected result ${JSON.stringify(result).slice(0, 200)}`);
      calls++;
    } catch (error) {
      errors++;
      if (errorTexts.size < 5) errorTexts.add(String(error?.message ?? error).replace(/\d+/g, '#'));
    }
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, worker));
clearInterval(sampler);
const totalMs = elapsed();
const cpu = cpuMs(pid) - cpuBefore;
samples.push({ ms: totalMs, rss: memory(pid)?.rss ?? NaN, calls });
await client.close().catch(() => undefined);
await gateway.stop();
await server.stop();

const warm = samples.find((sample) => sample.ms >= warmupMs) ?? samples.at(-1);
const final = samples.at(-1);
const growth = ((final.rss - warm.rss) / warm.rss) * 100;
const highest = Math.max(...samples.filter((s) => s.ms >= warmupMs).map((s) => s.rss));
const perMinute = [];
for (let minute = 1; minute * 60_000 <= totalMs + sampleMs; minute++) {
  const sample = samples.find((s) => s.ms >= minute * 60_000) ?? final;
  perMinute.push(`${minute} min ${mib(sample.rss)}`);
}
const measuredCalls = final.calls - warm.calls;
const measuredMs = final.ms - warm.ms;

console.log(
  `Soak: patchbay serve --http (deny rule, limit, audit) → server-everything (Streamable HTTP), ` +
    `echo, ${CONCURRENCY} in flight, ${(totalMs / 60_000).toFixed(1)} min; node ${process.version}, ` +
    `load average ${loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')} at the end\n`,
);
console.log(
  '| RSS after warm-up | RSS at the end | growth | highest after warm-up | calls | errors | calls/s | gateway CPU ms/call |',
);
console.log('| --: | --: | --: | --: | --: | --: | --: | --: |');
console.log(
  `| ${mib(warm.rss)} (at ${(warm.ms / 1000).toFixed(0)} s) | ${mib(final.rss)} | ${growth.toFixed(1)}% | ` +
    `${mib(highest)} | ${calls} | ${errors} | ${((measuredCalls * 1000) / measuredMs).toFixed(0)} | ` +
    `${(cpu / (calls + errors)).toFixed(2)} |`,
);
console.log(`\n- RSS by minute: ${perMinute.join(', ')}.`);
const heapMinutes = [];
for (let minute = 1; minute * 60_000 <= totalMs + sampleMs; minute++) {
  const inMinute = heapSamples.filter((h) => h.ms >= (minute - 1) * 60_000 && h.ms < minute * 60_000);
  if (inMinute.length === 0) continue;
  heapMinutes.push({
    minute,
    lowestUsed: Math.min(...inMinute.map((h) => h.used)),
    total: inMinute.at(-1).total,
    external: inMinute.at(-1).external,
  });
}
if (heapMinutes.length > 1) {
  console.log(
    `- V8 heap by minute (lowest in use / reserved / outside the heap): ${heapMinutes
      .map((h) => `${h.minute} min ${mib(h.lowestUsed)} / ${mib(h.total)} / ${mib(h.external)}`)
      .join(', ')}.`,
  );
  const first = heapMinutes.find((h) => h.minute * 60_000 > warmupMs) ?? heapMinutes[0];
  const last = heapMinutes.at(-1);
  console.log(
    `- Lowest heap in use, after warm-up to the last minute: ${mib(first.lowestUsed)} → ${mib(last.lowestUsed)} ` +
      `(${(((last.lowestUsed - first.lowestUsed) / first.lowestUsed) * 100).toFixed(1)}%): a leak raises it minute after minute.`,
  );
}
console.log(
  `- Target: growth after warm-up ≤ 10% over 10 minutes — ${growth <= 10 ? 'met' : 'MISSED'}` +
    `${minutes < 10 ? ` (this run was shortened to ${minutes} min: BENCH_SOAK_MINUTES)` : ''}.`,
);
if (errors > 0) console.log(`- Errors, e.g.: ${[...errorTexts].join('; ')}`);
if (clientWarnings > 0)
  console.log(`- The bench's client printed ${clientWarnings} process warnings (not shown).`);
if (errors > 0) process.exitCode = 1;
