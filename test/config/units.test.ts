/** Pure pieces of the config module: the position-aware parser, expansion, masking. */

import { describe, expect, it } from 'vitest';
import { expandEntry, expandString, splitTemplate } from '../../src/config/expand.js';
import { parseJsonSource, stringifyJson } from '../../src/config/json-source.js';
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
