/**
 * Client secrets from before the credential store: `${configDir}/credentials.json`, mode 0600,
 * `{ "clientSecrets": { "<name> <url>": "<secret>" } }`, written by `patchbay add --client-secret`.
 *
 * The store reads this file as a fallback (so reading never writes, and a health check stays
 * side-effect free) and empties it on the first write of any client secret: under the old file's
 * lock, each secret the store does not already have is moved into the store, then the moved
 * entries are removed from the old file, and the file itself once nothing else is left in it.
 * A crash between the two steps leaves a secret in both places, never in neither.
 */

import { promises as fs } from 'node:fs';

import { PatchbayError } from '../errors.js';
import { readJsonFile, withFileLock, writeFileAtomic, type LoadedFile } from '../core/file-store.js';
import { getOwn, isObject, stringifyJson, type JsonObject } from '../core/json-source.js';
export interface LegacySecret {
  name: string;
  url: string;
  secret: string;
}

/** The store's key for a client secret, and the old file's: names never contain a space. */
export function clientSecretKey(name: string, url: string): string {
  return `${name} ${url}`;
}

function splitKey(key: string): { name: string; url: string } | undefined {
  const space = key.indexOf(' ');
  return space > 0 ? { name: key.slice(0, space), url: key.slice(space + 1) } : undefined;
}

function secretsOf(file: LoadedFile): { root: JsonObject; secrets: LegacySecret[] } | undefined {
  if (file.error) {
    throw new PatchbayError(file.error.code, file.error.message, {
      hint: `${file.error.hint ?? ''} It holds OAuth client secrets from patchbay add --client-secret.`.trim(),
      cause: file.error,
    });
  }
  if (!file.parsed) return undefined;
  const root = file.parsed.value;
  const where = (path: string[]) => {
    const position = file.parsed?.positionOf(path);
    return position ? `${file.path}:${position.line}:${position.column}` : file.path;
  };
  if (!isObject(root)) {
    throw new PatchbayError('config-shape', `${where([])}: expected an object.`, {
      hint: `Fix ${file.path} by hand; patchbay will not rewrite it while it is broken.`,
    });
  }
  const section = getOwn(root, 'clientSecrets');
  if (section === undefined) return { root, secrets: [] };
  if (!isObject(section)) {
    throw new PatchbayError('config-shape', `${where(['clientSecrets'])}: expected an object.`, {
      hint: `Fix ${file.path} by hand; patchbay will not rewrite it while it is broken.`,
    });
  }
  const secrets: LegacySecret[] = [];
  for (const [key, secret] of Object.entries(section)) {
    const parts = splitKey(key);
    if (!parts || typeof secret !== 'string') {
      throw new PatchbayError(
        'config-shape',
        `${where(['clientSecrets', key])}: expected "<name> <url>": "<secret>".`,
        { hint: `Fix ${file.path} by hand; patchbay will not rewrite it while it is broken.` },
      );
    }
    secrets.push({ ...parts, secret });
  }
  return { root, secrets };
}

/** Every secret in the old file (none when there is no file). A broken file is an error. */
export async function readLegacySecrets(path: string): Promise<LegacySecret[]> {
  return secretsOf(await readJsonFile(path))?.secrets ?? [];
}

/**
 * Under the old file's lock, hand its secrets to `move` (which stores them), then remove them
 * from the file. Returns how many there were.
 */
export async function drainLegacySecrets(
  path: string,
  move: (secrets: LegacySecret[]) => Promise<void>,
): Promise<number> {
  try {
    await fs.access(path);
  } catch {
    return 0;
  }
  return withFileLock(path, 15_000, async () => {
    const file = await readJsonFile(path);
    const content = secretsOf(file);
    if (!content || content.secrets.length === 0) return 0;
    await move(content.secrets);
    delete content.root.clientSecrets;
    if (Object.keys(content.root).length === 0) {
      await fs.rm(path, { force: true });
    } else {
      await writeFileAtomic(path, stringifyJson(content.root, file.parsed?.indent ?? 2), {
        mode: 0o600,
        secret: true,
      });
    }
    return content.secrets.length;
  });
}
