/**
 * A real host, Claude Code (its binary from npm), given nothing but the team gateway's URL: it
 * reads the 401's challenge, the protected-resource metadata and the authorization server's
 * metadata, and lists the gateway as a server that needs its user to authenticate — not as a
 * failure. With a static token instead, the same host cannot tell what to do (the single-user
 * mode is not meant for it), which is why a team gateway publishes the metadata.
 */

import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import {
  startAuthorizationServer,
  type AuthorizationServer,
} from '../fixtures/oauth/authorization-server.js';
import { claudeBinary, claudeEnv } from '../helpers/claude.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let as: AuthorizationServer;
let demo: DemoServer;
let served: Sandbox;
let gateway: RunningGateway;
let claudeHome: string;

beforeAll(async () => {
  [as, demo, served] = await Promise.all([startAuthorizationServer(), startDemoServer(), createSandbox()]);
  await served.run(['add', 'demo', demo.url]);
  const config = join(served.root, 'deployment.jsonc');
  await writeFile(config, JSON.stringify({ auth: { oauth: { issuer: as.issuer, scopes: ['mcp:read'] } } }));
  gateway = await startGateway(served, ['--config', config]);
  claudeHome = join(served.root, 'claude-home');
  await mkdir(claudeHome, { recursive: true });
  // The state Claude Code's first-run screens leave; nothing else is set up for it.
  await writeFile(join(claudeHome, '.claude.json'), JSON.stringify({ hasCompletedOnboarding: true }));
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await Promise.all([demo?.close(), as?.close()]);
  await served?.cleanup();
});

function claude(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      claudeBinary(),
      args,
      { env: claudeEnv(claudeHome), cwd: served.root, timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('Claude Code in front of the team gateway', () => {
  it('is given the URL alone and lists the gateway as needing authentication', async () => {
    const added = await claude(['mcp', 'add', '--scope', 'user', '--transport', 'http', 'team', gateway.url]);
    expect(added.code, added.stderr + added.stdout).toBe(0);
    const listed = await claude(['mcp', 'list']);
    const line = listed.stdout.split('\n').find((text) => text.startsWith('team:'));
    expect(line, listed.stdout + listed.stderr).toBeDefined();
    expect(line).toContain(gateway.url);
    expect(line).toMatch(/needs authentication/i);
    // It found the authorization server from the gateway's metadata on its own.
    expect(as.requests.some((request) => request.path.includes('/.well-known/'))).toBe(true);
  }, 120_000);
});
