/** Pure pieces of the config module: the position-aware parser, expansion, masking. */

import { describe, expect, it } from 'vitest';
import { splitCommandLine } from '../../src/core/command-line.js';
import { expandEntry, expandString, splitTemplate } from '../../src/config/expand.js';
import { parseJsonSource, stringifyJson } from '../../src/core/json-source.js';
import { maskArgs, maskUrl, maskValue } from '../../src/config/mask.js';
import { entryDigest } from '../../src/config/registry.js';
import { entryFromRaw } from '../../src/config/entry.js';

describe('parseJsonSource', () => {
  it('records the position of every value', () => {
    const parsed = parseJsonSource('{\n  "mcpServers": {\n    "a": { "url": 1 }\n  }\n}', { fileLabel: 'f' });
    expect(parsed.positionOf(['mcpServers', 'a', 'url'])).toEqual({ line: 3, column: 19 });
    expect(parsed.indent).toBe(2);
  });

  it('keeps __proto__ as an own key and never touches Object.prototype', () => {
    const parsed = parseJsonSource('{"__proto__": {"polluted": true}, "constructor": 1}', { fileLabel: 'f' });
    const value = parsed.value as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['__proto__', 'constructor']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const roundTrip = JSON.parse(stringifyJson(parsed.value)) as object;
    expect(Object.getOwnPropertyDescriptor(roundTrip, '__proto__')?.value).toEqual({ polluted: true });
  });

  it('accepts comments and trailing commas only in JSONC mode', () => {
    const text = '{\n  // servers\n  "servers": {"a": 1,},\n  /* x */\n}';
    expect(() => parseJsonSource(text, { fileLabel: 'f' })).toThrow(/f:2:3/);
    const parsed = parseJsonSource(text, { fileLabel: 'f', jsonc: true });
    expect(parsed.value).toEqual({ servers: { a: 1 } });
    expect(parsed.hadComments).toBe(true);
  });

  it('matches JSON.parse on valid input', () => {
    const samples = ['{"a":[1,-2.5e3,true,false,null,"\\u00e9\\n\\"x\\""]}', '[]', '"s"', '0', '{"":{}}'];
    for (const sample of samples)
      expect(JSON.parse(JSON.stringify(parseJsonSource(sample, { fileLabel: 'f' }).value))).toEqual(
        JSON.parse(sample),
      );
  });

  it('skips a byte order mark and detects tab indentation', () => {
    const parsed = parseJsonSource('\ufeff{\n\t"a": 1\n}', { fileLabel: 'f' });
    expect(parsed.value).toEqual({ a: 1 });
    expect(parsed.indent).toBe('\t');
  });
});

describe('expansion', () => {
  it('expands ${VAR} and ${VAR:-default} with the POSIX meaning of :-', () => {
    expect(expandString('a${X}b', { X: '1' }, 'url')).toBe('a1b');
    expect(expandString('${X:-d}', {}, 'url')).toBe('d');
    expect(expandString('${X:-d}', { X: '' }, 'url')).toBe('d');
    expect(expandString('${X:-}', {}, 'url')).toBe('');
    expect(expandString('${X}', { X: '' }, 'url')).toBe('');
    expect(expandString('$X and $ {X} stay', { X: '1' }, 'url')).toBe('$X and $ {X} stay');
  });

  it('an unset variable without a default is an error naming it and the field', () => {
    expect(() => expandString('Bearer ${TOKEN}', {}, 'headers.Authorization')).toThrow(
      'environment variable TOKEN is not set (used in headers.Authorization)',
    );
  });

  it('expands url, headers, command, args, env and headersHelper', () => {
    const env = { H: 'h.example.com', T: 't', C: 'node', A: 'x', E: 'e', S: 'helper' };
    const entry = expandEntry(
      {
        transport: 'stdio',
        url: 'https://${H}',
        headers: { A: '${T}' },
        command: '${C}',
        args: ['${A}'],
        env: { K: '${E}' },
        headersHelper: '${S}',
      },
      env,
    );
    expect(entry).toEqual({
      transport: 'stdio',
      url: 'https://h.example.com',
      headers: { A: 't' },
      command: 'node',
      args: ['x'],
      env: { K: 'e' },
      headersHelper: 'helper',
    });
  });

  // Hostile values: whatever a variable holds, it is one argument (or part of one), as in sh's
  // "${VAR}": never split at its spaces, never re-parsed for quotes, escapes, comments or operators.
  const hostileValues = [
    'two words',
    `it's "quoted"`,
    `'; rm -rf ~; echo '`,
    '" --injected "',
    'a\\ b \\" c',
    '$(touch /tmp/x) `id` $HOME ${OTHER}',
    '# not a comment',
    '| jq . && curl evil; x > /tmp/y &',
    '  leading and trailing  ',
    '\ttab\nnewline',
    '',
  ];

  it.each(hostileValues)('a headersHelper ${VAR} holding %j is one argument wherever it stands', (value) => {
    const env = { V: value, OTHER: 'other' };
    const argvOf = (headersHelper: string) =>
      splitCommandLine(
        expandEntry({ transport: 'http', url: 'https://x', headersHelper }, env).headersHelper!,
      );
    expect(argvOf('get-token ${V} --last')).toEqual(['get-token', value, '--last']);
    expect(argvOf('get-token "${V}"')).toEqual(['get-token', value]);
    expect(argvOf("get-token '${V}'")).toEqual(['get-token', value]);
    expect(argvOf('get-token --key=${V}!')).toEqual(['get-token', `--key=${value}!`]);
    expect(argvOf('get-token "pre ${V} post" x')).toEqual(['get-token', `pre ${value} post`, 'x']);
    expect(argvOf('get-token ${MISSING:-${V}}')).toEqual(['get-token', '${V}']);
    expect(argvOf('get-token ${MISSING:-a default}')).toEqual(['get-token', 'a default']);
  });

  it.each(hostileValues)('a stdio command and args ${VAR} holding %j stay one argument each', (value) => {
    const env = { V: value };
    const entry = expandEntry({ transport: 'stdio', command: '${V}', args: ['${V}', '--k=${V}'] }, env);
    expect(entry.command).toBe(value);
    expect(entry.args).toEqual([value, `--k=${value}`]);
  });

  it('a headersHelper that is not a valid command line fails naming the field, before any value is read', () => {
    expect(() =>
      expandEntry({ transport: 'http', url: 'https://x', headersHelper: "get-token '${V}" }, { V: 'v' }),
    ).toThrow(/headersHelper is not a valid command: unterminated single quote/);
    expect(() =>
      expandEntry({ transport: 'http', url: 'https://x', headersHelper: 'get-token ${V} | jq' }, { V: 'v' }),
    ).toThrow(/"\|" is shell syntax/);
  });

  it('splits templates', () => {
    expect(splitTemplate('Bearer ${T:-x}!')).toEqual([
      { literal: 'Bearer ' },
      { variable: 'T', fallback: 'x' },
      { literal: '!' },
    ]);
  });
});

describe('masking', () => {
  it('masks literal parts, keeps references and the auth scheme', () => {
    expect(maskValue('Bearer abc')).toBe('Bearer ****');
    expect(maskValue('Bearer ${TOKEN}')).toBe('Bearer ${TOKEN}');
    expect(maskValue('abc${X}')).toBe('****${X}');
    expect(maskValue('${X:-secret-default}')).toBe('${X:-****}');
  });

  it('masks URL passwords and secret query parameters only', () => {
    expect(maskUrl('https://u:p@h.example.com/x?token=1&page=2')).toBe(
      'https://u:****@h.example.com/x?token=****&page=2',
    );
    expect(maskUrl('https://h.example.com/${PATH}?page=2')).toBe('https://h.example.com/${PATH}?page=2');
  });

  it('masks secret-looking flag values in args', () => {
    expect(maskArgs(['--api-key', 'k', '--token=t', '--verbose', 'file'])).toEqual([
      '--api-key',
      '****',
      '--token=****',
      '--verbose',
      'file',
    ]);
  });
});

describe('entries', () => {
  it("reads Claude Code's shapes: streamable-http alias, stdio without type, url without type", () => {
    expect(entryFromRaw({ type: 'streamable-http', url: 'https://x' }).entry?.transport).toBe('http');
    expect(entryFromRaw({ command: 'npx' }).entry?.transport).toBe('stdio');
    expect(entryFromRaw({ url: 'https://x' }).entry?.transport).toBe('http');
  });

  it('the approval digest ignores key order but not content', () => {
    expect(entryDigest({ a: 1, b: [1, 2] } as never)).toBe(entryDigest({ b: [1, 2], a: 1 } as never));
    expect(entryDigest({ command: 'a' } as never)).not.toBe(entryDigest({ command: 'b' } as never));
  });
});
