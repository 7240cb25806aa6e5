/**
 * The shell's history: per server, in the state directory (`shell-history/<name>`, 0600), the
 * last HISTORY_SIZE lines, newest last. A line is never written there when it starts with a space
 * (as bash's ignorespace) or when the one secret redactor (core/redact.ts) would mask anything in
 * it — a `token=…` argument, a bearer credential, a key-shaped string: it stays in this session's
 * Up-arrow history only.
 */

import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { maskSecretsInText } from '../../core/redact.js';
import type { Paths } from '../../core/paths.js';

export const HISTORY_SIZE = 500;

export function historyPath(paths: Paths, server: string): string {
  return join(paths.stateDir, 'shell-history', server);
}

/** Worth keeping on disk: not blank, not marked private by a leading space, nothing secret-looking. */
export function keepInHistory(line: string): boolean {
  if (line.trim() === '' || /^\s/.test(line)) return false;
  return maskSecretsInText(line) === line;
}

/** The saved lines, newest first (as readline wants them); none when there is no file. */
export async function loadHistory(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  const lines = text.split('\n').filter((line) => line !== '');
  // Kept bounded: trimmed here, once a session, rather than on every line.
  if (lines.length > HISTORY_SIZE)
    await writeFile(path, `${lines.slice(-HISTORY_SIZE).join('\n')}\n`, { mode: 0o600 }).catch(
      () => undefined,
    );
  return lines.slice(-HISTORY_SIZE).reverse();
}

/** Adds one line to the file (never throws: history is a convenience). */
export async function saveHistoryLine(path: string, line: string): Promise<void> {
  if (!keepInHistory(line)) return;
  try {
    await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
    await appendFile(path, `${line}\n`, { mode: 0o600 });
  } catch {
    // A read-only state directory: the session's own history still works.
  }
}
