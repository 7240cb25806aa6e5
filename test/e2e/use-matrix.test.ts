/**
 * Every tool, resource kind and prompt of `@modelcontextprotocol/server-everything`, used from the
 * shell over each of its transports (Streamable HTTP, legacy SSE, stdio); and lists that come in
 * many pages, from a server that pages them.
 */

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EVERYTHING_SCRIPT, startEverything, type EverythingServer } from '../fixtures/everything.js';
import { createPagingServer, startModernServer, type LoopbackServer } from '../fixtures/modern-servers.js';
import { createSandbox, type RunResult, type Sandbox } from '../helpers/sandbox.js';
import { runInTerminal } from '../helpers/terminal.js';

const TRANSPORTS = ['streamableHttp', 'sse', 'stdio'] as const;

let sandbox: Sandbox;
const servers: EverythingServer[] = [];
let paging: LoopbackServer;

beforeAll(async () => {
  sandbox = await createSandbox();
  const [http, sse] = await Promise.all([startEverything('streamableHttp'), startEverything('sse')]);
  servers.push(http, sse);
  paging = await startModernServer(() => createPagingServer(150, 2));
  await sandbox.run(['add', 'streamableHttp', http.url]);
  await sandbox.run(['add', '-t', 'sse', 'sse', sse.url]);
  await sandbox.run(['add', 'stdio', '--', process.execPath, EVERYTHING_SCRIPT, 'stdio']);
  await sandbox.run(['add', 'paging', paging.url]);
}, 30_000);
afterAll(async () => {
  await Promise.all([...servers.map((server) => server.close()), paging?.close()]);
  await sandbox?.cleanup();
});

/** Run several commands at once (each is its own process, as in a shell script). */
function runAll(commands: string[][]): Promise<RunResult[]> {
  return Promise.all(commands.map((args) => sandbox.run([...args, '--timeout', '30'])));
}

describe.each(TRANSPORTS)('server-everything over %s', (transport) => {
  it('calls every tool: text, sums, images, annotated messages, links, embedded resources, structured content, a long operation', async () => {
    const out = join(sandbox.root, `out-${transport}`);
    const [echo, sum, image, annotated, links, reference, gzip, structured, long, env, toggle] = await runAll(
      [
        ['call', transport, 'echo', 'message=hi there'],
        ['call', transport, 'get-sum', 'a=2', 'b=40'],
        ['call', transport, 'get-tiny-image', '-o', join(out, 'image')],
        [
          'call',
          transport,
          'get-annotated-message',
          'messageType=error',
          'includeImage=true',
          '-o',
          join(out, 'note'),
        ],
        ['call', transport, 'get-resource-links', 'count=2'],
        ['call', transport, 'get-resource-reference', 'resourceType=Text', 'resourceId=3'],
        [
          'call',
          transport,
          'gzip-file-as-resource',
          'data=data:text/plain;base64,aGVsbG8gd29ybGQ=',
          'outputType=resource',
          '-o',
          join(out, 'gzip'),
        ],
        ['call', transport, 'get-structured-content', 'location=New York'],
        ['call', transport, 'trigger-long-running-operation', 'duration=1', 'steps=2'],
        ['call', transport, 'get-env', '--json'],
        ['call', transport, 'toggle-simulated-logging'],
      ],
    );
    for (const result of [echo, sum, image, annotated, links, reference, gzip, structured, long, env, toggle])
      expect(result!.code, result!.stderr).toBe(0);
    expect(echo!.stdout).toBe('Echo: hi there\n');
    expect(sum!.stdout).toContain('42');
    const png = await readFile(join(out, 'image', 'get-tiny-image-1.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(image!.stderr).toContain(`Wrote 1 file to ${join(out, 'image')}`);
    expect(annotated!.stdout).toMatch(/Error: Operation failed/);
    expect(await readdir(join(out, 'note'))).toEqual(['get-annotated-message-1.png']);
    expect(links!.stdout.match(/^\(link demo:\/\/resource\/dynamic\/\w+\/\d+ /gm)).toHaveLength(2);
    expect(reference!.stdout).toMatch(/^\(resource demo:\/\/resource\/dynamic\/text\/3\)$/m);
    const gzipped = await readFile(join(out, 'gzip', 'gzip-file-as-resource-1.gz'));
    const { gunzipSync } = await import('node:zlib');
    expect(gunzipSync(gzipped).toString()).toBe('hello world');
    expect(structured!.stdout.match(/"temperature"/g)).toHaveLength(1);
    expect(long!.stdout).toContain('Long running operation completed');
    // --json is the result as the server sent it; get-env's text is the server's environment.
    expect(JSON.parse(env!.stdout)).toMatchObject({ content: [{ type: 'text' }] });
    expect(toggle!.stdout).toMatch(/logging/i);
  }, 90_000);

  it('lists and reads resources (text, blob, templates), gets prompts, and rejects bad arguments', async () => {
    const out = join(sandbox.root, `blob-${transport}.bin`);
    const [resources, text, blob, prompts, simple, args, embedded, badType, badPrompt, unknownTool] =
      await runAll([
        ['resources', transport, '--json'],
        ['read', transport, 'demo://resource/dynamic/text/2'],
        ['read', transport, 'demo://resource/dynamic/blob/2', '-o', out],
        ['prompts', transport],
        ['prompt', transport, 'simple-prompt'],
        ['prompt', transport, 'args-prompt', 'city=Paris', 'state=Texas'],
        ['prompt', transport, 'resource-prompt', 'resourceType=Text', 'resourceId=2'],
        ['call', transport, 'get-sum', 'a=1', 'b=two'],
        ['prompt', transport, 'args-prompt', 'town=Paris'],
        ['call', transport, 'no-such-tool'],
      ]);
    expect(resources!.code, resources!.stderr).toBe(0);
    const listed = JSON.parse(resources!.stdout) as {
      resources: Array<{ uri: string }>;
      templates: Array<{ uriTemplate: string }>;
    };
    expect(listed.resources.some((resource) => resource.uri.startsWith('demo://resource/static/'))).toBe(
      true,
    );
    expect(listed.templates.map((template) => template.uriTemplate)).toEqual(
      expect.arrayContaining([
        'demo://resource/dynamic/text/{resourceId}',
        'demo://resource/dynamic/blob/{resourceId}',
      ]),
    );
    expect(text!.code, text!.stderr).toBe(0);
    expect(text!.stdout).toContain('Resource 2');
    expect(blob!.code, blob!.stderr).toBe(0);
    expect((await readFile(out)).length).toBeGreaterThan(0);
    expect(prompts!.stdout).toMatch(/^args-prompt/m);
    expect(simple!.code, simple!.stderr).toBe(0);
    expect(simple!.stdout).toMatch(/^\[user\]\n.+/m);
    expect(args!.stdout).toMatch(/Paris/);
    expect(embedded!.code, embedded!.stderr).toBe(0);
    expect(embedded!.stdout).toMatch(/\(resource demo:\/\/resource\/dynamic\/text\/2\)/);
    expect(badType!.code).toBe(2);
    expect(badType!.stderr).toContain('argument "b" must be a number; got "two".');
    expect(badPrompt!.code).toBe(2);
    expect(badPrompt!.stderr).toMatch(/missing city; no argument named town/);
    expect(unknownTool!.code).toBe(2);
    expect(unknownTool!.stderr).toContain(`${transport} has no tool named "no-such-tool"`);
  }, 90_000);
});

describe('progress on a terminal', () => {
  it('shows the progress of a long operation as it goes, then the result', async () => {
    const terminal = runInTerminal(
      ['call', 'streamableHttp', 'trigger-long-running-operation', 'duration=2', 'steps=4'],
      { ...sandbox.env },
      sandbox.project,
    );
    await terminal.waitFor(/trigger-long-running-operation \[#+-+\] (25|50|75) %/);
    expect(await terminal.exited, terminal.screen()).toBe(0);
    expect(terminal.screen()).toContain('Long running operation completed');
  }, 30_000);
});

describe('cancelling over Streamable HTTP', () => {
  it('Ctrl-C during a long operation stops the call and exits 130 promptly', async () => {
    const { spawn } = await import('node:child_process');
    const { BINARY } = await import('../helpers/sandbox.js');
    const child = spawn(
      process.execPath,
      [BINARY, 'call', 'streamableHttp', 'trigger-long-running-operation', 'duration=20', 'steps=20'],
      { env: sandbox.env, cwd: sandbox.project, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const interruptedAt = Date.now();
    child.kill('SIGINT');
    expect(await exited, stderr).toBe(130);
    expect(Date.now() - interruptedAt).toBeLessThan(4_000);
    expect(stderr).toContain('Cancelled trigger-long-running-operation: the server was told to stop.');
  }, 30_000);
});

describe('lists in pages', () => {
  it('follows every page of tools, resources, templates and prompts (75 pages each, past the SDK default of 64)', async () => {
    const [tools, resources, prompts] = await runAll([
      ['tools', 'paging', '--json'],
      ['resources', 'paging', '--json'],
      ['prompts', 'paging', '--json'],
    ]);
    for (const result of [tools, resources, prompts]) expect(result!.code, result!.stderr).toBe(0);
    const names = (JSON.parse(tools!.stdout) as Array<{ name: string }>).map((tool) => tool.name);
    expect(names).toHaveLength(150);
    expect(names[0]).toBe('tool-001');
    expect(names.at(-1)).toBe('tool-150');
    expect(new Set(names).size).toBe(150);
    const listed = JSON.parse(resources!.stdout) as { resources: unknown[]; templates: unknown[] };
    expect(listed.resources).toHaveLength(150);
    expect(listed.templates).toHaveLength(150);
    expect(JSON.parse(prompts!.stdout)).toHaveLength(150);
  }, 60_000);

  it('cuts a long listing at --max-output and says how much was left out', async () => {
    const [cut] = await runAll([['tools', 'paging', '--max-output', '200']]);
    expect(cut!.code, cut!.stderr).toBe(0);
    expect(cut!.stdout.length).toBeLessThanOrEqual(201);
    expect(cut!.stderr).toMatch(
      /… \d+ more characters left out \(--max-output 200; raise it to see more\)\./,
    );
  }, 30_000);
});
