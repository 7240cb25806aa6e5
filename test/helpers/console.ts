/** `patchbay ui --no-open` of the built binary, left running, for the console's browser tests. */

import { spawn, type ChildProcess } from 'node:child_process';

import { BINARY, type Sandbox } from './sandbox.js';

export interface RunningConsole {
  child: ChildProcess;
  /** The one-time URL it printed (`http://127.0.0.1:PORT/#token=…`). */
  url: string;
  origin: string;
}

/** Starts the console in the sandbox's project; resolves once it printed its URL. */
export function startUi(sandbox: Sandbox): Promise<RunningConsole> {
  const child = spawn(process.execPath, [BINARY, 'ui', '--no-open'], {
    env: sandbox.env,
    cwd: sandbox.project,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`patchbay ui printed no URL:\n${text}`));
    }, 15_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /(http:\/\/127\.0\.0\.1:\d+\/#token=\S+)/.exec(text);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1]!, origin: new URL(match[1]!).origin });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`patchbay ui exited with ${code}:\n${text}`));
    });
  });
}
