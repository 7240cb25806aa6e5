/**
 * `patchbay complete <name> prompt|resource <ref> <argument> [prefix]`: the server's completions
 * for a prompt's argument or a resource template's variable, one a line (use/complete.ts, the job
 * the console and the shell use too).
 */

import { EXIT, PatchbayError } from '../../errors.js';
import { validateName } from '../../config/validate.js';
import { terminalText } from '../../core/terminal-text.js';
import type { CompletionQuery, Completions } from '../../use/complete.js';
import { timeoutFrom } from '../health.js';
import { note, printJson, writeLine, type Io } from '../io.js';
import { useServer } from '../server-session.js';

export interface ServerCompleteOptions {
  name: string;
  query: CompletionQuery;
  json: boolean;
  timeoutMs: number;
}

export function parseServerCompleteOptions(
  name: string,
  kind: string,
  ref: string,
  argument: string,
  prefix: string | undefined,
  raw: { context?: string[]; json?: boolean; timeout?: string },
  env: NodeJS.ProcessEnv,
): ServerCompleteOptions {
  if (kind !== 'prompt' && kind !== 'resource')
    throw new PatchbayError('usage', `Expected prompt or resource, got ${JSON.stringify(kind)}.`);
  if (ref.trim() === '')
    throw new PatchbayError('usage', `The ${kind === 'prompt' ? 'prompt name' : 'template'} is empty.`);
  if (argument.trim() === '') throw new PatchbayError('usage', 'The argument name is empty.');
  return {
    name: validateName(name),
    query: {
      ref: kind === 'prompt' ? { type: 'prompt', name: ref } : { type: 'template', uri: ref },
      argument: { name: argument, value: prefix ?? '' },
      ...(raw.context && raw.context.length > 0 ? { context: parseContext(raw.context, name) } : {}),
    },
    json: Boolean(raw.json),
    timeoutMs: timeoutFrom(raw.timeout, env),
  };
}

/** `key=value` pairs: the other arguments already chosen. */
export function parseContext(pairs: readonly string[], server: string): Record<string, string> {
  const context: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals <= 0)
      throw new PatchbayError('usage', `Expected key=value for --context, got ${JSON.stringify(pair)}.`, {
        hint: `For example: patchbay complete ${server} prompt completable-prompt name -c department=Sales`,
      });
    context[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return context;
}

export async function runServerComplete(options: ServerCompleteOptions, io: Io): Promise<number> {
  const { completeArgument, noCompletionsError } = await import('../../use/complete.js');
  const completions = await useServer(options.name, options.timeoutMs, io, (session) =>
    completeArgument(session, options.query, { check: true, server: options.name }),
  );
  if (!completions.supported) throw noCompletionsError(options.name);
  return printCompletions(completions, options.json, io);
}

/** The values one a line (or JSON), and on stderr whether there are more: shared with the shell. */
export function printCompletions(completions: Completions, json: boolean, io: Io): number {
  if (json) {
    const { values, total, hasMore } = completions;
    printJson(io, { values, ...(total !== undefined ? { total } : {}), hasMore });
    return EXIT.ok;
  }
  for (const value of completions.values) writeLine(io.stdout, terminalText(value));
  if (completions.values.length === 0) note(io, 'No completions.');
  else if (completions.hasMore)
    note(
      io,
      `… more${completions.total !== undefined ? ` (${completions.total} in all)` : ''}: type more of the value to narrow them.`,
    );
  return EXIT.ok;
}
