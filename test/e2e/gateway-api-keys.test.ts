/**
 * API keys end to end on the built binary: `patchbay keys create` in one process, `patchbay serve
 * --config` (auth.apiKeys) in another, an SDK client with the key as its bearer listing and
 * calling server-everything's tools; the audit log names the key's member and the key; a key
 * revoked by `patchbay keys revoke` while the gateway runs is refused within the 5 s bound; an
 * expired key and one without the deployment's scope are refused; many `keys create` at once lose nothing.
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { resolvePaths } from '../../src/core/paths.js';
import { KEY_CACHE_MS, parseKey, type ApiKeyRecord, type ApiKeyView } from '../../src/gateway/api-keys.js';
import type { AuditEntry } from '../../src/policy/audit.js';
import { FileState } from '../../src/state/files.js';
import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
let everything: EverythingServer;
let gateway: RunningGateway;
const keys: Record<string, string> = {};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function createKey(name: string, args: string[]): Promise<string> {
  const run = await sandbox.run(['keys', 'create', name, ...args]);
  expect(run.code, run.stderr).toBe(0);
  expect(run.stderr).toMatch(/only time the key is shown/);
  const key = run.stdout.trim();
  expect(key).toMatch(/^pbk_/);
  expect(run.stdout).toBe(`${key}\n`);
  return key;
}

beforeAll(async () => {
  sandbox = await createSandbox();
  everything = await startEverything('streamableHttp');
  await sandbox.run(['add', 'ev', everything.url]);
  keys.ci = await createKey('ci', ['--service', '--group', 'deploy', '--expires', '30d']);
  keys.alice = await createKey('alice-laptop', [
    '--member',
    'alice',
    '--email',
    'alice@example.com',
    '--group',
    'eng',
  ]);
  keys.narrow = await createKey('narrow', ['--service', '--scope', 'read']);
  keys.brief = await createKey('brief', ['--service', '--expires', '1h']);
  // An hour passes for `brief`: its record says it expired a minute ago.
  const records = new FileState(resolvePaths(sandbox.env).gatewayState).records<ApiKeyRecord>('api-keys', {
    secret: true,
  });
  await records.update(parseKey(keys.brief)!.id, (record) => ({
    ...record!,
    expiresAt: new Date(Date.now() - 60_000).toISOString(),
  }));
  const config = join(sandbox.root, 'deployment.jsonc');
  await writeFile(config, '{\n  // machines only\n  "auth": { "apiKeys": true }\n}\n');
  gateway = await startGateway(sandbox, ['--config', config, '--servers', 'ev']);
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await everything?.close();
  await sandbox?.cleanup();
});

/** A bare MCP request with `bearer`: the status and the challenge. */
async function post(bearer: string): Promise<{ status: number; challenge: string | null; body: string }> {
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      authorization: `Bearer ${bearer}`,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
  });
  return {
    status: response.status,
    challenge: response.headers.get('www-authenticate'),
    body: await response.text(),
  };
}

async function withClient<T>(key: string, name: string, use: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ name, version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gateway.url), {
      requestInit: { headers: { Authorization: `Bearer ${key}` } },
    }),
  );
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

async function logged(): Promise<AuditEntry[]> {
  const run = await sandbox.run(['log', '--json']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as AuditEntry[];
}

async function listed(): Promise<ApiKeyView[]> {
  const run = await sandbox.run(['keys', 'list', '--json']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as ApiKeyView[];
}

describe('a team gateway with API keys', () => {
  it('lets a key list and call tools, and records its member and name in the audit log', async () => {
    for (const [key, host] of [
      [keys.ci!, 'ci-runner'],
      [keys.alice!, 'alice-script'],
    ] as const) {
      await withClient(key, host, async (client) => {
        const { tools } = await client.listTools();
        expect(tools.map((tool) => tool.name)).toContain('ev__echo');
        const echoed = await client.callTool({ name: 'ev__echo', arguments: { message: `from ${host}` } });
        expect(JSON.stringify(echoed.content)).toContain(`from ${host}`);
      });
    }
    const entries = await logged();
    const of = (host: string) => entries.find((entry) => entry.hostClaimed === host && entry.tool === 'echo');
    expect(of('ci-runner')?.caller).toMatchObject({
      transport: 'http',
      auth: 'api-key',
      subject: 'service:ci',
      groups: ['deploy'],
      client: 'ci',
    });
    expect(of('alice-script')?.caller).toMatchObject({
      auth: 'api-key',
      subject: 'alice',
      email: 'alice@example.com',
      groups: ['eng'],
      client: 'alice-laptop',
    });
    expect(JSON.stringify(entries)).not.toContain(parseKey(keys.ci!)!.secret);
  }, 30_000);

  it('refuses the single-user token (off here), a wrong secret, an expired key and one without the scope', async () => {
    expect((await post(gateway.token)).status).toBe(401);
    const { id, secret } = parseKey(keys.ci!)!;
    const wrong = await post(`pbk_${id}_${secret.startsWith('A') ? 'B' : 'A'}${secret.slice(1)}`);
    expect(wrong.status).toBe(401);
    expect(wrong.challenge).toContain('error="invalid_token"');

    const expired = await post(keys.brief!);
    expect(expired.status).toBe(401);
    expect(expired.challenge).toMatch(
      /error="invalid_token", error_description="The API key brief has expired/,
    );
    expect(expired.body).not.toContain(parseKey(keys.brief!)!.secret);

    const narrow = await post(keys.narrow!);
    expect(narrow.status).toBe(403);
    expect(narrow.challenge).toContain('error="insufficient_scope"');
    expect(narrow.challenge).toContain('scope="mcp"');
  });

  it(`refuses a key revoked by patchbay keys revoke within ${KEY_CACHE_MS / 1000} s, while the gateway runs`, async () => {
    expect((await post(keys.ci!)).status).toBe(200);
    const revoke = await sandbox.run(['keys', 'revoke', 'ci']);
    expect(revoke.code, revoke.stderr).toBe(0);
    const revokedAt = Date.now();
    let answer = await post(keys.ci!);
    while (answer.status === 200 && Date.now() - revokedAt < KEY_CACHE_MS + 2_000) {
      await sleep(100);
      answer = await post(keys.ci!);
    }
    expect(answer.status).toBe(401);
    expect(answer.challenge).toContain('was revoked');
    // The bound, with room for one request's time.
    expect(Date.now() - revokedAt).toBeLessThanOrEqual(KEY_CACHE_MS + 1_000);
    // Other keys go on.
    expect((await post(keys.alice!)).status).toBe(200);
  }, 20_000);

  it('lists every key with its state and last use, never a secret or a hash', async () => {
    const views = await listed();
    const byName = new Map(views.map((view) => [view.name, view]));
    expect(byName.get('ci')).toMatchObject({ service: 'ci', groups: ['deploy'], state: 'revoked' });
    expect(byName.get('ci')!.lastUsedAt).toBeDefined();
    expect(byName.get('alice-laptop')).toMatchObject({ member: 'alice', state: 'active' });
    expect(byName.get('brief')!.state).toBe('expired');
    expect(byName.get('narrow')).toMatchObject({ scopes: ['read'], state: 'active' });
    expect(byName.get('narrow')!.lastUsedAt).toBeUndefined();
    const table = await sandbox.run(['keys', 'list']);
    expect(table.stdout).toMatch(/^NAME\s+OWNER\s+GROUPS\s+SCOPES\s+CREATED\s+EXPIRES\s+LAST USED\s+STATE/);
    expect(table.stdout).toMatch(/\nci\s+service:ci\s+deploy\s+mcp\s+\S+\s+\S+\s+\S+ \S+Z\s+revoked\n/);
    for (const text of [JSON.stringify(views), table.stdout]) {
      expect(text).not.toContain('sha256:');
      for (const key of Object.values(keys)) expect(text).not.toContain(parseKey(key)!.secret);
    }
  });
});

describe('patchbay keys', () => {
  it('loses no key when several processes create at once, and gives a contested name to one', async () => {
    const names = Array.from({ length: 5 }, (_, index) => `batch-${index}`);
    const runs = await Promise.all([
      ...names.map((name) => sandbox.run(['keys', 'create', name, '--service'])),
      ...Array.from({ length: 3 }, () => sandbox.run(['keys', 'create', 'contested', '--service'])),
    ]);
    expect(runs.slice(0, names.length).map((run) => run.code)).toEqual(names.map(() => 0));
    expect(
      runs
        .slice(names.length)
        .map((run) => run.code)
        .sort(),
    ).toEqual([0, 2, 2]);
    expect(runs.find((run) => run.code === 2)!.stderr).toContain('exists already');
    const views = await listed();
    for (const name of [...names, 'contested'])
      expect(
        views.filter((view) => view.name === name),
        name,
      ).toHaveLength(1);
  }, 30_000);

  it('says what is wrong with usage errors (exit 2) and an unknown key', async () => {
    for (const args of [
      ['create', 'x'],
      ['create', 'x', '--service', '--member', 'a'],
      ['create', 'bad name', '--service'],
      ['create', 'x', '--service', '--expires', 'soon'],
      ['revoke', 'nothing-here'],
    ]) {
      const run = await sandbox.run(['keys', ...args]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stdout, args.join(' ')).toBe('');
    }
    const never = await sandbox.run(['keys', 'create', 'forever', '--service', '--expires', 'never']);
    expect(never.code).toBe(0);
    expect((await listed()).find((view) => view.name === 'forever')!.expiresAt).toBeUndefined();
  }, 30_000);
});
