/**
 * Debian's redis-server in the shapes beyond one server, on free loopback ports, for one test
 * file: a master with a replica watched by one Sentinel (`redis-server <conf> --sentinel`, its
 * config generated), and a 3-master Cluster (`--cluster-enabled yes`, joined by
 * `redis-cli --cluster create`). No persistence; everything in a temporary directory.
 */

import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { getFreePort } from '../fixtures/fault-servers.js';
import { launchRedisServer, stop } from './redis.js';

export const SENTINEL_MASTER = 'pbmaster';

export interface RedisNode {
  port: number;
  child: ChildProcess;
  /** SIGKILL: as a machine going away. */
  kill(): Promise<void>;
}

export interface SentinelSetup {
  /** `redis+sentinel://127.0.0.1:<sentinel>/pbmaster` */
  url: string;
  master: RedisNode;
  replica: RedisNode;
  sentinel: RedisNode;
  close(): Promise<void>;
}

export interface ClusterSetup {
  /** `redis+cluster://127.0.0.1:<a>,127.0.0.1:<b>` (two of the three: the rest is discovered). */
  url: string;
  nodes: RedisNode[];
  close(): Promise<void>;
}

/** Whether redis-cli is installed too (the Cluster is joined with it). */
export function hasRedisCli(): boolean {
  return spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;
}

const BASE = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];

async function launch(args: string[], ready: string | RegExp): Promise<RedisNode> {
  const port = Number(args[args.indexOf('--port') + 1]);
  const child = await launchRedisServer(args, ready);
  return { port, child, kill: () => stop(child, 'SIGKILL') };
}

/**
 * A master, its replica, and one Sentinel (quorum 1) that declares the master down after 500 ms
 * and fails over to the replica.
 */
export async function startSentinel(): Promise<SentinelSetup> {
  const directory = await mkdtemp(join(tmpdir(), 'patchbay-sentinel-'));
  const [masterPort, replicaPort, sentinelPort] = await Promise.all([
    getFreePort(),
    getFreePort(),
    getFreePort(),
  ]);
  const master = await launch(['--port', String(masterPort), ...BASE], 'Ready to accept connections');
  const replica = await launch(
    ['--port', String(replicaPort), ...BASE, '--replicaof', '127.0.0.1', String(masterPort)],
    // A full sync, or a partial one (the master may offer it to a new replica).
    /MASTER <-> REPLICA sync: Finished|Successful partial resynchronization/,
  );
  const config = join(directory, 'sentinel.conf');
  await writeFile(
    config,
    [
      `port ${sentinelPort}`,
      'bind 127.0.0.1',
      `dir ${directory}`,
      `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${SENTINEL_MASTER} 500`,
      `sentinel failover-timeout ${SENTINEL_MASTER} 2000`,
      '',
    ].join('\n'),
  );
  const sentinel = await launch([config, '--sentinel', '--port', String(sentinelPort)], '+monitor master');
  return {
    url: `redis+sentinel://127.0.0.1:${sentinelPort}/${SENTINEL_MASTER}`,
    master,
    replica,
    sentinel,
    async close() {
      await Promise.all([sentinel, replica, master].map((node) => stop(node.child, 'SIGTERM')));
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Three masters, no replicas, every slot assigned, the cluster state ok. */
export async function startCluster(): Promise<ClusterSetup> {
  const directory = await mkdtemp(join(tmpdir(), 'patchbay-cluster-'));
  const nodes: RedisNode[] = [];
  for (let index = 0; index < 3; index++) {
    const [port, busPort] = [await getFreePort(), await getFreePort()];
    nodes.push(
      await launch(
        [
          '--port',
          String(port),
          ...BASE,
          '--cluster-enabled',
          'yes',
          '--cluster-port',
          String(busPort),
          '--cluster-config-file',
          join(directory, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          '2000',
          '--dir',
          directory,
        ],
        'Ready to accept connections',
      ),
    );
  }
  const created = spawnSync(
    'redis-cli',
    [
      '--cluster',
      'create',
      ...nodes.map((node) => `127.0.0.1:${node.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ],
    { encoding: 'utf8', timeout: 20_000 },
  );
  if (created.status !== 0)
    throw new Error(`redis-cli --cluster create failed:\n${created.stdout}${created.stderr}`);
  // Every node must see the cluster ok before a client learns its slots from one of them.
  for (const node of nodes)
    for (let tries = 0; ; tries++) {
      const info = spawnSync('redis-cli', ['-p', String(node.port), 'cluster', 'info'], { encoding: 'utf8' });
      if (info.stdout.includes('cluster_state:ok')) break;
      if (tries > 100) throw new Error(`the cluster did not come up on ${node.port}:\n${info.stdout}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  return {
    url: `redis+cluster://127.0.0.1:${nodes[0]!.port},127.0.0.1:${nodes[1]!.port}`,
    nodes,
    async close() {
      await Promise.all(nodes.map((node) => stop(node.child, 'SIGTERM')));
      await rm(directory, { recursive: true, force: true });
    },
  };
}
