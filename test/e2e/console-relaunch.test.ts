/**
 * A spent console link is not a dead end: `patchbay ui` run again (the built binary) while a
 * console of the project is up prints a fresh one-time URL to that console and exits 0; a
 * registration left by a dead console, or one whose port answers as something else, is ignored.
 */

import type { ChildProcess } from 'node:child_process';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createSandbox, type Sandbox } from '../helpers/sandbox.js';
import { startUi as startConsole } from '../helpers/console.js';
import { exchangeToken, launchToken } from '../console/helpers.js';

let sandbox: Sandbox;
const children: ChildProcess[] = [];

beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await sandbox.cleanup();
});

/** `patchbay ui --no-open` left running (stopped after each test). */
async function startUi(): Promise<{ child: ChildProcess; url: string }> {
  const running = await startConsole(sandbox);
  children.push(running.child);
  return running;
}

const consolesDir = () => join(sandbox.home, '.local', 'state', 'patchbay', 'consoles');

describe('patchbay ui run again', () => {
  it('prints a fresh one-time URL for the running console and exits 0', async () => {
    const first = await startUi();
    const port = Number(new URL(first.url).port);
    expect((await exchangeToken(port, launchToken(first.url))).status).toBe(201);
    // The first link is spent: a second browser gets nothing from it.
    expect((await exchangeToken(port, launchToken(first.url))).status).toBe(401);

    const again = await sandbox.run(['ui', '--no-open']);
    expect(again.code).toBe(0);
    const url = again.stdout.trim();
    expect(new URL(url).origin).toBe(new URL(first.url).origin);
    expect(launchToken(url)).not.toBe(launchToken(first.url));
    expect(again.stderr).toContain('already running');
    expect((await exchangeToken(port, launchToken(url))).status).toBe(201);
    expect((await exchangeToken(port, launchToken(url))).status).toBe(401);

    // The registration is private to the user.
    const [file] = await readdir(consolesDir());
    expect((await stat(join(consolesDir(), file!))).mode & 0o777).toBe(0o600);
    expect((await stat(consolesDir())).mode & 0o777).toBe(0o700);

    // A stopped console takes its registration with it.
    first.child.kill('SIGINT');
    await new Promise((resolve) => first.child.once('exit', resolve));
    expect(await readdir(consolesDir())).toEqual([]);
  }, 60_000);

  it('ignores the registration of a console that died, and starts its own', async () => {
    const first = await startUi();
    const [file] = await readdir(consolesDir());
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    // The file is still there (nothing could remove it), pointing at a closed port.
    expect(await readdir(consolesDir())).toEqual([file]);
    const second = await startUi();
    expect((await exchangeToken(Number(new URL(second.url).port), launchToken(second.url))).status).toBe(201);
  }, 60_000);

  it("does not take a link from whatever else answers on a registered console's port", async () => {
    const impostor = createServer((_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: 'http://127.0.0.1:1/#token=elsewhere' }));
    });
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    try {
      const first = await startUi();
      const path = join(consolesDir(), (await readdir(consolesDir()))[0]!);
      const { port } = impostor.address() as AddressInfo;
      // A live pid (this test's), but the port is someone else's: its answer is not printed.
      await writeFile(
        path,
        JSON.stringify({ pid: process.pid, port, projectRoot: sandbox.project, control: 'x'.repeat(43) }),
      );
      const second = await startUi();
      expect(second.url).not.toContain('elsewhere');
      expect(new URL(second.url).port).not.toBe(new URL(first.url).port);
    } finally {
      await new Promise((resolve) => impostor.close(resolve));
    }
  }, 60_000);
});
