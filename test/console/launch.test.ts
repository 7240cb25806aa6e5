/**
 * `POST /api/launch`: a new one-time link, for `patchbay ui` run again. Only the registration's
 * control secret (in a 0600 file) gets one: not the page's session secret, not another site.
 */

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startConsole, type ConsoleServer } from '../../src/console/server.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';
import { exchangeToken, launchToken, rawRequest } from './helpers.js';

let sandbox: Sandbox;
let ui: ConsoleServer;

beforeEach(async () => {
  sandbox = await createSandbox();
  ui = await startConsole({
    port: 0,
    env: sandbox.env,
    cwd: sandbox.project,
    version: '0.0.0-test',
    register: true,
  });
});
afterEach(async () => {
  await ui.close();
  await sandbox.cleanup();
});

const launch = (headers: Record<string, string>) =>
  rawRequest(ui.port, {
    method: 'POST',
    path: '/api/launch',
    headers: { origin: ui.origin, 'content-type': 'application/json', ...headers },
    body: '{}',
  });

describe('POST /api/launch', () => {
  it('gives a new one-time link for the control secret, and to nothing else', async () => {
    const dir = join(sandbox.home, '.local', 'state', 'patchbay', 'consoles');
    const [file] = await readdir(dir);
    const { control } = JSON.parse(await readFile(join(dir, file!), 'utf8')) as { control: string };
    const exchanged = await exchangeToken(ui.port, launchToken(ui.url));
    const session = (JSON.parse(exchanged.text) as { session: string }).session;

    for (const authorization of [undefined, `Bearer ${session}`, `Bearer ${control}x`, control]) {
      const refused = await launch(authorization === undefined ? {} : { authorization });
      expect(refused.status, String(authorization)).toBe(401);
    }
    expect((await launch({ authorization: `Bearer ${control}`, origin: 'http://evil.example' })).status).toBe(
      403,
    );

    const answer = await launch({ authorization: `Bearer ${control}` });
    expect(answer.status).toBe(201);
    const url = (JSON.parse(answer.text) as { url: string }).url;
    expect(new URL(url).origin).toBe(ui.origin);
    expect((await exchangeToken(ui.port, launchToken(url))).status).toBe(201);
    expect((await exchangeToken(ui.port, launchToken(url))).status).toBe(401);
  });

  it('a console started without registering answers no control request', async () => {
    const plain = await startConsole({ port: 0, env: sandbox.env, cwd: sandbox.project, version: '0' });
    try {
      const refused = await rawRequest(plain.port, {
        method: 'POST',
        path: '/api/launch',
        headers: { origin: plain.origin, 'content-type': 'application/json', authorization: 'Bearer x' },
        body: '{}',
      });
      expect(refused.status).toBe(401);
    } finally {
      await plain.close();
    }
  });
});
