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

  it('logins without a browser: --grant, --client-auth, the OAuth key, cross-app access', () => {
    const url = ['https://x.example.com/mcp'];
    const machine = parseAddOptions(
      'a',
      url,
      { clientId: 'bot', clientSecret: true, grant: 'client_credentials', clientAuth: 'client_secret_post' },
      false,
    );
    expect(machine.entry.oauth).toEqual({
      clientId: 'bot',
      grant: 'client_credentials',
      clientAuthMethod: 'client_secret_post',
    });
    expect(machine.wantsClientSecret).toBe(true);

    // --client-key alone is the OAuth client's key; beside --client-cert, the TLS one as before.
    const keyed = parseAddOptions('a', url, { clientId: 'bot', clientKey: 'bot.pem' }, false);
    expect(keyed.entry.oauth).toEqual({ clientId: 'bot', grant: 'client_credentials' });
    expect(keyed.clientKeyFile).toMatch(/\/bot\.pem$/);
    expect(keyed.entry.tls).toBeUndefined();
    const mtls = parseAddOptions('a', url, { clientCert: '/c.pem', clientKey: '/k.pem' }, false);
    expect(mtls.entry.tls).toEqual({ certFile: '/c.pem', keyFile: '/k.pem' });
    expect(mtls.clientKeyFile).toBeUndefined();
    const both = parseAddOptions(
      'a',
      url,
      { clientId: 'bot', clientCert: '/c.pem', clientKey: '/k.pem', oauthClientKey: '/o.pem' },
      false,
    );
    expect(both.entry.tls).toEqual({ certFile: '/c.pem', keyFile: '/k.pem' });
    expect(both.clientKeyFile).toBe('/o.pem');

    const xaa = parseAddOptions(
      'a',
      url,
      {
        clientId: 'app',
        clientSecret: true,
        idpIssuer: 'https://idp.example.com',
        idpClientId: 'agent',
        idpClientSecret: true,
        idTokenFile: '/run/id-token',
      },
      false,
    );
    expect(xaa.entry.oauth).toEqual({
      clientId: 'app',
      grant: 'cross_app_access',
      idpIssuer: 'https://idp.example.com',
      idpClientId: 'agent',
      idTokenFile: '/run/id-token',
    });
    expect(xaa.wantsIdpClientSecret).toBe(true);
  });

  it('refuses a machine client it could not log in with', () => {
    const url = ['https://x.example.com/mcp'];
    const refused = (flags: Parameters<typeof parseAddOptions>[2]) => () =>
      parseAddOptions('a', url, flags, false);
    expect(refused({ clientKey: 'k.pem' })).toThrow(/needs --client-id/);
    expect(refused({ grant: 'client_credentials' })).toThrow(/needs --client-id/);
    expect(refused({ clientId: 'x', grant: 'client_credentials' })).toThrow(/--client-secret/);
    expect(refused({ clientId: 'x', clientSecret: true, clientKey: 'k.pem' })).toThrow(/not both/);
    expect(refused({ clientId: 'x', clientSecret: true, grant: 'password' })).toThrow(/Invalid --grant/);
    expect(refused({ clientId: 'x', clientSecret: true, clientAuth: 'private_key_jwt' })).toThrow(
      /needs the private key/,
    );
    expect(refused({ clientId: 'x', clientSecret: true, idpIssuer: 'https://idp.example.com' })).toThrow(
      /--idp-client-id/,
    );
    expect(
      refused({ clientId: 'x', clientSecret: true, grant: 'client_credentials', idTokenFile: '/t' }),
    ).toThrow(/are for --grant cross_app_access/);
    expect(
      refused({
        clientId: 'x',
        clientSecret: true,
        idpIssuer: 'https://i',
        idpClientId: 'c',
        idTokenFile: '/t',
        idTokenEnv: 'T',
      }),
    ).toThrow(/one place/);
    expect(() => parseAddOptions('a', ['x'], { clientKey: 'k.pem' }, true)).toThrow(/not to a stdio command/);
  });
});
