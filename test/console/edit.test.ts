/**
 * Editing a connector from the console: checked exactly as `patchbay add` checks (the same
 * messages as the built CLI's), written to the scope the entry lives in with every other key
 * kept, secrets kept without ever being sent to the page; group settings and "back to default";
 * completions through the server.
 */

import { readFile, writeFile } from 'node:fs/promises';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { openCredentialStore } from '../../src/auth/store.js';
import type {
  ApiError,
  CompletionOutcome,
  ConnectorConfig,
  ConnectorDetail,
  EditOutcome,
} from '../../src/console/api-types.js';
import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { startTestConsole, type TestConsole } from './helpers.js';

let everything: EverythingServer;
let t: TestConsole;

beforeAll(async () => {
  everything = await startEverything('streamableHttp');
});
afterAll(async () => {
  await everything.close();
});
beforeEach(async () => {
  t = await startTestConsole();
});
afterEach(async () => {
  await t.close();
});

type Failure = { error: ApiError };

const SECRETS = {
  key: 'keyVALUE81723abc',
  bearer: 'bearerVALUE55190xyz',
  client: 'clientSECRET33001',
  url: 'urlTOKEN70012',
};

describe('editing a connector', () => {
  it('changes what the form shows, keeps the rest and every unseen secret, in the scope it lives in', async () => {
    const oldUrl = `${everything.url}?access_token=${SECRETS.url}`;
    expect(
      (
        await t.api('POST', '/api/servers', {
          name: 'vault',
          url: oldUrl,
          scope: 'project',
          headers: { 'X-Api-Key': SECRETS.key, Authorization: `Bearer ${SECRETS.bearer}`, 'X-Old': 'gone' },
          oauth: { clientId: 'vault-client', clientSecret: SECRETS.client },
        })
      ).status,
    ).toBe(201);
    // Keys the form does not show, set by hand in the file.
    const file = JSON.parse(await readFile(t.sandbox.projectConfig, 'utf8'));
    file.mcpServers.vault.timeout = 30_000;
    file.mcpServers.vault.futureKey = { kept: true };
    await writeFile(t.sandbox.projectConfig, JSON.stringify(file, null, 2));

    const config = await t.api<ConnectorConfig>('GET', '/api/servers/vault/config');
    expect(config.json).toMatchObject({
      scope: 'project',
      transport: 'http',
      headers: ['X-Api-Key', 'Authorization', 'X-Old'],
      oauth: { clientId: 'vault-client', hasClientSecret: true, callbackPort: null },
    });

    // The URL sent back as shown (masked) is the stored one; headers kept unseen, one renamed,
    // one new, one left out; OAuth settings changed.
    const kept = await t.api<EditOutcome>('PUT', '/api/servers/vault', {
      url: config.json.url,
      headers: [
        { name: 'X-Api-Key' },
        { name: 'Authorization', from: 'Authorization' },
        { name: 'X-Renamed', from: 'X-Old' },
        { name: 'X-New', value: '${NEW_TOKEN}' },
      ],
      oauth: { clientId: 'vault-client', callbackPort: 8123, scopes: 'read write' },
    });
    expect(kept.status, kept.text).toBe(200);
    let entry = JSON.parse(await readFile(t.sandbox.projectConfig, 'utf8')).mcpServers.vault;
    expect(entry).toEqual({
      type: 'http',
      url: oldUrl,
      headers: {
        'X-Api-Key': SECRETS.key,
        Authorization: `Bearer ${SECRETS.bearer}`,
        'X-Renamed': 'gone',
        'X-New': '${NEW_TOKEN}',
      },
      oauth: { clientId: 'vault-client', callbackPort: 8123, scopes: 'read write' },
      timeout: 30_000,
      futureKey: { kept: true },
    });
    // Nothing was added to the local scope.
    const user = JSON.parse(await readFile(t.sandbox.userConfig, 'utf8').catch(() => '{}'));
    expect(JSON.stringify(user.projects ?? {})).not.toContain('"vault":{"type"');
    // As `patchbay add` warns: a literal secret in the committed .mcp.json.
    expect(kept.json.warnings.join('\n')).toMatch(/literal secret/);

    // A new URL: the client secret moves with it (it is stored per name and URL).
    const store = await openCredentialStore(t.env);
    expect(await store.getClientSecret('vault', oldUrl)).toBe(SECRETS.client);
    const moved = await t.api<EditOutcome>('PUT', '/api/servers/vault', {
      url: everything.url,
      transport: 'http',
      oauth: { clientId: 'vault-client' },
    });
    expect(moved.status, moved.text).toBe(200);
    expect(await store.getClientSecret('vault', everything.url)).toBe(SECRETS.client);
    expect(await store.getClientSecret('vault', oldUrl)).toBeUndefined();
    entry = JSON.parse(await readFile(t.sandbox.projectConfig, 'utf8')).mcpServers.vault;
    expect(entry.oauth).toEqual({ clientId: 'vault-client' });
    // Headers not sent at all: all kept.
    expect(Object.keys(entry.headers)).toEqual(['X-Api-Key', 'Authorization', 'X-Renamed', 'X-New']);

    // No client ID: no pre-registered client, so its secret goes.
    expect((await t.api('PUT', '/api/servers/vault', { url: everything.url, oauth: {} })).status).toBe(200);
    expect(await store.getClientSecret('vault', everything.url)).toBeUndefined();

    // Not one response carried a secret.
    for (const body of t.seen)
      for (const secret of Object.values(SECRETS)) expect(body).not.toContain(secret);
  });

  it('refuses what `patchbay add` refuses, with its words, and leaves the file alone', async () => {
    expect((await t.api('POST', '/api/servers', { name: 'ev', url: everything.url })).status).toBe(201);
    const before = await readFile(t.sandbox.userConfig, 'utf8');
    const cases: Array<{ edit: Record<string, unknown>; cli: string[] }> = [
      { edit: { url: 'mcp.example.com/mcp' }, cli: ['add', 'x', 'mcp.example.com/mcp'] },
      { edit: { url: 'ftp://example.com/mcp' }, cli: ['add', 'x', 'ftp://example.com/mcp'] },
      {
        edit: { url: everything.url, headers: [{ name: 'Bad Name', value: 'v' }] },
        cli: ['add', 'x', everything.url, '-H', 'Bad Name: v'],
      },
      {
        edit: { url: everything.url, oauth: { clientId: 'c', callbackPort: 70_000 } },
        cli: ['add', 'x', everything.url, '--client-id', 'c', '--callback-port', '70000'],
      },
    ];
    for (const { edit, cli } of cases) {
      const refused = await t.api<Failure>('PUT', '/api/servers/ev', edit);
      expect(refused.status, refused.text).toBe(400);
      const run = await t.sandbox.run(cli, { env: t.env });
      expect(run.code).not.toBe(0);
      expect(run.stderr, JSON.stringify(edit)).toContain(refused.json.error.message);
    }
    const unseen = await t.api<Failure>('PUT', '/api/servers/ev', {
      url: everything.url,
      headers: [{ name: 'X-Never-Set' }],
    });
    expect(unseen.json.error.message).toContain('has no value');
    expect(await readFile(t.sandbox.userConfig, 'utf8')).toBe(before);
  });

  it('a local command is not edited here; an unknown server is a 404', async () => {
    await t.sandbox.run(['add', 'cmd', '--', 'node', '-e', '0'], { env: t.env });
    expect((await t.api('GET', '/api/servers/cmd/config')).status).toBe(400);
    expect((await t.api('PUT', '/api/servers/cmd', { url: everything.url })).status).toBe(400);
    expect((await t.api('GET', '/api/servers/nope/config')).status).toBe(404);
  });
});

describe('group settings and "back to default"', () => {
  it('a group decides its tools; a rule for one tool wins, and removing it gives the tool back to its group', async () => {
    expect((await t.api('POST', '/api/servers', { name: 'ev', url: everything.url })).status).toBe(201);
    const detail = async () => (await t.api<ConnectorDetail>('GET', '/api/servers/ev')).json;
    const tool = (d: ConnectorDetail, name: string) => d.tools.find((candidate) => candidate.name === name)!;

    expect(
      (await t.api('PUT', '/api/servers/ev/groups', { group: 'read-only', decision: 'ask' })).status,
    ).toBe(204);
    expect((await t.api('PUT', '/api/servers/ev/groups', { group: 'other', decision: 'deny' })).status).toBe(
      204,
    );
    let d = await detail();
    expect(d.groups).toEqual([
      {
        group: 'read-only',
        decision: 'ask',
        settings: [expect.objectContaining({ scope: 'local', decision: 'ask' })],
      },
      {
        group: 'other',
        decision: 'deny',
        settings: [expect.objectContaining({ scope: 'local', decision: 'deny' })],
      },
    ]);
    expect(tool(d, 'echo')).toMatchObject({
      group: 'read-only',
      decision: 'ask',
      source: { kind: 'group', group: 'read-only' },
    });
    const other = d.tools.find((candidate) => candidate.group === 'other')!;
    expect(other).toMatchObject({ decision: 'deny', source: { kind: 'group', group: 'other' } });

    // A rule for one tool wins over its group; "default" removes the rule.
    await t.api('PUT', '/api/servers/ev/permissions', { pattern: 'echo', decision: 'allow' });
    d = await detail();
    expect(tool(d, 'echo')).toMatchObject({
      decision: 'allow',
      ownRules: [{ scope: 'local', decision: 'allow' }],
    });
    await t.api('PUT', '/api/servers/ev/permissions', {
      pattern: 'echo',
      decision: 'default',
      scope: 'local',
    });
    d = await detail();
    expect(tool(d, 'echo')).toMatchObject({ decision: 'ask', ownRules: [], source: { kind: 'group' } });

    for (const group of ['read-only', 'other'])
      await t.api('PUT', '/api/servers/ev/groups', { group, decision: 'default' });
    d = await detail();
    expect(d.groups.map((view) => view.decision)).toEqual([null, null]);
    expect(tool(d, 'echo').source.kind).toBe('annotations');
    expect((await t.api('PUT', '/api/servers/ev/groups', { group: 'writes', decision: 'deny' })).status).toBe(
      400,
    );
  });
});

describe('POST /api/servers/:name/complete', () => {
  it("offers the server's completions for prompt arguments and template variables", async () => {
    expect((await t.api('POST', '/api/servers', { name: 'ev', url: everything.url })).status).toBe(201);
    const complete = async (body: unknown) => {
      const response = await t.api<CompletionOutcome>('POST', '/api/servers/ev/complete', body);
      expect(response.status, response.text).toBe(200);
      return response.json;
    };
    expect(
      await complete({
        ref: { type: 'prompt', name: 'completable-prompt' },
        argument: { name: 'department', value: 'S' },
      }),
    ).toEqual({ values: ['Sales', 'Support'], hasMore: false, supported: true });
    // The other values narrow the answer.
    expect(
      (
        await complete({
          ref: { type: 'prompt', name: 'completable-prompt' },
          argument: { name: 'name', value: '' },
          context: { department: 'Sales' },
        })
      ).values,
    ).toEqual(['David', 'Eve', 'Frank']);
    expect(
      (
        await complete({
          ref: { type: 'template', uri: 'demo://resource/dynamic/text/{resourceId}' },
          argument: { name: 'resourceId', value: '3' },
        })
      ).values,
    ).toEqual(['3']);
    const bad = await t.api<Failure>('POST', '/api/servers/ev/complete', {
      ref: { type: 'tool' },
      argument: {},
    });
    expect(bad.status).toBe(400);
  });
});
