/**
 * Fixes that are commands: rebuilt from the entry as written, so pasting one keeps the
 * server's other settings. Literal secrets are never printed (they show as ****; put yours back).
 */

import type { Scope, ServerEntry, Transport } from '../config/entry.js';
import { isSecretName, maskUrl, maskValue } from '../config/mask.js';
import { shellWord } from './text.js';

export interface AddChanges {
  transport?: Transport;
  url?: string;
  caFile?: string;
  /** Flags to add, already shell-quoted, e.g. ['--client-id', '<client-id>']. */
  extraFlags?: string[];
}

/** `patchbay add --force -s <scope> [flags as configured, with the changes] <name> <url>`. */
export function addCommand(name: string, scope: Scope, template: ServerEntry, changes: AddChanges): string {
  const transport = changes.transport ?? template.transport;
  const words = ['patchbay', 'add', '--force', '-s', scope];
  if (transport !== 'http') words.push('-t', transport);
  for (const [header, value] of Object.entries(template.headers ?? {}))
    words.push('-H', shellWord(`${header}: ${isSecretName(header) ? maskValue(value) : value}`));
  if (template.headersHelper) words.push('--headers-helper', shellWord(template.headersHelper));
  if (template.oauth?.clientId) words.push('--client-id', shellWord(template.oauth.clientId));
  if (template.oauth?.callbackPort) words.push('--callback-port', String(template.oauth.callbackPort));
  const caFile = changes.caFile ?? template.tls?.caFile;
  if (caFile) words.push('--ca-file', shellWord(caFile));
  if (template.tls?.certFile) words.push('--client-cert', shellWord(template.tls.certFile));
  if (template.tls?.keyFile) words.push('--client-key', shellWord(template.tls.keyFile));
  if (template.timeout) words.push('--timeout', String(template.timeout));
  words.push(...(changes.extraFlags ?? []));
  words.push(shellWord(name), shellWord(maskUrl(changes.url ?? template.url ?? '')));
  return words.join(' ');
}
