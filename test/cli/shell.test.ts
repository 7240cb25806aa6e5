/** The shell's parts that need no server: words of a line, Tab on verbs, history's rule, options. */

import { describe, expect, it } from 'vitest';

import { parseServerCompleteOptions } from '../../src/cli/commands/server-complete.js';
import { completeLine, parseShellOptions } from '../../src/cli/commands/shell.js';
import type { ShellContext } from '../../src/cli/shell/context.js';
import { keepInHistory } from '../../src/cli/shell/history.js';
import { findVerb, VERBS } from '../../src/cli/shell/verbs.js';
import { lineWords, partialWords, quoteWord } from '../../src/cli/shell/words.js';
import { templateVariables } from '../../src/use/complete.js';
import { PatchbayError } from '../../src/errors.js';

describe('words of a line', () => {
  it('splits as a POSIX shell quotes, and says how to quote what it refuses', () => {
    expect(lineWords(`call echo message='hello world' --args '{"a": 1}'`)).toEqual([
      'call',
      'echo',
      'message=hello world',
      '--args',
      '{"a": 1}',
    ]);
    expect(lineWords('  # only a comment')).toEqual([]);
    expect(() => lineWords('call echo message=a>b')).toThrow(/Cannot read the line/);
    try {
      lineWords("call echo message='open");
    } catch (error) {
      expect((error as PatchbayError).code).toBe('usage');
    }
  });

  it('splits a half-typed line without failing, and knows where the word under the cursor starts', () => {
    expect(partialWords('')).toEqual({ words: [''], start: 0 });
    expect(partialWords('call ')).toEqual({ words: ['call', ''], start: 5 });
    expect(partialWords('call  ech')).toEqual({ words: ['call', 'ech'], start: 6 });
    expect(partialWords("read 'demo://a b")).toEqual({ words: ['read', 'demo://a b'], start: 5 });
    expect(quoteWord('demo://resource/dynamic/text/{resourceId}')).toBe(
      'demo://resource/dynamic/text/{resourceId}',
    );
    expect(quoteWord("it's here")).toBe(`'it'\\''s here'`);
  });
});

describe('Tab without a server', () => {
  const ctx = {} as ShellContext;
  it('completes verbs, and the words of verbs that need no server', async () => {
    expect(await completeLine(ctx, 'su')).toEqual([['subscribe'], 'su']);
    expect((await completeLine(ctx, ''))[0]).toEqual(expect.arrayContaining(VERBS.map((verb) => verb.name)));
    expect(await completeLine(ctx, 'log-level w')).toEqual([['warning'], 'w']);
    expect(await completeLine(ctx, 'help ex')).toEqual([['exit'], 'ex']);
    expect(await completeLine(ctx, 'complete p')).toEqual([['prompt'], 'p']);
    // Nothing from a verb that does not exist, and no error.
    expect(await completeLine(ctx, 'nonsense x')).toEqual([[], 'x']);
  });

  it('finds verbs by name and alias, and suggests one for a typo', () => {
    expect(findVerb('quit').name).toBe('exit');
    expect(() => findVerb('subscrib')).toThrow(/Unknown command "subscrib"/);
    try {
      findVerb('subscrib');
    } catch (error) {
      expect((error as PatchbayError).hint).toContain('Did you mean subscribe?');
    }
  });
});

describe('history', () => {
  it('keeps ordinary lines, never one that looks secret or starts with a space', () => {
    expect(keepInHistory('call echo message=hello')).toBe(true);
    expect(keepInHistory(' call echo message=private')).toBe(false);
    expect(keepInHistory('call login token=abc123')).toBe(false);
    expect(keepInHistory('call fetch url=https://user:pw@example.com/')).toBe(false);
    expect(keepInHistory('call echo message=ghp_abcdefghijklmnopqrstuvwxyz0123456789')).toBe(false);
    expect(keepInHistory('   ')).toBe(false);
  });
});

describe('options', () => {
  it('parses patchbay complete: the reference by kind, the prefix, the context', () => {
    const options = parseServerCompleteOptions(
      'ev',
      'prompt',
      'completable-prompt',
      'name',
      'A',
      { context: ['department=Engineering'], json: true },
      {},
    );
    expect(options.query).toEqual({
      ref: { type: 'prompt', name: 'completable-prompt' },
      argument: { name: 'name', value: 'A' },
      context: { department: 'Engineering' },
    });
    expect(options.json).toBe(true);
    expect(
      parseServerCompleteOptions('ev', 'resource', 'demo://x/{id}', 'id', undefined, {}, {}).query,
    ).toEqual({ ref: { type: 'template', uri: 'demo://x/{id}' }, argument: { name: 'id', value: '' } });
    expect(() => parseServerCompleteOptions('ev', 'prompt', 'p', 'a', '', { context: ['x'] }, {})).toThrow(
      /Expected key=value for --context/,
    );
    expect(() => parseServerCompleteOptions('ev', 'tool', 'p', 'a', '', {}, {})).toThrow(
      /prompt or resource/,
    );
  });

  it('parses patchbay shell: history on by default, a log level checked', () => {
    const options = parseShellOptions('ev', { json: true, exitOnError: true, logLevel: 'info' }, {});
    expect(options).toMatchObject({
      name: 'ev',
      json: true,
      exitOnError: true,
      logLevel: 'info',
      history: true,
    });
    expect(parseShellOptions('ev', { history: false }, {}).history).toBe(false);
    expect(() => parseShellOptions('ev', { logLevel: 'loud' }, {})).toThrow(/Unknown log level/);
  });

  it("reads a template's variables", () => {
    expect(templateVariables('demo://resource/dynamic/text/{resourceId}')).toEqual(['resourceId']);
    expect(templateVariables('file:///{+path}{?q,page}')).toEqual(['path', 'q', 'page']);
  });
});
