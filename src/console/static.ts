/**
 * The console's page: the built front end (web/ → dist/web/), served from one directory. Only
 * files inside it are ever read: a path that climbs out (`..`, encoded or not), holds a backslash
 * or NUL, or leads through a link to elsewhere is refused; a directory is never listed. `/` is
 * index.html, and so is any unknown path without an extension (the page's own routes).
 */

import { promises as fs } from 'node:fs';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/web, beside dist/console where this file is built. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../web/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

function text(status: number, body: string): Response {
  return new Response(`${body}\n`, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

const notFound = () => text(404, 'Not found.');

export async function serveStatic(root: string, pathname: string, method: string): Promise<Response> {
  if (method !== 'GET' && method !== 'HEAD')
    return new Response('Method not allowed.\n', {
      status: 405,
      headers: { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' },
    });
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return notFound();
  }
  const segments = decoded.split('/').filter((segment) => segment !== '');
  if (
    decoded.includes('\0') ||
    decoded.includes('\\') ||
    segments.some((segment) => segment === '..' || segment === '.')
  )
    return notFound();
  const base = resolve(root);
  const wanted = segments.length === 0 ? 'index.html' : segments.join(sep);
  let found = await fileIn(base, wanted);
  if (!found && (segments.length === 0 || extname(decoded) === '')) {
    found = await fileIn(base, 'index.html');
    if (!found && segments.length === 0)
      return text(503, "The console's page is not built: run `node web/build.mjs` (or npm run build).");
  }
  if (!found) return notFound();
  const body = method === 'HEAD' ? null : await fs.readFile(found);
  return new Response(body, {
    status: 200,
    headers: {
      'content-type': CONTENT_TYPES[extname(found).toLowerCase()] ?? 'application/octet-stream',
    },
  });
}

/** The real path of a regular file under `base`, or undefined (missing, a directory, or outside). */
async function fileIn(base: string, relative: string): Promise<string | undefined> {
  const candidate = resolve(base, relative);
  if (!candidate.startsWith(base + sep)) return undefined;
  try {
    const [real, realBase] = await Promise.all([fs.realpath(candidate), fs.realpath(base)]);
    if (!real.startsWith(realBase + sep)) return undefined;
    const stat = await fs.stat(real);
    return stat.isFile() ? real : undefined;
  } catch {
    return undefined;
  }
}
