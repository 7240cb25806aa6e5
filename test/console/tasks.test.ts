/**
 * Task tools in the console: "Try" on server-everything's simulate-research-query (its execution
 * requires a task) answers `status: "task"` at once, and the page follows the task by id until
 * its result; a task can be cancelled; only the console's own tasks are known.
 */

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import type { CallOutcome, TaskRun } from '../../src/console/api-types.js';
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

/** What the page does: ask for the task until its run is done; every status seen on the way. */
async function follow(taskId: string): Promise<{ run: TaskRun; seen: string[] }> {
  const seen: string[] = [];
  for (let attempt = 0; attempt < 100; attempt++) {
    const answer = await t.api<TaskRun>('GET', `/api/servers/ev/tasks/${taskId}`);
    expect(answer.status, answer.text).toBe(200);
    seen.push(`${answer.json.task.status}: ${answer.json.task.statusMessage ?? ''}`);
    if (answer.json.done) return { run: answer.json, seen };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`task ${taskId} did not end: ${seen.join(' | ')}`);
}

describe('a tool whose execution requires a task', () => {
  it('starts as a task, moves through its stages, and ends with its result', async () => {
    const started = await t.api<CallOutcome>('POST', '/api/servers/ev/call', {
      tool: 'simulate-research-query',
      arguments: { topic: 'console' },
    });
    expect(started.status, started.text).toBe(200);
    expect(started.json).toMatchObject({ status: 'task', content: [], task: { status: 'working' } });
    const { run, seen } = await follow(started.json.task!.taskId);
    expect(run.tool).toBe('simulate-research-query');
    expect(run.task.status).toBe('completed');
    expect(run.outcome?.status).toBe('ok');
    expect(JSON.stringify(run.outcome?.content)).toContain('# Research Report: console');
    expect(seen.some((line) => /^working: (Analyzing content|Synthesizing findings)/.test(line))).toBe(true);
    // Recorded as any call of the console is.
    const activity = await t.api<{ calls: Array<{ tool: string; outcome: string }> }>(
      'GET',
      '/api/activity?since=1h&server=ev',
    );
    expect(activity.text).toContain('simulate-research-query');
  });

  it('can be cancelled; its run then ends without a result, saying so', async () => {
    const started = await t.api<CallOutcome>('POST', '/api/servers/ev/call', {
      tool: 'simulate-research-query',
      arguments: { topic: 'cancel me' },
    });
    const taskId = started.json.task!.taskId;
    const cancelled = await t.api<TaskRun>('DELETE', `/api/servers/ev/tasks/${taskId}`);
    expect(cancelled.status, cancelled.text).toBe(200);
    expect(cancelled.json.task.status).toBe('cancelled');
    const { run } = await follow(taskId);
    expect(run.outcome).toBeUndefined();
    expect(run.error).toMatchObject({
      code: 'task-failed',
      message: expect.stringContaining('was cancelled'),
    });
  });

  it('knows only the tasks it started', async () => {
    const unknown = await t.api<{ error: { code: string; message: string } }>(
      'GET',
      '/api/servers/ev/tasks/nope',
    );
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.message).toContain('This console started no task "nope" on ev.');
  });
});
