/**
 * The Connectors page's API against real servers: the list with and without a live check, adding
 * a custom connector (refused with the very words `patchbay add` uses), removing, approving a
 * project server, enabling and disabling.
 */

import { writeFile } from 'node:fs/promises';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import type { ApiError, ConnectorSummary } from '../../src/console/api-types.js';
import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import { startTestConsole, type TestConsole } from './helpers.js';

let demo: DemoServer;
let t: TestConsole;

beforeAll(async () => {
  demo = await startDemoServer();
});
afterAll(async () => {
  await demo.close();
});
beforeEach(async () => {
  t = await startTestConsole();
});
afterEach(async () => {
  await t.close();
});

type Failure = { error: ApiError };

describe('GET /api/servers', () => {
  it('lists every server from the files, and checks each with check=1', async () => {
    const empty = await t.api<ConnectorSummary[]>('GET', '/api/servers');
    expect(empty.status).toBe(200);
    expect(empty.json).toEqual([]);

    const added = await t.api<ConnectorSummary>('POST', '/api/servers', { name: 'demo', url: demo.url });
    expect(added.status).toBe(201);
    expect(added.json).toEqual({
      name: 'demo',
      scope: 'local',
      file: t.sandbox.userConfig,
      transport: 'http',
      target: demo.url,
      status: 'unchecked',
      reason: null,
      hint: null,
      server: null,
      toolCount: null,
      changedTools: [],
      auth: { kind: 'none', loggedIn: false, issuer: null, scope: null, expiresAt: null, refreshable: false },
    });
    // Another terminal adds one: the next list has it.
    const cli = await t.sandbox.run(['add', 'gone', 'http://127.0.0.1:1/mcp', '-s', 'user']);
    expect(cli.code, cli.stderr).toBe(0);

    const unchecked = await t.api<ConnectorSummary[]>('GET', '/api/servers?check=0');
    expect(unchecked.json.map((server) => [server.name, server.scope, server.status])).toEqual([
      ['demo', 'local', 'unchecked'],
      ['gone', 'user', 'unchecked'],
    ]);
    const checked = await t.api<ConnectorSummary[]>('GET', '/api/servers?check=1');
    expect(checked.json[0]).toMatchObject({
      name: 'demo',
      status: 'connected',
      reason: null,
      server: { name: 'patchbay-demo', version: '0.1.0' },
      toolCount: 3,
    });
    expect(checked.json[1]).toMatchObject({
      name: 'gone',
      status: 'failed',
      reason: expect.stringMatching(/refused|connect/i),
      hint: expect.any(String),
    });
    const bad = await t.api<Failure>('GET', '/api/servers?check=yes');
    expect(bad.status).toBe(400);
  });
});

describe('POST /api/servers', () => {
  it('adds with the transport, headers, OAuth settings and scope given', async () => {
    const added = await t.api<ConnectorSummary>('POST', '/api/servers', {
      name: 'team',
      url: `${demo.url}?api_key=abcdef123456`,
      transport: 'sse',
      headers: { 'X-Api-Key': '${TEAM_KEY}' },
      oauth: { clientId: 'patchbay-client', callbackPort: 43123 },
      scope: 'project',
    });
    expect(added.status, added.text).toBe(201);
    expect(added.json).toMatchObject({
      name: 'team',
      scope: 'project',
      file: t.sandbox.projectConfig,
      transport: 'sse',
      target: `${demo.url}?api_key=****`,
      // Written by the user, so not pending approval; its variable is not set here.
      status: 'failed',
      reason: expect.stringContaining('TEAM_KEY'),
      auth: { kind: 'oauth', loggedIn: false },
    });
    const get = await t.sandbox.run(['get', 'team', '--json']);
    expect(JSON.parse(get.stdout)).toMatchObject({
      transport: 'sse',
      headers: { 'X-Api-Key': '${TEAM_KEY}' },
      oauth: { clientId: 'patchbay-client', callbackPort: 43123 },
    });
  });

  it('refuses a name that exists in the scope (409)', async () => {
    expect((await t.api('POST', '/api/servers', { name: 'demo', url: demo.url })).status).toBe(201);
    const again = await t.api<Failure>('POST', '/api/servers', { name: 'demo', url: demo.url });
    expect(again.status).toBe(409);
    expect(again.json.error).toMatchObject({
      code: 'duplicate',
      message: expect.stringContaining('already exists'),
    });
  });

  it('refuses bad input with the same error and hint as patchbay add', async () => {
    const cases: Array<{ body: Record<string, unknown>; cli: string[] }> = [
      {
        body: { name: 'bad name!', url: 'https://x.example.com/mcp' },
        cli: ['add', 'bad name!', 'https://x.example.com/mcp'],
      },
      {
        body: { name: 'x'.repeat(65), url: 'https://x.example.com/mcp' },
        cli: ['add', 'x'.repeat(65), 'https://x.example.com/mcp'],
      },
      { body: { name: 'ok', url: 'ftp://x.example.com/mcp' }, cli: ['add', 'ok', 'ftp://x.example.com/mcp'] },
      { body: { name: 'ok', url: 'not a url' }, cli: ['add', 'ok', 'not a url'] },
      { body: { name: 'ok', url: 'https://' }, cli: ['add', 'ok', 'https://'] },
      {
        body: { name: 'ok', url: 'https://x.example.com', scope: 'team' },
        cli: ['add', 'ok', 'https://x.example.com', '-s', 'team'],
      },
      {
        body: { name: 'ok', url: 'https://x.example.com', oauth: { callbackPort: 70000 } },
        cli: ['add', 'ok', 'https://x.example.com', '--callback-port', '70000'],
      },
      {
        body: { name: 'ok', url: 'https://x.example.com', oauth: { clientSecret: 's3cr3t' } },
        cli: ['add', 'ok', 'https://x.example.com', '--client-secret'],
      },
      {
        body: { name: 'ok', url: 'https://x.example.com', headers: { 'Bad Header': 'v' } },
        cli: ['add', 'ok', 'https://x.example.com', '-H', 'Bad Header: v'],
      },
    ];
    for (const { body, cli } of cases) {
      const api = await t.api<Failure>('POST', '/api/servers', body);
      expect(api.status, JSON.stringify(body)).toBe(400);
      const run = await t.sandbox.run(cli);
      expect(run.code, cli.join(' ')).toBe(2);
      const [message, hint] = run.stderr.trim().split('\n');
      expect(`error: ${api.json.error.message}`, cli.join(' ')).toBe(message);
      if (api.json.error.hint) expect(`hint: ${api.json.error.hint}`).toBe(hint);
      else expect(hint).toBeUndefined();
    }
    // A header value that would split the request, a transport the form does not offer.
    const split = await t.api<Failure>('POST', '/api/servers', {
      name: 'ok',
      url: 'https://x.example.com',
      headers: { 'X-Key': 'a\r\nInjected: yes' },
    });
    expect(split.json.error.code).toBe('invalid-header');
    const stdio = await t.api<Failure>('POST', '/api/servers', {
      name: 'ok',
      url: 'https://x.example.com',
      transport: 'stdio',
    });
    expect(stdio.status).toBe(400);
    const missing = await t.api<Failure>('POST', '/api/servers', { url: 'https://x.example.com' });
    expect(missing.json.error.message).toBe('Invalid name: expected a non-empty string.');
    // Nothing was written by any of them.
    expect((await t.api<ConnectorSummary[]>('GET', '/api/servers')).json).toEqual([]);
  });
});

describe('remove, approve, enable', () => {
  it('removes from the one scope that has it, or the one named', async () => {
    await t.api('POST', '/api/servers', { name: 'demo', url: demo.url });
    await t.api('POST', '/api/servers', { name: 'demo', url: demo.url, scope: 'user' });
    const ambiguous = await t.api<Failure>('DELETE', '/api/servers/demo');
    expect(ambiguous.status).toBe(400);
    expect(ambiguous.json.error.code).toBe('ambiguous-scope');
    expect((await t.api('DELETE', '/api/servers/demo?scope=local')).status).toBe(204);
    const left = await t.api<ConnectorSummary[]>('GET', '/api/servers');
    expect(left.json.map((server) => [server.name, server.scope])).toEqual([['demo', 'user']]);
    expect((await t.api('DELETE', '/api/servers/demo')).status).toBe(204);
    const unknown = await t.api<Failure>('DELETE', '/api/servers/demo');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('not-found');
    expect((await t.api<Failure>('DELETE', '/api/servers/demo?scope=team')).status).toBe(400);
  });

  it('a project server is pending until approved; a changed entry is pending again', async () => {
    const entry = { mcpServers: { shared: { type: 'http', url: demo.url } } };
    await writeFile(t.sandbox.projectConfig, JSON.stringify(entry));
    const pending = await t.api<ConnectorSummary[]>('GET', '/api/servers?check=1');
    expect(pending.json[0]).toMatchObject({ name: 'shared', scope: 'project', status: 'pending-approval' });
    expect((await t.api('POST', '/api/servers/shared/approve')).status).toBe(204);
    const approved = await t.api<ConnectorSummary[]>('GET', '/api/servers?check=1');
    expect(approved.json[0]).toMatchObject({ name: 'shared', status: 'connected' });
    entry.mcpServers.shared.url = `${demo.url}?v=2`;
    await writeFile(t.sandbox.projectConfig, JSON.stringify(entry));
    expect((await t.api<ConnectorSummary[]>('GET', '/api/servers')).json[0]!.status).toBe('pending-approval');

    await t.api('POST', '/api/servers', { name: 'mine', url: demo.url });
    const notProject = await t.api<Failure>('POST', '/api/servers/mine/approve');
    expect(notProject.status).toBe(404);
    expect((await t.api<Failure>('POST', '/api/servers/nobody/approve')).status).toBe(404);
  });

  it('disables and enables, in the local scope or the one that disabled it', async () => {
    await t.api('POST', '/api/servers', { name: 'demo', url: demo.url });
    expect((await t.api('POST', '/api/servers/demo/enabled', { enabled: false })).status).toBe(204);
    const disabled = await t.api<ConnectorSummary[]>('GET', '/api/servers?check=1');
    expect(disabled.json[0]).toMatchObject({
      status: 'disabled',
      reason: expect.stringContaining('(local policy)'),
    });
    expect((await t.api('POST', '/api/servers/demo/enabled', { enabled: true })).status).toBe(204);
    expect((await t.api<ConnectorSummary[]>('GET', '/api/servers?check=1')).json[0]!.status).toBe(
      'connected',
    );

    // Disabled by the team's file: enabling without a scope clears it there.
    expect(
      (await t.api('POST', '/api/servers/demo/enabled', { enabled: false, scope: 'project' })).status,
    ).toBe(204);
    expect((await t.api<ConnectorSummary[]>('GET', '/api/servers')).json[0]!.reason).toContain(
      '.patchbay.json',
    );
    expect((await t.api('POST', '/api/servers/demo/enabled', { enabled: true })).status).toBe(204);
    expect((await t.api<ConnectorSummary[]>('GET', '/api/servers')).json[0]!.status).toBe('unchecked');

    const bad = await t.api<Failure>('POST', '/api/servers/demo/enabled', { enabled: 'no' });
    expect(bad.status).toBe(400);
    expect((await t.api<Failure>('POST', '/api/servers/nobody/enabled', { enabled: false })).status).toBe(
      404,
    );
  });

  it('unknown endpoints and methods', async () => {
    expect((await t.api<Failure>('GET', '/api/nothing')).status).toBe(404);
    expect((await t.api<Failure>('PUT', '/api/servers', {})).status).toBe(405);
    expect((await t.api<Failure>('GET', '/api/servers/bad%20name')).json.error.code).toBe('invalid-name');
  });
});
