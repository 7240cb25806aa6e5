/**
 * The pure parts of tasks on the command line: `task`'s options, `call --task`, and when a call
 * runs as a task (a tool's execution.taskSupport, the server's capability, the protocol era).
 */

import { describe, expect, it } from 'vitest';

import { parseCallOptions } from '../../src/cli/commands/call.js';
import { runsAsTask } from '../../src/cli/commands/task-call.js';
import { resultCommand, taskStatusText } from '../../src/cli/commands/task-text.js';
import { parseTaskOptions } from '../../src/cli/commands/tasks.js';
import type { Session } from '../../src/connect/session.js';
import { PatchbayError } from '../../src/errors.js';
import { isTerminal, taskSupportOf } from '../../src/use/tasks.js';

/** What runsAsTask reads of a session: its era and the server's capabilities. */
function session(era: 'legacy' | 'modern', tasks?: Record<string, unknown>): Session {
  return {
    era,
    protocolVersion: era === 'modern' ? '2026-07-28' : '2025-11-25',
    client: { getServerCapabilities: () => (tasks ? { tools: {}, tasks } : { tools: {} }) },
  } as unknown as Session;
}

const RUNS_TOOL_TASKS = { list: {}, cancel: {}, requests: { tools: { call: {} } } };

describe('parseTaskOptions', () => {
  it('shows by default; --result and --cancel each pick their action', () => {
    expect(parseTaskOptions('ev', 'abc', {}, {})).toMatchObject({
      name: 'ev',
      taskId: 'abc',
      action: 'show',
    });
    expect(parseTaskOptions('ev', 'abc', { result: true, output: 'out' }, {})).toMatchObject({
      action: 'result',
      outputDir: 'out',
    });
    expect(parseTaskOptions('ev', 'abc', { cancel: true, json: true }, {})).toMatchObject({
      action: 'cancel',
      json: true,
    });
  });

  it('refuses both at once, and an empty id', () => {
    expect(() => parseTaskOptions('ev', 'abc', { result: true, cancel: true }, {})).toThrow(
      '--result and --cancel cannot be used together.',
    );
    expect(() => parseTaskOptions('ev', ' ', {}, {})).toThrow('The task id is empty.');
  });
});

describe('call --task', () => {
  it('is off unless given', () => {
    expect(parseCallOptions('ev', 'echo', [], {}, {}).task).toBe(false);
    expect(parseCallOptions('ev', 'echo', [], { task: true }, {}).task).toBe(true);
  });
});

describe('runsAsTask', () => {
  const legacy = session('legacy', RUNS_TOOL_TASKS);
  const required = { name: 'research', execution: { taskSupport: 'required' } };
  const optional = { name: 'sum', execution: { taskSupport: 'optional' } };
  const forbidden = { name: 'echo', execution: { taskSupport: 'forbidden' } };
  const silent = { name: 'plain' };

  it('runs a tool that requires a task as one, and one that allows it only with --task', () => {
    expect(runsAsTask(legacy, required, false, 'ev')).toBe(true);
    expect(runsAsTask(legacy, optional, false, 'ev')).toBe(false);
    expect(runsAsTask(legacy, optional, true, 'ev')).toBe(true);
    expect(runsAsTask(legacy, forbidden, false, 'ev')).toBe(false);
    expect(runsAsTask(legacy, silent, false, 'ev')).toBe(false);
  });

  it('refuses --task for a tool that forbids it or says nothing (usage, exit 2)', () => {
    const refusal = (tool: typeof silent) => {
      try {
        runsAsTask(legacy, tool, true, 'ev');
      } catch (error) {
        return error as PatchbayError;
      }
      throw new Error('not refused');
    };
    expect(refusal(forbidden).message).toBe(
      'echo does not run as a task (its execution.taskSupport is forbidden).',
    );
    expect(refusal(silent).message).toBe(
      'plain does not run as a task (its execution.taskSupport is not declared).',
    );
    expect(refusal(silent).exitCode).toBe(2);
  });

  it('refuses where the server does not run tool calls as tasks, or speaks the 2026 era', () => {
    expect(() => runsAsTask(session('legacy'), required, false, 'ev')).toThrow(
      'research must run as a task, but ev does not say it runs tool calls as tasks',
    );
    expect(() => runsAsTask(session('modern', RUNS_TOOL_TASKS), required, false, 'ev')).toThrow(
      'io.modelcontextprotocol/tasks',
    );
  });
});

describe('runsAsTask on a 2026-07-28 server', () => {
  const extension = {
    era: 'modern',
    protocolVersion: '2026-07-28',
    client: {
      getServerCapabilities: () => ({ tools: {}, extensions: { 'io.modelcontextprotocol/tasks': {} } }),
    },
  } as unknown as Session;

  it('goes the task way for every tool where the server offers the extension (it decides)', () => {
    expect(runsAsTask(extension, { name: 'plain' }, false, 'gw')).toBe(true);
    expect(runsAsTask(extension, { name: 'plain' }, true, 'gw')).toBe(true);
  });

  it('calls plainly without the extension; --task is refused there', () => {
    expect(runsAsTask(session('modern'), { name: 'plain' }, false, 'gw')).toBe(false);
    expect(() => runsAsTask(session('modern'), { name: 'plain' }, true, 'gw')).toThrow(
      'plain would run as a task, but gw does not offer the tasks extension (io.modelcontextprotocol/tasks).',
    );
  });
});

describe('tasks as text', () => {
  it('reads a task, its status message made printable', () => {
    expect(taskStatusText({ status: 'working', statusMessage: 'step 1\u001b[31m of 2' })).toBe(
      'working: step 1 of 2',
    );
    expect(taskStatusText({ status: 'completed' })).toBe('completed');
    expect(resultCommand('ev', 'abc123')).toBe('patchbay task ev abc123 --result');
    expect(resultCommand('ev', "it's")).toBe(`patchbay task ev 'it'\\''s' --result`);
  });

  it('knows what a tool declares, and which statuses are final', () => {
    expect(taskSupportOf({ execution: { taskSupport: 'required' } })).toBe('required');
    expect(taskSupportOf({ execution: { taskSupport: 'sometimes' } })).toBe('forbidden');
    expect(taskSupportOf(undefined)).toBe('forbidden');
    expect(['completed', 'failed', 'cancelled'].every((status) => isTerminal({ status }))).toBe(true);
    expect(isTerminal({ status: 'input_required' })).toBe(false);
  });
});
