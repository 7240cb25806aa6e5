/** `patchbay tools` and `patchbay tool`, the first commands that use a server, on real servers. */

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { argumentSummary } from '../../src/cli/commands/tools.js';
import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import { EVERYTHING_SCRIPT } from '../fixtures/everything.js';
import { getFreePort, startUnauthorizedServer, type FaultServer } from '../fixtures/fault-servers.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
let demo: DemoServer;
let locked: FaultServer;

beforeAll(async () => {
  [demo, locked] = await Promise.all([startDemoServer(), startUnauthorizedServer(401)]);
});
afterAll(async () => {
  await Promise.all([demo?.close(), locked?.close()]);
});
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  await sandbox.cleanup();
});

describe('patchbay tools', () => {
  it('lists every tool of server-everything over stdio, with annotations and arguments', async () => {
    await sandbox.run(['add', 'ev', '--', process.execPath, EVERYTHING_SCRIPT, 'stdio']);
    const result = await sandbox.run(['tools', 'ev', '--timeout', '20']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^echo +\(Echo Tool\) +read-only, idempotent$/m);
    expect(result.stdout).toMatch(/^ {2}args a: number, b: number$/m);
    const json = await sandbox.run(['tools', 'ev', '--json', '--timeout', '20']);
    const tools = JSON.parse(json.stdout) as Array<{ name: string; inputSchema: unknown }>;
    expect(tools.length).toBeGreaterThan(5);
    expect(tools.find((tool) => tool.name === 'echo')?.inputSchema).toMatchObject({
      properties: { message: { type: 'string' } },
    });
  });

  it('shows one tool in full, over Streamable HTTP', async () => {
    await sandbox.run(['add', 'demo', demo.url]);
    const result = await sandbox.run(['tool', 'demo', 'add']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('input schema');
    expect(result.stdout).toContain('output schema');
    const unknown = await sandbox.run(['tool', 'demo', 'ADD']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Did you mean add?');
  });

  it('fails with the same reason and hint as list: needs login (4), unreachable (1)', async () => {
    await sandbox.run(['add', 'locked', locked.url]);
    const needsLogin = await sandbox.run(['tools', 'locked']);
    expect(needsLogin.code).toBe(4);
    expect(needsLogin.stderr).toContain('patchbay login locked');
    await sandbox.run(['add', 'gone', `http://127.0.0.1:${await getFreePort()}/mcp`]);
    const gone = await sandbox.run(['tools', 'gone']);
    expect(gone.code).toBe(8);
    expect(gone.stderr).toMatch(/connection refused: nothing is listening on 127\.0\.0\.1:\d+/);
  });
});

describe('a server that offers no tools', () => {
  it('lists none: --json is [] and nothing else reaches stdout', async () => {
    const { Server } = await import('@modelcontextprotocol/server');
    const { startModernServer } = await import('../fixtures/modern-servers.js');
    const promptsOnly = await startModernServer(
      () => new Server({ name: 'prompts-only', version: '1.0.0' }, { capabilities: { prompts: {} } }),
    );
    try {
      await sandbox.run(['add', 'quiet', promptsOnly.url]);
      const listed = await sandbox.run(['tools', 'quiet', '--json']);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toBe('[]\n');
      const call = await sandbox.run(['call', 'quiet', 'anything']);
      expect(call.code).toBe(2);
      expect(call.stdout).toBe('');
      expect(call.stderr).toContain('quiet has no tool named "anything"');
    } finally {
      await promptsOnly.close();
    }
  });
});

describe('patchbay resources and patchbay prompts', () => {
  it('list resources with templates, and prompts with their arguments, as text and JSON', async () => {
    await sandbox.run(['add', 'ev', '--', process.execPath, EVERYTHING_SCRIPT, 'stdio']);
    const resources = await sandbox.run(['resources', 'ev', '--json', '--timeout', '20']);
    expect(resources.code, resources.stderr).toBe(0);
    const listed = JSON.parse(resources.stdout) as {
      resources: unknown[];
      templates: Array<{ uriTemplate: string }>;
    };
    expect(listed.resources.length).toBeGreaterThan(0);
    expect(listed.templates.some((template) => template.uriTemplate.includes('{resourceId}'))).toBe(true);
    const human = await sandbox.run(['resources', 'ev', '--timeout', '20']);
    expect(human.stdout).toMatch(/\(template\)$/m);
    const prompts = await sandbox.run(['prompts', 'ev', '--timeout', '20']);
    expect(prompts.code, prompts.stderr).toBe(0);
    expect(prompts.stdout).toMatch(/^ {2}args department, name$/m);
  });

  it('lists the prompts of a 2026-era server over Streamable HTTP', async () => {
    await sandbox.run(['add', 'demo', demo.url]);
    const result = await sandbox.run(['prompts', 'demo', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([expect.objectContaining({ name: 'greet' })]);
  });
});

describe('patchbay read and patchbay prompt', () => {
  it('reads text to stdout, refuses to print binary, writes it to -o', async () => {
    await sandbox.run(['add', 'ev', '--', process.execPath, EVERYTHING_SCRIPT, 'stdio']);
    const text = await sandbox.run([
      'read',
      'ev',
      'demo://resource/static/document/features.md',
      '--timeout',
      '20',
    ]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^# /);
    const blob = await sandbox.run(['read', 'ev', 'demo://resource/dynamic/blob/1', '--timeout', '20']);
    expect(blob.code).toBe(2);
    expect(blob.stderr).toMatch(/holds binary content .*-o <file>/s);
    const { join } = await import('node:path');
    const { readFile } = await import('node:fs/promises');
    const file = join(sandbox.root, 'blob.bin');
    const written = await sandbox.run([
      'read',
      'ev',
      'demo://resource/dynamic/blob/1',
      '-o',
      file,
      '--timeout',
      '20',
    ]);
    expect(written.code, written.stderr).toBe(0);
    expect((await readFile(file)).length).toBeGreaterThan(0);
  });

  it('gets a prompt, checking its arguments before sending', async () => {
    await sandbox.run(['add', 'demo', demo.url]);
    const result = await sandbox.run(['prompt', 'demo', 'greet', 'name=Ada']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^\[user\]$/m);
    expect(result.stdout).toContain('Ada');
    const bad = await sandbox.run(['prompt', 'demo', 'greet', 'nom=Ada']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/no argument named nom/);
    expect(bad.stderr).toMatch(/It takes: name/);
  });
});

describe('argumentSummary', () => {
  it('marks optional arguments, names enum choices, and survives odd schemas', () => {
    expect(
      argumentSummary({
        type: 'object',
        properties: { a: { type: 'number' }, mode: { enum: ['x', 'y'] }, tags: { type: ['array', 'null'] } },
        required: ['a'],
      }),
    ).toBe('a: number, mode?: "x"|"y", tags?: array|null');
    expect(argumentSummary(undefined)).toBe('');
    expect(argumentSummary({ properties: null })).toBe('');
  });
});

describe('patchbay call', () => {
  it('types key=value by the schema, validates before sending, prints text, structured content once, files for images', async () => {
    await sandbox.run(['add', 'ev', '--', process.execPath, EVERYTHING_SCRIPT, 'stdio']);
    const echo = await sandbox.run(['call', 'ev', 'echo', 'message=hello world', '--timeout', '20']);
    expect(echo.code, echo.stderr).toBe(0);
    expect(echo.stdout).toBe('Echo: hello world\n');
    const sum = await sandbox.run(['call', 'ev', 'get-sum', 'a=2', 'b=3.5', '--timeout', '20']);
    expect(sum.stdout).toContain('5.5');
    const wrong = await sandbox.run(['call', 'ev', 'get-sum', 'a=2', 'b=x', '--timeout', '20']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('Cannot call get-sum: argument "b" must be a number; got "x".');
    const missing = await sandbox.run(['call', 'ev', 'get-sum', 'a=2', '--timeout', '20']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('Cannot call get-sum: argument "b" is required (number).');
    const structured = await sandbox.run([
      'call',
      'ev',
      'get-structured-content',
      'location=Chicago',
      '--timeout',
      '20',
    ]);
    expect(structured.code, structured.stderr).toBe(0);
    expect(structured.stdout.match(/temperature/g)).toHaveLength(1);
    const { join } = await import('node:path');
    const { readFile } = await import('node:fs/promises');
    const out = join(sandbox.root, 'out');
    const image = await sandbox.run(['call', 'ev', 'get-tiny-image', '-o', out, '--timeout', '20']);
    expect(image.code, image.stderr).toBe(0);
    expect(image.stdout).not.toMatch(/[A-Za-z0-9+/]{200}/); // no base64 on the terminal
    const png = await readFile(join(out, 'get-tiny-image-1.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
  });

  it('takes --args JSON from stdin, with key=value on top; --json gives the whole result', async () => {
    await sandbox.run(['add', 'demo', demo.url]);
    const result = await sandbox.run(['call', 'demo', 'add', '--args', '-', 'b=40', '--json'], {
      input: '{"a": 2, "b": 1}',
    });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ structuredContent: { sum: 42 } });
  });
});

describe('patchbay call, interrupted', () => {
  it('Ctrl-C cancels the request in flight, exits 130 promptly, and leaves no server process', async () => {
    const { spawn } = await import('node:child_process');
    const { BINARY } = await import('../helpers/sandbox.js');
    const { isGone } = await import('../helpers/processes.js');
    const { join } = await import('node:path');
    const { readFile, writeFile } = await import('node:fs/promises');
    // The real server, started by a wrapper that records its pid (the grandchild of patchbay).
    const wrapper = join(sandbox.root, 'wrapper.mjs');
    const pids = join(sandbox.root, 'pids.txt');
    await writeFile(
      wrapper,
      `import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
const child = spawn(process.execPath, [${JSON.stringify(EVERYTHING_SCRIPT)}, 'stdio'], { stdio: 'inherit' });
appendFileSync(${JSON.stringify(pids)}, process.pid + ' ' + child.pid + '\\n');
child.on('exit', (code) => process.exit(code ?? 0));
`,
    );
    await sandbox.run(['add', 'ev', '--', process.execPath, wrapper]);
    const child = spawn(
      process.execPath,
      [BINARY, 'call', 'ev', 'trigger-long-running-operation', 'duration=20', 'steps=20', '--timeout', '30'],
      { env: sandbox.env, cwd: sandbox.project, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // Interrupt once the server is running the operation.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const text = await readFile(pids, 'utf8').catch(() => '');
      if (text.trim()) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const interruptedAt = Date.now();
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, stderr).toBe(130);
    expect(Date.now() - interruptedAt).toBeLessThan(4_000);
    expect(stderr).toContain('Cancelled trigger-long-running-operation');
    const started = (await readFile(pids, 'utf8')).trim().split(/\s+/).map(Number);
    expect(started.filter((pid) => !isGone(pid))).toEqual([]);
  });
});

describe('describeProgress', () => {
  it('shows a bar and a percentage when the server gives a total, else the count, with its message', async () => {
    const { describeProgress } = await import('../../src/cli/commands/call.js');
    expect(describeProgress('op', { progress: 3, total: 10, message: 'step 3' })).toBe(
      'op [######--------------] 30 % step 3',
    );
    expect(describeProgress('op', { progress: 12, total: 10 })).toBe('op [####################] 100 %');
    expect(describeProgress('op', { progress: 7 })).toBe('op: 7');
  });
});
