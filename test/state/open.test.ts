/** The one place a gateway's store is chosen (state/open.ts): the option checked, the URL described without its password. */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { describeState, openState, parseStateOption } from '../../src/state/open.js';
import { FileState } from '../../src/state/files.js';

describe('state/open', () => {
  it('takes files (unset, empty, "files") or a redis:// / rediss:// URL; anything else is a usage error without the text', () => {
    expect([undefined, '', 'files'].map((text) => parseStateOption(text))).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    expect(parseStateOption(' redis://10.0.0.5:6379/1 ')).toBe('redis://10.0.0.5:6379/1');
    expect(parseStateOption('rediss://u:pw@r:6380')).toBe('rediss://u:pw@r:6380');
    for (const text of ['mysql://u:hunter2@db', 'hunter2'])
      expect(() => parseStateOption(text)).toThrow(expect.objectContaining({ code: 'usage' }));
    try {
      parseStateOption('mysql://u:hunter2@db');
    } catch (error) {
      expect(String(error)).not.toContain('hunter2');
    }
  });

  it('describes a store without the URL password or user', () => {
    expect(describeState('rediss://alice:hunter2@redis.internal:6380/2', '/x')).toBe(
      'redis at rediss://redis.internal:6380/2',
    );
    expect(describeState(undefined, '/var/lib/patchbay/gateway')).toBe('files in /var/lib/patchbay/gateway');
  });

  it('opens files when no URL is given', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'patchbay-open-'));
    try {
      const store = await openState(undefined, directory);
      expect(store).toBeInstanceOf(FileState);
      expect(store.windows).toBeUndefined();
      expect(await store.reachable()).toBe(true);
      await store.close();
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
