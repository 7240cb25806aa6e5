/** The pure parse of `patchbay add`: what becomes an entry, and what is refused. */

import { describe, expect, it } from 'vitest';
import { parseAddOptions } from '../../src/cli/commands/add.js';

describe('parseAddOptions', () => {
  it('a URL is http unless -t says otherwise', () => {
    expect(parseAddOptions('a', ['https://x.example.com/mcp'], {}, false).entry).toEqual({
      transport: 'http',
      url: 'https://x.example.com/mcp',
    });
    expect(
      parseAddOptions('a', ['https://x.example.com/sse'], { transport: 'sse' }, false).entry.transport,
    ).toBe('sse');
    expect(
      parseAddOptions('a', ['https://x.example.com'], { transport: 'streamable-http' }, false).entry
        .transport,
    ).toBe('http');
  });

  it('after "--" or with -t stdio the operands are a command', () => {
    expect(parseAddOptions('a', ['npx', '-y', 'pkg'], { env: ['K=v=w'] }, true).entry).toEqual({
      transport: 'stdio',
      command: 'npx',
      args: ['-y', 'pkg'],
      env: { K: 'v=w' },
    });
    expect(parseAddOptions('a', ['server'], { transport: 'stdio' }, false).entry.command).toBe('server');
  });

  it('OAuth settings and timeout', () => {
    const options = parseAddOptions(
      'a',
      ['https://x.example.com'],
      { clientId: 'id', callbackPort: '8080', timeout: '30s', clientSecret: true },
      false,
    );
    // The file keeps Claude Code's milliseconds.
    expect(options.entry).toMatchObject({ oauth: { clientId: 'id', callbackPort: 8080 }, timeout: 30_000 });
    expect(options.wantsClientSecret).toBe(true);
    expect(() => parseAddOptions('a', ['https://x.example.com'], { clientSecret: true }, false)).toThrow(
      /needs --client-id/,
    );
    expect(() => parseAddOptions('a', ['https://x.example.com'], { timeout: '30x' }, false)).toThrow(
      `--timeout: "30x" is not a duration; use e.g. 500ms, 30s, 2m`,
    );
  });

  it('--timeout means what every other --timeout means: a bare number is seconds, units are kept', () => {
    const timeout = (text: string) =>
      parseAddOptions('a', ['https://x.example.com'], { timeout: text }, false).entry.timeout;
    expect(timeout('30')).toBe(30_000);
    expect(timeout('1.5')).toBe(1_500);
    expect(timeout('500ms')).toBe(500);
    expect(timeout('2m')).toBe(120_000);
  });

  it('a templated URL is accepted as written', () => {
    expect(parseAddOptions('a', ['${MCP_URL}'], {}, false).entry.url).toBe('${MCP_URL}');
  });

  it('header names may be __proto__ without touching prototypes', () => {
    const entry = parseAddOptions('a', ['https://x.example.com'], { header: ['__proto__: x'] }, false).entry;
    expect(Object.keys(entry.headers!)).toEqual(['__proto__']);
  });
});
