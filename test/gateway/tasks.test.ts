/** The gateway's book of tasks and the wire shapes of both eras (src/gateway/tasks.ts). */

import { describe, expect, it } from 'vitest';

import {
  declaresTasks,
  detailedTask,
  legacyTask,
  modernTask,
  ownerOf,
  relatedTaskMeta,
  RELATED_TASK,
  requiresTask,
  TaskBook,
  TASKS_EXTENSION,
  type UpstreamTask,
} from '../../src/gateway/tasks.js';
import type { Upstream } from '../../src/gateway/upstream.js';

const upstream = { name: 'ev' } as Upstream;
const alice = ownerOf({ transport: 'http', auth: 'api-key', subject: 'alice', client: 'laptop' });
const bob = ownerOf({ transport: 'http', auth: 'api-key', subject: 'bob', client: 'laptop' });

function task(overrides: Partial<UpstreamTask> = {}): UpstreamTask {
  return {
    taskId: 'up-1',
    status: 'working',
    statusMessage: 'Gathering sources...',
    createdAt: '2026-12-06T14:00:00.000Z',
    lastUpdatedAt: '2026-12-06T14:00:01.000Z',
    ttl: 300_000,
    pollInterval: 1000,
    ...overrides,
  };
}

function book(modern = false) {
  const tasks = new TaskBook();
  const record = tasks.add({
    upstream,
    task: task(),
    owner: alice,
    tool: 'ev__research',
    server: undefined,
    modern,
  });
  return { tasks, record };
}

describe('the task book', () => {
  it('hands out random ids of its own, known only to the task’s owner', () => {
    const { tasks, record } = book();
    expect(record.id).toMatch(/^pbt_[A-Za-z0-9_-]{24}$/);
    expect(record.id).not.toContain('up-1');
    expect(tasks.find(record.id, alice)).toBe(record);
    expect(tasks.find(record.id, bob)).toBeUndefined();
    expect(tasks.find('up-1', alice)).toBeUndefined();
    expect(tasks.find(undefined, alice)).toBeUndefined();
    expect(tasks.owned(alice)).toEqual([record]);
    expect(tasks.owned(bob)).toEqual([]);
    expect(tasks.ofUpstream('ev', 'up-1')).toBe(record);
    expect(tasks.ofUpstream('other', 'up-1')).toBeUndefined();
  });

  it('tells sessions of one member apart, and a 2026-07-28 host (no session) by its member', () => {
    const session = (id: string) =>
      ownerOf({ transport: 'http', auth: 'gateway-token', subject: null, session: id });
    expect(session('sha256:a')).not.toBe(session('sha256:b'));
    expect(ownerOf({ transport: 'http', auth: 'api-key', subject: 'alice', client: 'laptop' })).toBe(alice);
  });

  it('forgets a task after its TTL', () => {
    const { tasks, record } = book();
    record.forgetAt = Date.now() - 1;
    expect(tasks.find(record.id, alice)).toBeUndefined();
    expect(tasks.ofUpstream('ev', 'up-1')).toBeUndefined();
  });

  it('parks a question for the host and answers it with the response of its key; the rest fail when the task ends', async () => {
    const { tasks, record } = book(true);
    const first = tasks.park(record, 'elicitation/create', { message: 'which?' });
    const second = tasks.park(record, 'elicitation/create', { message: 'and?' });
    expect([...record.parked.keys()]).toEqual(['input-1', 'input-2']);
    tasks.answer(record, { 'input-1': { action: 'accept', content: { x: 1 } }, unknown: {} });
    await expect(first).resolves.toEqual({ action: 'accept', content: { x: 1 } });
    expect([...record.parked.keys()]).toEqual(['input-2']);
    tasks.drop(record, 'the task ended');
    await expect(second).rejects.toThrow('the task ended');
  });
});

describe('the wire shapes', () => {
  it('gives a 2025-era host the upstream’s task under the gateway’s id', () => {
    const { record } = book();
    expect(legacyTask(task(), record)).toEqual({ ...task(), taskId: record.id });
  });

  it('gives a 2026-07-28 host a flat handle: ttlMs and pollIntervalMs, no ttl or pollInterval', () => {
    const { record } = book(true);
    expect(modernTask(task(), record)).toEqual({
      taskId: record.id,
      status: 'working',
      statusMessage: 'Gathering sources...',
      createdAt: '2026-12-06T14:00:00.000Z',
      lastUpdatedAt: '2026-12-06T14:00:01.000Z',
      ttlMs: 300_000,
      pollIntervalMs: 1000,
    });
    expect(modernTask(task({ ttl: null, pollInterval: undefined }), record)).toMatchObject({ ttlMs: null });
    expect('pollIntervalMs' in modernTask(task({ pollInterval: undefined }), record)).toBe(false);
  });

  it('shows parked questions as input_required, and the result or the error once the task ended', () => {
    const { tasks, record } = book(true);
    const parked = tasks.park(record, 'elicitation/create', {
      message: 'which?',
      _meta: { [RELATED_TASK]: { taskId: 'up-1' } },
    });
    expect(detailedTask(task({ status: 'input_required' }), record)).toMatchObject({
      status: 'input_required',
      inputRequests: { 'input-1': { method: 'elicitation/create', params: { message: 'which?' } } },
    });
    expect(
      (detailedTask(task(), record).inputRequests as Record<string, { params: object }>)['input-1']!.params,
    ).toEqual({ message: 'which?' });
    tasks.drop(record, 'ended');
    void parked.catch(() => undefined);
    // Upstream input_required with nothing parked yet: the question is on its way.
    expect(detailedTask(task({ status: 'input_required' }), record).status).toBe('working');
    record.outcome = {
      result: { content: [{ type: 'text', text: 'done' }], _meta: { [RELATED_TASK]: { taskId: 'up-1' } } },
    };
    expect(detailedTask(task({ status: 'completed' }), record)).toMatchObject({
      status: 'completed',
      result: { content: [{ type: 'text', text: 'done' }] },
    });
    expect(detailedTask(task({ status: 'completed' }), record).result).not.toHaveProperty('_meta');
    record.outcome = { error: { code: -32603, message: 'boom' } };
    const failed = detailedTask(task({ status: 'failed' }), record);
    expect(failed).toMatchObject({ status: 'failed', error: { code: -32603, message: 'boom' } });
    expect(failed).not.toHaveProperty('result');
  });

  it('rewrites the related-task id in _meta, or drops it', () => {
    const value = { content: [], _meta: { [RELATED_TASK]: { taskId: 'up-1' }, other: 1 } };
    expect(relatedTaskMeta(value, 'pbt_x')._meta).toEqual({ [RELATED_TASK]: { taskId: 'pbt_x' }, other: 1 });
    expect(relatedTaskMeta(value, undefined)._meta).toEqual({ other: 1 });
    expect(relatedTaskMeta({ _meta: { [RELATED_TASK]: { taskId: 'up-1' } } }, undefined)).toEqual({});
  });

  it('reads what a host declared and what a tool needs', () => {
    expect(declaresTasks({ extensions: { [TASKS_EXTENSION]: {} } })).toBe(true);
    expect(declaresTasks({ extensions: {} })).toBe(false);
    expect(declaresTasks(undefined)).toBe(false);
    expect(requiresTask({ execution: { taskSupport: 'required' } })).toBe(true);
    expect(requiresTask({ execution: { taskSupport: 'optional' } })).toBe(false);
    expect(requiresTask(undefined)).toBe(false);
  });
});
