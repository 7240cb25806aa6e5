/**
 * `patchbay serve --http --state redis://…`: three gateway processes (the built binary) share one
 * Redis, and count a limit together, exactly, with 32 hosts calling at once; with Redis stopped,
 * a limited call is refused with a reason that names Redis while calls without limits go on, and
 * /readyz says the state is unreachable; after the restart, limits count again. `keys --state`
 * sees the store the gateway uses. The URL's password is never printed.
 */

import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
let everything: EverythingServer;
let redis: RedisServer;
const gateways: RunningGateway[] = [];

beforeAll(async () => {
  sandbox = await createSandbox();
  [everything, redis] = await Promise.all([startEverything('streamableHttp'), startRedis()]);
  await sandbox.run(['add', 'ev', everything.url]);
  await sandbox.run(['limit', 'ev', 'echo', '100/hour']);
  for (let replica = 0; replica < 3; replica++)
    gateways.push(await startGateway(sandbox, ['--state', redis.url]));
}, 60_000);

afterAll(async () => {
  await Promise.all(gateways.map((gateway) => gateway.stop()));
  await everything?.close();
  await redis?.close();
  await sandbox?.cleanup();
});

async function host(gateway: RunningGateway) {
  const client = new Client(
    { name: 'test-host', version: '1.0.0' },
    { versionNegotiation: { mode: 'legacy' } },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gateway.url), {
      requestInit: { headers: { Authorization: `Bearer ${gateway.token}` } },
    }),
  );
  const call = async (name: string, args: Record<string, unknown>) => {
    const result = await client.callTool({ name, arguments: args }, { timeout: 30_000 });
    return { isError: Boolean(result.isError), text: JSON.stringify(result.content) };
  };
  return { client, call };
}

async function readyz(gateway: RunningGateway) {
  const response = await fetch(new URL('/readyz', gateway.url));
  return { status: response.status, body: (await response.json()) as { checks: Record<string, unknown> } };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('three gateways on one Redis', () => {
  it('32 hosts at once over 3 replicas against 100 per hour: exactly 100 calls admitted, counted in Redis', async () => {
    const hosts = await Promise.all(Array.from({ length: 32 }, (_, index) => host(gateways[index % 3]!)));
    try {
      const results = await Promise.all(
        hosts.map(async ({ call }, index) => {
          const outcomes: boolean[] = [];
          for (let round = 0; round < 5; round++)
            outcomes.push(!(await call('ev__echo', { message: `h${index} r${round}` })).isError);
          return outcomes;
        }),
      );
      const admitted = results.flat().filter(Boolean).length;
      expect(admitted).toBe(100);
      const refused = await hosts[0]!.call('ev__echo', { message: 'one more' });
      expect(refused.isError).toBe(true);
      expect(refused.text).toContain('Usage limit reached for ev echo: 100/hour (100 used)');
    } finally {
      await Promise.all(hosts.map(({ client }) => client.close()));
    }
    // Counted in Redis, not in this machine's usage file.
    const raw = createClient({ url: redis.url });
    await raw.connect();
    try {
      const keys = await raw.keys('patchbay:{limits}:hour:*');
      expect(keys).toHaveLength(1);
      expect(await raw.get(keys[0]!)).toBe('100');
    } finally {
      await raw.close();
    }
    const usage = join(sandbox.home, '.local', 'state', 'patchbay', 'usage.json');
    if (existsSync(usage)) expect(await readFile(usage, 'utf8')).not.toContain('echo');
    for (const gateway of gateways) {
      expect(await readyz(gateway)).toMatchObject({
        status: 200,
        body: { checks: { state: { ready: true } } },
      });
      expect(gateway.stderr()).toContain(`in redis at ${redis.url}.`);
    }
  }, 120_000);

  it('Redis stopped: limited calls refused with a reason that names Redis, others served, /readyz says so; back after a restart', async () => {
    const [one, two, three] = gateways as [RunningGateway, RunningGateway, RunningGateway];
    await one.applied(() =>
      two.applied(() => three.applied(() => sandbox.run(['limit', 'ev', 'get-sum', '1000/hour']))),
    );
    const hosts = await Promise.all(gateways.map((gateway) => host(gateway)));
    try {
      expect((await hosts[0]!.call('ev__get-sum', { a: 1, b: 2 })).isError).toBe(false);
      await redis.kill();
      for (const [index, { call }] of hosts.entries()) {
        const refused = await call('ev__get-sum', { a: 1, b: 2 });
        expect(refused.isError, `replica ${index}`).toBe(true);
        expect(refused.text).toMatch(/its counts could not be reached \(redis at redis:\/\/127\.0\.0\.1:\d+/);
        expect(refused.text).toContain('Check that Redis runs');
        // A tool without limits needs no decision from Redis: it keeps working.
        const free = await call('ev__get-env', {});
        expect(free.isError, free.text).toBe(false);
      }
      const ready = await readyz(gateways[1]!);
      expect(ready.status).toBe(503);
      expect(ready.body.checks.state).toEqual({ ready: false, reason: 'unreachable' });
      await redis.restart();
      // Each replica reconnects on its own (a bounded back-off), and says so on /readyz.
      const deadline = Date.now() + 15_000;
      for (const gateway of gateways)
        while ((await readyz(gateway)).status !== 200) {
          expect(Date.now()).toBeLessThan(deadline);
          await sleep(100);
        }
      for (const { call } of hosts) {
        const again = await call('ev__get-sum', { a: 1, b: 2 });
        expect(again.isError, again.text).toBe(false);
      }
    } finally {
      await Promise.all(hosts.map(({ client }) => client.close()));
    }
  }, 120_000);

  it('a team gateway whose deployment file says "state": redis takes the keys made with keys --state, not those in files', async () => {
    const config = join(sandbox.root, 'team.jsonc');
    await writeFile(config, JSON.stringify({ auth: { apiKeys: true }, state: redis.url }));
    const team = await startGateway(sandbox, ['--config', config, '--servers', 'ev']);
    gateways.push(team);
    const inRedis = await sandbox.run(['keys', 'create', 'bot', '--service', '--state', redis.url]);
    expect(inRedis.code, inRedis.stderr).toBe(0);
    const inFiles = await sandbox.run(['keys', 'create', 'local', '--service']);
    expect(inFiles.code, inFiles.stderr).toBe(0);
    const client = new Client({ name: 'bot', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(team.url), {
        requestInit: { headers: { Authorization: `Bearer ${inRedis.stdout.trim()}` } },
      }),
    );
    try {
      const sum = await client.callTool({ name: 'ev__get-sum', arguments: { a: 2, b: 3 } });
      expect(sum.isError, JSON.stringify(sum.content)).toBeFalsy();
    } finally {
      await client.close();
    }
    const refused = await fetch(team.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${inFiles.stdout.trim()}`,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(refused.status).toBe(401);
    expect(team.stderr()).toContain(`in redis at ${redis.url}.`);
  }, 60_000);

  it('keys --state sees the gateway store; a bad --state is a usage error; the password is never printed', async () => {
    const created = await sandbox.run(['keys', 'create', 'ci', '--service', '--state', redis.url]);
    expect(created.code, created.stderr).toBe(0);
    const names = async (args: string[]) => {
      const run = await sandbox.run(['keys', 'list', '--json', ...args]);
      expect(run.code, run.stderr).toBe(0);
      return (JSON.parse(run.stdout) as Array<{ name: string }>).map((view) => view.name);
    };
    expect(await names(['--state', redis.url])).toContain('ci');
    expect(await names([])).not.toContain('ci');
    const vault = await sandbox.run(['vault', 'list', '--json', '--state', redis.url]);
    expect(vault.code, vault.stderr).toBe(0);
    const bad = await sandbox.run(['serve', '--http', '0', '--state', 'http://:hunter2@127.0.0.1:1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--state: http: is not a state store/);
    expect(bad.stderr).not.toContain('hunter2');
    const away = await sandbox.run(['keys', 'list', '--state', 'redis://:hunter2@127.0.0.1:1']);
    expect(away.code).not.toBe(0);
    expect(away.stderr).toContain('Could not reach Redis at 127.0.0.1:1');
    expect(away.stderr).not.toContain('hunter2');
  }, 60_000);
});
