/** --max-output: the first N characters pass, the rest is counted and reported on stderr. */

import { PassThrough } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { resolvePaths } from '../../src/core/paths.js';
import type { Io } from '../../src/cli/io.js';
import { maxOutputFrom, withOutputLimit } from '../../src/cli/output-limit.js';

function captureIo(): { io: Io; stdout: () => string; stderr: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  const stream = (into: string[]) => {
    const pass = new PassThrough();
    pass.on('data', (chunk: Buffer) => into.push(chunk.toString()));
    return pass;
  };
  return {
    io: {
      stdout: stream(out),
      stderr: stream(err),
      stdin: new PassThrough(),
      env: {},
      paths: resolvePaths({}),
      cwd: '/',
    },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('withOutputLimit', () => {
  it('passes output under the limit untouched, and says nothing', async () => {
    const { io, stdout, stderr } = captureIo();
    const code = await withOutputLimit(io, { maxOutput: '100' }, async (limited) => {
      limited.stdout.write('hello\n');
      return 0;
    });
    await tick();
    expect(code).toBe(0);
    expect(stdout()).toBe('hello\n');
    expect(stderr()).toBe('');
  });

  it('cuts across writes, ends the line, and counts what was left out', async () => {
    const { io, stdout, stderr } = captureIo();
    const code = await withOutputLimit(io, { maxOutput: '8' }, async (limited) => {
      limited.stdout.write('abcde');
      limited.stdout.write(Buffer.from('fghij'));
      limited.stdout.write('k\n');
      return 1;
    });
    await tick();
    expect(code).toBe(1);
    expect(stdout()).toBe('abcdefgh\n');
    expect(stderr()).toBe('… 4 more characters left out (--max-output 8; raise it to see more).\n');
  });

  it('never splits a character made of two UTF-16 units', async () => {
    const { io, stdout } = captureIo();
    await withOutputLimit(io, { maxOutput: '2' }, async (limited) => {
      limited.stdout.write('a😀b');
      return 0;
    });
    await tick();
    expect(stdout()).toBe('a\n');
  });
});

describe('maxOutputFrom', () => {
  it('defaults to a million characters for text and to no limit for --json, unless given', () => {
    expect(maxOutputFrom({})).toBe(1_000_000);
    expect(maxOutputFrom({ json: true })).toBeUndefined();
    expect(maxOutputFrom({ json: true, maxOutput: '50' })).toBe(50);
    expect(() => maxOutputFrom({ maxOutput: 'lots' })).toThrow(/Invalid --max-output "lots"/);
    expect(() => maxOutputFrom({ maxOutput: '0' })).toThrow(/Invalid --max-output/);
  });
});
