// What the benchmarks share: timed runs of a command in its own process group, killing every one
// still running on the way out (a run that times out, Ctrl-C on the bench), the environment the
// tools run in, package versions for the report, and the preload that keeps a server on loopback.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The children still running, so that the bench can kill them on the way out. */
export const live = new Set();

/** Kill a child and, when it was started detached, its whole process group. */
export function killTree(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    // Tools run detached in their own process group, so their own children go too.
    if (child.detachedGroup) process.kill(-child.pid, 'SIGKILL');
    else child.kill('SIGTERM');
  } catch {
    // already gone
  }
}

/**
 * One timed run: wall time to the process's exit (not to the close of its pipes, which a child it
 * left behind may hold open), its exit code or signal, and its output. A run longer than
 * `timeoutMs` is killed with its process group and marked `timedOut`.
 */
export function timedRun(command, args, { env, cwd, timeoutMs }) {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.detachedGroup = true;
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killTree(child);
    }, timeoutMs);
    let ms = null;
    let code = null;
    child.once('exit', (exitCode, signal) => {
      ms = Number(process.hrtime.bigint() - start) / 1e6;
      code = exitCode ?? signal;
    });
    const finish = (error) => {
      clearTimeout(timer);
      live.delete(child);
      ms ??= Number(process.hrtime.bigint() - start) / 1e6;
      resolve({ ms, code, stdout, stderr: error ? String(error) : stderr, timedOut });
    };
    child.once('error', (error) => finish(error));
    child.once('close', () => finish());
  });
}

/**
 * Clean up on exit and on SIGINT/SIGTERM/SIGHUP (exit 130 for a signal). Returns `fail`, which
 * says what went wrong and exits 1 (the exit handler cleans up).
 */
export function stopOnExit(script, cleanUp) {
  process.on('exit', cleanUp);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'])
    process.on(signal, () => {
      console.error(`\n${script}: ${signal}, stopping.`);
      cleanUp();
      process.exit(130);
    });
  return (message) => {
    console.error(`\n${script}: ${message}`);
    process.exit(1);
  };
}

/** Settings every bench drops from the inherited environment: they would change what is measured. */
const DROPPED = [
  'PATCHBAY_TIMEOUT',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'http_proxy',
  'https_proxy',
  'ALL_PROXY',
  'all_proxy',
  'FORCE_COLOR',
];

/** The environment the tools run in: no colour, loopback never proxied, and `drop` removed too. */
export function benchEnv(drop = []) {
  const env = {
    ...process.env,
    NO_COLOR: '1',
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
  };
  for (const name of [...DROPPED, ...drop]) delete env[name];
  return env;
}

/** `<name> <version>` of the package a file (or bin link) belongs to. */
export function packageVersion(file) {
  for (let dir = dirname(realpathSync(file)); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const { name, version } = JSON.parse(readFileSync(manifest, 'utf8'));
    if (name && version) return `${name} ${version}`;
  }
  return 'unknown version';
}

/**
 * The peers' binaries named by environment variables (null when unset); one that is named but
 * missing ends the bench, as a typo should.
 */
export function peerBinaries(script, names) {
  const bins = {};
  for (const name of names) {
    const bin = process.env[name] || null;
    if (bin && !existsSync(bin)) {
      console.error(`${script}: ${name} is ${bin}, which does not exist.`);
      process.exit(2);
    }
    bins[name] = bin;
  }
  return bins;
}

/**
 * Node arguments for a process that listens (server-everything's Streamable HTTP transport,
 * supergateway) on all interfaces at a given port: a preload binds it to 127.0.0.1 instead (on a
 * free port when given 0), reports the address on stderr as `BENCH_LISTENING {address}`, and ends
 * the process with SIGTERM when its stdin closes (the bench went away, however it died), so that
 * its own shutdown runs (supergateway stops its stdio servers).
 */
const loopbackPreload = `
import net from 'node:net';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if ((typeof args[0] === 'number' || typeof args[0] === 'string') && typeof args[1] !== 'string')
    args.splice(1, 0, '127.0.0.1');
  this.once('listening', () => process.stderr.write('BENCH_LISTENING ' + JSON.stringify(this.address()) + '\\n'));
  return listen.apply(this, args);
};
const end = () => process.kill(process.pid, 'SIGTERM');
process.stdin.on('end', end).on('error', end).resume();
`;
export const loopbackPreloadArgs = [
  '--import',
  `data:text/javascript,${encodeURIComponent(loopbackPreload)}`,
];
