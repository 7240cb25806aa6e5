/**
 * `patchbay login` end to end: the built binary against a real authorization server
 * (oidc-provider) and a token-checking MCP server, the browser driven by PATCHBAY_BROWSER.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { describe, expect, it, type TestContext } from 'vitest';

import { startAuthorizationServer } from '../fixtures/oauth/authorization-server.js';
import { startProtectedMcpServer } from '../fixtures/oauth/protected-mcp-server.js';
import { BROWSER, oauthEnv } from '../helpers/oauth.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

/**
 * One test's own sandbox (with its browser) and servers, so that the tests can run at once: most
 * of their time is spent in logins that wait on the browser, the device grant's polling or a
 * timeout. Closed when the test ends.
 */
async function harness({ onTestFinished }: TestContext): Promise<{
  sandbox: Sandbox;
  env: NodeJS.ProcessEnv;
  /** `server`, closed when the test ends (before the sandbox). */
  own<T extends { close(): Promise<unknown> }>(server: T): T;
}> {
  const sandbox = await createSandbox();
  const servers: Array<{ close(): Promise<unknown> }> = [];
  onTestFinished(async () => {
    for (const server of servers.reverse()) await server.close();
    await sandbox.cleanup();
  });
  return {
    sandbox,
    env: { ...oauthEnv(sandbox) },
    own: (server) => {
      servers.push(server);
      return server;
    },
  };
}

describe.concurrent('patchbay login', () => {
  it('registers, opens the browser, exchanges the code and says who is logged in, never the token', async (context) => {
    const { sandbox, env, own } = await harness(context);
    const as = own(await startAuthorizationServer());
    const mcp = own(await startProtectedMcpServer({ authorizationServer: as }));
    await sandbox.run(['add', 'corp', mcp.url]);
    const result = await sandbox.run(['login', 'corp', '--timeout', '30'], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`Logged in to corp at ${as.issuer}`);
    expect(result.stdout).toMatch(/client +dynamic/);
    expect(result.stdout).toMatch(/token +expires \d{4}-/);
    // One registration and one code exchange; no token in any output or in the index file.
    expect(as.count('/reg')).toBeGreaterThanOrEqual(1);
    expect(as.tokenRequests('authorization_code')).toBe(1);
    const everything = result.stdout + result.stderr;
    expect(everything).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
    const index = await readFile(join(sandbox.root, 'data', 'auth-index.json'), 'utf8');
    expect(index).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
    // The browser was sent to the authorization server, once.
    const opened = (await readFile(env.BROWSER_LOG!, 'utf8')).trim().split('\n');
    expect(opened).toHaveLength(1);
    expect(opened[0]!.startsWith(as.endpoints.authorization)).toBe(true);

    // The check uses the stored token as it is: connected, and no token request made.
    const before = as.tokenRequests();
    const list = await sandbox.run(['list', '--json'], { env });
    expect(list.code, list.stdout + list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ name: 'corp', status: 'connected', toolCount: 3 }),
    ]);
    expect(as.tokenRequests()).toBe(before);
    expect(mcp.requests.some((request) => request.authorization)).toBe(true);
  });

  it('a server behind OAuth without a login is needs-auth, with the login command', async (context) => {
    const { sandbox, env, own } = await harness(context);
    const as = own(await startAuthorizationServer());
    const mcp = own(await startProtectedMcpServer({ authorizationServer: as }));
    await sandbox.run(['add', 'corp', mcp.url]);
    const list = await sandbox.run(['list', '--json'], { env });
    expect(list.code).toBe(4);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ status: 'needs-auth', hint: 'patchbay login corp --oauth-scope "mcp:read"' }),
    ]);
    expect(as.count('/reg')).toBe(0);
    expect(as.tokenRequests()).toBe(0);
  });

  it('refuses an authorization server that does not advertise PKCE, before opening a browser', async (context) => {
    const { sandbox, env, own } = await harness(context);
    const as = own(await startAuthorizationServer({ pkce: false }));
    const mcp = own(await startProtectedMcpServer({ authorizationServer: as }));
    await sandbox.run(['add', 'corp', mcp.url]);
    const result = await sandbox.run(['login', 'corp', '--timeout', '30'], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/does not advertise PKCE/);
    await expect(readFile(env.BROWSER_LOG!, 'utf8')).rejects.toThrow();
  });

  it('says when the user refuses consent, with the server\u2019s error code', async (context) => {
    const { sandbox, env, own } = await harness(context);
    const as = own(await startAuthorizationServer({ denyConsent: true }));
    const mcp = own(await startProtectedMcpServer({ authorizationServer: as }));
    await sandbox.run(['add', 'corp', mcp.url]);
    const result = await sandbox.run(['login', 'corp', '--timeout', '30'], { env });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/access_denied/);
  });
});

describe.concurrent('patchbay login, the other ways in', () => {
  it('reuses the registration at the next login instead of registering again', async (context) => {
    const { sandbox, env, own } = await harness(context);
    const as = own(await startAuthorizationServer());
    const mcp = own(await startProtectedMcpServer({ authorizationServer: as }));
    await sandbox.run(['add', 'corp', mcp.url]);
    expect((await sandbox.run(['login', 'corp', '--timeout', '30'], { env })).code).toBe(0);
    const registrations = as.count('/reg');
    const again = await sandbox.run(['login', 'corp', '--timeout', '30'], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(as.count('/reg')).toBe(registrations);
    expect(as.tokenRequests('authorization_code')).toBe(2);
  });

  it('a login that fails on a registration the server forgot drops it, and the next one registers again', async (context) => {
    const { sandbox, env, own } = await harness(context);
    const { openCredentialStore } = await import('../../src/auth/store.js');
    const as = own(await startAuthorizationServer());
    const mcp = own(await startProtectedMcpServer({ authorizationServer: as }));
    await sandbox.run(['add', 'corp', mcp.url]);
    expect((await sandbox.run(['login', 'corp', '--timeout', '30'], { env })).code).toBe(0);
    // As if the authorization server had lost its client store: the stored client ID means nothing.
    const store = await openCredentialStore({ ...sandbox.env, ...env });
    const client = (await store.getClient(as.issuer))!;
    await store.saveClient({
      ...client,
      clientId: 'forgotten-client',
      information: { ...client.information, client_id: 'forgotten-client' },
    });
    const registrations = as.count('/reg');
    // The browser lands on the server's error page and never comes back.
    const stuck = await sandbox.run(['login', 'corp', '--timeout', '3'], { env });
    expect(stuck.code).not.toBe(0);
    expect(stuck.stderr).toMatch(/dropped its stored client registration/);
    const again = await sandbox.run(['login', 'corp', '--timeout', '30'], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(as.count('/reg')).toBe(registrations + 1);
  });

  it('uses a pre-registered client and its stored secret, and registers nothing', async (context) => {
    const { sandbox, env, own } = await harness(context);
    const as = own(
      await startAuthorizationServer({
        registration: false,
        clients: [
          {
            client_id: 'patchbay-test',
            client_secret: 'test-secret-value',
            redirect_uris: ['http://localhost:47123/callback'],
            token_endpoint_auth_method: 'client_secret_basic',
          },
        ],
      }),
    );
    const mcp = own(await startProtectedMcpServer({ authorizationServer: as }));
    const added = await sandbox.run(
      ['add', 'corp', mcp.url, '--client-id', 'patchbay-test', '--client-secret', '--callback-port', '47123'],
      { env: { ...env, MCP_CLIENT_SECRET: 'test-secret-value' } },
    );
    expect(added.code, added.stderr).toBe(0);
    const result = await sandbox.run(['login', 'corp', '--timeout', '30'], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/client +pre-registered/);
    expect(result.stdout + result.stderr).not.toContain('test-secret-value');
    expect(as.count('/reg')).toBe(0);
  });

  it('identifies itself with a Client ID Metadata Document where the server supports it', async (context) => {
    const { sandbox, env, own } = await harness(context);
    const { startClientMetadataServer } = await import('../fixtures/oauth/client-metadata-server.js');
    const documents = await startClientMetadataServer();
    try {
      const clientId = documents.publish({
        client_name: 'patchbay',
        redirect_uris: ['http://localhost/callback'],
        application_type: 'native',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      });
      const as = own(await startAuthorizationServer({ cimd: true, registration: false }));
      const mcp = own(await startProtectedMcpServer({ authorizationServer: as }));
      await sandbox.run(['add', 'corp', mcp.url]);
      const result = await sandbox.run(['login', 'corp', '--timeout', '30'], {
        env: { ...env, PATCHBAY_CLIENT_METADATA_URL: clientId },
      });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/client +metadata-document/);
      expect(as.outboundFetches).toContain(clientId);
      expect(as.count('/reg')).toBe(0);
    } finally {
      await documents.close();
    }
  });

  it('--device: shows a code to type elsewhere, polls until it is approved, registers a device client', async (context) => {
    const { sandbox, env, own } = await harness(context);
    const as = own(await startAuthorizationServer({ deviceFlow: true }));
    const mcp = own(await startProtectedMcpServer({ authorizationServer: as }));
    await sandbox.run(['add', 'corp', mcp.url]);
    // PATCHBAY_BROWSER stands for the person on the other device: it opens the complete URI.
    const result = await sandbox.run(['login', 'corp', '--device', '--timeout', '40'], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/enter the code:\n +\S+/);
    expect(result.stdout).toContain(`Logged in to corp at ${as.issuer}`);
    expect(as.tokenRequests('urn:ietf:params:oauth:grant-type:device_code')).toBeGreaterThanOrEqual(1);
    const list = await sandbox.run(['list', '--json'], { env });
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ status: 'connected' })]);
  });

  it('--device on a server without the device grant says so', async (context) => {
    const { sandbox, env, own } = await harness(context);
    const as = own(await startAuthorizationServer());
    const mcp = own(await startProtectedMcpServer({ authorizationServer: as }));
    await sandbox.run(['add', 'corp', mcp.url]);
    const result = await sandbox.run(['login', 'corp', '--device', '--timeout', '20'], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/does not offer the device authorization grant/);
  });

  it('finds a path-based issuer that only serves OpenID discovery', async (context) => {
    const { sandbox, env, own } = await harness(context);
    const as = own(await startAuthorizationServer({ issuerPath: '/tenant1', only: 'oidc' }));
    const mcp = own(await startProtectedMcpServer({ authorizationServer: as }));
    await sandbox.run(['add', 'corp', mcp.url]);
    const result = await sandbox.run(['login', 'corp', '--timeout', '30'], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`at ${as.issuer}`);
    expect(as.issuer.endsWith('/tenant1')).toBe(true);
  });

  it('honours an explicit authServerMetadataUrl', async (context) => {
    const { sandbox, env, own } = await harness(context);
    const as = own(await startAuthorizationServer());
    const mcp = own(await startProtectedMcpServer({ authorizationServer: as, metadataAt: 'header-only' }));
    await sandbox.run([
      'add-json',
      'corp',
      JSON.stringify({ type: 'http', url: mcp.url, oauth: { authServerMetadataUrl: as.metadataUrl } }),
    ]);
    const result = await sandbox.run(['login', 'corp', '--timeout', '30'], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`at ${as.issuer}`);
  });

  it('--no-browser prints the URL and takes the redirect address pasted on stdin', async (context) => {
    const { sandbox, env, own } = await harness(context);
    const as = own(await startAuthorizationServer());
    const mcp = own(await startProtectedMcpServer({ authorizationServer: as }));
    await sandbox.run(['add', 'corp', mcp.url]);
    const { spawn, execFile } = await import('node:child_process');
    const { BINARY } = await import('../helpers/sandbox.js');
    const child = spawn(process.execPath, [BINARY, 'login', 'corp', '--no-browser', '--timeout', '30'], {
      env: { ...sandbox.env, ...env, PATCHBAY_BROWSER: '' },
      cwd: sandbox.project,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const authorizationUrl = await new Promise<string>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const line = stderr.split('\n').find((text) => text.startsWith(as.endpoints.authorization));
        if (line) resolve(line.trim());
      });
    });
    // The "other machine": a browser that ends on the redirect address, which the user copies.
    const redirect = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [BROWSER, authorizationUrl],
        { env: { ...process.env, BROWSER_MODE: 'print-redirect' } },
        (error, out) => (error ? reject(error) : resolve(out.trim())),
      ),
    );
    child.stdin.write(`  ${redirect}  \n`);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, stderr).toBe(0);
    expect(stdout).toContain(`Logged in to corp at ${as.issuer}`);
    expect(stderr).toContain('Open this URL in a browser to log in:');
  });
});

describe.concurrent('patchbay login refuses authorization URLs it must not open (CVE-2025-6514)', () => {
  for (const [label, endpoint, reason] of [
    ['plain http to another host', 'http://evil.example/authorize', /http:/],
    ['shell syntax in the path', "https://evil.example/a'$(touch PWNED)'", /refus/i],
    ['a javascript: URL', 'javascript:alert(1)', /./],
  ] as const) {
    it(`refuses ${label}, and opens nothing`, async (context) => {
      const { sandbox, env, own } = await harness(context);
      const as = own(
        await startAuthorizationServer({ metadataOverrides: { authorization_endpoint: endpoint } }),
      );
      const mcp = own(await startProtectedMcpServer({ authorizationServer: as }));
      await sandbox.run(['add', 'corp', mcp.url]);
      const result = await sandbox.run(['login', 'corp', '--timeout', '20'], { env });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(reason);
      await expect(readFile(env.BROWSER_LOG!, 'utf8')).rejects.toThrow();
      expect(result.stdout + result.stderr).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
    });
  }
});

describe.concurrent('patchbay login steps up', () => {
  it('authorizes again for the scopes a 403 insufficient_scope asks for, then succeeds', async (context) => {
    const { sandbox, env, own } = await harness(context);
    const as = own(await startAuthorizationServer({ scopes: ['mcp:read', 'mcp:write'] }));
    const mcp = own(
      await startProtectedMcpServer({
        authorizationServer: as,
        requiredScopes: ['mcp:read', 'mcp:write'],
      }),
    );
    await sandbox.run(['add', 'corp', mcp.url]);
    const result = await sandbox.run(['login', 'corp', '--scope', 'mcp:read', '--timeout', '40'], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/asks for more permissions \(.*mcp:write.*\); logging in again/);
    expect(result.stdout).toMatch(/scopes +.*mcp:write/);
    expect(as.tokenRequests('authorization_code')).toBe(2);
    const list = await sandbox.run(['list', '--json'], { env });
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ status: 'connected' })]);
  });
});

describe.concurrent('an expired login', () => {
  it('a read-only check says it renews on next use and names auth refresh; auth refresh renews it; the check is connected again', async (context) => {
    const { sandbox, env, own } = await harness(context);
    const { openCredentialStore } = await import('../../src/auth/store.js');
    const { tokenKey } = await import('../../src/auth/oauth-provider.js');
    const as = own(await startAuthorizationServer({ rotateRefreshTokens: true }));
    const mcp = own(await startProtectedMcpServer({ authorizationServer: as }));
    await sandbox.run(['add', 'corp', mcp.url]);
    expect((await sandbox.run(['login', 'corp', '--timeout', '30'], { env })).code).toBe(0);
    // Expire it by the clock, as an hour later would.
    const store = await openCredentialStore({ ...sandbox.env, ...env });
    const key = tokenKey(as.issuer, mcp.url);
    const tokens = (await store.getTokens(key))!;
    await store.saveTokens(key, { ...tokens, expiresAt: Date.now() - 1_000 });

    const stale = await sandbox.run(['list', '--json', '--no-refresh'], { env });
    expect(stale.code).toBe(0);
    const [view] = JSON.parse(stale.stdout) as Array<{ reason: string; hint: string }>;
    expect(view!.reason).toMatch(/^login expired \d+ s ago, renews on next use$/);
    expect(view!.hint).toContain('patchbay auth refresh corp');
    expect(as.tokenRequests('refresh_token')).toBe(0);

    const refreshed = await sandbox.run(['auth', 'refresh', 'corp'], { env });
    expect(refreshed.code, refreshed.stderr).toBe(0);
    expect(refreshed.stdout).toContain('Refreshed the login for corp');
    expect(as.tokenRequests('refresh_token')).toBe(1);
    const fresh = await sandbox.run(['list', '--json'], { env });
    expect(JSON.parse(fresh.stdout)).toEqual([expect.objectContaining({ status: 'connected' })]);
  });
});
