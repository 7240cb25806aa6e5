/**
 * gateway/token.ts: the gateway's bearer token, made once. Processes that make it at the same
 * moment (replicas started together on a fresh machine) must all end up with the one kept.
 */

import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const BUILT = fileURLToPath(new URL('../../dist/gateway/token.js', import.meta.url));
const PATHS = fileURLToPath(new URL('../../dist/core/paths.js', import.meta.url));
const SOURCE = fileURLToPath(new URL('../../src/gateway/token.ts', import.meta.url));

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'patchbay-token-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** One process that waits for "go" on stdin, then prints the token it gets. */
function maker(env: NodeJS.ProcessEnv): { go: () => void; ready: Promise<void>; token: Promise<string> } {
  const script = `
    const { gatewayToken } = await import(${JSON.stringify(BUILT)});
    const { resolvePaths } = await import(${JSON.stringify(PATHS)});
    process.stdout.write('ready\\n');
    process.stdin.once('data', async () => {
      process.stdout.write((await gatewayToken(resolvePaths(process.env))) + '\\n');
      process.exit(0);
    });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  const ready = new Promise<void>((resolve) =>
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.startsWith('ready\n')) resolve();
    }),
  );
  const token = new Promise<string>((resolve, reject) =>
    child.on('close', (code) =>
      code === 0 ? resolve(out.split('\n')[1]!) : reject(new Error(`exit ${code}`)),
    ),
  );
  return { go: () => child.stdin.end('go\n'), ready, token };
}

describe('gatewayToken', () => {
  it('is one token for processes that make it at the same moment, kept 0600, nothing else left', async () => {
    if (!existsSync(BUILT) || statSync(BUILT).mtimeMs < statSync(SOURCE).mtimeMs)
      throw new Error(`${BUILT} is missing or older than its source: run npm run build first.`);
    const dataHome = join(root, 'data');
    const env = {
      PATH: process.env.PATH,
      HOME: root,
      XDG_DATA_HOME: dataHome,
      XDG_CONFIG_HOME: join(root, 'c'),
    };
    const makers = Array.from({ length: 8 }, () => maker(env));
    await Promise.all(makers.map((each) => each.ready));
    for (const each of makers) each.go();
    const tokens = await Promise.all(makers.map((each) => each.token));
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const directory = join(dataHome, 'patchbay');
    const files = await readdir(directory);
    const kept = files.find((name) => name.includes('token'))!;
    expect(files.filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect((await readFile(join(directory, kept), 'utf8')).trim()).toBe(tokens[0]);
    expect(statSync(join(directory, kept)).mode & 0o777).toBe(0o600);
  });
});
