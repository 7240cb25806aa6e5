/**
 * A running console, findable by the next `patchbay ui`: a spent one-time link (opened in a second
 * browser, or a tab whose session is gone) is then not a dead end — run `patchbay ui` again and it
 * prints a fresh link to the console already running, instead of starting a second one.
 *
 * The console writes `consoles/<project key>.json` under the state directory, mode 0600 in a 0700
 * directory: its pid, port and a random control secret. The next `patchbay ui` for the same project
 * reads it and asks that console (`POST /api/launch`, `Authorization: Bearer <control secret>`, on
 * 127.0.0.1) for a new launch token. The secret opens nothing but that: a launch token, which is
 * what the person running `patchbay ui` gets anyway. A file whose process is gone, or whose port
 * does not answer as that console, is stale and ignored (and replaced by the new console's).
 *
 * One file per project root, because a console shows one project's servers: `patchbay ui` in
 * another project starts its own.
 */

import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';

import { writeFileAtomic } from '../core/file-store.js';
import type { Paths } from '../core/paths.js';
import { randomSecret } from './session.js';

export interface Registration {
  pid: number;
  port: number;
  projectRoot: string;
  control: string;
}

/** How long the next `patchbay ui` waits for a running console's answer before starting its own. */
const ASK_TIMEOUT_MS = 3_000;

export function registrationPath(paths: Paths, projectRoot: string): string {
  const key = createHash('sha256').update(projectRoot, 'utf8').digest('hex').slice(0, 16);
  return join(paths.consolesDir, `${key}.json`);
}

/** Record this console for the next `patchbay ui`; returns its control secret and a remover. */
export async function registerConsole(
  paths: Paths,
  projectRoot: string,
  port: number,
): Promise<{ control: string; unregister(): Promise<void> }> {
  const path = registrationPath(paths, projectRoot);
  const control = randomSecret();
  const record: Registration = { pid: process.pid, port, projectRoot, control };
  await mkdir(paths.consolesDir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify(record)}\n`, { mode: 0o600, secret: true });
  return {
    control,
    async unregister() {
      // Only our own file: a console started since may have replaced it.
      const current = await readRegistration(path);
      if (current?.control === control) await rm(path, { force: true });
    },
  };
}

/** Whether `authorization` is `Bearer <control>` (compared through digests, so timing tells nothing). */
export function isControlRequest(authorization: string | null, control: string): boolean {
  const given = /^Bearer +(\S+)$/i.exec(authorization?.trim() ?? '')?.[1];
  if (given === undefined) return false;
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(control));
}

async function readRegistration(path: string): Promise<Registration | undefined> {
  try {
    const value = JSON.parse(await readFile(path, 'utf8')) as Partial<Registration>;
    if (
      typeof value.pid === 'number' &&
      Number.isSafeInteger(value.port) &&
      typeof value.port === 'number' &&
      value.port > 0 &&
      value.port < 65_536 &&
      typeof value.projectRoot === 'string' &&
      typeof value.control === 'string'
    )
      return value as Registration;
  } catch {
    // Absent or unreadable: no console to reuse.
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    // ESRCH: gone. EPERM: another user's process under a reused pid, not our console either.
    return false;
  }
}

/**
 * A fresh one-time URL from the console already running for this project, or undefined when
 * there is none (no file, its process gone, or its port not answering as that console).
 */
export async function askRunningConsole(
  paths: Paths,
  projectRoot: string,
): Promise<{ url: string; origin: string; port: number } | undefined> {
  const registration = await readRegistration(registrationPath(paths, projectRoot));
  if (!registration || registration.projectRoot !== projectRoot || !isAlive(registration.pid))
    return undefined;
  const origin = `http://127.0.0.1:${registration.port}`;
  const answer = await postLaunch(registration.port, origin, registration.control);
  if (answer === undefined) return undefined;
  const url = new URL(answer);
  // Only a link to that very console is printed.
  if (url.origin !== origin || !/^#token=[A-Za-z0-9_-]+$/.test(url.hash)) return undefined;
  return { url: url.href, origin, port: registration.port };
}

function postLaunch(port: number, origin: string, control: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const body = '{}';
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/launch',
        timeout: ASK_TIMEOUT_MS,
        headers: {
          host: `127.0.0.1:${port}`,
          origin,
          authorization: `Bearer ${control}`,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          if (res.statusCode !== 201) return resolve(undefined);
          try {
            const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { url?: unknown };
            resolve(typeof parsed.url === 'string' ? parsed.url : undefined);
          } catch {
            resolve(undefined);
          }
        });
        res.on('error', () => resolve(undefined));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end(body);
  });
}
