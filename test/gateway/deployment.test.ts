/** `serve --config FILE`: a deployment file read and checked, each mistake with its file:line:col. */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  DEFAULT_DRAIN_MS,
  DEFAULT_REGISTRATION,
  loadDeployment,
  parseDeployment,
} from '../../src/gateway/deployment.js';
import { PatchbayError } from '../../src/errors.js';

const FILE = '/etc/patchbay/gateway.jsonc';

function refusal(text: string, env: NodeJS.ProcessEnv = {}): PatchbayError {
  try {
    parseDeployment(text, FILE, env);
  } catch (error) {
    expect(error).toBeInstanceOf(PatchbayError);
    return error as PatchbayError;
  }
  throw new Error(`accepted:\n${text}`);
}

describe('parseDeployment', () => {
  it('reads a full file (JSONC, comments and trailing commas), secrets from ${VAR}', () => {
    const deployment = parseDeployment(
      `{
        // the team's gateway
        "listen": "0.0.0.0:8443",
        "publicUrl": "https://mcp.example.com",
        "tls": { "cert": "tls/cert.pem", "key": "/secrets/key.pem" },
        "trustedProxies": ["10.0.0.0/8", "fd00::/8", "127.0.0.1"],
        "project": "team",
        "servers": ["notion", "sentry"],
        "auth": {
          "apiKeys": true,
          "authorizationServer": {
            "idp": { "issuer": "https://login.example.com", "clientId": "patchbay",
                     "clientSecret": "\${IDP_SECRET}" },
            "claims": { "groups": "roles", "groupNames": { "0af3": "eng" } },
            "accessTokenTtl": "15m",
          },
        },
        "vault": { "key": "env:PATCHBAY_VAULT_KEY" },
        "logs": "json",
        "drainTimeout": "45s",
      }`,
      FILE,
      { IDP_SECRET: 's3cret' },
    );
    expect(deployment).toMatchObject({
      file: FILE,
      listen: { host: '0.0.0.0', port: 8443 },
      tls: { cert: '/etc/patchbay/tls/cert.pem', key: '/secrets/key.pem' },
      trustedProxies: ['10.0.0.0/8', 'fd00::/8', '127.0.0.1'],
      project: '/etc/patchbay/team',
      servers: ['notion', 'sentry'],
      auth: {
        staticToken: false,
        apiKeys: true,
        authorizationServer: {
          idp: { clientId: 'patchbay', clientSecret: 's3cret', scopes: ['openid', 'email', 'profile'] },
          scopes: ['mcp'],
          claims: { subject: 'sub', email: 'email', groups: 'roles', groupNames: { '0af3': 'eng' } },
          accessTokenTtlSeconds: 900,
        },
      },
      vault: { key: { from: 'env', name: 'PATCHBAY_VAULT_KEY' } },
      logs: 'json',
      drainMs: 45_000,
    });
    expect(deployment.publicUrl?.href).toBe('https://mcp.example.com/');
    expect(deployment.auth.authorizationServer?.idp.issuer.href).toBe('https://login.example.com/');
  });

  it('has defaults: the static token alone, text logs, a 30 s drain, no proxy trusted', () => {
    expect(parseDeployment('{}', FILE, {})).toEqual({
      file: FILE,
      trustedProxies: [],
      auth: { staticToken: true, apiKeys: false },
      logs: 'text',
      drainMs: DEFAULT_DRAIN_MS,
    });
    expect(DEFAULT_DRAIN_MS).toBe(30_000);
  });

  it.each([
    [
      'an unknown field',
      `{\n  "listen": "7431",\n  "listne": "x"\n}`,
      /gateway\.jsonc:3:\d+: listne: Unrecognized key: "listne"/,
    ],
    ['a wrong type', `{\n  "logs": "xml"\n}`, /gateway\.jsonc:2:\d+: logs: /],
    ['a bad listen address', `{\n  "listen": "example.com"\n}`, /:2:\d+: listen: \[host:\]port/],
    ['a port out of range', `{\n  "listen": "0.0.0.0:70000"\n}`, /:2:\d+: listen: /],
    [
      'a public URL with a path',
      `{\n  "publicUrl": "https://mcp.example.com/mcp"\n}`,
      /:2:\d+: publicUrl: the gateway's base URL/,
    ],
    [
      'a public URL over http',
      `{\n  "publicUrl": "http://mcp.example.com"\n}`,
      /:2:\d+: publicUrl: must be https/,
    ],
    [
      'an issuer that is not a URL',
      `{\n  "auth": {\n    "oauth": { "issuer": "login" }\n  }\n}`,
      /:3:\d+: auth\.oauth\.issuer: not a URL/,
    ],
    [
      'a bad scope',
      `{\n  "auth": { "oauth": {\n    "issuer": "https://a.example",\n    "scopes": ["a b"] } }\n}`,
      /:4:\d+: auth\.oauth\.scopes\.0: /,
    ],
    ['a bad duration', `{\n  "drainTimeout": "soon"\n}`, /:2:\d+: drainTimeout: /],
    ['a bad vault key source', `{\n  "vault": { "key": "hunter2" }\n}`, /:2:\d+: vault\.key: env:NAME/],
    [
      'a bad proxy range',
      `{\n  "trustedProxies": ["10.0.0.0/8",\n    "10.0.0.0/33"]\n}`,
      /:3:\d+: trustedProxies\.1: "10\.0\.0\.0\/33" is not an IP/,
    ],
    [
      'an unknown nested field',
      `{\n  "auth": {\n    "oauth": { "issuer": "https://a.example",\n      "issuerr": 1 }\n  }\n}`,
      /:4:\d+: auth\.oauth\.issuerr: Unrecognized key/,
    ],
  ])('reports %s with file:line:col', (_what, text, message) => {
    const error = refusal(text);
    expect(error.code).toBe('config-shape');
    expect(error.message).toMatch(message);
    expect(error.message.startsWith(`${FILE}:`)).toBe(true);
    expect(error.hint).toContain(FILE);
  });

  it('refuses a secret written literally, without repeating it', () => {
    const error = refusal(
      `{
  "auth": {
    "oauth": {
      "issuer": "https://login.example.com",
      "introspection": { "clientId": "gw", "clientSecret": "hunter2-literal" }
    }
  }
}`,
    );
    expect(error.message).toMatch(
      /gateway\.jsonc:5:\d+: auth\.oauth\.introspection\.clientSecret: a secret is given as a \$\{VAR\} reference/,
    );
    expect(error.message).not.toContain('hunter2-literal');
    const idp = refusal(
      `{ "auth": { "authorizationServer": { "idp": {
        "issuer": "https://login.example.com", "clientId": "gw", "clientSecret": "x\${Y}" } } } }`,
      { Y: 'y' },
    );
    expect(idp.message).toMatch(/:2:\d+: auth\.authorizationServer\.idp\.clientSecret: a secret is given/);
  });

  it('reads "state": files, or a Redis URL whose password comes from a ${VAR}, never written in the file', () => {
    expect(parseDeployment('{}', FILE, {}).state).toBeUndefined();
    expect(parseDeployment('{ "state": "files" }', FILE, {}).state).toBeUndefined();
    expect(parseDeployment('{ "state": "redis://10.0.0.5:6379/2" }', FILE, {}).state).toBe(
      'redis://10.0.0.5:6379/2',
    );
    expect(
      parseDeployment('{ "state": "rediss://:${REDIS_PASSWORD}@redis.internal:6380" }', FILE, {
        REDIS_PASSWORD: 's3cret',
      }).state,
    ).toBe('rediss://:s3cret@redis.internal:6380');
    const literal = refusal('{\n  "state": "redis://:hunter2@10.0.0.5:6379"\n}');
    expect(literal.message).toMatch(
      /gateway\.jsonc:2:\d+: state: a password is given as a \$\{VAR\} reference/,
    );
    expect(literal.message).not.toContain('hunter2');
    expect(refusal('{ "state": "postgres://db" }').message).toMatch(/state: "files", or a Redis URL/);
  });

  it('reads "audit": the shared stream\'s cap in lines, a whole number of at least 1000', () => {
    expect(parseDeployment('{}', FILE, {}).auditMaxLines).toBeUndefined();
    expect(parseDeployment('{ "audit": { "maxLines": 5000000 } }', FILE, {}).auditMaxLines).toBe(5_000_000);
    expect(refusal('{ "audit": { "maxLines": 10 } }').message).toMatch(/audit\.maxLines/);
    expect(refusal('{ "audit": { "maxLines": 2500.5 } }').message).toMatch(/audit\.maxLines/);
    expect(refusal('{ "audit": { "lines": 5000 } }').message).toMatch(/audit/);
  });

  it('names an unset ${VAR}, with where it is used', () => {
    const error = refusal(
      `{ "auth": { "authorizationServer": {
  "idp": { "issuer": "https://login.example.com", "clientId": "gw", "clientSecret": "\${IDP_SECRET}" } } } }`,
    );
    expect(error.message).toMatch(/gateway\.jsonc:2:\d+: .*IDP_SECRET is not set/);
  });

  it("reads the own authorization server's registration bounds, with defaults", () => {
    const own = (registration: string) =>
      parseDeployment(
        `{ "auth": { "authorizationServer": {
          "idp": { "issuer": "https://login.example.com", "clientId": "gw", "clientSecret": "\${S}" }
          ${registration} } } }`,
        FILE,
        { S: 's' },
      ).auth.authorizationServer?.registration;
    expect(own('')).toEqual(DEFAULT_REGISTRATION);
    expect(DEFAULT_REGISTRATION).toEqual({ rate: { count: 10, perMs: 60_000 }, maxClients: 10_000 });
    expect(own(', "registration": { "rate": "30/hour", "maxClients": 500 }')).toEqual({
      rate: { count: 30, perMs: 3_600_000 },
      maxClients: 500,
    });
    expect(own(', "registration": { "rate": "5 / min" }')).toEqual({
      rate: { count: 5, perMs: 60_000 },
      maxClients: 10_000,
    });
    const at = (registration: string) =>
      refusal(
        `{ "auth": { "authorizationServer": {
  "idp": { "issuer": "https://login.example.com", "clientId": "gw", "clientSecret": "\${S}" },
  "registration": ${registration} } } }`,
        { S: 's' },
      ).message;
    expect(at('{ "rate": "often" }')).toMatch(
      /gateway\.jsonc:3:\d+: auth\.authorizationServer\.registration\.rate: registrations per client address, as <N>\/<second\|minute\|hour\|day>/,
    );
    expect(at('{ "rate": "0/minute" }')).toMatch(/registration\.rate: /);
    expect(at('{ "rate": "5/fortnight" }')).toMatch(/registration\.rate: /);
    expect(at('{ "maxClients": 0 }')).toMatch(/registration\.maxClients/);
    expect(at('{ "maxClients": 2.5 }')).toMatch(/registration\.maxClients/);
    expect(at('{ "max": 5 }')).toMatch(/registration\.max: Unrecognized key/);
  });

  it('refuses both authorization modes at once', () => {
    const error = refusal(
      `{
  "auth": {
    "oauth": { "issuer": "https://login.example.com" },
    "authorizationServer": { "idp": { "issuer": "https://login.example.com", "clientId": "gw", "clientSecret": "\${S}" } }
  }
}`,
      { S: 's' },
    );
    expect(error.message).toMatch(
      /gateway\.jsonc:2:\d+: auth: set either oauth .* or authorizationServer .*, not both/,
    );
  });

  it('reports JSON that does not parse with its place', () => {
    const error = refusal('{\n  "listen": "7431",,\n}');
    expect(error.message).toContain(FILE);
    expect(error.message).toMatch(/:2:\d+/);
  });
});

describe('loadDeployment', () => {
  it('reads the file relative to the directory given, and says which file it could not read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'patchbay-deployment-'));
    try {
      await writeFile(
        join(dir, 'gw.jsonc'),
        '{ "listen": "127.0.0.1:0", "tls": { "cert": "c.pem", "key": "k.pem" } }',
      );
      const deployment = await loadDeployment('gw.jsonc', {}, dir);
      expect(deployment.file).toBe(join(dir, 'gw.jsonc'));
      expect(deployment.tls).toEqual({ cert: join(dir, 'c.pem'), key: join(dir, 'k.pem') });
      await expect(loadDeployment('missing.jsonc', {}, dir)).rejects.toThrow(
        new RegExp(`Could not read the deployment file ${join(dir, 'missing.jsonc')}`),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
