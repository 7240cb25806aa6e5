/**
 * tls.ts: the listener's certificate and key checked at start (a wrong file named), and read
 * again when the files change or on SIGHUP — over real TLS connections on 127.0.0.1.
 */

import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';

import { afterEach, describe, expect, it } from 'vitest';

import { PatchbayError } from '../../src/errors.js';
import { createTlsServer, readTlsFiles, TLS_POLL_MS } from '../../src/gateway/tls.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
const fixture = (name: string) => join(FIXTURES, name);

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

/** The subject CN of the certificate the server at `port` presents. */
function servedName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const name = socket.getPeerCertificate().subject.CN;
      socket.destroy();
      resolve(String(name));
    });
    socket.once('error', reject);
  });
}

async function until(what: () => Promise<boolean>, withinMs: number): Promise<void> {
  for (const deadline = Date.now() + withinMs; !(await what());) {
    if (Date.now() > deadline) throw new Error('not within the time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('readTlsFiles', () => {
  it('accepts a certificate and its key', async () => {
    const pair = await readTlsFiles({ cert: fixture('server.pem'), key: fixture('server.key') });
    expect(pair.cert.toString()).toContain('BEGIN CERTIFICATE');
  });

  it.each([
    [
      'a missing certificate',
      'absent.pem',
      'server.key',
      /Could not read the TLS certificate .*absent\.pem: ENOENT/,
    ],
    ['a missing key', 'server.pem', 'absent.key', /Could not read the TLS key .*absent\.key: ENOENT/],
    [
      'a certificate that is not PEM',
      'not-pem.txt',
      'server.key',
      /TLS certificate .*not-pem\.txt is not a PEM certificate/,
    ],
    [
      'a key that is not a key',
      'server.pem',
      'server.pem',
      /TLS key .*server\.pem is not an unencrypted PEM private key/,
    ],
    [
      'a key of another certificate',
      'server.pem',
      'self-signed.key',
      /TLS key .*self-signed\.key does not belong to the certificate .*server\.pem/,
    ],
  ])('names the file for %s', async (_what, cert, key, message) => {
    const error = await readTlsFiles({ cert: fixture(cert), key: fixture(key) }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(PatchbayError);
    expect((error as PatchbayError).code).toBe('tls-config');
    expect((error as PatchbayError).message).toMatch(message);
  });
});

describe('createTlsServer', () => {
  it('serves the new pair when the files change, keeps the old one when they are bad, and reloads on SIGHUP', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'patchbay-tls-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
    await copyFile(fixture('server.pem'), files.cert);
    await copyFile(fixture('server.key'), files.key);
    const reloads: string[] = [];
    const { server, stopWatching } = await createTlsServer({}, files, {
      onReloaded: () => reloads.push('ok'),
      onReloadFailed: (error) => reloads.push(error.message),
    });
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())), stopWatching);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    expect(await servedName(port)).toBe('patchbay test server');

    // Rotated: key first, then the certificate (a moment where they do not match is not served).
    await copyFile(fixture('wrong-host.key'), files.key);
    await copyFile(fixture('wrong-host.pem'), files.cert);
    await until(async () => (await servedName(port)) === 'patchbay test wrong-host', TLS_POLL_MS * 6);

    // A bad rotation: said, and the pair in use stays.
    await copyFile(fixture('not-pem.txt'), files.cert);
    await until(async () => reloads.some((entry) => /not a PEM certificate/.test(entry)), TLS_POLL_MS * 6);
    expect(await servedName(port)).toBe('patchbay test wrong-host');

    // Put back: served again.
    await copyFile(fixture('server.key'), files.key);
    await copyFile(fixture('server.pem'), files.cert);
    await until(async () => (await servedName(port)) === 'patchbay test server', TLS_POLL_MS * 6);

    // SIGHUP reads them again though nothing changed (a rotation the watch could not see).
    await new Promise((resolve) => setTimeout(resolve, TLS_POLL_MS * 2));
    const before = reloads.length;
    process.kill(process.pid, 'SIGHUP');
    await until(async () => reloads.length > before, TLS_POLL_MS / 2);
    expect(reloads.at(-1)).toBe('ok');
    expect(await servedName(port)).toBe('patchbay test server');
  });
});
