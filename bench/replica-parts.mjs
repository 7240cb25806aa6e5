// What the replica benchmarks share (bench/replicas.mjs, bench/state-cost.mjs): Debian's
// redis-server and haproxy on loopback, `patchbay serve --http 127.0.0.1:0 --state redis://…`
// replicas of one sandbox, the SDK client that drives `echo` through them, Redis's own count of
// the commands it ran, and the load average. The same set-up as test/helpers/replicas.ts (which
// is TypeScript, for the tests): round-robin per request, no affinity, health-checked.
// A function that cannot do its job rejects with a message; each script turns that into its own
// `fail`, which cleans up (every child is in processes.mjs's `live`).

import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';

import {
  awaitLine,
  baseEnv,
  binary,
  gatewayNodeOptions,
  lastLines,
  stopChild,
  tailOf,
} from './gateway-parts.mjs';
import { live } from './processes.mjs';

export const REPLICA_HEADER = 'x-patchbay-replica';

/** The load average, as `1.23 2.34 3.45` (1, 5 and 15 minutes). */
export const loadNow = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');

/** A free loopback port (taken and let go: a tiny race, as test/fixtures' getFreePort). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

/** Whether a command runs (`redis-server --version`, `haproxy -v`). */
export const installed = (command, flag) => spawnSync(command, [flag], { stdio: 'ignore' }).status === 0;

/** Debian's redis-server on a free loopback port, no persistence; resolves once it is ready. */
export async function startRedis() {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'yes',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  live.add(child);
  let output = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`redis-server did not start: ${lastLines(output)}`)),
      10_000,
    );
    const onData = (chunk) => {
      output += chunk;
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${lastLines(output)}`)));
  });
  child.stdout.resume();
  child.stderr.resume();
  return {
    child,
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: () => stopChild(child, () => child.kill('SIGTERM')),
  };
}

/**
 * The commands Redis has run so far, by name (`evalsha`, `xadd`, `get`, …): how many, and the
 * microseconds Redis spent executing them (its own measure, without reading and writing the
 * sockets), from `INFO commandstats` through redis-cli (so the bench's own process opens no
 * connection of its own).
 */
export function redisCommands(port) {
  const out = spawnSync('redis-cli', ['-p', String(port), 'INFO', 'commandstats'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`redis-cli INFO commandstats failed: ${out.stderr}`);
  const counts = {};
  for (const match of out.stdout.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm))
    counts[match[1]] = { calls: Number(match[2]), usec: Number(match[3]) };
  return counts;
}

/**
 * What Redis ran between two redisCommands() readings (without the bench's own INFO), added into
 * `into` (`{ name: { calls, usec } }`).
 */
export function addCommandsBetween(into, before, after) {
  for (const [name, { calls, usec }] of Object.entries(after)) {
    const was = before[name] ?? { calls: 0, usec: 0 };
    const n = calls - was.calls - (name === 'info' ? 1 : 0);
    if (n <= 0 || name === 'info') continue;
    const sum = (into[name] ??= { calls: 0, usec: 0 });
    sum.calls += n;
    sum.usec += usec - was.usec;
  }
  return into;
}

/**
 * `patchbay serve --http 127.0.0.1:0` in a sandbox with `args` (`--state`, `--public-url`, …);
 * resolves with the URL it listens on (its start line says `(listening on host:port)` when a
 * --public-url differs) and the one it announces.
 */
export async function startServe(env, cwd, what, args = []) {
  const child = spawn(
    process.execPath,
    [...gatewayNodeOptions, binary, 'serve', '--http', '127.0.0.1:0', ...args],
    {
      env,
      cwd,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  live.add(child);
  const match = await awaitLine(
    child,
    /patchbay gateway at (https?:\/\/[^/\s]+\/mcp)(?: \(listening on 127\.0\.0\.1:(\d+)\))?/,
    what,
  );
  const port = match[2] ? Number(match[2]) : Number(new URL(match[1]).port);
  const stderr = tailOf(child.stderr);
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}/mcp`,
    announced: match[1],
    stderr,
    stop: () => stopChild(child, () => child.kill('SIGTERM')),
  };
}

/**
 * Debian's haproxy in the foreground, one thread, with a frontend per entry of `pools`
 * (`{ port, backends: [{ name, port }] }`): round-robin per request, no affinity (no cookie, no
 * prefer-last-server), health-checking `/healthz` every 2 s, each answer marked with the replica
 * that served it (`x-patchbay-replica`). Resolves once every frontend answers `/healthz`.
 */
export async function startHaproxy(dir, pools) {
  const config = join(dir, 'haproxy.cfg');
  const lines = [
    'global',
    '  maxconn 1024',
    '  nbthread 1',
    `  stats socket ${join(dir, 'haproxy.sock')} mode 600 level user`,
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 5m',
    '  timeout server 5m',
    '  timeout tunnel 1h',
    '  retries 3',
    '  option redispatch',
    '  retry-on conn-failure',
  ];
  pools.forEach((pool, i) => {
    lines.push(
      `frontend hosts${i}`,
      `  bind 127.0.0.1:${pool.port}`,
      '  option forwardfor',
      `  default_backend replicas${i}`,
      `backend replicas${i}`,
      '  balance roundrobin',
      '  option httpchk',
      '  http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1',
      `  http-response set-header ${REPLICA_HEADER} %[srv_name]`,
      ...pool.backends.map(
        (backend) => `  server ${backend.name} 127.0.0.1:${backend.port} check inter 2s fall 1 rise 1`,
      ),
    );
  });
  writeFileSync(config, `${lines.join('\n')}\n`);
  const child = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'], env: baseEnv });
  live.add(child);
  const output = tailOf(child.stderr);
  child.stdout.resume();
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  for (const pool of pools)
    for (const deadline = Date.now() + 10_000; ;) {
      const answered = await Promise.race([
        fetch(`http://127.0.0.1:${pool.port}/healthz`).then(
          (response) => response.ok,
          () => false,
        ),
        exited.then((code) => {
          throw new Error(`haproxy exited (${code}): ${lastLines(output.text)}`);
        }),
      ]);
      if (answered) break;
      if (Date.now() > deadline)
        throw new Error(`haproxy did not answer on ${pool.port}: ${lastLines(output.text)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  return {
    child,
    config,
    stderr: output,
    stats: () => haproxyStats(join(dir, 'haproxy.sock')),
    stop: () => stopChild(child, () => child.kill('SIGTERM')),
  };
}

/**
 * haproxy's counters per server (`show stat` on its stats socket), by server name: `connect`
 * (connections it opened to the server) and `reuse` (requests sent on one it already had).
 */
async function haproxyStats(socketPath) {
  const text = await new Promise((resolve, reject) => {
    let out = '';
    const socket = createConnection(socketPath, () => socket.end('show stat\n'));
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => (out += chunk));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
  const [head, ...lines] = text.trim().split('\n');
  const fields = head.replace(/^# /, '').split(',');
  const stats = {};
  for (const line of lines) {
    const values = line.split(',');
    const row = Object.fromEntries(fields.map((field, i) => [field, values[i]]));
    if (row.svname === 'FRONTEND' || row.svname === 'BACKEND') continue;
    stats[row.svname] = { connect: Number(row.connect) || 0, reuse: Number(row.reuse) || 0 };
  }
  return stats;
}

// ---------------------------------------------------------------------------------------------
// The client: the SDK's, one per row, counting which replica answered each HTTP request.

const { Client, StreamableHTTPClientTransport } = await import('@modelcontextprotocol/client');

/**
 * One connected SDK client. `era` is the SDK's version negotiation: `auto` speaks 2026-07-28 to a
 * server that offers it (patchbay: no sessions, so any replica serves any request) and falls back
 * to the 2025 era (server-everything); `legacy` always opens a 2025-era session.
 */
export async function connectClient(
  url,
  { headers = {}, era = 'auto', name = 'patchbay-bench-replicas' } = {},
) {
  const served = {};
  const client = new Client({ name, version: '0.0.0' }, { versionNegotiation: { mode: era } });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers },
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      const replica = response.headers.get(REPLICA_HEADER);
      if (replica) served[replica] = (served[replica] ?? 0) + 1;
      return response;
    },
  });
  await client.connect(transport, { timeout: 30_000 });
  return {
    client,
    served,
    protocol: client.getNegotiatedProtocolVersion?.() ?? transport.protocolVersion ?? 'unknown',
  };
}

/**
 * `count` calls of `tool` (echo), `concurrency` in flight at once on the row's one client; every
 * answer must be `Echo: <its own message>`. Latencies in ms of the checked calls; the first few
 * distinct error texts are kept on `row.errorTexts`.
 */
let sequence = 0;
export async function load(row, count, concurrency, { timeoutMs = 30_000, maxErrors = 50 } = {}) {
  const latencies = [];
  let issued = 0;
  let errors = 0;
  const start = process.hrtime.bigint();
  const worker = async () => {
    while (issued < count && row.errors < maxErrors) {
      issued++;
      const message = `${row.id} ${++sequence}`;
      const t0 = process.hrtime.bigint();
      let why = null;
      try {
        const result = await row.client.callTool(
          { name: row.tool, arguments: { message } },
          { timeout: timeoutMs },
        );
        const text = result.content?.[0]?.type === 'text' ? result.content[0].text : undefined;
        if (result.isError || text !== `Echo: ${message}`)
          why = `expected "Echo: ${message}", got ${JSON.stringify(result).slice(0, 300)}`;
      } catch (error) {
        // fetch's own message ("fetch failed") says nothing; its cause says what the socket did.
        const cause = error?.cause
          ? ` (cause: ${error.cause.code ?? error.cause.name ?? ''} ${error.cause.message ?? ''})`
          : '';
        why = `${error?.name ?? 'Error'}: ${error?.message ?? String(error)}${cause}`.slice(0, 300);
      }
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (why) {
        errors++;
        row.errors++;
        const key = why.replace(/\d+/g, '#');
        if (!row.errorTexts.has(key) && row.errorTexts.size < 5) row.errorTexts.set(key, why);
      } else latencies.push(ms);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { latencies, errors, ms: Number(process.hrtime.bigint() - start) / 1e6 };
}

/** Nearest-rank quantile of sorted numbers. */
export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * q) - 1)];
}

export const fixedMs = (value) =>
  Number.isFinite(value) ? `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms` : 'n/a';
