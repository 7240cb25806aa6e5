/**
 * Secret masking of a server entry, for every output, human and `--json`: the URL, the headers,
 * the env and the arguments, by the rules of the one redactor (core/redact.ts).
 */

import type { ServerEntry } from './entry.js';
import { maskArgs, maskMap, maskUrl } from '../core/redact.js';

export { isSecretName, MASK, maskArgs, maskMap, maskUrl, maskValue } from '../core/redact.js';

export function maskEntry(entry: ServerEntry): ServerEntry {
  const out: ServerEntry = { ...entry };
  if (entry.url !== undefined) out.url = maskUrl(entry.url);
  if (entry.headers) out.headers = maskMap(entry.headers);
  if (entry.env) out.env = maskMap(entry.env);
  if (entry.args) out.args = maskArgs(entry.args);
  return out;
}
