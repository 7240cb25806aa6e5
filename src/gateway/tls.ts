/**
 * The gateway's listener speaking TLS itself (`--tls-cert FILE --tls-key FILE`, a deployment's
 * `tls`): a `node:https` server whose certificate and key are read at start — a file that cannot
 * be read, is not PEM, or a key that does not match the certificate stops the start with a message
 * naming the file — and read again when either file changes or on SIGHUP (certificates rotate:
 * cert-manager, certbot). A rotation that yields bad files keeps the pair in use and says so.
 */

import { watchFile, unwatchFile } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server as HttpsServer, type ServerOptions } from 'node:https';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';

import { PatchbayError } from '../errors.js';

export interface TlsFiles {
  cert: string;
  key: string;
}

export interface TlsEvents {
  /** The files changed (or SIGHUP) and the new pair is served. */
  onReloaded?: () => void;
  /** They changed but could not be used; the pair in use stays. */
  onReloadFailed?: (error: Error) => void;
}

/** How often the files are looked at (stat, so a symlink swapped under them is seen too). */
export const TLS_POLL_MS = 1_000;

/** The certificate and key, checked; a PatchbayError (tls-config) naming the file that is wrong. */
export async function readTlsFiles(files: TlsFiles): Promise<{ cert: Buffer; key: Buffer }> {
  const read = async (path: string, what: string) => {
    try {
      return await readFile(path);
    } catch (error) {
      throw tlsError(
        `Could not read the TLS ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`,
      );
    }
  };
  const [cert, key] = await Promise.all([read(files.cert, 'certificate'), read(files.key, 'key')]);
  try {
    new X509Certificate(cert);
  } catch {
    throw tlsError(`The TLS certificate ${files.cert} is not a PEM certificate.`);
  }
  try {
    createPrivateKey(key);
  } catch {
    throw tlsError(`The TLS key ${files.key} is not an unencrypted PEM private key.`);
  }
  try {
    createSecureContext({ cert, key });
  } catch {
    throw tlsError(`The TLS key ${files.key} does not belong to the certificate ${files.cert}.`);
  }
  return { cert, key };
}

function tlsError(message: string): PatchbayError {
  return new PatchbayError('tls-config', message, {
    hint: 'Point --tls-cert and --tls-key (or the deployment\'s "tls") at the PEM certificate chain and its key.',
  });
}

/**
 * An https server with these files, reloading them as they change. `stopWatching` ends that (the
 * server itself is closed by its owner).
 */
export async function createTlsServer(
  options: ServerOptions,
  files: TlsFiles,
  events: TlsEvents = {},
): Promise<{ server: HttpsServer; stopWatching: () => void }> {
  const server = createServer({ ...options, ...(await readTlsFiles(files)) });
  let reloading: Promise<void> | undefined;
  let again = false;
  const reload = () => {
    if (reloading) {
      again = true;
      return;
    }
    reloading = readTlsFiles(files)
      .then((pair) => {
        server.setSecureContext({ ...options, ...pair });
        events.onReloaded?.();
      })
      .catch((error: Error) => events.onReloadFailed?.(error))
      .finally(() => {
        reloading = undefined;
        if (again) {
          again = false;
          reload();
        }
      });
  };
  const onChange = (
    current: { mtimeMs: number; ino: number },
    previous: { mtimeMs: number; ino: number },
  ) => {
    if (current.mtimeMs !== previous.mtimeMs || current.ino !== previous.ino) reload();
  };
  for (const path of [files.cert, files.key])
    watchFile(path, { interval: TLS_POLL_MS, persistent: false }, onChange);
  process.on('SIGHUP', reload);
  return {
    server,
    stopWatching: () => {
      process.off('SIGHUP', reload);
      for (const path of [files.cert, files.key]) unwatchFile(path, onChange);
    },
  };
}
