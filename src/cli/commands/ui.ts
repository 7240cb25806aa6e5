/**
 * `patchbay ui [--port N] [--no-open]`: the console, a local web page for every configured server.
 * Prints the URL to open (with its one-time token) on stdout, opens it in the browser unless told
 * not to, and serves until Ctrl-C. Run again while a console of this project is up (and without a
 * different --port), it prints a fresh one-time URL to that console and exits 0.
 */

import { EXIT, PatchbayError } from '../../errors.js';
import { timeoutFrom } from '../health.js';
import { note, writeLine, type Io } from '../io.js';
import { packageVersion } from '../../core/version.js';

export interface UiOptions {
  /** 0: any free port. */
  port: number;
  open: boolean;
}

export function parseUiOptions(raw: { port?: string; open?: boolean }): UiOptions {
  let port = 0;
  if (raw.port !== undefined) {
    port = Number(raw.port);
    if (!/^\d+$/.test(raw.port) || port > 65_535)
      throw new PatchbayError('usage', `Invalid --port ${JSON.stringify(raw.port)}: expected 0 to 65535.`, {
        hint: 'For example: patchbay ui --port 7432 (0, the default, picks any free port).',
      });
  }
  return { port, open: raw.open !== false };
}

export async function runUi(options: UiOptions, io: Io): Promise<number> {
  const { askRunningConsole } = await import('../../console/registration.js');
  const { findProjectRoot } = await import('../../core/paths.js');
  const running = await askRunningConsole(io.paths, findProjectRoot(io.cwd, io.env));
  if (running && (options.port === 0 || options.port === running.port)) {
    writeLine(io.stdout, running.url);
    note(io, `The patchbay console is already running at ${running.origin}: a new link to it is above.`);
    note(io, 'It works once, in one browser tab.');
    await open(running.url, options, io);
    return EXIT.ok;
  }
  const { startConsole } = await import('../../console/server.js');
  const ui = await startConsole({
    register: true,
    port: options.port,
    env: io.env,
    cwd: io.cwd,
    version: packageVersion(),
    timeoutMs: timeoutFrom(undefined, io.env),
    log: (message) => note(io, message),
  });
  try {
    writeLine(io.stdout, ui.url);
    note(io, `The patchbay console is at ${ui.origin} (this machine only). Stop it with Ctrl-C.`);
    note(io, 'Open the URL above: its token works once, in one browser tab.');
    await open(ui.url, options, io);
    await new Promise<void>((resolve) => {
      if (!io.interrupt) return;
      if (io.interrupt.aborted) resolve();
      else io.interrupt.addEventListener('abort', () => resolve(), { once: true });
    });
    return EXIT.ok;
  } finally {
    await ui.close();
  }
}

async function open(url: string, options: UiOptions, io: Io): Promise<void> {
  if (!options.open) return;
  const { openAuthorizationUrl } = await import('../../auth/browser.js');
  const opened = await openAuthorizationUrl(new URL(url), io.env);
  if (!opened.opened) note(io, `Not opened in a browser: ${opened.reason}`);
}
