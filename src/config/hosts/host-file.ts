/**
 * Edits of another host's file that leave everything else in it as it was: comments, blank lines,
 * key order, indentation, line endings, trailing commas, the file's mode, and a symlink's target.
 * A changed entry is written in place of the old one; a new one goes on its own line after the
 * last entry, in the file's indentation. Nothing else is reformatted: jsonc-parser (a maintained
 * JSONC library) parses the text into nodes with offsets and scans tokens; its own `modify` is not
 * used: it reformats the neighbouring lines, moves a trailing comment onto the new entry, and
 * leaves `{,` when it removes an entry followed by a trailing comma.
 *
 * The edited text is parsed again and compared with the intended value before anything is
 * written, so a file is never left meaning something other than what the report says.
 */

import { copyFile, lstat, mkdir, readFile, realpath, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

import {
  applyEdits,
  createScanner,
  findNodeAtLocation,
  parseTree,
  type Node,
  type SyntaxKind as TokenKind,
} from 'jsonc-parser';

import { PatchbayError } from '../../errors.js';
import { readJsonFile, withFileLock, writeFileAtomic, type LoadedFile } from '../../core/file-store.js';
import {
  contentDigest,
  createObject,
  getOwn,
  isObject,
  parseJsonSource,
  setOwn,
  stringifyJson,
  type JsonObject,
  type JsonValue,
} from '../../core/json-source.js';

/** Set `path` to `value`, creating the objects on the way; `undefined` removes the key. */
export interface HostEdit {
  path: string[];
  value: JsonValue | undefined;
}

export interface HostFileOutcome<T> {
  result: T;
  /** The file that was (or would be) edited: a symlink's target, not the link. */
  path: string;
  exists: boolean;
  /** The file's mode (`0o600`), kept by the write; undefined for a new file. */
  mode?: number;
  /** Where the previous file was copied; none for a new file, a dry run or no change. */
  backup?: string;
  written: boolean;
}

export function backupPath(path: string, now = new Date()): string {
  return `${path}.patchbay-backup-${now.toISOString().replace(/[:.]/g, '-')}`;
}

/** A symlinked config (a dotfiles repository) is edited where it lives, so the link stays a link. */
async function resolveTarget(path: string): Promise<string> {
  try {
    if ((await lstat(path)).isSymbolicLink()) return await realpath(path);
  } catch {
    // Absent, or a dangling link: the path as given.
  }
  return path;
}

/**
 * Read the host file, let `decide` look at its value and return the edits to make, and (unless
 * `dryRun`) apply them under the file's lock: backup first, mode kept, atomic replace. `decide`
 * runs again under the lock against what is on disk then, so a concurrent change is not lost.
 */
export async function editHostFile<T>(
  path: string,
  options: { jsonc: boolean; dryRun: boolean },
  decide: (value: JsonValue, file: LoadedFile) => { edits: HostEdit[]; result: T },
): Promise<HostFileOutcome<T>> {
  const target = await resolveTarget(path);
  const attempt = async (write: boolean): Promise<HostFileOutcome<T>> => {
    const file = await readJsonFile(target, { jsonc: options.jsonc });
    if (file.error) {
      throw new PatchbayError(file.error.code, `${file.error.message}\nThe file was left unchanged.`, {
        hint: file.error.hint,
      });
    }
    const mode = file.exists ? (await stat(target)).mode & 0o7777 : undefined;
    const { edits, result } = decide(file.parsed?.value ?? createObject(), file);
    const outcome: HostFileOutcome<T> = {
      result,
      path: target,
      exists: file.exists,
      ...(mode !== undefined ? { mode } : {}),
      written: false,
    };
    if (!write || edits.length === 0) return outcome;
    const text = file.exists ? await readFile(target, 'utf8') : '';
    const edited = editJsonText(text, edits, { jsonc: options.jsonc, label: target });
    if (file.exists) {
      outcome.backup = backupPath(target);
      // copyFile creates the copy with the original's mode: a 0600 file's backup is 0600 too.
      await copyFile(target, outcome.backup);
    }
    // Not `secret`: that would tighten the mode, and the user's mode for their own file is kept.
    await writeFileAtomic(target, edited, { mode: 0o600, secret: false });
    outcome.written = true;
    return outcome;
  };
  if (options.dryRun) return attempt(false);
  await mkdir(dirname(target), { recursive: true, mode: 0o700 });
  return withFileLock(target, 15_000, () => attempt(true));
}

interface TextStyle {
  eol: string;
  /** One level of indentation. */
  unit: string;
}

function styleOf(text: string, indent: string | number): TextStyle {
  return {
    eol: text.includes('\r\n') ? '\r\n' : '\n',
    unit: typeof indent === 'number' ? ' '.repeat(indent) : indent,
  };
}

/** The whitespace a line starts with. */
function lineIndent(text: string, offset: number): string {
  const start = text.lastIndexOf('\n', offset - 1) + 1;
  return /^[ \t]*/.exec(text.slice(start))![0];
}

/** Whether only whitespace precedes `offset` on its line. */
function startsLine(text: string, offset: number): boolean {
  const start = text.lastIndexOf('\n', offset - 1) + 1;
  return /^[ \t]*$/.test(text.slice(start, offset));
}

/** A value in the file's style, its later lines indented under `indent`. */
function render(value: JsonValue, indent: string, style: TextStyle, multiline: boolean): string {
  if (!multiline) return JSON.stringify(value);
  return JSON.stringify(value, null, style.unit)
    .split('\n')
    .join(style.eol + indent);
}

/** `{ "key": value }` nested for the keys of `path`, innermost `value`. */
function nest(path: string[], value: JsonValue): JsonValue {
  let out = value;
  for (let index = path.length - 1; index >= 0; index--) {
    const object = createObject();
    setOwn(object, path[index]!, out);
    out = object;
  }
  return out;
}

// jsonc-parser declares its token kinds as a const enum, which this build cannot inline.
const SyntaxKind = {
  CommaToken: 5 as TokenKind,
  LineCommentTrivia: 12 as TokenKind,
  BlockCommentTrivia: 13 as TokenKind,
  LineBreakTrivia: 14 as TokenKind,
  Trivia: 15 as TokenKind,
  EOF: 17 as TokenKind,
};

const TRIVIA = new Set([SyntaxKind.Trivia, SyntaxKind.LineCommentTrivia, SyntaxKind.BlockCommentTrivia]);

/** One insertion of `"key": value` into the object `node` of `text`, as text edits. */
function insertProperty(
  text: string,
  node: Node,
  key: string,
  value: JsonValue,
  style: TextStyle,
): Array<{ offset: number; length: number; content: string }> {
  const properties = node.children ?? [];
  const objectIndent = lineIndent(text, node.offset);
  const last = properties.at(-1);
  if (!last) {
    // `{}`, `{ }` or `{` + comments + `}`: the first entry goes on its own line after the brace.
    const close = node.offset + node.length - 1;
    const inner = text.slice(node.offset + 1, close);
    const childIndent = objectIndent + style.unit;
    const entry = `${style.eol}${childIndent}${JSON.stringify(key)}: ${render(value, childIndent, style, true)}`;
    // With nothing but spaces inside, the closing brace moves to its own line.
    const closing = /^[ \t]*$/.test(inner) ? `${style.eol}${objectIndent}` : '';
    return [
      {
        offset: node.offset + 1,
        length: /^[ \t]*$/.test(inner) ? inner.length : 0,
        content: entry + closing,
      },
    ];
  }
  const lastEnd = last.offset + last.length;
  // Past the last entry: its comma (a trailing comma, in JSONC), then comments up to the line's end.
  const scanner = createScanner(text, false);
  scanner.setPosition(lastEnd);
  let comma = false;
  let lineEnd: number | undefined;
  let afterComma = lastEnd;
  for (let kind = scanner.scan(); kind !== SyntaxKind.EOF; kind = scanner.scan()) {
    if (kind === SyntaxKind.CommaToken && !comma) {
      comma = true;
      afterComma = scanner.getTokenOffset() + 1;
      continue;
    }
    if (kind === SyntaxKind.LineBreakTrivia) {
      lineEnd = scanner.getTokenOffset();
      break;
    }
    if (TRIVIA.has(kind)) continue;
    break; // The closing brace (or anything else) on the same line.
  }
  const keyText = JSON.stringify(key);
  if (lineEnd === undefined) {
    // Entries on one line (`{"a": 1}`): the new one joins them on that line, compact.
    const content = `${comma ? '' : ','} ${keyText}: ${render(value, '', style, false)}${comma ? ',' : ''}`;
    return [{ offset: afterComma, length: 0, content }];
  }
  const childIndent = startsLine(text, last.offset)
    ? lineIndent(text, last.offset)
    : objectIndent + style.unit;
  const entry = `${style.eol}${childIndent}${keyText}: ${render(value, childIndent, style, true)}${comma ? ',' : ''}`;
  const edits = [{ offset: lineEnd, length: 0, content: entry }];
  // The comma goes right after the previous entry, before any comment on its line.
  if (!comma) edits.unshift({ offset: lastEnd, length: 0, content: ',' });
  return edits;
}

/**
 * The property `node` removed with its comma. On a line of its own, the whole line goes (with a
 * comment after it, which was about it). jsonc-parser's `modify` leaves `{,` when it removes an
 * object's only entry that has a trailing comma, hence this.
 */
function removeProperty(
  text: string,
  node: Node,
): Array<{ offset: number; length: number; content: string }> {
  let start = node.offset;
  let end = node.offset + node.length;
  const scanner = createScanner(text, false);
  scanner.setPosition(end);
  let comma = false;
  let restOfLineIsTrivia = true;
  let lineEnd = text.length;
  for (let kind = scanner.scan(); kind !== SyntaxKind.EOF; kind = scanner.scan()) {
    if (kind === SyntaxKind.CommaToken && !comma) {
      comma = true;
      end = scanner.getTokenOffset() + 1;
      continue;
    }
    if (kind === SyntaxKind.LineBreakTrivia) {
      lineEnd = scanner.getTokenOffset() + scanner.getTokenLength();
      break;
    }
    if (kind === SyntaxKind.Trivia || kind === SyntaxKind.LineCommentTrivia) continue;
    restOfLineIsTrivia = false;
    break;
  }
  const siblings = node.parent?.children ?? [];
  const previous = siblings[siblings.indexOf(node) - 1];
  if (!comma && previous) {
    // The last entry without a trailing comma: the comma before it goes instead.
    const between = createScanner(text, false);
    between.setPosition(previous.offset + previous.length);
    let commaAt = start;
    for (let kind = between.scan(); kind !== SyntaxKind.EOF; kind = between.scan()) {
      if (kind === SyntaxKind.CommaToken) {
        commaAt = between.getTokenOffset();
        break;
      }
    }
    if (startsLine(text, node.offset) && restOfLineIsTrivia) {
      const lineStart = text.lastIndexOf('\n', node.offset - 1) + 1;
      return [
        { offset: commaAt, length: 1, content: '' },
        { offset: lineStart, length: lineEnd - lineStart, content: '' },
      ];
    }
    return [{ offset: commaAt, length: end - commaAt, content: '' }];
  }
  if (startsLine(text, node.offset) && restOfLineIsTrivia) {
    start = text.lastIndexOf('\n', node.offset - 1) + 1;
    end = lineEnd;
  }
  return [{ offset: start, length: end - start, content: '' }];
}

function oneEdit(
  text: string,
  edit: HostEdit,
  style: TextStyle,
): Array<{ offset: number; length: number; content: string }> {
  const root = parseTree(text, [], { allowTrailingComma: true, disallowComments: false });
  if (!root) throw new Error('unparsable text');
  if (edit.value === undefined) {
    const node = findNodeAtLocation(root, edit.path);
    return node?.parent ? removeProperty(text, node.parent) : [];
  }
  const existing = findNodeAtLocation(root, edit.path);
  if (existing) {
    // A changed entry keeps its place; comments inside the old one go with it.
    const indent = lineIndent(text, existing.parent?.offset ?? existing.offset);
    const multiline = text.slice(existing.offset, existing.offset + existing.length).includes('\n');
    return [
      {
        offset: existing.offset,
        length: existing.length,
        content: render(edit.value, indent, style, multiline),
      },
    ];
  }
  // The deepest object on the path that exists gets the rest of the path as one new entry.
  let depth = edit.path.length - 1;
  let parent: Node | undefined;
  for (; depth >= 0; depth--) {
    parent = depth === 0 ? root : findNodeAtLocation(root, edit.path.slice(0, depth));
    if (parent) break;
  }
  if (!parent || parent.type !== 'object')
    throw new Error(`not an object at ${edit.path.slice(0, depth).join('.')}`);
  return insertProperty(text, parent, edit.path[depth]!, nest(edit.path.slice(depth + 1), edit.value), style);
}

/** What the value reads as once `edits` are made, for checking the edited text. */
function expected(value: JsonValue, edits: HostEdit[]): JsonValue {
  const copy = JSON.parse(JSON.stringify(value)) as JsonValue;
  const root = isObject(copy) ? copy : createObject();
  for (const edit of edits) {
    let current: JsonObject = root;
    for (const key of edit.path.slice(0, -1)) {
      let next = getOwn(current, key);
      if (!isObject(next)) {
        next = createObject();
        setOwn(current, key, next);
      }
      current = next;
    }
    const last = edit.path.at(-1)!;
    if (edit.value === undefined) delete current[last];
    else setOwn(current, last, edit.value);
  }
  return root;
}

/**
 * `text` with `edits` made and nothing else changed; an empty `text` is a new file. Throws (and
 * the caller writes nothing) if the result does not read as exactly the intended value.
 */
export function editJsonText(
  text: string,
  edits: HostEdit[],
  options: { jsonc: boolean; label: string },
): string {
  const before =
    text.trim() === ''
      ? undefined
      : parseJsonSource(text, { jsonc: options.jsonc, fileLabel: options.label });
  const want = expected(before?.value ?? createObject(), edits);
  if (!before) return stringifyJson(want);
  const style = styleOf(text, before.indent);
  let out = text;
  for (const edit of edits) out = applyEdits(out, oneEdit(out, edit, style));
  let after: JsonValue | undefined;
  try {
    after = parseJsonSource(out, { jsonc: options.jsonc, fileLabel: options.label }).value;
  } catch {
    after = undefined;
  }
  if (after === undefined || contentDigest(after) !== contentDigest(want)) {
    throw new PatchbayError(
      'internal',
      `patchbay could not edit ${options.label} without changing more than it meant to; the file was left unchanged.`,
      {
        hint: 'Add the entry by hand (patchbay export --dry-run --json shows it), and report this at the patchbay issue tracker.',
      },
    );
  }
  return out;
}
