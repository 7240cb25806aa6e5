/**
 * The only `src`/`href` values the console builds: data: URLs from base64 the server sent, for
 * media types on an allow-list, and blob: URLs for downloads. A server never chooses a URL the
 * page loads or a type the browser would run (no SVG, no HTML).
 */

const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
const AUDIO_TYPE = /^audio\/[a-z0-9][a-z0-9.+-]*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function normalize(mimeType: unknown): string | null {
  if (typeof mimeType !== 'string') return null;
  return mimeType.split(';')[0]!.trim().toLowerCase();
}

function isBase64(data: unknown): data is string {
  return typeof data === 'string' && data.length % 4 === 0 && BASE64.test(data);
}

export function imageDataUrl(data: unknown, mimeType: unknown): string | null {
  const type = normalize(mimeType);
  if (!type || !IMAGE_TYPES.has(type) || !isBase64(data)) return null;
  return `data:${type};base64,${data}`;
}

export function audioDataUrl(data: unknown, mimeType: unknown): string | null {
  const type = normalize(mimeType);
  if (!type || !AUDIO_TYPE.test(type) || !isBase64(data)) return null;
  return `data:${type};base64,${data}`;
}

export function base64ToBytes(data: string): Uint8Array<ArrayBuffer> | null {
  if (!isBase64(data)) return null;
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

/** A file name for a download, from the last path segment of a URI; never a path. */
export function downloadName(uri: string, fallback = 'resource'): string {
  const last = uri.split(/[?#]/)[0]!.split('/').filter(Boolean).pop() ?? '';
  let decoded = last;
  try {
    decoded = decodeURIComponent(last);
  } catch {
    // keep it encoded
  }
  const safe = decoded.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '');
  return safe.slice(0, 100) || fallback;
}
