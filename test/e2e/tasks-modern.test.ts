/**
 * Tasks in the 2026-07-28 era (the io.modelcontextprotocol/tasks extension, SEP-2663) from the
 * command line, on the built binary: patchbay's own gateway (`patchbay serve --http`, with
 * server-everything behind it) offers the extension to 2026-07-28 hosts, and `patchbay call`
 * connects to it in that era. `call` runs simulate-research-query as a task there (the handle,
 * tasks/get polled, the result inlined); the ambiguous query's question comes back as an
 * `inputRequests` entry of tasks/get and is declined without a terminal and answered on one
 * (tasks/update), by the same handlers as a normal call's; `task --cancel` from another process
 * cancels a running task (tasks/cancel) and `task` shows it; Ctrl-C on a terminal leaves a task
 * running and `task --result` fetches its result later; `tasks` says the era lists none; a tool
 * without tasks runs at once although the call declared the extension; the shell runs the task
 * tool through the gateway too.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';
import { runInTerminal } from '../helpers/terminal.js';

/** The gateway's own configuration (server-everything as ev). */
let served: Sandbox;
/** The client's: the gateway as gw (apart, so that the gateway does not serve itself). */
let sandbox: Sandbox;
let everything: EverythingServer;
let gateway: RunningGateway;

beforeAll(async () => {
  [served, sandbox, everything] = await Promise.all([
    createSandbox(),
    createSandbox(),
    startEverything('streamableHttp'),
  ]);
  await served.run(['add', 'ev', everything.url]);
  gateway = await startGateway(served);
  await sandbox.run(['add', 'gw', gateway.url, '-H', `Authorization: Bearer ${gateway.token}`]);
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await everything?.close();
  await Promise.all([served?.cleanup(), sandbox?.cleanup()]);
});

describe.concurrent('patchbay call through the gateway (2026-07-28, the tasks extension)', () => {
  it('runs a tool that requires a task, and declines its question without a terminal', async () => {
    // The two calls run at once: each waits seconds for its task's stages.
    const [plain, ambiguous] = await Promise.all([
      sandbox.run(['call', 'gw', 'ev__simulate-research-query', 'topic=mcp', '--timeout', '20']),
      sandbox.run([
        'call',
        'gw',
        'ev__simulate-research-query',
        'topic=python',
        'ambiguous=true',
        '--json',
        '--timeout',
        '20',
      ]),
    ]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toContain('# Research Report: mcp');
    expect(plain.stderr).toMatch(/ev__simulate-research-query runs as task pbt_[\w-]+ on gw\./);

    expect(ambiguous.code, ambiguous.stderr).toBe(0);
    const result = JSON.parse(ambiguous.stdout) as { content: Array<{ text: string }>; _meta?: unknown };
    expect(result.content[0]!.text).toContain('python (User declined - using default interpretation)');
    expect(ambiguous.stderr).toContain('declined (no terminal to ask on)');
    expect(ambiguous.stderr).toContain('could have multiple interpretations');
  }, 60_000);

  it("answers the research query's question on a terminal", async () => {
    const terminal = runInTerminal(
      ['call', 'gw', 'ev__simulate-research-query', 'topic=python', 'ambiguous=true', '--timeout', '20'],
      sandbox.env,
      sandbox.project,
    );
    await terminal.waitFor(/Clarification .*: $/m, 20_000);
    terminal.type('2');
    await terminal.waitFor(/Send these answers\? \[Y\/n\] $/m);
    terminal.type('');
    expect(await terminal.exited, terminal.screen()).toBe(0);
    expect(terminal.screen()).toContain('# Research Report: python (snake)');
  }, 60_000);

  it('task --cancel from another process cancels a task waiting for an answer; task shows it', async () => {
    // On a terminal the task waits at its question as long as the question is open.
    const terminal = runInTerminal(
      ['call', 'gw', 'ev__simulate-research-query', 'topic=python', 'ambiguous=true', '--timeout', '20'],
      sandbox.env,
      sandbox.project,
    );
    const started = await terminal.waitFor(/runs as task (pbt_[\w-]+) on gw\./, 20_000);
    const id = /runs as task (pbt_[\w-]+) on gw\./.exec(started)![1]!;
    await terminal.waitFor(/Clarification .*: $/m, 20_000);
    const shown = await sandbox.run(['task', 'gw', id, '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ taskId: id, status: 'input_required' });
    const cancelled = await sandbox.run(['task', 'gw', id, '--cancel']);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stderr).toContain(`Cancelled task ${id} on gw (now cancelled`);
    terminal.type('2');
    await terminal.waitFor(/Send these answers\? \[Y\/n\] $/m);
    terminal.type('');
    expect(await terminal.exited, terminal.screen()).toBe(1);
    expect(terminal.screen()).toContain(`Task ${id} was cancelled`);
    const again = await sandbox.run(['task', 'gw', id, '--cancel']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`Task ${id} already ended (cancelled); there is nothing to cancel.`);
  }, 60_000);

  it('Ctrl-C on a terminal leaves the task running; task --result fetches it from another process', async () => {
    const terminal = runInTerminal(
      ['call', 'gw', 'ev__simulate-research-query', 'topic=left'],
      sandbox.env,
      sandbox.project,
    );
    const started = await terminal.waitFor(/runs as task (pbt_[\w-]+) on gw\./, 20_000);
    const id = /runs as task (pbt_[\w-]+) on gw\./.exec(started)![1]!;
    terminal.keys('\u0003');
    await terminal.waitFor(/Cancel the task, or leave it running\? \[C\]ancel \/ \[l\]eave: $/m);
    terminal.type('l');
    expect(await terminal.exited, terminal.screen()).toBe(130);
    expect(terminal.screen()).toContain(`Left task ${id} running on gw.`);
    const result = await sandbox.run(['task', 'gw', id, '--result', '--timeout', '20']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('# Research Report: left');
  }, 60_000);

  // After the tests above (the others run at once): it needs a call to have run in that era.
  it.sequential(
    'tasks says the era lists no tasks; task refuses an unknown id; a plain tool runs at once',
    async () => {
      // Said only on 2026-07-28: the call above ran in that era.
      const listed = await sandbox.run(['tasks', 'gw']);
      expect(listed.code).toBe(1);
      expect(listed.stderr).toContain(
        'speaks protocol 2026-07-28, whose tasks extension (io.modelcontextprotocol/tasks) has no tasks/list',
      );
      const unknown = await sandbox.run(['task', 'gw', 'pbt_nope']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('The server knows no task "pbt_nope".');
      // The call declares the extension; the gateway runs a tool without tasks at once.
      const echo = await sandbox.run(['call', 'gw', 'ev__echo', 'message=hi', '--timeout', '20']);
      expect(echo.code, echo.stderr).toBe(0);
      expect(echo.stdout).toBe('Echo: hi\n');
      expect(echo.stderr).not.toContain('runs as task');
    },
    60_000,
  );
});

describe.concurrent('patchbay shell through the gateway', () => {
  it('runs the task tool in its session; its tasks verb says the era lists none', async () => {
    const result = await sandbox.run(['shell', 'gw', '--timeout', '20'], {
      input: 'call ev__simulate-research-query topic=shells\ntasks\n',
    });
    // The tasks verb fails (this era lists no tasks); the shell exits with its failure's status.
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain('has no tasks/list');
    expect(result.stdout).toContain('# Research Report: shells');
    expect(result.stderr).toMatch(/runs as task pbt_[\w-]+ on gw\./);
  }, 60_000);
});
