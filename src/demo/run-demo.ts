/**
 * `patchbay demo` (and `npm start`): the main job end to end, for real. An embedded MCP server
 * on loopback that wants an OAuth login from its own embedded authorization server, a throwaway
 * config directory and project (never the user's), and the real `patchbay` binary run against
 * them: add → list (needs a login) → get, then the console (`patchbay ui`) with the demo server
 * listed as a connector, to log in from the browser. It serves until Ctrl-C or SIGTERM, then
 * closes everything and removes the throwaway directory. Its standard input is never read: run
 * under nohup, as a service or in CI (stdin closed or /dev/null), it keeps serving.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { EXIT } from '../errors.js';
import { startDemoServer } from './demo-server.js';
import { DEMO_USER } from './oauth-server.js';

const BINARY = fileURLToPath(new URL('../cli/main.js', import.meta.url));
/** The console's built front end (web/ → dist/web/), which `npm run build` makes last. */
const CONSOLE_PAGE = fileURLToPath(new URL('../web/index.html', import.meta.url));
/** How long `patchbay ui` may take to print its URL. */
const CONSOLE_START_MS = 30_000;
/** How long the console gets to stop after it was asked to, before it is killed. */
const CONSOLE_STOP_MS = 2_000;

interface Step {
  say: string;
  args: string[];
  /** Exit codes that are part of the story (list and get say "needs login" with 4). */
  expected: number[];
}

/**
 * What the demo touches of the outside world: a part of cli/io.ts's Io, declared here because
 * nothing imports cli/.
 */
export interface DemoIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Aborted on Ctrl-C. */
  interrupt?: AbortSignal;
}

/** The styles the story prints with: cli/io.ts's paint, with colour or not as stdout allows. */
export interface DemoPaint {
  bold(text: string): string;
  dim(text: string): string;
}

export async function runDemo(io: DemoIo, p: DemoPaint): Promise<number> {
  const workspace = await mkdtemp(join(tmpdir(), 'patchbay-demo-'));
  const env: NodeJS.ProcessEnv = {
    ...io.env,
    PATCHBAY_CONFIG_DIR: join(workspace, 'config'),
    PATCHBAY_PROJECT_DIR: join(workspace, 'project'),
    // The login's tokens and the audit log stay in the throwaway directory too, never the keychain.
    PATCHBAY_DATA_DIR: join(workspace, 'data'),
    PATCHBAY_STATE_DIR: join(workspace, 'state'),
    PATCHBAY_CREDENTIAL_STORE: 'file',
  };
  const children = new Set<ChildProcess>();
  // A SIGTERM ends the process without waiting for the cleanup below: this one still runs.
  const cleanUpAtExit = () => {
    for (const child of children) child.kill('SIGTERM');
    rmSync(workspace, { recursive: true, force: true });
  };
  process.on('exit', cleanUpAtExit);

  let server: Awaited<ReturnType<typeof startDemoServer>> | undefined;
  try {
    server = await startDemoServer({ oauth: true });
    writeLine(io.stdout, p.bold('patchbay demo'));
    writeLine(io.stdout, `An MCP server is running at ${server.url} (embedded, loopback only).`);
    writeLine(
      io.stdout,
      `It wants an OAuth login, from its own authorization server at ${server.authorizationServer!.issuer}.`,
    );
    writeLine(
      io.stdout,
      p.dim(`Throwaway config: ${env.PATCHBAY_CONFIG_DIR} — your own config and keychain are not touched.`),
    );
    const steps: Step[] = [
      {
        say: 'Register the server (local scope: you, this project):',
        args: ['add', 'demo', server.url],
        expected: [EXIT.ok],
      },
      {
        say: 'List servers and check each one (in parallel, with a timeout): demo needs a login.',
        args: ['list'],
        expected: [EXIT.ok, EXIT.needsAuth],
      },
      { say: 'Show one server in full:', args: ['get', 'demo'], expected: [EXIT.ok, EXIT.needsAuth] },
    ];
    for (const step of steps) {
      writeLine(io.stdout);
      writeLine(io.stdout, step.say);
      writeLine(io.stdout, p.bold(`$ patchbay ${step.args.join(' ')}`));
      const code = await runPatchbay(step.args, env, io, workspace, children);
      if (!step.expected.includes(code)) {
        writeLine(io.stderr, `The demo step \`patchbay ${step.args.join(' ')}\` exited with ${code}.`);
        return code === EXIT.ok ? EXIT.error : code;
      }
    }
    writeLine(io.stdout);
    writeLine(io.stdout, 'Next, with your own servers:');
    writeLine(io.stdout, '  patchbay add <name> https://…/mcp          a remote server (Streamable HTTP)');
    writeLine(io.stdout, '  patchbay add <name> -- npx -y <package>    a local command (stdio)');
    writeLine(io.stdout, '  patchbay import --from claude-desktop      bring servers from another host');
    writeLine(io.stdout);
    return await runConsole(env, io, workspace, children, p);
  } finally {
    await server?.close();
    process.off('exit', cleanUpAtExit);
    await rm(workspace, { recursive: true, force: true });
  }
}

/**
 * `patchbay ui` with the throwaway environment, until the person (or a test) says stop: Ctrl-C
 * or SIGTERM. The end of stdin is not a request to stop (nohup, a service, CI close it at once).
 */
async function runConsole(
  env: NodeJS.ProcessEnv,
  io: DemoIo,
  cwd: string,
  children: Set<ChildProcess>,
  p: DemoPaint,
): Promise<number> {
  if (!existsSync(CONSOLE_PAGE)) {
    writeLine(
      io.stdout,
      'The console (patchbay ui) is not built in this checkout, so the demo ends here: run `npm run build`, then `npm start` again.',
    );
    return EXIT.ok;
  }
  const open = mayOpenBrowser(io.env);
  const args = ['ui', ...(open ? [] : ['--no-open'])];
  writeLine(io.stdout, 'Now the console, a web page for every configured server:');
  writeLine(io.stdout, p.bold(`$ patchbay ${args.join(' ')}`));

  const stop = stopRequests(io);
  try {
    const child = spawn(process.execPath, [BINARY, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let exitCode: number | undefined;
    const exited = new Promise<number>((resolve) => {
      child.once('error', () => resolve((exitCode = EXIT.error)));
      child.once('close', (code, signal) => {
        children.delete(child);
        resolve((exitCode = code ?? (signal ? 128 : EXIT.error)));
      });
    });
    const ready = new Promise<string | undefined>((resolve) => {
      let seen = '';
      child.stdout.on('data', (chunk: Buffer) => {
        io.stdout.write(chunk);
        seen += chunk.toString('utf8');
        const url = /^(https?:\/\/\S+)$/m.exec(seen)?.[1];
        if (url) resolve(url);
      });
      void exited.then(() => resolve(undefined));
      void delay(CONSOLE_START_MS).then(() => resolve(undefined));
    });
    child.stderr.on('data', (chunk: Buffer) => io.stderr.write(chunk));

    // A signal stops the console at once, even before it is up.
    const started = await Promise.race([ready, stop.signalled.then(() => 'signalled' as const)]);
    if (started === undefined) {
      writeLine(
        io.stderr,
        exitCode === undefined
          ? `The console did not print its URL within ${CONSOLE_START_MS / 1000} s; stopping it.`
          : `The console did not start: \`patchbay ${args.join(' ')}\` exited with ${exitCode}.`,
      );
      await stopChild(child, exited);
      return exitCode === undefined || exitCode === EXIT.ok ? EXIT.error : exitCode;
    }
    if (started !== 'signalled') {
      writeLine(io.stdout);
      writeLine(
        io.stdout,
        open ? 'The console opens in your browser.' : 'Open the URL above in your browser.',
      );
      writeLine(
        io.stdout,
        p.bold(
          `Open the Connectors page, press Log in on demo: the login page is the demo's own authorization server (user ${DEMO_USER.username} / password ${DEMO_USER.password}).`,
        ),
      );
      writeLine(io.stdout, 'Then open demo: try a tool, read its readme resource, run its greet prompt.');
      writeLine(io.stdout, p.dim('Stop with Ctrl-C: the servers close and the throwaway config is removed.'));
      const code = await Promise.race([exited, stop.signalled.then(() => undefined)]);
      if (code !== undefined) {
        writeLine(io.stderr, `The console stopped by itself (patchbay ui exited with ${code}).`);
        return code === EXIT.ok ? EXIT.error : code;
      }
    }
    await stopChild(child, exited);
    writeLine(io.stdout);
    writeLine(io.stdout, 'Demo stopped: the servers are closed and the throwaway config is removed.');
    return EXIT.ok;
  } finally {
    stop.dispose();
  }
}

/** Ask the console to stop as Ctrl-C would; kill it if it does not. */
async function stopChild(child: ChildProcess, exited: Promise<number>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGINT');
  const stopped = await Promise.race([exited.then(() => true), delay(CONSOLE_STOP_MS).then(() => false)]);
  if (!stopped) {
    child.kill('SIGKILL');
    await exited;
  }
}

interface StopRequests {
  /** Ctrl-C or SIGTERM. */
  signalled: Promise<void>;
  dispose(): void;
}

function stopRequests(io: DemoIo): StopRequests {
  const disposers: Array<() => void> = [];
  let onSignal!: () => void;
  const signalled = new Promise<void>((resolve) => (onSignal = resolve));
  if (io.interrupt) {
    // cli/main.ts turns SIGINT and SIGTERM into this signal.
    if (io.interrupt.aborted) onSignal();
    io.interrupt.addEventListener('abort', onSignal, { once: true });
    disposers.push(() => io.interrupt?.removeEventListener('abort', onSignal));
  } else {
    for (const name of ['SIGINT', 'SIGTERM'] as const) {
      process.once(name, onSignal);
      disposers.push(() => process.off(name, onSignal));
    }
  }
  return { signalled, dispose: () => disposers.forEach((dispose) => dispose()) };
}

/** Opening a browser needs a display; PATCHBAY_DEMO_NO_OPEN says not to try. */
function mayOpenBrowser(env: NodeJS.ProcessEnv): boolean {
  if (env.PATCHBAY_DEMO_NO_OPEN) return false;
  if (process.platform === 'linux' && !env.DISPLAY && !env.WAYLAND_DISPLAY) return false;
  return true;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Spawned asynchronously: the embedded servers answer from this same process meanwhile. */
function runPatchbay(
  args: string[],
  env: NodeJS.ProcessEnv,
  io: DemoIo,
  cwd: string,
  children: Set<ChildProcess>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BINARY, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.stdout.on('data', (chunk: Buffer) => io.stdout.write(chunk));
    child.stderr.on('data', (chunk: Buffer) => io.stderr.write(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve(code ?? (signal ? 128 : EXIT.error));
    });
  });
}

function writeLine(stream: NodeJS.WritableStream, text = ''): void {
  stream.write(text + '\n');
}
