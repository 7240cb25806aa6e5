/**
 * A connector's page against server-everything (a real third-party MCP server): its detail with
 * tools, resources, templates and prompts; permission and limit writes seen in the detail; calls
 * through the same policy as `patchbay call` (allow, ask, deny, limits), each in the audit log;
 * reading text and blobs; running a prompt; the doctor.
 */

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import type {
  ActivityView,
  ApiError,
  CallOutcome,
  ConnectorDetail,
  DoctorView,
  PromptOutcome,
  ReadOutcome,
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
  expect((await t.api('POST', '/api/servers', { name: 'ev', url: everything.url })).status).toBe(201);
});
afterEach(async () => {
  await t.close();
});

type Failure = { error: ApiError };

const detailOf = async () => {
  const response = await t.api<ConnectorDetail>('GET', '/api/servers/ev');
  expect(response.status, response.text).toBe(200);
  return response.json;
};
const toolOf = (detail: ConnectorDetail, name: string) => detail.tools.find((tool) => tool.name === name)!;

describe('GET /api/servers/:name', () => {
  it('shows the server, its instructions, tools with their decisions, resources, templates and prompts', async () => {
    const detail = await detailOf();
    expect(detail).toMatchObject({
      name: 'ev',
      status: 'connected',
      reason: null,
      server: { name: 'mcp-servers/everything' },
      instructions: expect.any(String),
      limits: [],
    });
    expect(detail.toolCount).toBe(detail.tools.length);
    expect(toolOf(detail, 'echo')).toEqual({
      name: 'echo',
      title: 'Echo Tool',
      description: expect.any(String),
      annotations: expect.objectContaining({ readOnlyHint: true }),
      inputSchema: expect.objectContaining({
        type: 'object',
        properties: expect.objectContaining({ message: expect.any(Object) }),
      }),
      decision: 'allow',
      because: 'read-only (its annotations)',
      source: { kind: 'annotations', scope: null, path: null, pattern: null, group: null },
      group: 'read-only',
      ownRules: [],
      changed: false,
      limits: [],
    });
    expect(detail.resources).toContainEqual(
      expect.objectContaining({
        uri: 'demo://resource/static/document/architecture.md',
        mimeType: 'text/markdown',
      }),
    );
    expect(detail.templates.map((template) => template.uriTemplate)).toEqual(
      expect.arrayContaining([
        'demo://resource/dynamic/text/{resourceId}',
        'demo://resource/dynamic/blob/{resourceId}',
      ]),
    );
    expect(detail.prompts).toContainEqual({
      name: 'args-prompt',
      title: 'Arguments Prompt',
      description: expect.any(String),
      arguments: [
        { name: 'city', description: 'Name of the city', required: true },
        { name: 'state', description: null, required: false },
      ],
    });
  });

  it('a server that cannot be reached is shown with the reason, not as an error', async () => {
    await t.api('POST', '/api/servers', { name: 'dead', url: 'http://127.0.0.1:1/mcp' });
    const response = await t.api<ConnectorDetail>('GET', '/api/servers/dead');
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({
      status: 'failed',
      reason: expect.any(String),
      tools: [],
      prompts: [],
    });
    expect((await t.api<Failure>('GET', '/api/servers/nobody')).status).toBe(404);
  });
});

describe('permissions and limits', () => {
  it('are written per scope and seen in the detail with where they were set', async () => {
    expect(
      (await t.api('PUT', '/api/servers/ev/permissions', { pattern: 'echo', decision: 'deny' })).status,
    ).toBe(204);
    expect(
      (
        await t.api('PUT', '/api/servers/ev/permissions', {
          pattern: 'get-*',
          decision: 'ask',
          scope: 'project',
        })
      ).status,
    ).toBe(204);
    expect((await t.api('PUT', '/api/servers/ev/limits', { pattern: '*', limit: '100 / hour' })).status).toBe(
      204,
    );
    expect(
      (await t.api('PUT', '/api/servers/ev/limits', { pattern: 'get-sum', limit: '5/day', scope: 'user' }))
        .status,
    ).toBe(204);
    let detail = await detailOf();
    expect(toolOf(detail, 'echo')).toMatchObject({
      decision: 'deny',
      source: { kind: 'rule', scope: 'local', path: t.sandbox.userConfig, pattern: 'echo' },
    });
    expect(toolOf(detail, 'get-sum')).toMatchObject({
      decision: 'ask',
      source: {
        kind: 'rule',
        scope: 'project',
        path: `${t.sandbox.project}/.patchbay.json`,
        pattern: 'get-*',
      },
    });
    expect(detail.limits).toEqual([
      {
        pattern: '*',
        limit: '100/hour',
        scope: 'local',
        used: 0,
        reopensAt: expect.stringMatching(/^\d{4}-.*Z$/),
      },
      { pattern: 'get-sum', limit: '5/day', scope: 'user', used: 0, reopensAt: expect.any(String) },
    ]);
    expect(toolOf(detail, 'get-sum').limits.map((limit) => limit.pattern)).toEqual(['*', 'get-sum']);
    expect(toolOf(detail, 'echo').limits.map((limit) => limit.pattern)).toEqual(['*']);

    // The CLI reads what the page wrote.
    const policy = await t.sandbox.run(['policy', 'ev', '--json', '--no-check']);
    expect(JSON.parse(policy.stdout)[0].rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ pattern: 'echo', decision: 'deny', scope: 'local' }),
      ]),
    );

    // "default" and "none" take them away again.
    expect(
      (await t.api('PUT', '/api/servers/ev/permissions', { pattern: 'echo', decision: 'default' })).status,
    ).toBe(204);
    expect((await t.api('PUT', '/api/servers/ev/limits', { pattern: '*', limit: 'none' })).status).toBe(204);
    detail = await detailOf();
    expect(toolOf(detail, 'echo')).toMatchObject({ decision: 'allow', source: { kind: 'annotations' } });
    expect(detail.limits.map((limit) => limit.pattern)).toEqual(['get-sum']);
  });

  it('refuses what patchbay permit and limit refuse', async () => {
    const decision = await t.api<Failure>('PUT', '/api/servers/ev/permissions', {
      pattern: 'echo',
      decision: 'maybe',
    });
    expect(decision.status).toBe(400);
    const pattern = await t.api<Failure>('PUT', '/api/servers/ev/permissions', {
      pattern: 'two words',
      decision: 'deny',
    });
    expect(pattern.status).toBe(400);
    const limit = await t.api<Failure>('PUT', '/api/servers/ev/limits', {
      pattern: '*',
      limit: '5/fortnight',
    });
    expect(limit.status).toBe(400);
    expect(limit.json.error.message).toContain('unknown unit "fortnight"');
    const scope = await t.api<Failure>('PUT', '/api/servers/ev/limits', {
      pattern: '*',
      limit: '5/day',
      scope: 'team',
    });
    expect(scope.status).toBe(400);
    const unknown = await t.api<Failure>('PUT', '/api/servers/nobody/permissions', {
      pattern: 'x',
      decision: 'deny',
    });
    expect(unknown.status).toBe(404);
  });
});

describe('POST /api/servers/:name/call', () => {
  it('allow, ask, deny and limits, as patchbay call decides them, each in the audit log', async () => {
    const allowed = await t.api<CallOutcome>('POST', '/api/servers/ev/call', {
      tool: 'echo',
      arguments: { message: 'hi' },
    });
    expect(allowed.status, allowed.text).toBe(200);
    expect(allowed.json).toEqual({ status: 'ok', content: [{ type: 'text', text: 'Echo: hi' }] });

    await t.api('PUT', '/api/servers/ev/permissions', { pattern: 'get-sum', decision: 'ask' });
    const asked = await t.api<CallOutcome>('POST', '/api/servers/ev/call', {
      tool: 'get-sum',
      arguments: { a: 1, b: 2 },
    });
    expect(asked.json).toEqual({
      status: 'needs-approval',
      because: expect.stringContaining('rule "get-sum": ask'),
      content: [],
    });
    const approved = await t.api<CallOutcome>('POST', '/api/servers/ev/call', {
      tool: 'get-sum',
      arguments: { a: 1, b: 2 },
      approved: true,
    });
    expect(approved.json.status).toBe('ok');
    expect(JSON.stringify(approved.json.content)).toContain('3');

    await t.api('PUT', '/api/servers/ev/permissions', { pattern: 'echo', decision: 'deny' });
    const denied = await t.api<Failure>('POST', '/api/servers/ev/call', {
      tool: 'echo',
      arguments: { message: 'hi' },
    });
    expect(denied.status).toBe(403);
    expect(denied.json.error).toMatchObject({
      code: 'policy-denied',
      message: expect.stringContaining(`rule "echo": deny in ${t.sandbox.userConfig} (local)`),
    });

    await t.api('PUT', '/api/servers/ev/limits', { pattern: 'get-tiny-image', limit: '1/hour' });
    const image = await t.api<CallOutcome>('POST', '/api/servers/ev/call', {
      tool: 'get-tiny-image',
      arguments: {},
    });
    expect(image.json.status).toBe('ok');
    expect(image.json.content).toContainEqual(
      expect.objectContaining({ type: 'image', mimeType: 'image/png', data: expect.any(String) }),
    );
    const limited = await t.api<Failure>('POST', '/api/servers/ev/call', {
      tool: 'get-tiny-image',
      arguments: {},
    });
    expect(limited.status).toBe(403);
    expect(limited.json.error).toMatchObject({
      code: 'limit-reached',
      hint: expect.stringContaining('patchbay limit'),
    });
    const detail = await detailOf();
    expect(detail.limits).toEqual([expect.objectContaining({ pattern: 'get-tiny-image', used: 1 })]);

    // Refused before anything is decided or sent: not in the log.
    const badArgs = await t.api<Failure>('POST', '/api/servers/ev/call', {
      tool: 'get-sum',
      arguments: { a: 'one' },
    });
    expect(badArgs.status).toBe(400);
    // The check `patchbay call` makes (connect/tool-arguments.ts), in the same words.
    expect(badArgs.json.error.message).toContain('argument "a" must be a number; got "one".');
    expect(badArgs.json.error.message).toContain('argument "b" is required (number).');
    expect((await t.api<Failure>('POST', '/api/servers/ev/call', { tool: 'no-such-tool' })).status).toBe(404);
    expect((await t.api<Failure>('POST', '/api/servers/ev/call', { arguments: {} })).status).toBe(400);

    const activity = await t.api<ActivityView>('GET', '/api/activity?since=1h&server=ev');
    expect(activity.status).toBe(200);
    expect(activity.json.entries.map((entry) => [entry.tool, entry.decision, entry.outcome])).toEqual([
      ['echo', 'allowed', 'ok'],
      ['get-sum', 'asked', 'ok'],
      ['echo', 'denied', 'refused'],
      ['get-tiny-image', 'allowed', 'ok'],
      ['get-tiny-image', 'limited', 'refused'],
    ]);
    for (const entry of activity.json.entries) {
      expect(entry).toMatchObject({ via: 'console', host: 'patchbay ui', server: 'ev' });
      expect(entry).not.toHaveProperty('arguments');
    }
    expect(activity.json.stats).toContainEqual(
      expect.objectContaining({ server: 'ev', tool: 'echo', calls: 2, denied: 1, errors: 1 }),
    );
    // The CLI reads the console's lines too.
    const log = await t.sandbox.run(['log', 'ev', '--json']);
    expect(log.code, log.stderr).toBe(0);
    expect(log.stdout).toContain('"via": "console"');
    expect((await t.api<ActivityView>('GET', '/api/activity?server=other')).json.entries).toEqual([]);
    expect((await t.api<Failure>('GET', '/api/activity?since=yesterday')).status).toBe(400);
  });

  it('a server that is not usable is refused before anything is sent', async () => {
    await t.api('POST', '/api/servers/ev/enabled', { enabled: false });
    const refused = await t.api<Failure>('POST', '/api/servers/ev/call', {
      tool: 'echo',
      arguments: { message: 'x' },
    });
    expect(refused.status).toBe(400);
    expect(refused.json.error.message).toMatch(/^ev: disabled in /);
  });
});

describe('read and prompt', () => {
  it('reads text and binary resources', async () => {
    const text = await t.api<ReadOutcome>('POST', '/api/servers/ev/read', {
      uri: 'demo://resource/static/document/architecture.md',
    });
    expect(text.status, text.text).toBe(200);
    expect(text.json.contents[0]).toEqual({
      uri: 'demo://resource/static/document/architecture.md',
      mimeType: 'text/markdown',
      text: expect.stringContaining('#'),
    });
    const blob = await t.api<ReadOutcome>('POST', '/api/servers/ev/read', {
      uri: 'demo://resource/dynamic/blob/1',
    });
    expect(blob.json.contents[0]).toMatchObject({
      uri: 'demo://resource/dynamic/blob/1',
      blob: expect.any(String),
    });
    expect(blob.json.contents[0]).not.toHaveProperty('text');
    expect(Buffer.from(blob.json.contents[0]!.blob!, 'base64').length).toBeGreaterThan(0);
    const missing = await t.api<Failure>('POST', '/api/servers/ev/read', { uri: 'demo://nothing/here' });
    expect(missing.status).toBeGreaterThanOrEqual(400);
  });

  it('runs a prompt with its arguments checked first', async () => {
    const prompt = await t.api<PromptOutcome>('POST', '/api/servers/ev/prompt', {
      prompt: 'args-prompt',
      arguments: { city: 'Paris', state: 'Texas' },
    });
    expect(prompt.status, prompt.text).toBe(200);
    expect(prompt.json.messages).toEqual([
      { role: 'user', content: { type: 'text', text: "What's weather in Paris, Texas?" } },
    ]);
    const missing = await t.api<Failure>('POST', '/api/servers/ev/prompt', {
      prompt: 'args-prompt',
      arguments: {},
    });
    expect(missing.status).toBe(400);
    expect(missing.json.error.message).toBe('missing city for the prompt args-prompt.');
    const extra = await t.api<Failure>('POST', '/api/servers/ev/prompt', {
      prompt: 'args-prompt',
      arguments: { city: 'x', zip: 1 },
    });
    expect(extra.status).toBe(400);
    expect(
      (await t.api<Failure>('POST', '/api/servers/ev/prompt', { prompt: 'nope', arguments: {} })).status,
    ).toBe(404);
  });
});

describe('GET /api/servers/:name/doctor', () => {
  it('walks the layers of a working and a failing server', async () => {
    const ok = await t.api<DoctorView>('GET', '/api/servers/ev/doctor');
    expect(ok.status).toBe(200);
    expect(ok.json.verdict).toBe('ok');
    expect(ok.json.findings.map((finding) => finding.layer)).toEqual([
      'config',
      'proxy',
      'dns',
      'tcp',
      'http',
      'auth',
      'mcp',
      'tools',
    ]);
    expect(
      ok.json.findings.every(
        (finding) => finding.status === 'pass' || finding.status === 'skip' || finding.status === 'warn',
      ),
    ).toBe(true);

    await t.api('POST', '/api/servers', { name: 'dead', url: 'http://127.0.0.1:1/mcp' });
    const dead = await t.api<DoctorView>('GET', '/api/servers/dead/doctor');
    expect(dead.json.verdict).toBe('failed');
    const tcp = dead.json.findings.find((finding) => finding.layer === 'tcp')!;
    expect(tcp).toMatchObject({ status: 'fail', fix: expect.any(String) });
  });
});

describe("the project's unapproved .patchbay.json", () => {
  it('is shown in the detail with what waits, and loosens nothing until patchbay approve --policy', async () => {
    // The user's own default asks; the repository's file would allow every tool of ev.
    const user = JSON.parse(await readFile(t.sandbox.userConfig, 'utf8')) as Record<string, unknown>;
    await writeFile(t.sandbox.userConfig, JSON.stringify({ ...user, policy: { default: 'ask' } }));
    const teamFile = join(t.sandbox.project, '.patchbay.json');
    await writeFile(teamFile, JSON.stringify({ servers: { ev: { tools: { '*': 'allow' } } } }));

    const pending = await detailOf();
    expect(pending.projectPolicy).toEqual({
      path: teamFile,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      state: 'pending',
      hint: 'patchbay approve --policy',
      changes: [
        expect.objectContaining({
          effect: 'loosens',
          kind: 'rule',
          server: 'ev',
          pattern: '*',
          what: 'allow ev/*',
        }),
      ],
    });
    expect(toolOf(pending, 'get-sum')).toMatchObject({
      decision: 'ask',
      source: { kind: 'default', scope: 'user' },
    });
    expect(toolOf(pending, 'get-sum').because).toContain('patchbay approve --policy');
    const asked = await t.api<CallOutcome>('POST', '/api/servers/ev/call', {
      tool: 'get-sum',
      arguments: { a: 1, b: 2 },
    });
    expect(asked.json.status).toBe('needs-approval');

    expect((await t.sandbox.run(['approve', '--policy'])).code).toBe(0);
    const approved = await detailOf();
    expect(approved.projectPolicy!.state).toBe('approved');
    expect(toolOf(approved, 'get-sum')).toMatchObject({
      decision: 'allow',
      source: { kind: 'rule', scope: 'project' },
    });
  });
});
