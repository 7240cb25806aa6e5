/** `patchbay serve --http 127.0.0.1:0` in the background, run by the built binary in a sandbox. */

import { spawn, type ChildProcess } from 'node:child_process';

import { BINARY, type Sandbox } from './sandbox.js';

export interface RunningGateway {
  child: ChildProcess;
  /** The endpoint from its first line, `http://127.0.0.1:<port>/mcp` (https with TLS). */
  url: string;
  /** The port it listens on (with --public-url, not the URL's). */
  port: number;
  /** The bearer token hosts send, as `patchbay serve --print-token` gives it in the same sandbox. */
  token: string;
  /** Everything it has written to stderr so far. */
  stderr(): string;
  /**
   * Do something that changes the config (`description` names it in the error if it is never
   * applied), and wait until the gateway has applied it.
   */
  applied(action: () => Promise<unknown>, description?: string): Promise<void>;
  /** SIGTERM, and wait until it has exited (SIGKILL if it has not within 5 s). */
  stop(): Promise<void>;
}

const URL_WITHIN_MS = 10_000;
const APPLIED_WITHIN_MS = 10_000;
/** How long no further reload must follow before a change counts as over. */
const QUIET_MS = 600;
const RELOADED = 'The configuration changed';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the gateway with the sandbox's env in its project directory, `args` after
 * `serve --http 127.0.0.1:0`, and resolves once it has said its URL; rejects with what it wrote to
 * stderr if it exits first or says nothing within 10 s.
 */
export async function startGateway(sandbox: Sandbox, args: string[] = []): Promise<RunningGateway> {
  const token = (await sandbox.run(['serve', '--print-token'])).stdout.trim();
  const child = spawn(process.execPath, [BINARY, 'serve', '--http', '127.0.0.1:0', ...args], {
    env: sandbox.env,
    cwd: sandbox.project,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let text = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const { url, port } = await new Promise<{ url: string; port: number }>((resolve, reject) => {
    const settle = () => {
      clearTimeout(timer);
      child.off('error', onError).off('close', onClose);
      child.stderr!.off('data', onData);
    };
    const fail = (why: string) => {
      settle();
      child.kill('SIGKILL');
      reject(new Error(`patchbay serve ${why}; its stderr:\n${text}`));
    };
    const onError = (error: Error) => fail(`could not be started (${error.message})`);
    // 'close', not 'exit': by then all it wrote to stderr has been read.
    const onClose = (code: number | null, signal: NodeJS.Signals | null) =>
      fail(`exited (${signal ?? `code ${code}`}) before giving its URL`);
    const onData = () => {
      // https with --tls-cert; the URL ends a text line or a JSON string (--log-format json).
      const match = /patchbay gateway at (https?:\/\/[^\s"]+\/mcp)(?: \(listening on [^\s)]*:(\d+)\))?/.exec(
        text,
      );
      if (match) {
        settle();
        resolve({ url: match[1]!, port: Number(match[2] ?? new URL(match[1]!).port) });
      }
    };
    const timer = setTimeout(() => fail(`gave no URL within ${URL_WITHIN_MS / 1000} s`), URL_WITHIN_MS);
    child.on('error', onError).on('close', onClose);
    child.stderr!.on('data', onData);
  });

  const reloads = () => text.split(RELOADED).length - 1;
  const applied = async (action: () => Promise<unknown>, description = 'the change') => {
    const before = reloads();
    await action();
    for (let waited = 0; reloads() === before; waited += 50) {
      if (waited > APPLIED_WITHIN_MS) throw new Error(`the gateway did not apply ${description}\n${text}`);
      await sleep(50);
    }
    // One save can be seen as two file events, two reloads: wait until they are over, so a late
    // one is not mistaken for the next change's.
    for (let seen = reloads(), quiet = 0; quiet < QUIET_MS; quiet += 50) {
      await sleep(50);
      if (reloads() !== seen) [seen, quiet] = [reloads(), 0];
    }
  };

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(killer);
  };

  return { child, url, port, token, stderr: () => text, applied, stop };
}
