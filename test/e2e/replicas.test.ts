/**
 * The replica harness itself (test/helpers/replicas.ts): three `serve --http --state redis://…`
 * behind haproxy, round-robin with no affinity. The team's replica tests build on it.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSandbox, type Sandbox } from '../helpers/sandbox.js';
import { hasRedis } from '../helpers/redis.js';
import { hasHaproxy, REPLICA_HEADER, startReplicas, type Replicas } from '../helpers/replicas.js';

let sandbox: Sandbox;
let replicas: Replicas;

beforeAll(async () => {
  sandbox = await createSandbox();
  replicas = await startReplicas(sandbox);
}, 60_000);

afterAll(async () => {
  await replicas?.close();
  await sandbox?.cleanup();
});

describe.skipIf(!hasRedis() || !hasHaproxy())('three replicas behind haproxy', () => {
  it('spreads requests over every replica, and skips one that was killed', async () => {
    const served = async () => {
      const answer = await fetch(replicas.url.replace('/mcp', '/readyz'));
      expect(answer.status).toBe(200);
      return answer.headers.get(REPLICA_HEADER);
    };
    const first = await Promise.all(Array.from({ length: 6 }, served));
    expect(new Set(first)).toEqual(new Set(['r0', 'r1', 'r2']));
    await replicas.kill(1);
    const after = [];
    for (let i = 0; i < 6; i++) after.push(await served());
    expect(after).not.toContain('r1');
  });
});
