/**
 * Tasks from the command line, on the built binary: a tool whose execution requires a task run by
 * `call` (server-everything's simulate-research-query over stdio, Streamable HTTP and legacy
 * SSE), its elicitation declined without a terminal and answered on one; `--task` refused for a
 * tool that forbids it; Ctrl-C on a real pseudo-terminal offering to cancel the task or leave it
 * running, and cancelling it without a terminal; `tasks`, `task`, `--result` and `--cancel`
 * against a server whose tasks outlive the command that started them (fixtures/task-server.mjs).
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';

import { EVERYTHING_SCRIPT, startEverything, type EverythingServer } from '../fixtures/everything.js';
import { BINARY, createSandbox, type Sandbox } from '../helpers/sandbox.js';
import { runInTerminal } from '../helpers/terminal.js';

const TASK_SERVER = fileURLToPath(new URL('../fixtures/task-server.mjs', import.meta.url));

let http: EverythingServer;
let sse: EverythingServer;
let taskServer: { url: string; child: ChildProcess };

beforeAll(async () => {
  [http, sse, taskServer] = await Promise.all([
    startEverything('streamableHttp'),
    startEverything('sse'),
    startTaskServer(),
  ]);
});
afterAll(async () => {
  await Promise.all([http?.close(), sse?.close()]);
  taskServer?.child.kill('SIGKILL');
});
/**
 * A sandbox of the test's own, so that the tests can run at once: most of their time is spent
 * waiting for tasks that take seconds. Removed when the test ends (the test's own onTestFinished:
 * the global one cannot tell concurrent tests apart).
 */
async function taskSandbox({ onTestFinished }: TestContext): Promise<Sandbox> {
  const sandbox = await createSandbox();
  onTestFinished(() => sandbox.cleanup());
  await sandbox.run(['add', 'stdio', '--', process.execPath, EVERYTHING_SCRIPT, 'stdio']);
  await sandbox.run(['add', 'http', http.url]);
  await sandbox.run(['add', 'sse', '--transport', 'sse', sse.url]);
  await sandbox.run(['add', 'tf', taskServer.url]);
  return sandbox;
}

describe.concurrent.each(['stdio', 'http', 'sse'])('server-everything over %s', (name) => {
  it('runs a tool that requires a task, and declines its question without a terminal', async (context) => {
    const sandbox = await taskSandbox(context);
    // The two calls run at once: each waits seconds for its task's stages.
    const [plain, ambiguous] = await Promise.all([
      sandbox.run(['call', name, 'simulate-research-query', 'topic=mcp', '--timeout', '20']),
      // The ambiguous query asks through tasks/result; without a terminal the question is declined,
      // as a normal call's is, and the server goes on with its default.
      sandbox.run([
        'call',
        name,
        'simulate-research-query',
        'topic=python',
        'ambiguous=true',
        '--json',
        '--timeout',
        '20',
      ]),
    ]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toContain('# Research Report: mcp');
    expect(plain.stdout).toContain('Status progressed: `working` → `completed`');
    expect(plain.stderr).toMatch(/simulate-research-query runs as task \w+ on /);
    expect(ambiguous.code, ambiguous.stderr).toBe(0);
    const result = JSON.parse(ambiguous.stdout) as { content: Array<{ text: string }>; _meta?: unknown };
    expect(result.content[0]!.text).toContain('python (User declined - using default interpretation)');
    expect(result._meta).toBeUndefined();
    expect(ambiguous.stderr).toContain('declined (no terminal to ask on)');
    expect(ambiguous.stderr).toContain('could have multiple interpretations');
  });
});

describe.concurrent('call --task', () => {
  it('runs a tool that allows a task as one, and refuses one that forbids it', async (context) => {
    const sandbox = await taskSandbox(context);
    const sum = await sandbox.run(['call', 'tf', 'quick-sum', 'a=2', 'b=3', '--task']);
    expect(sum.code, sum.stderr).toBe(0);
    expect(sum.stdout).toBe('sum 5\n');
    expect(sum.stderr).toMatch(/quick-sum runs as task \w+ on tf\./);
    const echo = await sandbox.run(['call', 'stdio', 'echo', 'message=hi', '--task', '--timeout', '20']);
    expect(echo.code).toBe(2);
    expect(echo.stdout).toBe('');
    expect(echo.stderr).toContain('echo does not run as a task (its execution.taskSupport is forbidden)');
    expect(echo.stderr).toContain('Call it without --task');
  });
});

describe.concurrent('on a terminal', () => {
  it("answers the research query's question in place, and prints the result", async (context) => {
    const sandbox = await taskSandbox(context);
    const terminal = runInTerminal(
      ['call', 'stdio', 'simulate-research-query', 'topic=python', 'ambiguous=true', '--timeout', '20'],
      sandbox.env,
      sandbox.project,
    );
    await terminal.waitFor(/Clarification .*: $/m, 20_000);
    terminal.type('2');
    await terminal.waitFor(/Send these answers\? \[Y\/n\] $/m);
    terminal.type('');
    expect(await terminal.exited, terminal.screen()).toBe(0);
    expect(terminal.screen()).toContain('# Research Report: python (snake)');
  });

  it('Ctrl-C offers to leave the task running; it is then shown, waited for and fetched', async (context) => {
    const sandbox = await taskSandbox(context);
    // Long enough to still be running after the three commands that look at it, on a loaded machine.
    const terminal = runInTerminal(
      ['call', 'tf', 'slow-report', 'seconds=15', 'label=left'],
      sandbox.env,
      sandbox.project,
    );
    const started = await terminal.waitFor(/runs as task (\w+) on tf\./);
    const id = /runs as task (\w+) on tf\./.exec(started)![1]!;
    await terminal.waitFor(/step 1 of 15/);
    terminal.keys('\u0003');
    await terminal.waitFor(/Cancel the task, or leave it running\? \[C\]ancel \/ \[l\]eave: $/m);
    terminal.type('l');
    expect(await terminal.exited, terminal.screen()).toBe(130);
    expect(terminal.screen()).toContain(`Left task ${id} running on tf.`);
    expect(terminal.screen()).toContain(`Fetch its result later: patchbay task tf ${id} --result`);

    const listed = await sandbox.run(['tasks', 'tf', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const mine = (JSON.parse(listed.stdout) as Array<{ taskId: string; status: string }>).find(
      (task) => task.taskId === id,
    );
    expect(mine?.status).toBe('working');
    const table = await sandbox.run(['tasks', 'tf']);
    expect(table.stdout).toMatch(new RegExp(`^${id}\\s+working\\s+\\S+\\s+step \\d+ of 15$`, 'm'));

    const shown = await sandbox.run(['task', 'tf', id]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^task\\s+${id}$`, 'm'));
    expect(shown.stdout).toMatch(/^status\s+working$/m);
    expect(shown.stderr).toContain(`Its result: patchbay task tf ${id} --result`);

    const result = await sandbox.run(['task', 'tf', id, '--result']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('report left done\n');
  }, 60_000);

  it('Ctrl-C offers to cancel the task, and cancels it', async (context) => {
    const sandbox = await taskSandbox(context);
    const terminal = runInTerminal(['call', 'tf', 'slow-report', 'seconds=60'], sandbox.env, sandbox.project);
    const started = await terminal.waitFor(/runs as task (\w+) on tf\./);
    const id = /runs as task (\w+) on tf\./.exec(started)![1]!;
    await terminal.waitFor(/step 1 of 60/);
    terminal.keys('\u0003');
    await terminal.waitFor(/\[C\]ancel \/ \[l\]eave: $/m);
    terminal.type('');
    expect(await terminal.exited, terminal.screen()).toBe(130);
    expect(terminal.screen()).toContain(`Cancelled task ${id} of slow-report (cancelled).`);
    const shown = await sandbox.run(['task', 'tf', id, '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ taskId: id, status: 'cancelled' });
  });
});

describe.concurrent('without a terminal', () => {
  it.for(['SIGINT', 'SIGTERM'] as const)('%s cancels the task and says which', async (signal, context) => {
    const sandbox = await taskSandbox(context);
    const call = spawnBinary(sandbox, ['call', 'tf', 'slow-report', 'seconds=60']);
    const id = await call.waitFor(/runs as task (\w+) on tf\./);
    call.child.kill(signal);
    const { code, stderr } = await call.exited;
    expect(code, stderr).toBe(130);
    expect(stderr).toContain(`Cancelled task ${id} of slow-report (cancelled).`);
  });

  it('task --cancel cancels a running task; the call waiting for it ends with an error', async (context) => {
    const sandbox = await taskSandbox(context);
    const call = spawnBinary(sandbox, ['call', 'tf', 'slow-report', 'seconds=60']);
    const id = await call.waitFor(/runs as task (\w+) on tf\./);
    const cancelled = await sandbox.run(['task', 'tf', id, '--cancel']);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stderr).toContain(`Cancelled task ${id} on tf (now cancelled`);
    const { code, stdout, stderr } = await call.exited;
    expect(code, stderr).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain(`error: Task ${id} was cancelled: Client cancelled task execution.`);
    const again = await sandbox.run(['task', 'tf', id, '--cancel']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`Task ${id} already ended (cancelled); there is nothing to cancel.`);
  });

  it('task refuses an unknown id, and --result with --cancel', async (context) => {
    const sandbox = await taskSandbox(context);
    const unknown = await sandbox.run(['task', 'tf', 'no-such-task']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('The server knows no task "no-such-task".');
    const both = await sandbox.run(['task', 'tf', 'x', '--result', '--cancel']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--result and --cancel cannot be used together.');
    // server-everything keeps a session's tasks to that session: a new command sees none.
    const none = await sandbox.run(['tasks', 'http']);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toBe('');
    expect(none.stderr).toBe('http lists no tasks.\n');
  });
});

function spawnBinary(sandbox: Sandbox, args: string[]) {
  const child = spawn(process.execPath, [BINARY, ...args], {
    env: sandbox.env,
    cwd: sandbox.project,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const wakes = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    for (const wake of wakes) wake();
  });
  const exited = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr })),
  );
  return {
    child,
    exited,
    /** The first group of `pattern` once stderr shows it. */
    waitFor: (pattern: RegExp) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${pattern}:\n${stderr}`)),
          15_000,
        );
        const check = () => {
          const match = pattern.exec(stderr);
          if (!match) return;
          clearTimeout(timer);
          wakes.delete(check);
          resolve(match[1]!);
        };
        wakes.add(check);
        check();
      }),
  };
}

async function startTaskServer(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [TASK_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`the task server exited (${code})`)));
  });
  return { url, child };
}
