/**
 * Refresh single flight across processes: a login made by the built binary, then many node
 * processes (test/fixtures/refresh-worker.mjs, on the built library) that find the same expired
 * token and connect at the same moment with `credentials: 'refresh'`. The authorization server
 * rotates refresh tokens and, like real ones, revokes the whole grant when a retired refresh token
 * is presented: any second refresh with the old token would break every later one.
 */

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { tokenKey } from '../../src/auth/oauth-provider.js';
import { openCredentialStore, type CredentialStore, type StoredTokens } from '../../src/auth/store.js';
import {
  startAuthorizationServer,
  type AuthorizationServer,
} from '../fixtures/oauth/authorization-server.js';
import { startProtectedMcpServer, type ProtectedMcpServer } from '../fixtures/oauth/protected-mcp-server.js';
import { oauthEnv } from '../helpers/oauth.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

const WORKER = fileURLToPath(new URL('../fixtures/refresh-worker.mjs', import.meta.url));

let sandbox: Sandbox;
let as: AuthorizationServer | undefined;
let mcp: ProtectedMcpServer | undefined;
let env: NodeJS.ProcessEnv;

beforeEach(async () => {
  sandbox = await createSandbox();
  env = { ...sandbox.env, ...oauthEnv(sandbox) };
});
afterEach(async () => {
  await mcp?.close();
  await as?.close();
  mcp = undefined;
  as = undefined;
  await sandbox.cleanup();
});

interface WorkerResult {
  code: number;
  output: { ok: boolean; tools?: string[]; status?: string; reason?: string; hint?: string } | undefined;
  stderr: string;
}

function runWorker(url: string, startAt: number): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, url, String(startAt)], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      let output: WorkerResult['output'];
      try {
        output = JSON.parse(stdout.trim().split('\n').pop() ?? '') as WorkerResult['output'];
      } catch {
        output = undefined;
      }
      resolve({ code: code ?? -1, output, stderr });
    });
  });
}

/** `count` workers, all loaded before they connect at the same moment. */
async function runWorkers(count: number, url: string): Promise<WorkerResult[]> {
  const startAt = Date.now() + 3_000;
  return Promise.all(Array.from({ length: count }, () => runWorker(url, startAt)));
}

async function loginAndStore(): Promise<{ store: CredentialStore; key: string; tokens: StoredTokens }> {
  as = await startAuthorizationServer({ rotateRefreshTokens: true });
  mcp = await startProtectedMcpServer({ authorizationServer: as });
  expect((await sandbox.run(['add', 'corp', mcp.url], { env })).code).toBe(0);
  const login = await sandbox.run(['login', 'corp', '--timeout', '30'], { env });
  expect(login.code, login.stderr).toBe(0);
  const store = await openCredentialStore(env);
  const key = tokenKey(as.issuer, mcp.url);
  const tokens = await store.getTokens(key);
  expect(tokens?.refreshToken).toBeDefined();
  return { store, key, tokens: tokens! };
}

/** Expired by the clock: every process that reads it must refresh before it may send it. */
async function expire(store: CredentialStore, key: string): Promise<StoredTokens> {
  const tokens = (await store.getTokens(key))!;
  const expired = { ...tokens, expiresAt: Date.now() - 1_000 };
  await store.saveTokens(key, expired);
  return expired;
}

describe('refresh across processes', () => {
  it('20 processes with the same expired token make one refresh request between them, and all use it', async () => {
    const { store, key } = await loginAndStore();
    const expired = await expire(store, key);

    const results = await runWorkers(20, mcp!.url);
    for (const result of results) {
      expect(result.output, result.stderr).toEqual({ ok: true, tools: ['add', 'echo', 'get_time'] });
      expect(result.code).toBe(0);
    }
    expect(as!.tokenRequests('refresh_token')).toBe(1);
    expect(as!.serverErrors).toEqual([]);

    // The rotated refresh token was stored before it was used, and it is the live one.
    const refreshed = (await store.getTokens(key))!;
    expect(refreshed.refreshToken).not.toBe(expired.refreshToken);
    expect(refreshed.accessToken).not.toBe(expired.accessToken);
    expect(refreshed.expiresAt).toBeGreaterThan(Date.now());
    expect(refreshed.lastRefreshError).toBeUndefined();

    // Rotation went right: no retired refresh token was ever presented, so the grant still lives.
    await expire(store, key);
    const again = await runWorkers(5, mcp!.url);
    for (const result of again) expect(result.output, result.stderr).toMatchObject({ ok: true });
    expect(as!.tokenRequests('refresh_token')).toBe(2);
    expect(as!.requests.filter((request) => request.status !== undefined && request.status >= 400)).toEqual(
      [],
    );
  }, 120_000);

  it('processes that find a revoked login all say needs-auth with the login command; one refresh attempt', async () => {
    const { store, key } = await loginAndStore();
    await expire(store, key);
    as!.revokeAll();

    const results = await runWorkers(5, mcp!.url);
    for (const result of results) {
      expect(result.code, result.stderr).toBe(1);
      expect(result.output).toMatchObject({
        ok: false,
        status: 'needs-auth',
        hint: 'patchbay login corp',
        reason: expect.stringMatching(/expired or was revoked/) as unknown,
      });
    }
    expect(as!.tokenRequests('refresh_token')).toBe(1);
    const stored = (await store.getTokens(key))!;
    expect(stored.lastRefreshError?.message).toMatch(/invalid_grant/);

    // `patchbay auth status`'s source: the error is in the non-secret index, with no token in it.
    const listing = await store.list();
    const facts = listing.tokens.find((entry) => entry.serverKey === key);
    expect(facts?.lastRefreshError?.message).toMatch(/invalid_grant/);
    expect(JSON.stringify(listing)).not.toContain(stored.refreshToken!);
  }, 120_000);
});
