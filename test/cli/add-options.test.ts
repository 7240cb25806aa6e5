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
      { clientId: 'id', callbackPort: '8080', timeout: '5000', clientSecret: true },
      false,
    );
    expect(options.entry).toMatchObject({ oauth: { clientId: 'id', callbackPort: 8080 }, timeout: 5000 });
    expect(options.wantsClientSecret).toBe(true);
    expect(() => parseAddOptions('a', ['https://x.example.com'], { clientSecret: true }, false)).toThrow(
      /needs --client-id/,
    );
    expect(() => parseAddOptions('a', ['https://x.example.com'], { timeout: '1.5' }, false)).toThrow(
      /whole number/,
    );
  });

  it('a templated URL is accepted as written', () => {
    expect(parseAddOptions('a', ['${MCP_URL}'], {}, false).entry.url).toBe('${MCP_URL}');
  });

  it('header names may be __proto__ without touching prototypes', () => {
    const entry = parseAddOptions('a', ['https://x.example.com'], { header: ['__proto__: x'] }, false).entry;
    expect(Object.keys(entry.headers!)).toEqual(['__proto__']);
  });
});
