/** A throwaway home, config directory and project, and the built `patchbay` binary run as a user would. */

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BINARY = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Sandbox {
  root: string;
  home: string;
  configDir: string;
  project: string;
  userConfig: string;
  projectConfig: string;
  env: NodeJS.ProcessEnv;
  run(
    args: string[],
    options?: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string },
  ): Promise<RunResult>;
  cleanup(): Promise<void>;
}

export async function createSandbox(): Promise<Sandbox> {
  const root = await mkdtemp(join(tmpdir(), 'patchbay-test-'));
  const home = join(root, 'home');
  const project = join(root, 'project');
  await mkdir(home, { recursive: true });
  await mkdir(project, { recursive: true });
  const configDir = join(home, '.config', 'patchbay');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    PATCHBAY_PROJECT_DIR: project,
    NO_COLOR: '1',
  };
  return {
    root,
    home,
    configDir,
    project,
    userConfig: join(configDir, 'config.json'),
    projectConfig: join(project, '.mcp.json'),
    env,
    run: (args, options = {}) =>
      runBinary(args, { ...env, ...options.env }, options.input, options.cwd ?? project),
    // Retried: a binary stopped by a test may still be finishing a write into its home.
    cleanup: () => rm(root, { recursive: true, force: true, maxRetries: 5 }),
  };
}

/** `wrapper` runs the binary through another program, e.g. a shell that sets limits first. */
export function runBinary(
  args: string[],
  env: NodeJS.ProcessEnv,
  input?: string,
  cwd?: string,
  wrapper: string[] = [],
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const [program, ...programArgs] = [...wrapper, process.execPath, BINARY, ...args];
    const child = spawn(program!, programArgs, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}
