#!/usr/bin/env node
// Loopback MCP servers for bench/list.mjs, in their own process so that serving them never shares
// an event loop with the code that times the clients.
//
// Usage: npm run build && node bench/servers.mjs [--kind K] [--count N] [--delay-ms MS] [--hang N]
//   --kind K       everything (default): each healthy server is @modelcontextprotocol/server-everything
//                  over Streamable HTTP in its own node process (2025-era, sessions), as people run
//                  it; demo: patchbay's demo server (dist/demo/demo-server.js), all in this process
//   --count N      N healthy servers, default 1
//   --delay-ms MS  put a delaying front in each one: every HTTP request waits MS before it is
//                  forwarded to the server behind it, so a handshake of k requests takes >= k*MS
//   --hang N       N servers that accept TCP connections and never write a byte
// Prints one JSON line on stdout, {"healthy":[url…],"hanging":[url…]}, then serves until stdin
// closes (the parent went away, however it died), SIGTERM or SIGINT.
// Each line "stats" on stdin is answered with one JSON line, {"peakBusyServers":n,"requests":m,
// "serverCpuMs":c}, counted since the last "stats" and then reset: the most delayed servers that had
// a request in flight at the same moment (how many servers the client checks at once; only with
// --delay-ms, which holds requests long enough to overlap), how many requests the delayed servers
// got, and the CPU time the servers spent (this process and every server process, from Linux's
// /proc/<pid>/schedstat, in nanoseconds; null where there is no such file). On a machine with few
// cores the servers' CPU bounds how fast any client can check them all.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpRequest, createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { loopbackPreloadArgs } from './processes.mjs';

const { values } = parseArgs({
  options: {
    kind: { type: 'string', default: 'everything' },
    count: { type: 'string', default: '1' },
    'delay-ms': { type: 'string', default: '0' },
    hang: { type: 'string', default: '0' },
  },
});
const count = Number(values.count);
const delayMs = Number(values['delay-ms']);
const hang = Number(values.hang);
for (const [name, value] of [
  ['--count', count],
  ['--delay-ms', delayMs],
  ['--hang', hang],
])
  if (!Number.isInteger(value) || value < 0) {
    console.error(`servers.mjs: ${name} must be a non-negative integer`);
    process.exit(2);
  }

if (values.kind !== 'everything' && values.kind !== 'demo') {
  console.error('servers.mjs: --kind must be everything or demo');
  process.exit(2);
}

// server-everything listens on every interface at $PORT; processes.mjs's preload binds it to
// 127.0.0.1 on a free port, reports the address on stderr, and ends it when its stdin closes, so
// the servers go when this process goes, however it ended.
const everythingScript = fileURLToPath(
  new URL('../node_modules/@modelcontextprotocol/server-everything/dist/index.js', import.meta.url),
);

const serverPids = new Set([process.pid]);

/** CPU time of this process and the server processes, in ms; null off Linux. */
function serverCpuMs() {
  let ns = 0;
  for (const pid of serverPids) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      if (pid === process.pid) return null;
    }
  }
  return ns / 1e6;
}

async function startEverything() {
  const child = spawn(
    process.execPath,
    [...loopbackPreloadArgs, everythingScript, 'streamableHttp'],
    // stdout gets a line per request: it goes nowhere.
    { env: { PATH: process.env.PATH ?? '', PORT: '0' }, stdio: ['pipe', 'ignore', 'pipe'] },
  );
  serverPids.add(child.pid);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  let log = '';
  const address = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`it did not listen within 30 s: ${log}`)), 30_000);
    createInterface({ input: child.stderr }).on('line', (line) => {
      const match = /^BENCH_LISTENING (.*)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(JSON.parse(match[1]));
      } else log = `${log}${line}\n`.slice(-2000);
    });
    exited.then((how) => reject(new Error(`server-everything exited (${how}): ${log}`)));
  });
  return {
    url: `http://127.0.0.1:${address.port}/mcp`,
    async close() {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function startHealthy() {
  if (values.kind === 'everything') return startEverything();
  const { startDemoServer } = await import(new URL('../dist/demo/demo-server.js', import.meta.url).href);
  return startDemoServer();
}

const closers = [];
let busyServers = 0;
let peakBusyServers = 0;
let requests = 0;

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

/** Track sockets so close() does not wait on a client's idle keep-alive or open stream. */
function trackSockets(server) {
  const sockets = new Set();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
  });
  return () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
}

/** An HTTP front that holds every request for `ms`, then pipes it to `target` and back. */
async function startDelayingFront(target, ms) {
  const upstream = new URL(target);
  let inFlight = 0;
  const server = createHttpServer((req, res) => {
    requests++;
    if (inFlight++ === 0) peakBusyServers = Math.max(peakBusyServers, ++busyServers);
    res.once('close', () => {
      if (--inFlight === 0) busyServers--;
    });
    req.pause();
    const timer = setTimeout(() => {
      const forward = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          // The Host header stays as the client sent it (127.0.0.1:<front port>): a loopback host,
          // which a server's DNS-rebinding check accepts.
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.flushHeaders();
          answer.pipe(res);
        },
      );
      forward.on('error', () => {
        if (res.headersSent) res.destroy();
        else res.writeHead(502).end();
      });
      res.once('close', () => forward.destroy());
      req.pipe(forward);
      req.resume();
    }, ms);
    res.once('close', () => clearTimeout(timer));
  });
  const close = trackSockets(server);
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}${upstream.pathname}`, close };
}

async function startHanging() {
  const server = createNetServer(() => undefined);
  const close = trackSockets(server);
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}/mcp`, close };
}

let cpuAtLastStats = null;
let shuttingDown = false;
async function shutdown(code) {
  if (shuttingDown) return;
  shuttingDown = true;
  // Fronts first, then the servers behind them.
  await Promise.allSettled(closers.reverse().map((close) => close()));
  process.exit(code);
}
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));
process.stdin.on('end', () => void shutdown(0));
process.stdin.on('error', () => void shutdown(0));
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'stats') return;
  const cpu = serverCpuMs();
  const serverCpu = cpu === null || cpuAtLastStats === null ? null : Math.round(cpu - cpuAtLastStats);
  process.stdout.write(`${JSON.stringify({ peakBusyServers, requests, serverCpuMs: serverCpu })}\n`);
  peakBusyServers = busyServers;
  requests = 0;
  cpuAtLastStats = cpu;
});

try {
  const healthy = [];
  // Ten at a time: fifty node processes starting at once would take longer on two cores.
  for (let first = 0; first < count; first += 10) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(10, count - first) }, async () => {
        const server = await startHealthy();
        closers.push(() => server.close());
        if (delayMs <= 0) return server.url;
        const front = await startDelayingFront(server.url, delayMs);
        closers.push(front.close);
        return front.url;
      }),
    );
    healthy.push(...batch);
  }
  const hanging = [];
  for (let i = 0; i < hang; i++) {
    const server = await startHanging();
    closers.push(server.close);
    hanging.push(server.url);
  }
  process.stdout.write(`${JSON.stringify({ healthy, hanging })}\n`);
} catch (error) {
  console.error(`servers.mjs: ${error instanceof Error ? error.stack : error}`);
  await shutdown(1);
}
