/**
 * The corpus the hot path's differential tests send through both paths (the hot path and its
 * reference, the full path): server-everything's every tool, errors, progress; its prompts; and how
 * two answers are compared. Tool and prompt names are the gateway's (`ev__<name>`).
 */

import type { Client } from '@modelcontextprotocol/client';
import { expect } from 'vitest';

export type Outcome =
  | { result: unknown; progress?: unknown[] }
  | { error: { code: unknown; message: string } }
  | { rejected: string };

export async function call(
  client: Client,
  name: string,
  args: Record<string, unknown> | undefined,
  options: { progress?: boolean; abortAfterMs?: number } = {},
): Promise<Outcome> {
  const progress: unknown[] = [];
  const abort = new AbortController();
  const timer = options.abortAfterMs ? setTimeout(() => abort.abort(), options.abortAfterMs) : undefined;
  try {
    const result = await client.callTool(
      { name, ...(args ? { arguments: args } : {}) },
      {
        timeout: 30_000,
        signal: abort.signal,
        ...(options.progress ? { onprogress: (p: unknown) => progress.push(p) } : {}),
      },
    );
    return options.progress ? { result, progress } : { result };
  } catch (error) {
    if (abort.signal.aborted) return { rejected: 'aborted' };
    const { code, message } = error as { code?: unknown; message: string };
    return { error: { code, message } };
  } finally {
    clearTimeout(timer);
  }
}

/** The corpus: [label, tool, arguments, options]. */
export const CORPUS: Array<[string, string, Record<string, unknown> | undefined, { progress?: boolean }?]> = [
  ['echo', 'ev__echo', { message: 'hello through both paths' }],
  ['echo, unicode', 'ev__echo', { message: 'grüße 🚀 "quoted" \\ back\nslash' }],
  // Past what the hot path parses: streamed through, its id rewritten in passing.
  ['echo, 300 KiB', 'ev__echo', { message: `grüße 🚀 "id":"x" ${'0123456789abcdef'.repeat(19_200)}` }],
  ['annotated error', 'ev__get-annotated-message', { messageType: 'error' }],
  ['annotated with image', 'ev__get-annotated-message', { messageType: 'success', includeImage: true }],
  ['resource links', 'ev__get-resource-links', { count: 2 }],
  ['resource reference', 'ev__get-resource-reference', { resourceType: 'Text', resourceId: 1 }],
  ['structured content', 'ev__get-structured-content', { location: 'Chicago' }],
  ['sum', 'ev__get-sum', { a: 1, b: 2 }],
  ['tiny image', 'ev__get-tiny-image', {}],
  [
    'gzip',
    'ev__gzip-file-as-resource',
    { name: 'x.gz', data: 'data:text/plain;base64,aGVsbG8=', outputType: 'resource' },
  ],
  ['logging on', 'ev__toggle-simulated-logging', {}],
  ['logging off', 'ev__toggle-simulated-logging', {}],
  ['subscriber updates on', 'ev__toggle-subscriber-updates', {}],
  ['subscriber updates off', 'ev__toggle-subscriber-updates', {}],
  ['elicitation (host cannot answer)', 'ev__trigger-elicitation-request', {}],
  ['sampling (host cannot answer)', 'ev__trigger-sampling-request', { prompt: 'hi' }],
  ['research query', 'ev__simulate-research-query', { topic: 'relays' }],
  [
    'long-running with progress',
    'ev__trigger-long-running-operation',
    { duration: 1, steps: 3 },
    { progress: true },
  ],
  ['invalid arguments', 'ev__get-sum', { a: 'one' }],
  ['no arguments', 'ev__echo', undefined],
  ['unknown tool', 'ev__no-such-tool', {}],
  ['denied tool', 'ev__get-env', {}],
  ['limited tool past its limit', 'ev__get-sum', { a: 2, b: 3 }],
];

/** What may differ between two runs of the same call on two upstream sessions. */
export function normalized(outcome: Outcome): unknown {
  return JSON.parse(
    JSON.stringify(outcome)
      // The limit's window is reported with the time it reopens.
      .replace(/reopens at [^".]+/g, 'reopens at <time>')
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
      // Each gateway has its own sandbox (where its policy file is)…
      .replace(/patchbay-test-[A-Za-z0-9]+/g, '<sandbox>')
      // …and its own upstream session, which some tools name.
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<session>')
      // server-everything's dynamic resources say the wall-clock second they were read at, as
      // text or inside a base64 blob: two reads a moment apart may cross a second.
      .replace(/"blob":"([A-Za-z0-9+/=]+)"/g, (_match, blob: string) => {
        const text = Buffer.from(blob, 'base64').toString('utf8');
        return CLOCK.test(text) ? `"blob":"<text: ${maskClock(text).replace(/["\\]/g, '')}>"` : _match;
      })
      .replace(CLOCK_ALL, '<clock>'),
  );
}

const CLOCK = /\b\d{1,2}:\d\d:\d\d\s?[AP]M\b/;
const CLOCK_ALL = new RegExp(CLOCK.source, 'g');

function maskClock(text: string): string {
  return text.replace(CLOCK_ALL, '<clock>');
}

/** The prompts corpus: [label, prompt, arguments]. */
export const PROMPTS: Array<[string, string, Record<string, string> | undefined]> = [
  ['simple prompt', 'ev__simple-prompt', undefined],
  ['prompt with arguments', 'ev__args-prompt', { city: 'Lyon', state: 'Rhône' }],
  ['prompt, optional argument left out', 'ev__args-prompt', { city: 'Lyon' }],
  ['prompt, required argument missing', 'ev__args-prompt', { state: 'Rhône' }],
  ['completable prompt', 'ev__completable-prompt', { department: 'Engineering', name: 'Alice' }],
  ['prompt with an embedded resource', 'ev__resource-prompt', { resourceType: 'Text', resourceId: '2' }],
  ['prompt with an embedded blob', 'ev__resource-prompt', { resourceType: 'Blob', resourceId: '3' }],
  ['unknown prompt', 'ev__no-such-prompt', undefined],
];

/** Requests the hot path hands to the full path by design (nothing upstream offers them). */
export const FALLBACKS = { prompts: 1, resources: 1 };

export async function settled<T>(
  run: () => Promise<T>,
): Promise<{ result: T } | { error: { code: unknown; message: string } }> {
  try {
    return { result: await run() };
  } catch (error) {
    const { code, message } = error as { code?: unknown; message: string };
    return { error: { code, message } };
  }
}

/**
 * The one difference allowed between the paths: the last progress notification of a call may be
 * lost by either. The SDK client handles a notification a microtask after it read it and a
 * response at once, so a progress notification read in the same chunk as the result (which
 * depends on timing: a stdio upstream writes both at once; a stdio host reads what is waiting) is
 * dropped. Each row's progress is checked to differ by at most that last one, then cut to the
 * shorter.
 */
export function withoutLateProgress(rows: Array<{ label: string; hot: unknown; full: unknown }>): void {
  for (const row of rows) {
    const hot = row.hot as { progress?: unknown[] };
    const full = row.full as { progress?: unknown[] };
    if (!hot.progress || !full.progress) continue;
    const length = Math.min(hot.progress.length, full.progress.length);
    expect(Math.abs(hot.progress.length - full.progress.length), row.label).toBeLessThanOrEqual(1);
    expect(length, row.label).toBeGreaterThan(0);
    hot.progress = hot.progress.slice(0, length);
    full.progress = full.progress.slice(0, length);
  }
}
