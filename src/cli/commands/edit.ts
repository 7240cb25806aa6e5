/**
 * `patchbay edit <name>`: the server's entry, as JSON, in $VISUAL or $EDITOR; on save it is checked
 * and written back into the scope it came from (the job `set` and the console run,
 * use/edit-entry.ts), the rest of that file as it was. The editor runs as git runs one: through
 * the shell, so `EDITOR="code --wait"` works. Nothing is written when the editor fails, the JSON
 * is not valid, the entry does not check, or the stored entry changed meanwhile; the edited text
 * is then kept in its temporary file, whose path is printed, so no work is lost.
 */

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { PatchbayError } from '../../errors.js';
import { parseScope } from '../../config/add-options.js';
import type { Scope } from '../../config/entry.js';
import { validateName } from '../../config/validate.js';
import {
  contentDigest,
  isObject,
  parseJsonSource,
  stringifyJson,
  type JsonObject,
  type JsonValue,
} from '../../core/json-source.js';
import { editEntry, entryToEdit } from '../../use/edit-entry.js';
import { isInteractive, note, warn, type Io } from '../io.js';
import { loadForCommand } from '../registry-loader.js';

export interface EditOptions {
  name: string;
  scope?: Scope;
}

export function parseEditOptions(name: string, flags: { scope?: string }): EditOptions {
  const options: EditOptions = { name: validateName(name) };
  if (flags.scope !== undefined) options.scope = parseScope(flags.scope);
  return options;
}

/** $VISUAL on a terminal (the full-screen editor), else $EDITOR; none: undefined. */
export function editorOf(io: Io): string | undefined {
  const visual = io.env.VISUAL?.trim();
  if (visual && isInteractive(io)) return visual;
  return io.env.EDITOR?.trim() || undefined;
}

export async function runEdit(options: EditOptions, io: Io): Promise<number> {
  const editor = editorOf(io);
  if (editor === undefined)
    throw new PatchbayError(
      isInteractive(io) ? 'usage' : 'no-tty',
      isInteractive(io)
        ? 'No editor to open: neither $VISUAL nor $EDITOR is set.'
        : 'patchbay edit opens an editor, but there is no terminal and $EDITOR is not set.',
      {
        hint: `Change one key with: patchbay set ${options.name} <key> <value>   (or set $EDITOR, e.g. EDITOR=nano)`,
      },
    );
  const registry = await loadForCommand(io);
  const { scoped } = entryToEdit(registry, options.name, options.scope);
  const original = stringifyJson(scoped.raw, 2);
  const digest = contentDigest(scoped.raw);

  // Private: the entry may hold literal secrets.
  const dir = await mkdtemp(join(tmpdir(), 'patchbay-edit-'));
  const file = join(dir, `${options.name}.json`);
  let keep = false;
  try {
    await writeFile(file, original, { mode: 0o600 });
    await runEditor(editor, file, io);
    const text = await readFile(file, 'utf8');
    if (text === original) {
      note(io, `No changes to ${options.name}.`);
      return 0;
    }
    keep = true;
    const edited = parseEdited(text, file);
    const result = await editEntry(registry, scoped, {
      env: io.env,
      change: (stored) => {
        if (contentDigest(stored) !== digest)
          throw new PatchbayError(
            'conflict',
            `${options.name} in ${scoped.path} changed while it was open in the editor; it was not overwritten.`,
            { hint: `Your edit is kept in ${file}. Run patchbay edit ${options.name} again and copy it in.` },
          );
        return edited;
      },
    });
    keep = false;
    for (const warning of result.warnings) warn(io, warning);
    const changed = changedKeys(scoped.raw, edited);
    note(
      io,
      `Edited ${options.name} in the ${result.scope} scope (${result.path})${changed.length ? `: ${changed.join(', ')}` : ''}.`,
    );
    return 0;
  } catch (error) {
    if (keep && error instanceof PatchbayError && !error.hint?.includes(file))
      throw new PatchbayError(
        error.code,
        `${error.message}\nNothing was written; your edit is kept in ${file}.`,
        {
          ...(error.hint ? { hint: error.hint } : {}),
          cause: error,
        },
      );
    throw error;
  } finally {
    if (!keep) await rm(dir, { recursive: true, force: true });
  }
}

function parseEdited(text: string, file: string): JsonObject {
  let value: JsonValue;
  try {
    value = parseJsonSource(text, { fileLabel: file }).value;
  } catch (error) {
    if (!(error instanceof PatchbayError)) throw error;
    throw new PatchbayError('invalid-json', error.message, {
      hint: 'The entry is JSON: fix the syntax and run patchbay edit again.',
    });
  }
  if (!isObject(value))
    throw new PatchbayError('config-shape', `${file}: expected the entry as a JSON object.`, {
      hint: 'Edit the entry\'s keys ("url", "headers", "command", …) inside its { }.',
    });
  return value;
}

/** The editor, through the shell (as git runs $EDITOR), on the terminal patchbay has. */
function runEditor(editor: string, file: string, io: Io): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child =
      process.platform === 'win32'
        ? spawn(`${editor} "${file}"`, { shell: true, stdio: 'inherit', env: io.env, cwd: io.cwd })
        : spawn('/bin/sh', ['-c', `${editor} "$@"`, editor, file], {
            stdio: 'inherit',
            env: io.env,
            cwd: io.cwd,
          });
    child.once('error', (error) =>
      reject(
        new PatchbayError(
          'editor-failed',
          `Could not start the editor ${JSON.stringify(editor)}: ${error.message}.`,
          {
            hint: 'Check $VISUAL / $EDITOR, or change one key with patchbay set.',
          },
        ),
      ),
    );
    child.once('exit', (code, signal) => {
      if (code === 0) resolvePromise();
      else
        reject(
          new PatchbayError(
            'editor-failed',
            `The editor ${JSON.stringify(editor)} exited with ${signal ?? `status ${code}`}; nothing was changed.`,
            { hint: 'Check $VISUAL / $EDITOR, or change one key with patchbay set.' },
          ),
        );
    });
  });
}

/** Top-level keys (one level into objects) whose value changed: names only, never values. */
function changedKeys(before: JsonValue, after: JsonObject): string[] {
  const old = isObject(before) ? before : {};
  const keys = new Set([...Object.keys(old), ...Object.keys(after)]);
  const changed: string[] = [];
  for (const key of keys) {
    const a = Object.hasOwn(old, key) ? old[key] : undefined;
    const b = Object.hasOwn(after, key) ? after[key] : undefined;
    if (isObject(a) && isObject(b)) {
      for (const inner of new Set([...Object.keys(a), ...Object.keys(b)])) {
        const x = Object.hasOwn(a, inner) ? a[inner] : undefined;
        const y = Object.hasOwn(b, inner) ? b[inner] : undefined;
        if (JSON.stringify(x) !== JSON.stringify(y)) changed.push(`${key}.${inner}`);
      }
    } else if (JSON.stringify(a) !== JSON.stringify(b)) changed.push(key);
  }
  return changed;
}
