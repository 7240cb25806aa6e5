/**
 * A package registry on loopback that serves exactly what package-lock.json locks, from npm's own
 * cache: for installing the packed patchbay as a user would (`npm i -g`, `npx`) without the
 * internet.
 *
 * `npm install --offline` is not enough for that: npm resolves a tarball's dependency ranges
 * against each package's registry document (its packument), and `npm ci` installs from the lock
 * file without ever fetching one, so none is in the cache. This registry answers those documents
 * with the locked versions only (their dependencies, bins, engines and os/cpu/libc as the lock
 * records them) and serves each tarball from npm's content-addressed cache by its integrity
 * (cacache's content-v2 layout). A package or tarball it does not have is a 404 that says so:
 * the install then fails with that message instead of fetching anything.
 */

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

interface LockEntry {
  version: string;
  integrity?: string;
  resolved?: string;
  dev?: boolean;
  link?: boolean;
  [field: string]: unknown;
}

/** The manifest fields npm reads from a packument to resolve and place a version. */
const MANIFEST_FIELDS = [
  'dependencies',
  'optionalDependencies',
  'peerDependencies',
  'peerDependenciesMeta',
  'bin',
  'engines',
  'os',
  'cpu',
  'libc',
  'license',
];

export interface LockRegistry {
  url: string;
  /** Requests answered 404, as "name" or "name@version (tarball)". */
  missing: string[];
  close(): Promise<void>;
}

/** Where cacache keeps the content with this integrity (sha512-<base64>). */
export function cachedTarball(cacheDir: string, integrity: string): string {
  const [algorithm, digest] = integrity.split(' ')[0]!.split('-') as [string, string];
  const hex = Buffer.from(digest, 'base64').toString('hex');
  return join(cacheDir, '_cacache', 'content-v2', algorithm, hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
}

/**
 * `lockFile`: a package-lock.json (v2 or v3); `cacheDir`: npm's cache (`npm config get cache`).
 * `includeDev`: serve devDependencies too (by default only what an install of the package needs).
 */
export async function startLockRegistry(
  lockFile: string,
  cacheDir: string,
  includeDev = false,
): Promise<LockRegistry> {
  const lock = JSON.parse(await readFile(lockFile, 'utf8')) as { packages: Record<string, LockEntry> };
  /** name → version → lock entry */
  const packages = new Map<string, Map<string, LockEntry>>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.link || (entry.dev && !includeDev) || !entry.integrity) continue;
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    if (!packages.has(name)) packages.set(name, new Map());
    packages.get(name)!.set(entry.version, entry);
  }
  const missing: string[] = [];

  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname.slice(1));
      const tarball = /^(.+)\/-\/[^/]+-(\d[^/]*)\.tgz$/.exec(path);
      if (tarball) {
        const [, name, version] = tarball as unknown as [string, string, string];
        const entry = packages.get(name)?.get(version);
        const file = entry?.integrity ? cachedTarball(cacheDir, entry.integrity) : undefined;
        if (!file || !existsSync(file)) {
          missing.push(`${name}@${version} (tarball)`);
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              error: `${name}@${version} is not in npm's cache (${cacheDir}): run \`npm ci\` first; this registry serves only what the lock file locks and the cache holds`,
            }),
          );
          return;
        }
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(await readFile(file));
        return;
      }
      const versions = packages.get(path);
      if (!versions) {
        missing.push(path);
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `${path} is not in package-lock.json's runtime packages` }));
        return;
      }
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const base = path.slice(path.lastIndexOf('/') + 1);
      const document = {
        name: path,
        'dist-tags': { latest: [...versions.keys()].at(-1) },
        versions: Object.fromEntries(
          [...versions].map(([version, entry]) => [
            version,
            {
              name: path,
              version,
              ...Object.fromEntries(MANIFEST_FIELDS.filter((f) => f in entry).map((f) => [f, entry[f]])),
              _hasShrinkwrap: false,
              dist: { tarball: `${origin}/${path}/-/${base}-${version}.tgz`, integrity: entry.integrity },
            },
          ]),
        ),
      };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(document));
    })().catch((error: unknown) => {
      res.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    missing,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
