/**
 * core/file-store.ts OverwrittenFile: a file rewritten in place by the holder of its lock, whole
 * after every write, replaced (a new file) when it is first written and when it outgrows a page.
 */

import { statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { OverwrittenFile } from '../../src/core/file-store.js';

let directory: string;
let path: string;
beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'patchbay-overwritten-'));
  path = join(directory, 'usage.json');
});
afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('OverwrittenFile', () => {
  it('replaces the file first, then writes in place, padding shorter contents with spaces', async () => {
    await writeFile(path, JSON.stringify({ old: 'contents left by another process' }));
    const oldInode = statSync(path).ino;
    const file = new OverwrittenFile(path, 0o600);
    try {
      file.write('{"used": 100000}');
      const inode = statSync(path).ino;
      expect(inode).not.toBe(oldInode); // Not written into the other process's file.
      expect(statSync(path).mode & 0o777).toBe(0o600);
      file.write('{"used": 7}');
      expect(statSync(path).ino).toBe(inode); // In place.
      const text = await readFile(path, 'utf8');
      expect(text).toBe('{"used": 7}     ');
      expect(JSON.parse(text)).toEqual({ used: 7 });
      file.write('{"used": 123456789}');
      expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ used: 123456789 });
    } finally {
      file.close();
    }
  });

  it('replaces contents larger than a page instead of overwriting them, and again after close', async () => {
    const file = new OverwrittenFile(path, 0o600);
    try {
      file.write('{}');
      const inode = statSync(path).ino;
      const large = JSON.stringify({ counters: 'x'.repeat(5000) });
      file.write(large);
      expect(statSync(path).ino).not.toBe(inode);
      expect(await readFile(path, 'utf8')).toBe(large);
      file.close();
      const afterClose = statSync(path).ino;
      file.write('{}');
      expect(statSync(path).ino).not.toBe(afterClose);
      expect(await readFile(path, 'utf8')).toBe('{}');
    } finally {
      file.close();
    }
  });
});
