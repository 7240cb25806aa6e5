/** `patchbay ui`: its options, and a run that prints the URL, opens it, serves, and stops on Ctrl-C. */

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { resolvePaths } from '../../src/core/paths.js';
import { parseUiOptions, runUi } from '../../src/cli/commands/ui.js';
import type { Io } from '../../src/cli/io.js';
import { BROWSER } from '../helpers/oauth.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';
import { exchangeToken, launchToken, rawRequest } from './helpers.js';

describe('parseUiOptions', () => {
  it('any free port and the browser by default', () => {
    expect(parseUiOptions({})).toEqual({ port: 0, open: true });
    expect(parseUiOptions({ port: '7432', open: false })).toEqual({ port: 7432, open: false });
    for (const port of ['abc', '-1', '65536', '1.5', ''])
      expect(() => parseUiOptions({ port }), port).toThrow(/Invalid --port/);
  });
});

describe('runUi', () => {
  let sandbox: Sandbox;
  beforeEach(async () => {
    sandbox = await createSandbox();
  });
  afterEach(async () => {
    await sandbox.cleanup();
  });

  function io(env: NodeJS.ProcessEnv, interrupt: AbortSignal) {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const value: Io = {
      stdout,
      stderr,
      stdin: new PassThrough(),
      env,
      paths: resolvePaths(env),
      cwd: sandbox.project,
      interrupt,
    };
    return { value, out: () => out, err: () => err };
  }

  async function until(check: () => boolean | Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('prints the URL on stdout, opens it, serves until interrupted', async () => {
    const log = join(sandbox.root, 'browser.log');
    const env = {
      ...sandbox.env,
      PATCHBAY_BROWSER: `"${process.execPath}" "${BROWSER}"`,
      BROWSER_MODE: 'refuse',
      BROWSER_LOG: log,
    };
    const interrupt = new AbortController();
    const streams = io(env, interrupt.signal);
    const running = runUi({ port: 0, open: true }, streams.value);
    await until(() => streams.out().includes('\n'));
    const url = streams.out().trim();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]{43}$/);
    expect(streams.err()).toContain('Ctrl-C');
    await until(async () => (await readFile(log, 'utf8').catch(() => '')).includes(url));

    const port = Number(new URL(url).port);
    const exchanged = await exchangeToken(port, launchToken(url));
    expect(exchanged.status).toBe(201);
    const authorization = `Bearer ${JSON.parse(exchanged.text).session}`;
    const session = await rawRequest(port, { path: '/api/session', headers: { authorization } });
    expect(JSON.parse(session.text)).toMatchObject({
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      projectRoot: sandbox.project,
    });

    interrupt.abort();
    expect(await running).toBe(0);
    await expect(rawRequest(port, { path: '/' })).rejects.toThrow();
  });

  it('--no-open opens nothing; run again, it links to the running console; a port in use is a usage error', async () => {
    const log = join(sandbox.root, 'browser.log');
    const env = { ...sandbox.env, PATCHBAY_BROWSER: `"${process.execPath}" "${BROWSER}"`, BROWSER_LOG: log };
    const interrupt = new AbortController();
    const first = io(env, interrupt.signal);
    const running = runUi({ port: 0, open: false }, first.value);
    await until(() => first.out().includes('\n'));
    const port = Number(new URL(first.out().trim()).port);

    // The same project, the same port (or none given): a fresh link to the console that runs.
    const second = io(env, new AbortController().signal);
    expect(await runUi({ port, open: false }, second.value)).toBe(0);
    expect(new URL(second.out().trim()).port).toBe(String(port));
    expect(launchToken(second.out().trim())).not.toBe(launchToken(first.out().trim()));
    interrupt.abort();
    expect(await running).toBe(0);
    await expect(readFile(log, 'utf8')).rejects.toThrow();

    // A port another program holds.
    const other = createServer();
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const taken = (other.address() as AddressInfo).port;
      const third = io(env, new AbortController().signal);
      await expect(runUi({ port: taken, open: false }, third.value)).rejects.toMatchObject({
        code: 'usage',
        message: `Port ${taken} on 127.0.0.1 is already in use.`,
      });
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });
});
