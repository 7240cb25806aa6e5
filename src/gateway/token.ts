/**
 * The gateway's bearer token: random (256 bits), made on first use, kept in
 * `<data dir>/gateway-token` with mode 0600, and the same on every later start so that hosts
 * configured with it keep working. Several processes making it at once (replicas started together
 * on a fresh machine) agree on one: it is written whole to a file of its own, then linked into
 * place only if none is there yet (link fails when the name exists), and the loser reads the winner's.
 */

import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { PatchbayError } from '../errors.js';
import { tempPathFor } from '../core/file-store.js';
import type { Paths } from '../core/paths.js';

/** The token in `paths.gatewayToken`, made (32 random bytes, 0600) on first use. */
export async function gatewayToken(paths: Paths): Promise<string> {
  const stored = await storedToken(paths.gatewayToken);
  if (stored !== undefined) return stored;
  const path = paths.gatewayToken;
  const token = randomBytes(32).toString('base64url');
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
  const temp = tempPathFor(path);
  try {
    await writeFile(temp, `${token}\n`, { mode: 0o600, flag: 'wx' });
    await link(temp, path);
    return token;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // Another process made it first: that one is the token.
    const theirs = await storedToken(path);
    if (theirs === undefined) throw error;
    return theirs;
  } finally {
    await rm(temp, { force: true });
  }
}

/** The token kept in `path`; undefined when there is none yet. */
async function storedToken(path: string): Promise<string | undefined> {
  try {
    const stored = (await readFile(path, 'utf8')).trim();
    if (/^[A-Za-z0-9_-]{32,}$/.test(stored)) return stored;
    throw new PatchbayError('read-failed', `${path} does not hold a gateway token.`, {
      hint: `Remove it and run patchbay serve --print-token to make a new one (hosts configured with the old one need the new one).`,
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return undefined;
  }
}
