/**
 * The Redis a `--state` URL names, read without loading the client (open.ts checks flags with it):
 *
 * - `redis://[[user]:password@]host:6379[/db]`, `rediss://…` (TLS): one server;
 * - `redis+sentinel://[[user]:password@]host:26379[,host:26379…]/<master-name>`: the master that
 *   Sentinel names, followed across failovers. The password is the data nodes' (the sentinels are
 *   asked without one); `rediss+sentinel://` speaks TLS to the data nodes;
 * - `redis+cluster://[[user]:password@]host:7000[,host:7001…]`: a Redis Cluster, its topology
 *   learnt from any of the nodes named; `rediss+cluster://` for TLS.
 *
 * Several hosts, comma-separated, are no WHATWG URL: they are read here, by one pattern. A URL
 * may carry a password, so no message repeats the text.
 */

import { PatchbayError } from '../errors.js';

export interface RedisNodeAddress {
  host: string;
  port: number;
}

export type RedisTarget =
  | { kind: 'server'; url: string }
  | {
      kind: 'sentinel' | 'cluster';
      nodes: RedisNodeAddress[];
      /** Sentinel: the master's name as the sentinels know it. */
      master?: string;
      username?: string;
      password?: string;
      tls: boolean;
    };

export const REDIS_URL_HINT =
  'Give redis://host:6379 (rediss:// for TLS), redis+sentinel://host:26379,host:26380/<master-name> or redis+cluster://host:7000,host:7001.';

const SCHEMES = /^(rediss?)(?:\+(sentinel|cluster))?:\/\//;
const MULTI = /^(rediss?)\+(sentinel|cluster):\/\/(?:([^@/]*)@)?([^/?#@]+)(?:\/([^/?#]*))?$/;
const NODE = /^(?:\[([0-9a-fA-F:.]+)\]|([^:,[\]]+)):(\d{1,5})$/;

/** Whether the text is one of the Redis URL forms at all (its scheme). */
export function isRedisUrl(text: string): boolean {
  return SCHEMES.test(text.trim());
}

/** The target of a Redis URL, or a usage error that says which form was expected. */
export function parseRedisUrl(text: string): RedisTarget {
  const trimmed = text.trim();
  const scheme = SCHEMES.exec(trimmed);
  if (!scheme) throw usage('Not a Redis URL.');
  if (!scheme[2]) {
    try {
      new URL(trimmed);
    } catch {
      throw usage('Not a Redis URL.');
    }
    return { kind: 'server', url: trimmed };
  }
  const match = MULTI.exec(trimmed);
  if (!match) throw usage(`Not a ${scheme[1]}+${scheme[2]}:// URL.`);
  const [, base, kind, userinfo, hostList, path] = match;
  const nodes = hostList!.split(',').map((text) => {
    const node = NODE.exec(text.trim());
    const port = Number(node?.[3]);
    if (!node || !(port > 0 && port <= 65_535))
      throw usage(`${kind} URL: each node is host:port (comma-separated).`);
    return { host: node[1] ?? node[2]!, port };
  });
  const master = path ? decodeURIComponent(path) : undefined;
  if (kind === 'sentinel' && !master)
    throw usage('redis+sentinel:// names the master after the hosts: redis+sentinel://host:26379/mymaster.');
  if (kind === 'cluster' && master)
    throw usage('redis+cluster:// names nodes only (a Cluster has one database, no path).');
  const [user, password] = userinfo === undefined ? [] : splitUserinfo(userinfo);
  return {
    kind: kind as 'sentinel' | 'cluster',
    nodes,
    ...(master ? { master } : {}),
    ...(user ? { username: user } : {}),
    ...(password ? { password } : {}),
    tls: base === 'rediss',
  };
}

/** How messages name it: the hosts and the master, never the user or the password. */
export function describeRedis(target: RedisTarget): string {
  if (target.kind === 'server') {
    const parsed = new URL(target.url);
    return `redis at ${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  }
  const scheme = `${target.tls ? 'rediss' : 'redis'}+${target.kind}`;
  const hosts = target.nodes
    .map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`)
    .join(',');
  return `redis ${target.kind} at ${scheme}://${hosts}${target.master ? `/${target.master}` : ''}`;
}

function splitUserinfo(text: string): [string | undefined, string | undefined] {
  const colon = text.indexOf(':');
  const [user, password] = colon < 0 ? [text, undefined] : [text.slice(0, colon), text.slice(colon + 1)];
  return [user ? decodeURIComponent(user) : undefined, password ? decodeURIComponent(password) : undefined];
}

function usage(message: string): PatchbayError {
  return new PatchbayError('usage', message, { hint: REDIS_URL_HINT });
}
