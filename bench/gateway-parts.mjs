// What the gateway benchmarks share (bench/gateway.mjs, gateway-soak.mjs, gateway-large.mjs): the
// processes they start (server-everything, `patchbay serve --http`, a node script that listens,
// the bare HTTP pass-through, the loopback OAuth issuer), their sandboxes, and what /proc says about a process (memory, CPU).
// A function that cannot do its job rejects (or throws) with a message; each script turns that
// into its own `fail`, which cleans up.

import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { benchEnv, killTree, live, loopbackPreloadArgs, stopOnExit, timedRun } from './processes.mjs';

export const repo = fileURLToPath(new URL('..', import.meta.url));
export const binary = join(repo, 'dist/cli/main.js');
export const everything = join(repo, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
export const passthroughScript = join(repo, 'bench/passthrough.mjs');
export const issuerScript = join(repo, 'bench/issuer.mjs');

/** The built binary and server-everything must be there; the message says what to run. */
export function missingFiles() {
  for (const [file, fix] of [
    [binary, 'run npm run build first'],
    [everything, 'run npm install first'],
  ])
    if (!existsSync(file)) return `${file} is missing; ${fix}.`;
  return null;
}

/** A positive number from the environment variable `name` (or `fallback`); exits 2 otherwise. */
export function positiveNumber(script, name, fallback) {
  const value = Number(process.env[name] ?? fallback);
  if (!(value > 0)) {
    console.error(`${script}: ${name} must be a positive number`);
    process.exit(2);
  }
  return value;
}

/**
 * How a standalone gateway bench (gateway-soak.mjs, gateway-large.mjs) begins: the build checked,
 * a throwaway home and project removed however the script ends (with every child it started), the
 * sandbox's environment, and `fail`/`orFail`, which report, clean up and exit.
 */
export function benchSandbox(script, prefix) {
  const missing = missingFiles();
  if (missing) {
    console.error(`${script}: ${missing}`);
    process.exit(1);
  }
  const root = realpathSync(mkdtempSync(join(tmpdir(), `patchbay-bench-${prefix}-`)));
  const home = join(root, 'home');
  const project = join(root, 'project');
  for (const dir of [home, project]) mkdirSync(dir, { recursive: true });
  const fail = stopOnExit(script, () => {
    for (const child of live) killTree(child);
    rmSync(root, { recursive: true, force: true });
  });
  const orFail = (promise) => promise.catch((error) => fail(error.message));
  return { root, home, project, env: sandboxEnv(home, project), fail, orFail };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const mib = (value) =>
  value === null || value === undefined || !Number.isFinite(value) ? 'n/a' : `${value.toFixed(1)} MiB`;

// ---------------------------------------------------------------------------------------------
// Environments. Inherited settings that would change what is measured are dropped.

export const baseEnv = benchEnv([
  'PATCHBAY_CONFIG_DIR',
  'PATCHBAY_DEBUG',
  'DBUS_SESSION_BUS_ADDRESS', // so no tool can reach the user's keyring
  'NODE_OPTIONS',
  'PORT',
]);
export const homeEnv = (home) => ({
  ...baseEnv,
  HOME: home,
  XDG_CONFIG_HOME: join(home, '.config'),
  XDG_DATA_HOME: join(home, '.local', 'share'),
  XDG_STATE_HOME: join(home, '.local', 'state'),
  XDG_CACHE_HOME: join(home, '.cache'),
});
export const sandboxEnv = (home, project) => ({
  ...homeEnv(home),
  PATCHBAY_PROJECT_DIR: project,
  PATCHBAY_DATA_DIR: join(home, 'data'),
  PATCHBAY_CREDENTIAL_STORE: 'file',
});
/** Where a sandbox's gateway writes its audit log (XDG_STATE_HOME/patchbay/audit.jsonl). */
export const auditFile = (home) => join(home, '.local', 'state', 'patchbay', 'audit.jsonl');

/**
 * Node options for the gateway process only, from BENCH_GATEWAY_NODE_OPTIONS (split on spaces),
 * e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`: they go on its node command line, before the binary.
 */
export const gatewayNodeOptions = (process.env.BENCH_GATEWAY_NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean);
/** The same for the `patchbay connect` bridge process (BENCH_CONNECT_NODE_OPTIONS). */
export const connectNodeOptions = (process.env.BENCH_CONNECT_NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean);

// ---------------------------------------------------------------------------------------------
// Processes that listen: bound to 127.0.0.1 by the preload of processes.mjs.

/** Keep the last few kilobytes of a stream, to say what went wrong, and count its warnings. */
export function tailOf(stream) {
  const tail = { text: '', warnings: 0 };
  stream?.setEncoding?.('utf8');
  stream?.on('data', (chunk) => {
    tail.text = (tail.text + chunk).slice(-4000);
    tail.warnings += chunk.match(/Warning:/g)?.length ?? 0;
  });
  return tail;
}
export const lastLines = (text, n = 5) => text.trim().split('\n').slice(-n).join(' | ');

/** Wait for a line of a child's stderr that `pattern` matches; the child exiting first is an error. */
export function awaitLine(child, pattern, what, timeoutMs = 15_000) {
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what} did not start within ${timeoutMs / 1000} s: ${lastLines(log)}`)),
      timeoutMs,
    );
    const lines = createInterface({ input: child.stderr });
    lines.on('line', (line) => {
      const match = pattern.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      } else log = (log + `${line}\n`).slice(-4000);
    });
    exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${how}): ${lastLines(log)}`));
    });
  });
}

/** Stop a child: `how` asks it to (stdin closed, SIGTERM); SIGKILL after 5 s. */
export async function stopChild(child, how) {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    how();
    const timer = setTimeout(() => killTree(child), 5000);
    await exited;
    clearTimeout(timer);
  }
  live.delete(child);
}

/** Start node with the preload; resolve with the 127.0.0.1 address it listens on. */
export async function startListening(what, args, env, stdout = 'ignore') {
  const child = spawn(process.execPath, [...loopbackPreloadArgs, ...args], {
    env,
    stdio: ['pipe', stdout, 'pipe'],
  });
  live.add(child);
  const match = await awaitLine(child, /^BENCH_LISTENING (.*)$/, what);
  const address = JSON.parse(match[1]);
  if (address.address !== '127.0.0.1')
    throw new Error(`${what} listens on ${address.address}, not 127.0.0.1`);
  const stderr = tailOf(child.stderr); // keep draining it
  return {
    child,
    stderr,
    port: address.port,
    url: `http://127.0.0.1:${address.port}/mcp`,
    stop: () => stopChild(child, () => child.stdin.end()),
  };
}

/** server-everything over Streamable HTTP; its stdout (a line per HTTP request) is counted. */
export async function startEverything() {
  const server = await startListening(
    'server-everything',
    [everything, 'streamableHttp'],
    { ...baseEnv, PORT: '0' },
    'pipe',
  );
  server.requests = { post: 0, get: 0, sessions: 0 };
  createInterface({ input: server.child.stdout }).on('line', (line) => {
    if (line.startsWith('Received MCP POST')) server.requests.post++;
    else if (line.startsWith('Received MCP GET')) server.requests.get++;
    else if (line.startsWith('Session initialized')) server.requests.sessions++;
  });
  return server;
}

/**
 * bench/issuer.mjs: a loopback authorization server's metadata and JWKS publishing `publicJwk`;
 * its stdout (a line per request) is counted by path.
 */
export async function startIssuer(publicJwk) {
  const issuer = await startListening(
    'bench issuer',
    [issuerScript, JSON.stringify(publicJwk)],
    baseEnv,
    'pipe',
  );
  issuer.issuer = `http://127.0.0.1:${issuer.port}`;
  issuer.requests = {};
  createInterface({ input: issuer.child.stdout }).on('line', (line) => {
    const [method, path] = line.split(' ');
    const key = `${method} ${path}`;
    issuer.requests[key] = (issuer.requests[key] ?? 0) + 1;
  });
  return issuer;
}

/**
 * The physical floor: bench/passthrough.mjs, a bare node:http server that pipes every request to
 * `upstreamUrl`'s origin (keep-alive agent) and the answer back, parsing nothing.
 */
export function startPassthrough(upstreamUrl) {
  return startListening('bare HTTP pass-through', [passthroughScript, upstreamUrl], baseEnv);
}

/**
 * `patchbay serve --http 127.0.0.1:0` in a sandbox, with `args` after it (e.g. `--config FILE`);
 * resolves when it prints its URL.
 */
export async function startGateway(env, cwd, what, nodeOptions = gatewayNodeOptions, args = []) {
  const child = spawn(process.execPath, [...nodeOptions, binary, 'serve', '--http', '127.0.0.1:0', ...args], {
    env,
    cwd,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  live.add(child);
  const match = await awaitLine(child, /patchbay gateway at (http:\/\/127\.0\.0\.1:\d+\/mcp)/, what);
  const stderr = tailOf(child.stderr);
  return {
    child,
    url: match[1],
    stderr,
    stop: () => stopChild(child, () => child.kill('SIGTERM')),
  };
}

/** A patchbay command that must succeed; its stdout. */
export async function patchbay(args, env, cwd, timeoutMs = 60_000) {
  const result = await timedRun(process.execPath, [binary, ...args], { env, cwd, timeoutMs });
  if (result.code !== 0 || result.timedOut)
    throw new Error(
      `patchbay ${args.join(' ')} ${result.timedOut ? 'timed out' : `exited ${result.code}`}: ` +
        lastLines(result.stderr || result.stdout),
    );
  return result.stdout;
}

/**
 * The gateway's policy as the issue's target wants it, every part active on the relayed calls:
 * a deny rule (on another tool of the same server: `get-env`, which must then be unlisted) and a
 * limit on all of the server's tools, high enough that the bench's calls never reach it. The
 * audit log is always on.
 */
export const DENIED_TOOL = 'get-env';
export const LIMIT = '100000000/minute';
export async function applyPolicy(names, env, cwd) {
  for (const name of names) {
    await patchbay(['permit', name, DENIED_TOOL, 'deny'], env, cwd);
    await patchbay(['limit', name, LIMIT], env, cwd);
  }
}

/**
 * The audit log's lines counted by where the call came in (`caller.transport`: http for the
 * gateway, stdio for `patchbay connect`), server, decision and outcome, e.g.
 * `{ 'http ev allowed/ok': 2614 }`; empty when there is no log.
 */
export function auditSummary(file) {
  const counts = {};
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return counts;
  }
  for (const line of text.split('\n')) {
    if (!line) continue;
    let key = 'unreadable';
    try {
      const entry = JSON.parse(line);
      key = `${entry.caller?.transport ?? entry.via} ${entry.server} ${entry.decision}/${entry.outcome}`;
    } catch {
      // counted as unreadable
    }
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------
// /proc.

/** Resident memory of a process, from /proc: current (VmRSS) and peak (VmHWM), in MiB. */
export function memory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
    return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

/** Reset a process's peak resident memory (VmHWM) to its current RSS; false when not allowed. */
export function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

const clockTicks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
/** CPU time (user + system) a process has used so far, in ms; null when it is gone. */
export function cpuMs(pid) {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is the state
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return null;
  }
}

/** The first process under `pid` (children, grandchildren…) whose command line `test` accepts. */
export function descendant(pid, test) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch {
      // gone
    }
  }
  const queue = [...(children.get(pid) ?? [])];
  while (queue.length > 0) {
    const next = queue.shift();
    try {
      if (test(readFileSync(`/proc/${next}/cmdline`, 'utf8').split('\0'))) return next;
    } catch {
      // gone
    }
    queue.push(...(children.get(next) ?? []));
  }
  return null;
}
export const isEverythingStdio = (argv) => argv.includes(everything) && argv.includes('stdio');
