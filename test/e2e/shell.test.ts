/**
 * `patchbay shell` and `patchbay complete` on the built binary, against server-everything over
 * stdio (a real third-party server, 2025 era): what one session makes possible and one-shot
 * commands cannot do — read a resource a call registered in its session, subscribe and see the
 * updates, see log messages — as a line protocol for scripts (text and JSON lines), and on a real
 * pseudo-terminal: Tab completes, a notice arriving while a line is half typed keeps the line, a
 * server's question is asked in place, a tool set to ask is approved in place.
 */

import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { McpServer } from '@modelcontextprotocol/server';

import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import { EVERYTHING_SCRIPT } from '../fixtures/everything.js';
import { startModernServer, type NotifyingServer } from '../fixtures/modern-servers.js';
import { BINARY, createSandbox, type Sandbox } from '../helpers/sandbox.js';
import { runInTerminal } from '../helpers/terminal.js';

let sandbox: Sandbox;
let demo: DemoServer;
let notes: NotifyingServer;

/** A 2026-07-28 server whose one resource can be subscribed to, and a tool that changes it. */
function notesServer(): McpServer {
  const server = new McpServer(
    { name: 'notes', version: '1.0.0' },
    { capabilities: { resources: { subscribe: true, listChanged: true }, tools: {} } },
  );
  server.registerResource('today', 'note://today', { mimeType: 'text/plain' }, () => ({
    contents: [{ uri: 'note://today', mimeType: 'text/plain', text: 'nothing yet' }],
  }));
  server.registerTool('touch', { description: 'Change note://today.' }, () => {
    notes.notify.resourceUpdated('note://today');
    return { content: [{ type: 'text', text: 'touched' }] };
  });
  return server;
}

beforeAll(async () => {
  sandbox = await createSandbox();
  demo = await startDemoServer();
  notes = await startModernServer(() => notesServer());
  await sandbox.run(['add', 'ev', '--', process.execPath, EVERYTHING_SCRIPT, 'stdio']);
  await sandbox.run(['add', 'demo', demo.url]);
  await sandbox.run(['add', 'notes', notes.url]);
}, 30_000);

afterAll(async () => {
  await demo?.close();
  await notes?.close();
  await sandbox?.cleanup();
});

const lines = (text: string) =>
  text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

// The cases use the servers as they are (each shell starts its own server-everything): they run at
// once, the terminal ones one after another among themselves (their keys are timed to the screen).
describe.concurrent('patchbay complete', () => {
  it("prints the server's completions for a prompt argument and a template variable", async () => {
    const department = await sandbox.run([
      'complete',
      'ev',
      'prompt',
      'completable-prompt',
      'department',
      'S',
    ]);
    expect(department.code, department.stderr).toBe(0);
    expect(department.stdout).toBe('Sales\nSupport\n');
    const name = await sandbox.run([
      'complete',
      'ev',
      'prompt',
      'completable-prompt',
      'name',
      '--context',
      'department=Engineering',
      '--json',
    ]);
    expect(name.code, name.stderr).toBe(0);
    expect(JSON.parse(name.stdout)).toMatchObject({ values: ['Alice', 'Bob', 'Charlie'], hasMore: false });
    const template = await sandbox.run([
      'complete',
      'ev',
      'resource',
      'demo://resource/dynamic/text/{resourceId}',
      'resourceId',
      '7',
    ]);
    expect(template.code, template.stderr).toBe(0);
    expect(template.stdout).toBe('7\n');
  }, 60_000);

  it('names what exists for an unknown prompt, template or argument (exit 2)', async () => {
    const prompt = await sandbox.run(['complete', 'ev', 'prompt', 'completable', 'department']);
    expect(prompt.code).toBe(2);
    expect(prompt.stderr).toContain('ev has no prompt named "completable"');
    expect(prompt.stderr).toContain('completable-prompt');
    const argument = await sandbox.run(['complete', 'ev', 'prompt', 'completable-prompt', 'team']);
    expect(argument.code).toBe(2);
    expect(argument.stderr).toContain('It takes: department, name');
    const template = await sandbox.run(['complete', 'ev', 'resource', 'demo://nothing/{id}', 'id']);
    expect(template.code).toBe(2);
    expect(template.stderr).toContain('demo://resource/dynamic/text/{resourceId}');
    const kind = await sandbox.run(['complete', 'ev', 'tool', 'echo', 'message']);
    expect(kind.code).toBe(2);
  }, 60_000);

  it('fails clearly on a server without the completions capability (exit 1)', async () => {
    const result = await sandbox.run(['complete', 'demo', 'prompt', 'greet', 'name', 'A']);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('demo offers no completions');
  }, 30_000);
});

describe.concurrent('patchbay shell without a terminal (a line protocol)', () => {
  it('reads, in the same session, the resource a call registered there (impossible one-shot)', async () => {
    const out = join(sandbox.root, 'hello.gz');
    const script = [
      '# a comment, and a blank line, are skipped',
      '',
      'call gzip-file-as-resource name=hello.txt.gz data=data:text/plain,hello-from-the-shell',
      `read demo://resource/session/hello.txt.gz -o ${out}`,
    ].join('\n');
    const result = await sandbox.run(['shell', 'ev', '--timeout', '20'], { input: `${script}\n` });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(
      '(link demo://resource/session/hello.txt.gz hello.txt.gz, application/gzip)',
    );
    expect(gunzipSync(await readFile(out)).toString()).toBe('hello-from-the-shell');
    // The call registered a resource: the server said its list changed, shown on stderr.
    expect(result.stderr).toContain('[list changed] resources');
    // A burst of changes (server-everything adds its tools one at a time as it starts) is told once.
    expect(result.stderr.match(/\[list changed\] tools/g)?.length ?? 0).toBeLessThanOrEqual(1);
    // A one-shot read opens a new session, where no such resource exists.
    const alone = await sandbox.run([
      'read',
      'ev',
      'demo://resource/session/hello.txt.gz',
      '--timeout',
      '20',
    ]);
    expect(alone.code).not.toBe(0);
  }, 60_000);

  it('with --json: results, errors and notifications as JSON lines tagged by kind', async () => {
    const script = [
      'call get-resource-links count=2',
      'read demo://resource/dynamic/text/2',
      'log-level debug',
      'call toggle-simulated-logging',
      'subscribe demo://resource/static/document/architecture.md',
      'call toggle-subscriber-updates',
      'wait 1s',
      'read nothing://here',
    ].join('\n');
    const result = await sandbox.run(['shell', 'ev', '--json', '--timeout', '20'], { input: `${script}\n` });
    const events = lines(result.stdout);
    const results = events.filter((event) => event.kind === 'result');
    expect(results.map((event) => event.command)).toEqual([
      'call',
      'read',
      'log-level',
      'call',
      'subscribe',
      'call',
      'wait',
    ]);
    const links = (results[0]!.value as { content: Array<{ type: string; uri?: string }> }).content;
    expect(links.filter((block) => block.type === 'resource_link').map((block) => block.uri)).toEqual([
      'demo://resource/dynamic/blob/1',
      'demo://resource/dynamic/text/2',
    ]);
    expect((results[1]!.value as Array<{ text: string }>)[0]!.text).toMatch(
      /^Resource 2: This is a plaintext/,
    );
    // Log messages (logging/setLevel debug lets every level through) and the resource's update.
    expect(events.some((event) => event.kind === 'log' && typeof event.level === 'string')).toBe(true);
    expect(events).toContainEqual({
      kind: 'resource-updated',
      uri: 'demo://resource/static/document/architecture.md',
    });
    const error = events.find((event) => event.kind === 'error');
    expect(error).toMatchObject({ command: 'read' });
    // The last command failed: the shell's status is its status.
    expect(result.code).toBe(error!.exitCode);
    expect(result.code).not.toBe(0);
  }, 60_000);

  it("runs a task tool, then lists the session's tasks and shows one and its result (kept by the session)", async () => {
    // Interactive over pipes: each command is sent once the previous one has answered.
    const child = spawn(process.execPath, [BINARY, 'shell', 'ev', '--json', '--timeout', '30'], {
      env: sandbox.env,
      cwd: sandbox.project,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const events: Array<Record<string, unknown>> = [];
    const waiting: Array<() => void> = [];
    let buffered = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line === '') continue;
        events.push(JSON.parse(line) as Record<string, unknown>);
        waiting.splice(0).forEach((wake) => wake());
      }
    });
    const answers = () => events.filter((event) => event.kind === 'result' || event.kind === 'error');
    const send = async (line: string) => {
      const before = answers().length;
      child.stdin.write(`${line}\n`);
      while (answers().length === before) await new Promise<void>((wake) => waiting.push(wake));
      return answers().at(-1)!;
    };
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      // simulate-research-query runs only as a task: call runs it as one, and prints its result.
      const called = await send('call simulate-research-query topic=shells');
      expect(called).toMatchObject({ kind: 'result', command: 'call' });
      expect(JSON.stringify(called.value)).toContain('Research Report: shells');
      // server-everything keeps a session's tasks: the shell's one session still sees this one.
      const listed = await send('tasks');
      const tasks = listed.value as Array<{ taskId: string; status: string }>;
      expect(tasks).toHaveLength(1);
      expect(tasks[0]!.status).toBe('completed');
      const shown = await send(`task ${tasks[0]!.taskId}`);
      expect(shown.value).toMatchObject({ taskId: tasks[0]!.taskId, status: 'completed' });
      const result = await send(`task ${tasks[0]!.taskId} --result`);
      expect(JSON.stringify(result.value)).toContain('Research Report: shells');
      const unknown = await send('task no-such-task');
      expect(unknown).toMatchObject({ kind: 'error', command: 'task' });
      child.stdin.end('exit 0\n');
      expect(await closed).toBe(0);
    } finally {
      child.kill();
    }
  }, 60_000);

  it('subscribes on a 2026-07-28 server through subscriptions/listen, and unsubscribes', async () => {
    const script = [
      'subscribe note://today',
      'call touch',
      'wait 1s',
      'unsubscribe note://today',
      'call touch',
      'wait 500ms',
      'subscribe',
    ].join('\n');
    const result = await sandbox.run(['shell', 'notes', '--json'], { input: `${script}\n` });
    expect(result.code, result.stderr).toBe(0);
    const events = lines(result.stdout);
    const updates = events.filter((event) => event.kind === 'resource-updated');
    // One update: the second touch came after unsubscribing.
    expect(updates).toEqual([{ kind: 'resource-updated', uri: 'note://today' }]);
    expect(events.at(-1)).toEqual({ kind: 'result', command: 'subscribe', value: { subscriptions: [] } });
  }, 30_000);

  it('exits 0 when every command succeeded, with N on exit N, and at the first failure with -e', async () => {
    const ok = await sandbox.run(['shell', 'ev', '--timeout', '20'], { input: 'call echo message=one\n' });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('Echo: one\n');
    const exit = await sandbox.run(['shell', 'ev', '--timeout', '20'], {
      input: 'exit 3\ncall echo message=never\n',
    });
    expect(exit.code).toBe(3);
    expect(exit.stdout).toBe('');
    const stop = await sandbox.run(['shell', 'ev', '-e', '--timeout', '20'], {
      input: 'nonsense\ncall echo message=never\n',
    });
    expect(stop.code).toBe(2);
    expect(stop.stderr).toContain('Unknown command "nonsense"');
    expect(stop.stdout).toBe('');
    const goOn = await sandbox.run(['shell', 'ev', '--timeout', '20'], {
      input: 'call echo\ncall echo message=two\n',
    });
    expect(goOn.code).toBe(2);
    expect(goOn.stdout).toBe('Echo: two\n');
    expect(goOn.stderr).toContain('message');
  }, 60_000);

  it('completes in the shell too, and lists and describes as the one-shot commands do', async () => {
    const script = ['complete prompt completable-prompt department M', 'help wait', 'tool echo'].join('\n');
    const result = await sandbox.run(['shell', 'ev', '--timeout', '20'], { input: `${script}\n` });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Marketing\n');
    expect(result.stdout).toMatch(/^wait <duration> +do nothing/m);
    const oneShot = await sandbox.run(['tool', 'ev', 'echo', '--timeout', '20']);
    expect(result.stdout).toContain(oneShot.stdout);
  }, 60_000);
});

describe.concurrent('patchbay shell on a terminal', () => {
  it.sequential(
    'completes a tool name on Tab, and keeps a half-typed line when a log message arrives',
    async () => {
      const terminal = runInTerminal(
        ['shell', 'ev', '--timeout', '20', '--log-level', 'debug'],
        sandbox.env,
        sandbox.project,
      );
      await terminal.waitFor(/Type help for commands/, 20_000);
      await terminal.waitFor(/ev> $/m);
      // Tab: "toggle-sim" has one completion.
      terminal.keys('call toggle-sim\t');
      await terminal.waitFor(/call toggle-simulated-logging$/m);
      terminal.keys('\r');
      await terminal.waitFor(/Started simulated, random-leveled logging/);
      await terminal.waitFor(/ev> $/m);
      // Half a line typed; the next log message arrives (every 5 s) and is printed above it.
      terminal.keys('call echo message=kept');
      const shown = await terminal.waitFor(
        /\[(debug|info|notice|warning|error|critical|alert|emergency)\] [^\n]*message[^\n]*\nev> call echo message=kept/,
        15_000,
      );
      expect(shown).toBeTruthy();
      terminal.keys('\r');
      await terminal.waitFor(/Echo: kept/);
      terminal.type('exit');
      expect(await terminal.exited, terminal.screen()).toBe(0);
    },
    60_000,
  );

  it.sequential(
    "completes a prompt argument's value from the server, and Ctrl-C cancels a call, not the shell",
    async () => {
      const terminal = runInTerminal(['shell', 'ev', '--timeout', '20'], sandbox.env, sandbox.project);
      await terminal.waitFor(/ev> $/m, 20_000);
      // Argument names from the prompt's declaration, values from the server (completion/complete).
      terminal.keys('prompt completable-prompt dep\t');
      await terminal.waitFor(/completable-prompt department=$/m);
      terminal.keys('Eng\t');
      await terminal.waitFor(/department=Engineering$/m);
      terminal.keys(' name=\t');
      // The second Tab once the first was answered (keys typed during an answer are taken as text).
      await new Promise((resolve) => setTimeout(resolve, 700));
      terminal.keys('\t');
      // Narrowed by the department already chosen: three names, listed on the second Tab.
      await terminal.waitFor(/name=Alice[\s\S]*name=Bob[\s\S]*name=Charlie/);
      terminal.keys('B\t');
      await terminal.waitFor(/name=Bob$/m);
      terminal.keys('\r');
      await terminal.waitFor(/Please promote Bob to the head of the Engineering team\./);
      await terminal.waitFor(/ev> $/m);
      terminal.type('call trigger-long-running-operation duration=30 steps=30');
      await terminal.waitFor(/trigger-long-running-operation/);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      terminal.keys('\u0003');
      await terminal.waitFor(/Cancelled trigger-long-running-operation: the server was told to stop\./);
      await terminal.waitFor(/ev> $/m);
      terminal.type('call echo message=still-here');
      await terminal.waitFor(/Echo: still-here/);
      terminal.type('exit');
      // A cancelled command is the person's choice, not a failure.
      expect(await terminal.exited, terminal.screen()).toBe(0);
    },
    60_000,
  );

  it.sequential(
    "asks a server's question in place, and goes on with the session",
    async () => {
      const terminal = runInTerminal(['shell', 'ev', '--timeout', '20'], sandbox.env, sandbox.project);
      await terminal.waitFor(/ev> $/m, 20_000);
      terminal.type('call trigger-elicitation-request');
      await terminal.waitFor(/^String: $/m, 20_000);
      terminal.type('Grace Hopper');
      await terminal.waitFor(/Boolean \(y\/n\) \(optional\): $/m);
      terminal.type('n');
      for (let field = 0; field < 11; field++) {
        await terminal.waitFor(/: $/m);
        terminal.type('');
      }
      await terminal.waitFor(/Send these answers\? \[Y\/n\] $/m);
      terminal.type('');
      await terminal.waitFor(/- Name: Grace Hopper/);
      await terminal.waitFor(/ev> $/m);
      terminal.type('call echo message=after');
      await terminal.waitFor(/Echo: after/);
      terminal.keys('\u0004');
      expect(await terminal.exited, terminal.screen()).toBe(0);
    },
    60_000,
  );

  it.sequential(
    'asks about a tool set to ask in place, and keeps history without secret-looking lines',
    async () => {
      await sandbox.run(['permit', 'demo', 'echo', 'ask']);
      const terminal = runInTerminal(['shell', 'demo'], sandbox.env, sandbox.project);
      await terminal.waitFor(/demo> $/m, 20_000);
      terminal.type('call echo text=hello-once');
      await terminal.waitFor(/\[y\] yes, this once {2}\[a\] always {2}\[N\] no: $/m);
      terminal.type('y');
      await terminal.waitFor(/hello-once/);
      await terminal.waitFor(/demo> $/m);
      terminal.type('call echo text=token=sk-abcdefghijklmnop1234567890ABCDEF');
      await terminal.waitFor(/\[y\] yes, this once/);
      terminal.type('n');
      await terminal.waitFor(/demo> $/m);
      terminal.type(' call echo text=private');
      await terminal.waitFor(/\[y\] yes, this once/);
      terminal.type('n');
      await terminal.waitFor(/demo> $/m);
      terminal.type('exit');
      await terminal.exited;
      const history = await readFile(
        join(sandbox.home, '.local', 'state', 'patchbay', 'shell-history', 'demo'),
        'utf8',
      );
      expect(history).toBe('call echo text=hello-once\nexit\n');
    },
    60_000,
  );
});
