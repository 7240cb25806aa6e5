/**
 * `patchbay demo` (what `npm start` runs), as the built binary: the CLI steps against the demo
 * server behind its own OAuth, then the console, served until a signal comes (a closed stdin is
 * not one: nohup, services and CI close it), and everything cleaned up afterwards.
 */

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { BINARY, createSandbox, runBinary, type Sandbox } from '../helpers/sandbox.js';

const LOGIN_BROWSER = fileURLToPath(new URL('./login-browser.mjs', import.meta.url));

interface DemoRun {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | string>;
  /** Resolves with the stdout so far once it matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
}

let sandbox: Sandbox;
let run: DemoRun | undefined;

beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  if (run && run.child.exitCode === null && run.child.signalCode === null) {
    // SIGTERM, not SIGKILL: the demo then ends its console and removes its directory on the way out.
    run.child.kill('SIGTERM');
    const timer = setTimeout(() => run?.child.kill('SIGKILL'), 5_000);
    await run.exited;
    clearTimeout(timer);
  }
  run = undefined;
  await sandbox.cleanup();
});

function startDemo(stdin: 'pipe' | 'ignore' = 'pipe'): DemoRun {
  const child = spawn(process.execPath, [BINARY, 'demo'], {
    env: { ...sandbox.env, PATCHBAY_DEMO_NO_OPEN: '1' },
    cwd: sandbox.project,
    stdio: [stdin, 'pipe', 'pipe'],
  }) as ChildProcessWithoutNullStreams;
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const check of waiters) check();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | string>((resolve) =>
    child.once('close', (code, signal) => {
      resolve(code ?? signal ?? -1);
      for (const check of waiters) check();
    }),
  );
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${pattern}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
        }, timeoutMs);
        const check = () => {
          const match = pattern.exec(stdout);
          if (match) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(match);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`demo exited before ${pattern}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** The throwaway directory the demo announced. */
function workspaceOf(stdout: string): string {
  const config = /Throwaway config: (\S+)\/config /.exec(stdout)?.[1];
  expect(config, stdout).toBeDefined();
  return config!;
}

async function portRefuses(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return false;
  } catch {
    return true;
  }
}

/** A moment after stdin closed, the demo is still running and each URL still answers. */
async function stillServing(demo: DemoRun, urls: string[]): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  expect(demo.child.exitCode, demo.stderr()).toBeNull();
  for (const url of urls) {
    const response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(5_000) });
    await response.body?.cancel();
    expect(response.status, url).toBeLessThan(500);
  }
}

describe('patchbay demo (npm start)', () => {
  it('add → list (needs login) → get, then the console, still serving once stdin ends; Ctrl-C removes everything', async () => {
    run = startDemo();
    const [, consoleUrl] = await run.waitFor(/^(http:\/\/127\.0\.0\.1:\d+\/\S*)$/m);
    await run.waitFor(/press Log in on demo/);
    const stdout = run.stdout();
    const workspace = workspaceOf(stdout);
    expect(existsSync(workspace)).toBe(true);

    // The story as printed.
    const demoUrl = /An MCP server is running at (http:\/\/127\.0\.0\.1:\d+\/mcp) /.exec(stdout)![1]!;
    const issuer = /its own authorization server at (http:\/\/127\.0\.0\.1:\d+)\./.exec(stdout)![1]!;
    expect(stdout).toContain(`$ patchbay add demo ${demoUrl}`);
    expect(stdout).toMatch(/!\s+demo\s+local\s+http\s+.*needs-auth/);
    expect(stdout).toContain('→ patchbay login demo');
    expect(stdout).toMatch(/status +needs-auth/);
    expect(stdout).toMatch(/next +patchbay login demo/);
    expect(stdout).toContain('$ patchbay ui --no-open');
    expect(stdout).toContain(
      "Open the Connectors page, press Log in on demo: the login page is the demo's own authorization server (user demo / password demo).",
    );
    // The demo's servers and the console are up.
    const metadata = await fetch(`${issuer}/.well-known/oauth-authorization-server`);
    expect(metadata.status).toBe(200);
    await metadata.body?.cancel();
    const page = await fetch(consoleUrl!, { redirect: 'manual' });
    expect(page.status).toBeLessThan(400);
    await page.body?.cancel();

    // The login the console offers works from the CLI too, in the demo's own throwaway config.
    const demoEnv: NodeJS.ProcessEnv = {
      ...sandbox.env,
      PATCHBAY_CONFIG_DIR: join(workspace, 'config'),
      PATCHBAY_PROJECT_DIR: join(workspace, 'project'),
      PATCHBAY_DATA_DIR: join(workspace, 'data'),
      PATCHBAY_STATE_DIR: join(workspace, 'state'),
      PATCHBAY_CREDENTIAL_STORE: 'file',
      PATCHBAY_BROWSER: `"${process.execPath}" "${LOGIN_BROWSER}"`,
    };
    const login = await runBinary(['login', 'demo', '--timeout', '30'], demoEnv, '', workspace);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`Logged in to demo at ${issuer}`);
    const call = await runBinary(['call', 'demo', 'echo', 'text=hi'], demoEnv, '', workspace);
    expect(call.code, call.stderr).toBe(0);
    expect(call.stdout.trim()).toBe('hi');

    // The end of stdin (nohup, a service, CI) is not a request to stop: it keeps serving.
    run.child.stdin.end();
    await stillServing(run, [consoleUrl!, demoUrl]);
    // Ctrl-C stops it: exit 0, servers closed, the throwaway directory removed.
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.stdout()).toContain(
      'Demo stopped: the servers are closed and the throwaway config is removed.',
    );
    expect(existsSync(workspace)).toBe(false);
    expect(await portRefuses(demoUrl)).toBe(true);
    expect(await portRefuses(issuer)).toBe(true);
    expect(await portRefuses(consoleUrl!)).toBe(true);
    // The user's own config is not touched.
    expect(existsSync(sandbox.userConfig)).toBe(false);
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('stops on %s and cleans up', async (signal) => {
    run = startDemo();
    const [, consoleUrl] = await run.waitFor(/^(http:\/\/127\.0\.0\.1:\d+\/\S*)$/m);
    await run.waitFor(/press Log in on demo/);
    const workspace = workspaceOf(run.stdout());
    run.child.kill(signal);
    const code = await run.exited;
    expect(signal === 'SIGINT' ? code : 'any').toBe(signal === 'SIGINT' ? 0 : 'any');
    expect(existsSync(workspace)).toBe(false);
    expect(await portRefuses(consoleUrl!)).toBe(true);
  });

  it('stdin closed from the start (/dev/null): the steps, then the console keeps serving until SIGTERM', async () => {
    run = startDemo('ignore');
    const [, consoleUrl] = await run.waitFor(/^(http:\/\/127\.0\.0\.1:\d+\/\S*)$/m);
    await run.waitFor(/press Log in on demo/);
    expect(run.stdout()).toContain('$ patchbay add demo http://127.0.0.1:');
    expect(run.stdout()).toMatch(/demo\s+local\s+http\s+.*needs-auth/);
    const workspace = workspaceOf(run.stdout());
    await stillServing(run, [consoleUrl!]);
    run.child.kill('SIGTERM');
    await run.exited;
    expect(existsSync(workspace)).toBe(false);
    expect(await portRefuses(consoleUrl!)).toBe(true);
  });
});
