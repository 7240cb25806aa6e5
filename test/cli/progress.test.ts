import { PassThrough } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { resolvePaths } from '../../src/core/paths.js';
import type { Io } from '../../src/cli/io.js';
import { liveView } from '../../src/cli/progress.js';

function ioWith(stderr: PassThrough & { isTTY?: boolean; columns?: number; rows?: number }, env = {}): Io {
  return {
    stdout: new PassThrough(),
    stderr,
    stdin: new PassThrough(),
    env,
    paths: resolvePaths(env),
    cwd: '/',
  };
}

function collect(stream: PassThrough): () => string {
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  return () => text;
}

describe('liveView', () => {
  it('prints nothing at all when stderr is not a terminal', () => {
    const stderr = new PassThrough();
    const output = collect(stderr);
    const view = liveView(ioWith(stderr));
    view.status('Checking 2 servers');
    view.add('one');
    view.finish();
    expect(output()).toBe('');
  });

  it('on a terminal: results above a progress line, then erased so the final table is not doubled', () => {
    const stderr = Object.assign(new PassThrough(), { isTTY: true, columns: 40, rows: 30 });
    const output = collect(stderr);
    const view = liveView(ioWith(stderr));
    view.status('Checking 2 servers… 0/2 done');
    view.add('✔ one  connected');
    view.add(`✘ two  failed: ${'x'.repeat(100)}`);
    view.finish();
    const text = output();
    expect(text).toContain('Checking 2 servers… 0/2 done');
    expect(text).toContain('✔ one  connected\n');
    // Cut to the terminal's width, so that counting lines to erase them stays right.
    expect(text).toMatch(/✘ two {2}failed: x+…\n/);
    const added = /✘ two[^\n]*/.exec(text)![0];
    expect([...added].length).toBeLessThan(40);
    expect(text.endsWith('\u001b[2A\u001b[0J')).toBe(true);
  });

  it('stays quiet in CI and on dumb terminals', () => {
    for (const env of [{ CI: 'true' }, { TERM: 'dumb' }]) {
      const stderr = Object.assign(new PassThrough(), { isTTY: true });
      const output = collect(stderr);
      const view = liveView(ioWith(stderr, env));
      view.add('line');
      view.finish();
      expect(output()).toBe('');
    }
  });
});
