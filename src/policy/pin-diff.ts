/**
 * What changed between two pinned views of a tool, for a reviewer: a one-line summary by field
 * and a unified line diff (from the `diff` library) of their canonical pretty-printed JSON.
 */

import { structuredPatch } from 'diff';

import { createObject, getOwn, isObject, type JsonValue } from '../core/json-source.js';
import { canonical, PINNED_FIELDS, type PinnedView } from './pin-view.js';

export interface FieldChange {
  field: string;
  kind: 'changed' | 'added' | 'removed';
}

export interface ViewDiff {
  /** One line, e.g. "description and inputSchema changed, outputSchema added". */
  summary: string;
  fields: FieldChange[];
  /** Unified-diff lines of the canonical pretty-printed JSON: `@@` hunk headers, then ' ', '-', '+' lines. */
  lines: string[];
}

const DIFF_CONTEXT = 3;
/**
 * Beyond this many changed lines the diff engine gives up aligning (its cost grows with the
 * square of it) and the diff shows all the old lines, then all the new.
 */
const MAX_EDIT_LENGTH = 2_000;

/**
 * What changed between two views. The text is a server's, so invisible and direction-changing
 * characters (the usual way to hide instructions from a reviewer) are shown as `\u` escapes;
 * control characters are escaped by JSON already.
 */
export function diffViews(oldView: PinnedView, newView: PinnedView): ViewDiff {
  const fields = fieldChanges(oldView, newView);
  return {
    summary: summarize(fields, oldView, newView),
    fields,
    lines: unifiedDiff(renderView(oldView), renderView(newView), DIFF_CONTEXT),
  };
}

function renderView(view: PinnedView): string[] {
  return revealHidden(JSON.stringify(canonical(view), null, 2)).split('\n');
}

const HIDDEN = /[\p{Cf}\p{Co}\p{Zl}\p{Zp}\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/gu;

function revealHidden(text: string): string {
  return text.replace(HIDDEN, (char) => {
    let escaped = '';
    for (let i = 0; i < char.length; i++) escaped += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
    return escaped;
  });
}

function fieldChanges(oldView: PinnedView, newView: PinnedView): FieldChange[] {
  const known: readonly string[] = PINNED_FIELDS;
  const others = [...new Set([...Object.keys(oldView), ...Object.keys(newView)])]
    .filter((field) => !known.includes(field))
    .sort();
  const changes: FieldChange[] = [];
  for (const field of [...known, ...others]) {
    const before = getOwn(oldView, field);
    const after = getOwn(newView, field);
    if (before === undefined && after === undefined) continue;
    if (before === undefined) changes.push({ field, kind: 'added' });
    else if (after === undefined) changes.push({ field, kind: 'removed' });
    else if (JSON.stringify(canonical(before)) !== JSON.stringify(canonical(after))) {
      changes.push({ field, kind: 'changed' });
    }
  }
  return changes;
}

function summarize(fields: readonly FieldChange[], oldView: PinnedView, newView: PinnedView): string {
  if (fields.length === 0) return 'nothing changed';
  const clauses: string[] = [];
  for (const kind of ['changed', 'added', 'removed'] as const) {
    const named = fields.filter((change) => change.kind === kind).map((change) => change.field);
    if (named.length > 0) clauses.push(`${joinWords(named)} ${kind}`);
  }
  const hints = hintChanges(getOwn(oldView, 'annotations'), getOwn(newView, 'annotations'));
  return hints.length > 0 ? `${clauses.join(', ')} (${hints.join(', ')})` : clauses.join(', ');
}

/** Annotation hints that flipped, e.g. `readOnlyHint: true → false`: the ones a reviewer must not miss. */
function hintChanges(before: JsonValue | undefined, after: JsonValue | undefined): string[] {
  const oldHints = isObject(before) ? before : createObject();
  const newHints = isObject(after) ? after : createObject();
  const show = (value: JsonValue | undefined) => (value === undefined ? 'absent' : String(value));
  const flips: string[] = [];
  for (const hint of [...new Set([...Object.keys(oldHints), ...Object.keys(newHints)])].sort()) {
    const was = getOwn(oldHints, hint);
    const now = getOwn(newHints, hint);
    const flag = (value: JsonValue | undefined) => value === undefined || typeof value === 'boolean';
    if (was !== now && flag(was) && flag(now)) flips.push(`${hint}: ${show(was)} → ${show(now)}`);
  }
  return flips;
}

function joinWords(words: readonly string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

/** Unified-diff lines (hunk headers and ' ', '-', '+' lines); none when equal. */
function unifiedDiff(before: readonly string[], after: readonly string[], context: number): string[] {
  // Every line ends in a newline, so the library adds no "\ No newline at end of file" markers.
  const patch = structuredPatch('', '', toText(before), toText(after), undefined, undefined, {
    context,
    maxEditLength: MAX_EDIT_LENGTH,
  });
  if (!patch) return wholesale(before, after, context);
  return patch.hunks.flatMap((hunk) => [
    hunkHeader(hunk.oldStart, hunk.oldLines, hunk.newStart, hunk.newLines),
    ...hunk.lines,
  ]);
}

function toText(lines: readonly string[]): string {
  return lines.map((line) => `${line}\n`).join('');
}

/** `@@ -a,b +c,d @@`; an empty side names the line before it, as unified diffs do. */
function hunkHeader(oldStart: number, oldLines: number, newStart: number, newLines: number): string {
  const from = oldLines === 0 ? oldStart - 1 : oldStart;
  const to = newLines === 0 ? newStart - 1 : newStart;
  return `@@ -${from},${oldLines} +${to},${newLines} @@`;
}

/** One hunk replacing everything between the common first and last lines: all old, then all new. */
function wholesale(before: readonly string[], after: readonly string[], context: number): string[] {
  let prefix = 0;
  while (prefix < before.length && prefix < after.length && before[prefix] === after[prefix]) prefix++;
  let suffix = 0;
  while (
    suffix < before.length - prefix &&
    suffix < after.length - prefix &&
    before[before.length - 1 - suffix] === after[after.length - 1 - suffix]
  ) {
    suffix++;
  }
  const start = Math.max(0, prefix - context);
  const lead = before.slice(start, prefix);
  const trail = before.slice(before.length - suffix, before.length - suffix + context);
  const removed = before.slice(prefix, before.length - suffix);
  const added = after.slice(prefix, after.length - suffix);
  const oldLines = lead.length + removed.length + trail.length;
  const newLines = lead.length + added.length + trail.length;
  return [
    hunkHeader(start + 1, oldLines, start + 1, newLines),
    ...lead.map((line) => ` ${line}`),
    ...removed.map((line) => `-${line}`),
    ...added.map((line) => `+${line}`),
    ...trail.map((line) => ` ${line}`),
  ];
}
