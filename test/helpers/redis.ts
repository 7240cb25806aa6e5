/**
 * Debian's `redis-server`, started on a free loopback port for one test file and stopped after:
 * no persistence (unless `persistIn`), no other interface. `.ci/run` installs it when missing.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

import { getFreePort } from '../fixtures/fault-servers.js';

export interface RedisServer {
  url: string;
  port: number;
  child: ChildProcess;
  /** Stop it (SIGKILL: as a machine going away), to start it again later on the same port. */
  kill(): Promise<void>;
  /** Start it again on the same port after kill() (empty: no persistence). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export const REDIS_SERVER = 'redis-server';

/** Whether Debian's redis-server is installed (the tests that need it say so when it is not). */
export function hasRedis(): boolean {
  return spawnSync(REDIS_SERVER, ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface RedisOptions {
  /**
   * Keep what it holds across kill()/restart(): an append-only file in this directory, fsynced on
   * every write (as an audit stream is deployed), instead of no persistence.
   */
  persistIn?: string;
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const port = await getFreePort();
  const persistence = options.persistIn
    ? ['--dir', options.persistIn, '--appendonly', 'yes', '--appendfsync', 'always']
    : ['--appendonly', 'no'];
  const launch = (at: number) => launchOn(at, persistence);
  let child = await launch(port);
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    get child() {
      return child;
    },
    async kill() {
      await stop(child, 'SIGKILL');
    },
    async restart() {
      child = await launch(port);
    },
    async close() {
      await stop(child, 'SIGTERM');
    },
  };
  return server;
}

function launchOn(port: number, persistence: string[]): Promise<ChildProcess> {
  return launchRedisServer([
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    ...persistence,
    '--protected-mode',
    'yes',
  ]);
}

/**
 * `redis-server` with these arguments (a `--port` among them), resolved once its output says
 * `ready` (by default, that it accepts connections): also the nodes of a Sentinel or a Cluster
 * (redis-topologies.ts).
 */
export async function launchRedisServer(
  args: string[],
  ready: string | RegExp = 'Ready to accept connections',
): Promise<ChildProcess> {
  const port = args[args.indexOf('--port') + 1];
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`redis-server did not start on ${port}:\n${output}`)),
      10_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (typeof ready === 'string' ? output.includes(ready) : ready.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}) before it was ready:\n${output}`));
    });
  });
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

/** Stop a redis-server started here and wait until it has exited. */
export async function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await exited;
}
