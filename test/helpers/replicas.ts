/**
 * A gateway as a team runs it past one machine: Debian's `redis-server` for the shared state,
 * `count` replicas of `patchbay serve --http 127.0.0.1:0 --state redis://…` (the built binary, one
 * sandbox: the same config and token), and Debian's `haproxy` in front, round-robin per request
 * with no affinity, health-checking `/healthz` so that a replica that went away is skipped.
 * Everything on loopback ports, stopped by `close()`. `.ci/run` installs haproxy when missing.
 *
 * Each answer through the balancer carries `x-patchbay-replica: r<index>` (added by haproxy), so
 * a test can see which replica served a request.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';

import { getFreePort } from '../fixtures/fault-servers.js';
import { startGateway, type RunningGateway } from './gateway.js';
import { startRedis, type RedisServer } from './redis.js';
import type { Sandbox } from './sandbox.js';

export const HAPROXY = 'haproxy';
export const REPLICA_HEADER = 'x-patchbay-replica';

export function hasHaproxy(): boolean {
  return spawnSync(HAPROXY, ['-v'], { stdio: 'ignore' }).status === 0;
}

export interface Replicas {
  /** The MCP endpoint hosts use: the balancer's `http://127.0.0.1:<port>/mcp`. */
  url: string;
  port: number;
  redis: RedisServer;
  /** The replicas, r0 … r<count-1>, in the balancer's order. */
  gateways: RunningGateway[];
  /** The bearer token every replica takes (one sandbox). */
  token: string;
  /** SIGKILL one replica (a machine going away); the balancer's health check drops it. */
  kill(index: number): Promise<void>;
  close(): Promise<void>;
}

export interface ReplicaOptions {
  count?: number;
  /** More `serve` arguments for every replica. */
  args?: string[];
  /** A Redis already running (the caller stops it); default: one started for these replicas. */
  redis?: RedisServer;
  /**
   * The balancer's port, picked by the caller (balancerPort()) to write it into a deployment file
   * first: with `--config` in `args`, the public URL is the file's `publicUrl` (serve refuses
   * --public-url beside --config), so it is not passed.
   */
  port?: number;
}

export async function startReplicas(sandbox: Sandbox, options: ReplicaOptions = {}): Promise<Replicas> {
  const count = options.count ?? 3;
  const redis = options.redis ?? (await startRedis());
  const port = options.port ?? (await balancerPort());
  const fromFile = options.args?.includes('--config') ?? false;
  const gateways: RunningGateway[] = [];
  let balancer: ChildProcess | undefined;
  try {
    const started = await Promise.all(
      Array.from({ length: count }, () =>
        startGateway(sandbox, [
          '--state',
          redis.url,
          ...(fromFile ? [] : ['--public-url', `http://127.0.0.1:${port}`]),
          '--trust-proxy',
          '127.0.0.1',
          ...(options.args ?? []),
        ]),
      ),
    );
    gateways.push(...started);
    balancer = await startHaproxy(
      sandbox,
      port,
      gateways.map((gateway) => gateway.port),
    );
  } catch (error) {
    await Promise.all(gateways.map((gateway) => gateway.stop()));
    if (!options.redis) await redis.close();
    throw error;
  }
  const haproxy = balancer;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    redis,
    gateways,
    token: gateways[0]!.token,
    async kill(index) {
      const { child } = gateways[index]!;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    },
    async close() {
      await stopChild(haproxy);
      await Promise.all(gateways.map((gateway) => gateway.stop()));
      if (!options.redis) await redis.close();
    },
  };
}

/** haproxy in the foreground on `port`, round-robin over `backends`, ready once it answers. */
async function startHaproxy(sandbox: Sandbox, port: number, backends: number[]): Promise<ChildProcess> {
  const config = join(sandbox.root, `haproxy-${port}.cfg`);
  await writeFile(
    config,
    [
      'global',
      '  maxconn 512',
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 5m',
      '  timeout server 5m',
      // A host's standing SSE stream stays open as long as it likes.
      '  timeout tunnel 1h',
      // A replica that refuses the connection (killed) is not the host's problem: try another. Not
      // on an empty response: the call may have run on a replica that died under it.
      '  retries 3',
      '  option redispatch',
      '  retry-on conn-failure',
      'frontend hosts',
      `  bind 127.0.0.1:${port}`,
      '  option forwardfor',
      '  default_backend replicas',
      'backend replicas',
      '  balance roundrobin',
      '  option httpchk',
      '  http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1',
      '  http-response set-header x-patchbay-replica %[srv_name]',
      ...backends.map(
        (backend, index) => `  server r${index} 127.0.0.1:${backend} check inter 300ms fall 1 rise 2`,
      ),
      '',
    ].join('\n'),
  );
  const child = spawn(HAPROXY, ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`haproxy exited (${code}):\n${output}`))),
  );
  exited.catch(() => undefined);
  for (const deadline = Date.now() + 10_000; ;) {
    const answered = await Promise.race([healthy(port), exited]);
    if (answered) return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`haproxy did not answer on ${port} within 10 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A free loopback port outside the kernel's ephemeral range, so that no `listen(0)` meanwhile (a
 * replica's, started before haproxy binds) can be given it: that replica would answer in
 * haproxy's place, every request reaching it alone.
 */
export async function balancerPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await isFree(port)) return port;
  }
  return getFreePort();
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createNetServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** haproxy answers on `port`: the answer carries the header it adds (not another server on that port). */
async function healthy(port: number): Promise<boolean> {
  try {
    const answer = await fetch(`http://127.0.0.1:${port}/healthz`);
    return answer.ok && answer.headers.has(REPLICA_HEADER);
  } catch {
    return false;
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(killer);
}
