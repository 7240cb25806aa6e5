/** `patchbay serve` flags: what is accepted, and the usage error for what is not. */

import { resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { parseListen, parseServeOptions } from '../../src/cli/commands/serve.js';

describe('parseServeOptions', () => {
  it('reads --http addresses, session limits in seconds, and the defaults', () => {
    expect(parseListen('')).toEqual({ host: '127.0.0.1', port: 7431 });
    expect(parseListen('8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    const options = parseServeOptions({ http: '0', maxSessions: '3', sessionIdleTimeout: '90' }, {});
    expect(options).toMatchObject({
      http: { host: '127.0.0.1', port: 0 },
      maxSessions: 3,
      sessionIdleMs: 90_000,
    });
    expect(parseServeOptions({ http: true }, {}).maxSessions).toBeUndefined();
    expect(
      parseServeOptions(
        {
          http: '0',
          headersTimeout: '2',
          requestTimeout: '20',
          maxConnections: '50',
          maxConnectionsPerClient: '5',
        },
        {},
      ),
    ).toMatchObject({
      headersTimeoutMs: 2_000,
      requestTimeoutMs: 20_000,
      maxConnections: 50,
      maxConnectionsPerClient: 5,
    });
  });

  it('reads its durations with units, a bare number being seconds', () => {
    expect(
      parseServeOptions(
        { http: '0', sessionIdleTimeout: '30m', headersTimeout: '1500ms', requestTimeout: '1m' },
        {},
      ),
    ).toMatchObject({ sessionIdleMs: 1_800_000, headersTimeoutMs: 1_500, requestTimeoutMs: 60_000 });
    expect(parseServeOptions({ timeout: '2m' }, {}).timeoutMs).toBe(120_000);
    expect(parseServeOptions({}, { PATCHBAY_TIMEOUT: '45s' }).timeoutMs).toBe(45_000);
  });

  it.each([
    [{ http: '0', maxSessions: '0' }, /--max-sessions/],
    [{ http: '0', sessionIdleTimeout: '1.5 days' }, /--session-idle-timeout: "1.5 days" is not a duration/],
    [{ maxSessions: '3' }, /go with --http/],
    [
      { headersTimeout: '3', maxConnectionsPerClient: '2' },
      /--headers-timeout, --max-connections-per-client go with --http/,
    ],
    [{ http: '0', headersTimeout: '0' }, /--headers-timeout/],
    [{ http: '0', requestTimeout: '-1s' }, /--request-timeout/],
    [{ http: '0', maxConnections: '-1' }, /--max-connections/],
    [{ http: '0', headersTimeout: '20', requestTimeout: '10' }, /cannot be longer than --request-timeout/],
    [{ http: '0.0.0.0:80' }, /Refusing to serve on 0.0.0.0/],
    [{ http: '0.0.0.0:80', dangerouslyExpose: true, dangerouslyNoAuth: true }, /refused off loopback/],
    [{ http: 'localhost:99999' }, /expected \[host:\]port/],
  ])('refuses %j', (raw, message) => {
    expect(() => parseServeOptions(raw, {})).toThrow(message);
  });

  it('reads --state: a Redis URL for HTTP, files when unset; anything else a usage error that never repeats a password', () => {
    expect(parseServeOptions({ http: '0', state: 'redis://127.0.0.1:6379' }, {}).state).toBe(
      'redis://127.0.0.1:6379',
    );
    expect(parseServeOptions({ http: '0', state: 'rediss://:pw@r:6380' }, {}).state).toBe(
      'rediss://:pw@r:6380',
    );
    expect(parseServeOptions({ http: '0', state: 'files' }, {}).state).toBeUndefined();
    expect(parseServeOptions({ http: '0' }, {}).state).toBeUndefined();
    expect(parseServeOptions({ config: 'gw.jsonc', state: 'redis://r:6379' }, {}).state).toBe(
      'redis://r:6379',
    );
    expect(() => parseServeOptions({ state: 'redis://r:6379' }, {})).toThrow(/--state go with --http/);
    expect(() => parseServeOptions({ http: '0', state: 'http://:hunter2@r:1' }, {})).toThrow(
      /^--state: http: is not a state store/,
    );
    expect(() => parseServeOptions({ http: '0', state: ':hunter2@nowhere' }, {})).toThrow(
      /^--state is not a URL\.$/,
    );
  });

  it('reads --public-url: https anywhere, http on loopback only, a base URL without a path; not with --config', () => {
    expect(parseServeOptions({ http: '0', publicUrl: 'https://mcp.example.com' }, {}).publicUrl?.href).toBe(
      'https://mcp.example.com/',
    );
    expect(parseServeOptions({ http: '0', publicUrl: 'http://127.0.0.1:9000' }, {}).publicUrl?.href).toBe(
      'http://127.0.0.1:9000/',
    );
    expect(() => parseServeOptions({ http: '0', publicUrl: 'http://mcp.example.com' }, {})).toThrow(
      /must be https/,
    );
    expect(() => parseServeOptions({ http: '0', publicUrl: 'https://mcp.example.com/mcp' }, {})).toThrow(
      /without a path/,
    );
    expect(() => parseServeOptions({ http: '0', publicUrl: 'not a url' }, {})).toThrow(/not a URL/);
    expect(() => parseServeOptions({ publicUrl: 'https://mcp.example.com' }, {})).toThrow(/go with --http/);
    expect(() =>
      parseServeOptions({ config: 'team.jsonc', publicUrl: 'https://mcp.example.com' }, {}),
    ).toThrow(/does not go with --config/);
  });

  it('reads --audit-max-lines: with a shared store (--state, or a deployment file), at least 1000', () => {
    expect(
      parseServeOptions({ http: '0', state: 'redis://127.0.0.1:6379', auditMaxLines: '2000000' }, {})
        .auditMaxLines,
    ).toBe(2_000_000);
    expect(parseServeOptions({ config: 'team.jsonc', auditMaxLines: '5000' }, {}).auditMaxLines).toBe(5000);
    expect(() => parseServeOptions({ http: '0', auditMaxLines: '5000' }, {})).toThrow(/goes with --state/);
    expect(() =>
      parseServeOptions({ http: '0', state: 'redis://127.0.0.1:6379', auditMaxLines: '10' }, {}),
    ).toThrow(/at least 1000/);
    expect(() =>
      parseServeOptions({ http: '0', state: 'redis://127.0.0.1:6379', auditMaxLines: 'many' }, {}),
    ).toThrow(/whole number/);
    expect(() => parseServeOptions({ auditMaxLines: '5000', state: 'redis://127.0.0.1:6379' }, {})).toThrow(
      /go with --http/,
    );
  });

  it('reads the operations flags: TLS files (absolute), trusted proxies, the drain, the log format', () => {
    expect(
      parseServeOptions(
        {
          http: '0',
          tlsCert: 'cert.pem',
          tlsKey: '/etc/key.pem',
          trustProxy: '10.0.0.0/8, fd00::/8,127.0.0.1',
          drainTimeout: '5s',
          logFormat: 'json',
        },
        {},
      ),
    ).toMatchObject({
      tls: { cert: resolve('cert.pem'), key: '/etc/key.pem' },
      trustedProxies: ['10.0.0.0/8', 'fd00::/8', '127.0.0.1'],
      drainMs: 5_000,
      logFormat: 'json',
    });
    const plain = parseServeOptions({ http: '0' }, {});
    expect([plain.tls, plain.trustedProxies, plain.drainMs, plain.logFormat]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    // A deployment file serves HTTP: its flags need no --http, nor does --dangerously-expose.
    expect(
      parseServeOptions({ config: 'gw.jsonc', drainTimeout: '1m', dangerouslyExpose: true }, {}),
    ).toMatchObject({ configFile: 'gw.jsonc', drainMs: 60_000, expose: true });
    expect(parseServeOptions({ logFormat: 'json' }, {}).logFormat).toBe('json');
  });

  it.each([
    [{ http: '0', tlsCert: 'c.pem' }, /--tls-cert and --tls-key go together/],
    [{ http: '0', tlsKey: 'k.pem' }, /--tls-cert and --tls-key go together/],
    [{ tlsCert: 'c.pem', tlsKey: 'k.pem' }, /--tls-cert, --tls-key go with --http/],
    [{ trustProxy: '10.0.0.1' }, /--trust-proxy go with --http/],
    [{ drainTimeout: '5s' }, /--drain-timeout go with --http/],
    [
      { http: '0', trustProxy: '10.0.0.0/40' },
      /--trust-proxy: "10.0.0.0\/40" is not an IP address or CIDR range/,
    ],
    [{ http: '0', trustProxy: 'proxy.internal' }, /is not an IP address/],
    [{ http: '0', drainTimeout: 'never' }, /--drain-timeout/],
    [{ logFormat: 'yaml' }, /Invalid --log-format "yaml": expected text or json/],
    [{ http: '0.0.0.0:0', tlsCert: 'c.pem', tlsKey: 'k.pem' }, /Refusing to serve on 0.0.0.0/],
    [{ config: 'gw.jsonc', dangerouslyNoAuth: true }, /--dangerously-no-auth does not go with --config/],
  ])('refuses %j', (raw, message) => {
    expect(() => parseServeOptions(raw, {})).toThrow(message);
  });
});
