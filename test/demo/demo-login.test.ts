/**
 * The real proof: patchbay's own login (the built binary, as a user runs it) against the demo MCP
 * server and its embedded authorization server — discovery from the 401, dynamic registration,
 * the login page (filled in by test/demo/login-browser.mjs as PATCHBAY_BROWSER), PKCE, the code
 * exchange — and then a tool call with the stored token, the login in `auth status`, and a refresh
 * of an expired access token.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

const LOGIN_BROWSER = fileURLToPath(new URL('./login-browser.mjs', import.meta.url));

let sandbox: Sandbox;
let demo: DemoServer;
let env: NodeJS.ProcessEnv;

beforeEach(async () => {
  sandbox = await createSandbox();
  demo = await startDemoServer({ oauth: true });
  env = {
    PATCHBAY_BROWSER: `"${process.execPath}" "${LOGIN_BROWSER}"`,
    PATCHBAY_CREDENTIAL_STORE: 'file',
    PATCHBAY_DATA_DIR: join(sandbox.root, 'data'),
    BROWSER_LOG: join(sandbox.root, 'browser.log'),
  };
});
afterEach(async () => {
  await demo.close();
  await sandbox.cleanup();
});

/** Every value stored under a key that names a token (accessToken, refreshToken…). */
function tokensIn(json: string): string[] {
  const found: string[] = [];
  const walk = (value: unknown, key = ''): void => {
    if (typeof value === 'string' && /token/i.test(key) && value.length >= 32) found.push(value);
    else if (value && typeof value === 'object') {
      for (const [name, inner] of Object.entries(value)) walk(inner, name);
    }
  };
  walk(JSON.parse(json));
  return found;
}

describe('patchbay against the demo server with OAuth', () => {
  it('add → needs login → login through the login page → call echo → auth status', async () => {
    const issuer = demo.authorizationServer!.issuer;
    expect((await sandbox.run(['add', 'demo', demo.url], { env })).code).toBe(0);

    const before = await sandbox.run(['list', '--json'], { env });
    expect(before.code).toBe(4);
    expect(JSON.parse(before.stdout)).toEqual([
      expect.objectContaining({ name: 'demo', status: 'needs-auth', hint: 'patchbay login demo' }),
    ]);

    const login = await sandbox.run(['login', 'demo', '--timeout', '30'], { env });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`Logged in to demo at ${issuer}`);
    expect(login.stdout).toMatch(/client +dynamic/);
    expect(login.stdout).toMatch(/token +expires \d{4}-/);
    // The browser was sent to the demo's own authorization endpoint, once, with PKCE and the resource.
    const opened = (await readFile(env.BROWSER_LOG!, 'utf8')).trim().split('\n');
    expect(opened).toHaveLength(1);
    const authorization = new URL(opened[0]!);
    expect(`${authorization.origin}${authorization.pathname}`).toBe(
      demo.authorizationServer!.endpoints.authorization,
    );
    expect(authorization.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorization.searchParams.get('resource')).toBe(demo.url);
    expect(authorization.searchParams.get('scope')).toBe('mcp');

    const storedBefore = tokensIn(await readFile(join(sandbox.root, 'data', 'auth-secrets.json'), 'utf8'));
    const call = await sandbox.run(['call', 'demo', 'echo', 'text=hi'], { env });
    expect(call.code, call.stderr).toBe(0);
    expect(call.stdout.trim()).toBe('hi');

    const status = await sandbox.run(['auth', 'status'], { env });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('demo');
    expect(status.stdout).toContain(issuer);
    const [row] = JSON.parse((await sandbox.run(['auth', 'status', '--json'], { env })).stdout) as Array<
      Record<string, unknown>
    >;
    expect(row).toMatchObject({
      name: 'demo',
      method: 'oauth',
      loggedIn: true,
      issuer,
      clientKind: 'dynamic',
      scopes: ['mcp'],
      expired: false,
      refreshable: true,
    });

    const list = await sandbox.run(['list', '--json'], { env });
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ name: 'demo', status: 'connected', toolCount: 3 }),
    ]);

    // No token in any output: the ones stored, looked for in everything printed.
    const everything = [before, login, call, status, list].map((r) => r.stdout + r.stderr).join('');
    for (const token of storedBefore) expect(everything).not.toContain(token);
  });

  it('an expired access token is refreshed at the demo server, which rotates the refresh token', async () => {
    await demo.close();
    // Two seconds: expiry is in whole seconds (oidc-provider), so a token lives between one and two.
    demo = await startDemoServer({ oauth: { accessTokenTtlSeconds: 2 } });
    expect((await sandbox.run(['add', 'demo', demo.url], { env })).code).toBe(0);
    const login = await sandbox.run(['login', 'demo', '--timeout', '30'], { env });
    expect(login.code, login.stderr).toBe(0);
    const secrets = join(sandbox.root, 'data', 'auth-secrets.json');
    const first = tokensIn(await readFile(secrets, 'utf8'));
    await new Promise((resolve) => setTimeout(resolve, 2_200));

    const call = await sandbox.run(['call', 'demo', 'add', 'a=2', 'b=40'], { env });
    expect(call.code, call.stderr).toBe(0);
    expect(call.stdout).toContain('42');
    const second = tokensIn(await readFile(secrets, 'utf8'));
    expect(second).toHaveLength(first.length);
    for (const token of second) expect(first).not.toContain(token);
    const [row] = JSON.parse((await sandbox.run(['auth', 'status', '--json'], { env })).stdout) as Array<
      Record<string, unknown>
    >;
    expect(row).toMatchObject({ name: 'demo', loggedIn: true, refreshable: true });
    expect(row!.lastRefreshAt).toEqual(expect.any(String));
  });

  it('a wrong password never reaches the callback: the login times out and nothing is stored', async () => {
    expect((await sandbox.run(['add', 'demo', demo.url], { env })).code).toBe(0);
    const login = await sandbox.run(['login', 'demo', '--timeout', '3'], {
      env: { ...env, DEMO_PASSWORD: 'wrong' },
    });
    expect(login.code).not.toBe(0);
    const [row] = JSON.parse((await sandbox.run(['auth', 'status', '--json'], { env })).stdout) as Array<
      Record<string, unknown>
    >;
    expect(row).toMatchObject({ name: 'demo', loggedIn: false });
  });
});
