/**
 * Logins without a browser, on the built binary, against real peers on loopback: `oidc-provider`
 * as the authorization server with the client credentials grant (client_secret_basic,
 * client_secret_post, private_key_jwt), the demo MCP server behind a JWT check, and for cross-app
 * access an IdP and an authorization server (both oidc-provider, see
 * ../fixtures/oauth/cross-app-access.ts). No browser may open: PATCHBAY_BROWSER logs any attempt.
 */

import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { exportJWK, exportPKCS8, generateKeyPair, type JWK } from 'jose';
import { describe, expect, it, type TestContext } from 'vitest';

import {
  startAuthorizationServer,
  type AuthorizationServer,
  type AuthorizationServerOptions,
  type PreRegisteredClient,
} from '../fixtures/oauth/authorization-server.js';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

import { startCrossAppAccess } from '../fixtures/oauth/cross-app-access.js';
import { startProtectedMcpServer, type ProtectedMcpServer } from '../fixtures/oauth/protected-mcp-server.js';
import { startGateway } from '../helpers/gateway.js';
import { JWT, oauthEnv } from '../helpers/oauth.js';
import { createSandbox, type RunResult, type Sandbox } from '../helpers/sandbox.js';

const SECRET = 'cc-S3cret-x9Q2w7Lm';

/**
 * One test's own sandbox, servers and runs of the binary, so that the tests can run at once: a
 * good part of their time is spent waiting for tokens to expire. Closed when the test ends.
 */
interface Harness {
  sandbox: Sandbox;
  /** Every run of the binary in the test, to check that no secret was ever printed. */
  runs: RunResult[];
  run(args: string[], extraEnv?: NodeJS.ProcessEnv): Promise<RunResult>;
  /** `server`, closed when the test ends. */
  own<T extends { close(): Promise<unknown> }>(server: T): T;
  startServers(
    client: PreRegisteredClient,
    options?: AuthorizationServerOptions,
  ): Promise<{ as: AuthorizationServer; mcp: ProtectedMcpServer }>;
  noBrowser(): Promise<void>;
  keptOnlyInTheStore(secret: string): Promise<void>;
  showsNoSecret(name: string): Promise<void>;
}

async function harness({ onTestFinished }: TestContext): Promise<Harness> {
  const sandbox = await createSandbox();
  const env: NodeJS.ProcessEnv = { ...sandbox.env, ...oauthEnv(sandbox) };
  const runs: RunResult[] = [];
  const servers: Array<{ close(): Promise<unknown> }> = [];
  // Servers first, in the reverse order of their start, then the sandbox.
  onTestFinished(async () => {
    for (const server of servers.reverse()) await server.close();
    await sandbox.cleanup();
  });
  const own = <T extends { close(): Promise<unknown> }>(server: T): T => {
    servers.push(server);
    return server;
  };
  const run = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<RunResult> => {
    const result = await sandbox.run(args, { env: { ...env, ...extraEnv } });
    runs.push(result);
    return result;
  };
  const startServers = async (client: PreRegisteredClient, options: AuthorizationServerOptions = {}) => {
    const as = own(
      await startAuthorizationServer({
        clientCredentials: true,
        registration: false,
        clients: [client],
        ...options,
      }),
    );
    const mcp = own(await startProtectedMcpServer({ authorizationServer: as }));
    return { as, mcp };
  };

  /** No browser was asked to open anything. */
  const noBrowser = async (): Promise<void> => {
    await expect(readFile(env.BROWSER_LOG!, 'utf8')).rejects.toThrow();
  };

  /** `secret` is in the credential store (a 0600 file) and nowhere else: not printed, not in a config file. */
  const keptOnlyInTheStore = async (secret: string): Promise<void> => {
    for (const result of runs) {
      expect(result.stdout).not.toContain(secret);
      expect(result.stderr).not.toContain(secret);
      expect(result.stdout).not.toMatch(JWT);
      expect(result.stderr).not.toMatch(JWT);
    }
    const holders = [
      ...(await filesUnder(sandbox.home)),
      ...(await filesUnder(sandbox.project)),
      ...(await filesUnder(join(sandbox.root, 'data'))),
    ].filter((file) => file.text.includes(secret));
    expect(holders.map((file) => file.path)).toEqual([join(sandbox.root, 'data', 'auth-secrets.json')]);
    expect((await stat(holders[0]!.path)).mode & 0o777).toBe(0o600);
  };

  /** What shows an entry (and exports it to another host's config): all fine, none with the secret (checked after). */
  const showsNoSecret = async (name: string): Promise<void> => {
    for (const args of [
      ['get', name],
      ['get', name, '--json'],
      ['list'],
      ['export', '--to', 'cursor'],
      ['auth', 'status'],
    ]) {
      const result = await run(args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    }
  };

  return { sandbox, runs, run, own, startServers, noBrowser, keptOnlyInTheStore, showsNoSecret };
}

function machineClient(overrides: Partial<PreRegisteredClient> = {}): PreRegisteredClient {
  return {
    client_id: 'ci-bot',
    client_secret: SECRET,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    ...overrides,
  };
}

/** Every file under `dir`, with its text. */
async function filesUnder(dir: string): Promise<Array<{ path: string; text: string }>> {
  const found: Array<{ path: string; text: string }> = [];
  const walk = async (at: string) => {
    for (const item of await readdir(at, { withFileTypes: true }).catch(() => [])) {
      const path = join(at, item.name);
      if (item.isDirectory()) await walk(path);
      else found.push({ path, text: await readFile(path, 'utf8').catch(() => '') });
    }
  };
  await walk(dir);
  return found;
}

describe.concurrent('client credentials', () => {
  it('client_secret_basic: login with no browser, a call with the token, the secret only in the store', async (context) => {
    const { run, startServers, noBrowser, keptOnlyInTheStore, showsNoSecret } = await harness(context);
    const { as, mcp } = await startServers(
      machineClient({ token_endpoint_auth_method: 'client_secret_basic' }),
    );
    const added = await run(
      ['add', 'build', mcp.url, '--client-id', 'ci-bot', '--client-secret', '--grant', 'client_credentials'],
      { MCP_CLIENT_SECRET: SECRET },
    );
    expect(added.code, added.stderr).toBe(0);
    expect(added.stderr).toMatch(/Stored the client secret in .*auth-secrets\.json/);

    const login = await run(['login', 'build']);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`Logged in to build at ${as.issuer}`);
    expect(login.stdout).toMatch(/grant\s+client credentials \(no browser\)/);
    expect(login.stdout).toMatch(/renewed by a new grant/);
    await noBrowser();

    const called = await run(['call', 'build', 'echo', '--args', '{"text":"machine"}']);
    expect(called.code, called.stderr).toBe(0);
    expect(called.stdout).toContain('machine');
    expect(as.tokenRequests('client_credentials')).toBe(1);
    expect(as.tokenRequests('authorization_code')).toBe(0);
    const grant = as.requests.find((request) => request.body?.grant_type === 'client_credentials')!;
    // Basic: the secret went in the Authorization header, not in the body.
    expect(grant.body?.client_secret).toBeUndefined();
    expect(grant.body?.resource).toBe(mcp.url);
    expect(grant.status).toBe(200);
    const accepted = mcp.requests.filter((request) => request.clientId === 'ci-bot');
    expect(accepted.length).toBeGreaterThan(0);

    await showsNoSecret('build');
    await keptOnlyInTheStore(SECRET);
  });

  it('client_secret_post, picked from the server metadata; the grant found from the metadata too', async (context) => {
    const { run, startServers, noBrowser, keptOnlyInTheStore, showsNoSecret } = await harness(context);
    const { as, mcp } = await startServers(
      machineClient({ token_endpoint_auth_method: 'client_secret_post' }),
      {
        // A server for machine clients only: patchbay needs no --grant to know there is no browser step.
        metadataOverrides: {
          grant_types_supported: ['client_credentials'],
          token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt'],
        },
      },
    );
    const added = await run(['add', 'build', mcp.url, '--client-id', 'ci-bot', '--client-secret'], {
      MCP_CLIENT_SECRET: SECRET,
    });
    expect(added.code, added.stderr).toBe(0);
    const login = await run(['login', 'build']);
    expect(login.code, login.stderr).toBe(0);
    await noBrowser();
    const grant = as.requests.find((request) => request.body?.grant_type === 'client_credentials')!;
    expect(grant.body?.client_id).toBe('ci-bot');
    expect(grant.body?.client_secret).toBe(SECRET);
    expect(grant.status).toBe(200);
    const called = await run(['call', 'build', 'add', '--args', '{"a":2,"b":3}']);
    expect(called.code, called.stderr).toBe(0);
    expect(called.stdout).toContain('5');
    await showsNoSecret('build');
    await keptOnlyInTheStore(SECRET);
  });

  it('private_key_jwt with a PEM key (ES256) and a JWK key (RS256): a signed assertion, the key only in the store', async (context) => {
    const { sandbox, run, startServers, noBrowser, keptOnlyInTheStore, showsNoSecret } =
      await harness(context);
    const ec = await generateKeyPair('ES256', { extractable: true });
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const publicKeys: JWK[] = [
      { ...(await exportJWK(ec.publicKey)), kid: 'ec' },
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa' },
    ];
    const { as, mcp } = await startServers(
      machineClient({
        client_secret: undefined,
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: publicKeys },
      }),
    );
    const pem = await exportPKCS8(ec.privateKey);
    const pemFile = join(sandbox.root, 'bot-key.pem');
    await writeFile(pemFile, pem, { mode: 0o600 });
    const added = await run(['add', 'build', mcp.url, '--client-id', 'ci-bot', '--client-key', pemFile]);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stderr).toMatch(/Stored the client private key in/);
    const login = await run(['login', 'build']);
    expect(login.code, login.stderr).toBe(0);
    await noBrowser();
    const grant = as.requests.find((request) => request.body?.grant_type === 'client_credentials')!;
    expect(grant.body?.client_assertion_type).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    expect(grant.status).toBe(200);
    expect((await run(['call', 'build', 'echo', '--args', '{"text":"signed"}'])).code).toBe(0);
    // The private key's base64 body is nowhere but the store (stored as a JWK there).
    const d = (await exportJWK(ec.privateKey)).d!;
    await showsNoSecret('build');
    await keptOnlyInTheStore(d);

    // A JWK file with an RSA key, replacing the entry.
    const jwkFile = join(sandbox.root, 'bot-key.jwk');
    await writeFile(jwkFile, JSON.stringify(await exportJWK(rsa.privateKey)), { mode: 0o600 });
    const replaced = await run([
      'add',
      'build',
      mcp.url,
      '--client-id',
      'ci-bot',
      '--client-key',
      jwkFile,
      '--force',
    ]);
    expect(replaced.code, replaced.stderr).toBe(0);
    const again = await run(['login', 'build']);
    expect(again.code, again.stderr).toBe(0);
    expect(as.tokenRequests('client_credentials')).toBe(2);
  });

  it('renews an expired login with a new grant (there is no refresh token)', async (context) => {
    const { run, startServers, noBrowser, keptOnlyInTheStore } = await harness(context);
    const { as, mcp } = await startServers(machineClient(), { accessTokenTtlSeconds: 3 });
    expect(
      (
        await run(
          [
            'add',
            'build',
            mcp.url,
            '--client-id',
            'ci-bot',
            '--client-secret',
            '--grant',
            'client_credentials',
          ],
          {
            MCP_CLIENT_SECRET: SECRET,
          },
        )
      ).code,
    ).toBe(0);
    expect((await run(['login', 'build'])).code).toBe(0);
    expect(as.tokenRequests('client_credentials')).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    const called = await run(['call', 'build', 'echo', '--args', '{"text":"renewed"}']);
    expect(called.code, called.stderr).toBe(0);
    expect(called.stdout).toContain('renewed');
    expect(as.tokenRequests('client_credentials')).toBe(2);
    expect(as.tokenRequests('refresh_token')).toBe(0);
    await noBrowser();
    await keptOnlyInTheStore(SECRET);
  });

  it("the gateway's shared login of a machine client renews itself with a new grant", async (context) => {
    const { sandbox, run, startServers, noBrowser } = await harness(context);
    const { as, mcp } = await startServers(machineClient(), { accessTokenTtlSeconds: 3 });
    // The gateway runs with the sandbox's env: the same credential store as the commands.
    Object.assign(sandbox.env, oauthEnv(sandbox));
    const added = await run(
      ['add', 'build', mcp.url, '--client-id', 'ci-bot', '--client-secret', '--grant', 'client_credentials'],
      { MCP_CLIENT_SECRET: SECRET },
    );
    expect(added.code, added.stderr).toBe(0);
    expect((await run(['login', 'build'])).code).toBe(0);
    const gateway = await startGateway(sandbox);
    const client = new Client({ name: 'test-host', version: '1.0.0' });
    try {
      await client.connect(
        new StreamableHTTPClientTransport(new URL(gateway.url), {
          requestInit: { headers: { Authorization: `Bearer ${gateway.token}` } },
        }),
      );
      const call = async (text: string) =>
        JSON.stringify(
          (await client.callTool({ name: 'build__echo', arguments: { text } }, { timeout: 30_000 })).content,
        );
      expect(await call('through the gateway')).toContain('through the gateway');
      // Counted from here: on a loaded machine the gateway may start after the first token expired.
      const grantsBefore = as.tokenRequests('client_credentials');
      await new Promise((resolve) => setTimeout(resolve, 3_500));
      expect(await call('still through')).toContain('still through');
      expect(as.tokenRequests('client_credentials')).toBe(grantsBefore + 1);
      expect(as.tokenRequests('refresh_token')).toBe(0);
      expect(gateway.stderr()).not.toContain(SECRET);
      expect(gateway.stderr()).not.toMatch(JWT);
    } finally {
      await client.close();
      await gateway.stop();
    }
    await noBrowser();
  });

  it('a wrong secret: exit 1, what the server said, how to store the right one; the secret never printed', async (context) => {
    const { run, startServers, noBrowser, keptOnlyInTheStore } = await harness(context);
    const { mcp } = await startServers(machineClient());
    const wrong = 'not-the-Secret-44k';
    expect(
      (
        await run(
          [
            'add',
            'build',
            mcp.url,
            '--client-id',
            'ci-bot',
            '--client-secret',
            '--grant',
            'client_credentials',
          ],
          {
            MCP_CLIENT_SECRET: wrong,
          },
        )
      ).code,
    ).toBe(0);
    const login = await run(['login', 'build']);
    expect(login.code).toBe(1);
    expect(login.stderr).toMatch(
      /error: .*refused the client credentials grant of client ci-bot \(invalid_client/,
    );
    expect(login.stderr).toMatch(/client_secret_basic/);
    expect(login.stderr).toContain(
      `hint: Store the right client secret: patchbay add build ${mcp.url} --client-id ci-bot --client-secret --grant client_credentials --force`,
    );
    expect(login.stdout).toBe('');
    await noBrowser();
    await keptOnlyInTheStore(wrong);
  });

  it('refuses flags that do not make a machine client, before writing anything', async (context) => {
    const { sandbox, run } = await harness(context);
    const noId = await run(['add', 'build', 'http://127.0.0.1:9/mcp', '--grant', 'client_credentials']);
    expect(noId.code).toBe(2);
    expect(noId.stderr).toContain('needs --client-id');
    const noSecret = await run([
      'add',
      'build',
      'http://127.0.0.1:9/mcp',
      '--client-id',
      'x',
      '--grant',
      'client_credentials',
    ]);
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toContain('--client-secret');
    const badKey = join(sandbox.root, 'not-a-key.pem');
    await writeFile(badKey, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const bad = await run([
      'add',
      'build',
      'http://127.0.0.1:9/mcp',
      '--client-id',
      'x',
      '--client-key',
      badKey,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/is not an unencrypted private key in PEM or JWK/);
    const listed = await run(['list', '--json']);
    expect(JSON.parse(listed.stdout)).toEqual([]);
  });
});

describe.concurrent('cross-app access', () => {
  it('exchanges the ID token for an ID-JAG at the IdP, then for the server token; no browser; renews with a new exchange', async (context) => {
    const { sandbox, runs, run, own, noBrowser, keptOnlyInTheStore } = await harness(context);
    const xaa = own(await startCrossAppAccess({ accessTokenTtlSeconds: 3 }));
    const mcp = own(await startProtectedMcpServer({ authorizationServer: xaa.as }));
    const idToken = await xaa.idToken('alice');
    const tokenFile = join(sandbox.root, 'id-token');
    await writeFile(tokenFile, idToken, { mode: 0o600 });

    const added = await run(
      [
        'add',
        'corp',
        mcp.url,
        '--client-id',
        xaa.clientId,
        '--client-secret',
        '--idp-issuer',
        xaa.idp.issuer,
        '--idp-client-id',
        xaa.idpClientId,
        '--idp-client-secret',
        '--id-token-file',
        tokenFile,
      ],
      { MCP_CLIENT_SECRET: xaa.clientSecret, PATCHBAY_IDP_CLIENT_SECRET: xaa.idpClientSecret },
    );
    expect(added.code, added.stderr).toBe(0);
    expect(added.stderr).toContain("Stored the identity provider's client secret");

    const login = await run(['login', 'corp']);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`Logged in to corp at ${xaa.as.issuer}`);
    expect(login.stdout).toMatch(/grant\s+cross-app access/);
    await noBrowser();
    expect(xaa.exchanges).toEqual([
      { ok: true, subject: 'alice', audience: xaa.as.issuer, resource: mcp.url },
    ]);
    expect(xaa.bearerGrants).toEqual([{ ok: true, subject: 'alice' }]);
    // At the IdP: client_secret_post with patchbay's IdP client; the subject token is the ID token.
    const exchange = xaa.idp.requests.find((request) =>
      request.body?.grant_type?.toString().endsWith('token-exchange'),
    )!;
    expect(exchange.body?.client_id).toBe(xaa.idpClientId);
    expect(exchange.body?.requested_token_type).toBe('urn:ietf:params:oauth:token-type:id-jag');

    const called = await run(['call', 'corp', 'echo', '--args', '{"text":"enterprise"}']);
    expect(called.code, called.stderr).toBe(0);
    expect(called.stdout).toContain('enterprise');
    expect(
      mcp.requests.some((request) => request.subject === 'alice' && request.clientId === xaa.clientId),
    ).toBe(true);

    // Expired: the next call makes the whole exchange again, from the ID token file. Counted from
    // here: on a loaded machine the call above may already have come after the first token expired.
    const exchangesBefore = xaa.exchanges.filter((exchange) => exchange.ok).length;
    const grantsBefore = xaa.bearerGrants.filter((grant) => grant.ok).length;
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    const renewed = await run(['call', 'corp', 'echo', '--args', '{"text":"again"}']);
    expect(renewed.code, renewed.stderr).toBe(0);
    expect(xaa.exchanges.filter((exchange) => exchange.ok)).toHaveLength(exchangesBefore + 1);
    expect(xaa.bearerGrants.filter((grant) => grant.ok)).toHaveLength(grantsBefore + 1);

    for (const result of runs) {
      expect(result.stdout + result.stderr).not.toContain(idToken);
      expect(result.stdout + result.stderr).not.toContain(xaa.idpClientSecret);
    }
    await keptOnlyInTheStore(xaa.clientSecret);
    await keptOnlyInTheStore(xaa.idpClientSecret);
  });

  it('an ID token the IdP refuses: the IdP named, what it said, and where to put a fresh one', async (context) => {
    const { sandbox, run, own } = await harness(context);
    const xaa = own(await startCrossAppAccess());
    const mcp = own(await startProtectedMcpServer({ authorizationServer: xaa.as }));
    const tokenFile = join(sandbox.root, 'id-token');
    await writeFile(tokenFile, await xaa.idToken('alice', 1));
    expect(
      (
        await run(
          [
            'add',
            'corp',
            mcp.url,
            '--client-id',
            xaa.clientId,
            '--client-secret',
            '--idp-issuer',
            xaa.idp.issuer,
            '--idp-client-id',
            xaa.idpClientId,
            '--idp-client-secret',
            '--id-token-file',
            tokenFile,
          ],
          { MCP_CLIENT_SECRET: xaa.clientSecret, PATCHBAY_IDP_CLIENT_SECRET: xaa.idpClientSecret },
        )
      ).code,
    ).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const login = await run(['login', 'corp']);
    expect(login.code).toBe(4);
    expect(login.stderr).toContain(`the identity provider ${xaa.idp.issuer} did not exchange the ID token`);
    expect(login.stderr).toMatch(/invalid_grant/);
    expect(login.stderr).toContain(
      `hint: Get a fresh ID token from ${xaa.idp.issuer} into ${tokenFile}, then: patchbay login corp`,
    );
    expect(xaa.bearerGrants).toEqual([]);

    // A fresh one given for this login only.
    const fresh = join(sandbox.root, 'fresh-id-token');
    await writeFile(fresh, await xaa.idToken('alice'));
    const retried = await run(['login', 'corp', '--id-token-file', fresh]);
    expect(retried.code, retried.stderr).toBe(0);
  });

  it('the ID token from an environment variable (--id-token-env); missing, it says where it looked', async (context) => {
    const { run, own } = await harness(context);
    const xaa = own(await startCrossAppAccess());
    const mcp = own(await startProtectedMcpServer({ authorizationServer: xaa.as }));
    const added = await run(
      [
        'add',
        'corp',
        mcp.url,
        '--client-id',
        xaa.clientId,
        '--client-secret',
        '--idp-issuer',
        xaa.idp.issuer,
        '--idp-client-id',
        xaa.idpClientId,
        '--idp-client-secret',
        '--id-token-env',
        'CORP_ID_TOKEN',
      ],
      { MCP_CLIENT_SECRET: xaa.clientSecret, PATCHBAY_IDP_CLIENT_SECRET: xaa.idpClientSecret },
    );
    expect(added.code, added.stderr).toBe(0);
    const missing = await run(['login', 'corp']);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain('error: there is no ID token in $CORP_ID_TOKEN');
    expect(xaa.exchanges).toEqual([]);
    const login = await run(['login', 'corp'], { CORP_ID_TOKEN: await xaa.idToken('bob') });
    expect(login.code, login.stderr).toBe(0);
    expect(xaa.bearerGrants).toEqual([{ ok: true, subject: 'bob' }]);
    const got = await run(['get', 'corp']);
    expect(got.stdout).toContain('oauth       grant = cross_app_access');
    expect(got.stdout).toContain('oauth       idTokenEnv = CORP_ID_TOKEN');
  });
});
