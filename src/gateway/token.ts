/**
 * The gateway's bearer token: random (256 bits), made on first use, kept in
 * `<data dir>/gateway-token` with mode 0600, and the same on every later start so that hosts
 * configured with it keep working.
 */

import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { PatchbayError } from '../errors.js';
import { writeFileAtomic } from '../core/file-store.js';
import type { Paths } from '../core/paths.js';

/** The token in `paths.gatewayToken`, made (32 random bytes, 0600) on first use. */
export async function gatewayToken(paths: Paths): Promise<string> {
  const path = paths.gatewayToken;
  try {
    const stored = (await readFile(path, 'utf8')).trim();
    if (/^[A-Za-z0-9_-]{32,}$/.test(stored)) return stored;
    throw new PatchbayError('read-failed', `${path} does not hold a gateway token.`, {
      hint: `Remove it and run patchbay serve --print-token to make a new one (hosts configured with the old one need the new one).`,
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const token = randomBytes(32).toString('base64url');
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${token}\n`, { mode: 0o600, secret: true });
  return token;
}
