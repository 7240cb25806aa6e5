/**
 * The server's completions (`completion/complete`): what a prompt's argument or a resource
 * template's variable may be, given what is typed so far and the other values already filled in.
 * One job for `patchbay complete`, the console's suggestions and the shell's Tab.
 *
 * A server that does not declare the `completions` capability is never asked: the answer says
 * `supported: false`, and each front end says it its own way (the CLI fails with a hint, the
 * console shows no suggestions, the shell completes nothing). With `check`, the prompt or template
 * and the argument are first looked up in the server's own listing, so a misspelt name is an error
 * that says what exists instead of an empty answer (servers answer an unknown template with none).
 */

import type { Session } from '../connect/session.js';
import { terminalText } from '../core/terminal-text.js';
import { PatchbayError } from '../errors.js';

/** A prompt's argument, or a resource template's variable. */
export type CompletionRef = { type: 'prompt'; name: string } | { type: 'template'; uri: string };

export interface CompletionQuery {
  ref: CompletionRef;
  argument: { name: string; value: string };
  /** The other arguments already filled in (a server may narrow its answer by them). */
  context?: Record<string, string>;
}

export interface Completions {
  values: string[];
  /** The server's count of every match, when it gave one (it may be more than `values`). */
  total?: number;
  hasMore: boolean;
  /** False when the server does not offer completions at all. */
  supported: boolean;
}

/** The most values kept from one answer (the protocol's own cap). */
export const MAX_COMPLETIONS = 100;

export interface CompleteOptions {
  /** Look the prompt or template and its argument up first; unknown ones are a `not-found` error. */
  check?: boolean;
  /** The server's name, for messages and hints. */
  server?: string;
}

export async function completeArgument(
  session: Session,
  query: CompletionQuery,
  options: CompleteOptions = {},
): Promise<Completions> {
  if (!session.client.getServerCapabilities()?.completions)
    return { values: [], hasMore: false, supported: false };
  if (options.check) await checkReference(session, query, options.server ?? 'the server');
  const result = await session.request((client) =>
    client.complete(
      {
        ref:
          query.ref.type === 'prompt'
            ? { type: 'ref/prompt', name: query.ref.name }
            : { type: 'ref/resource', uri: query.ref.uri },
        argument: query.argument,
        ...(query.context && Object.keys(query.context).length > 0
          ? { context: { arguments: query.context } }
          : {}),
      },
      session.requestOptions(),
    ),
  );
  const given: unknown[] = Array.isArray(result.completion?.values) ? result.completion.values : [];
  const values = given.filter((value): value is string => typeof value === 'string');
  const total = result.completion?.total;
  return {
    values: values.slice(0, MAX_COMPLETIONS),
    ...(typeof total === 'number' && Number.isFinite(total) ? { total } : {}),
    hasMore: result.completion?.hasMore === true || values.length > MAX_COMPLETIONS,
    supported: true,
  };
}

/** The error a front end that must answer (the CLI) gives for `supported: false`. */
export function noCompletionsError(server: string): PatchbayError {
  return new PatchbayError(
    'unsupported',
    `${server} offers no completions (it does not declare the completions capability).`,
    {
      hint: `Its prompts and templates are listed by: patchbay prompts ${server} · patchbay resources ${server}`,
    },
  );
}

/** The variable names of an RFC 6570 URI template (`{id}`, `{+path}`, `{?a,b}` …), in order. */
export function templateVariables(template: string): string[] {
  const names: string[] = [];
  for (const match of template.matchAll(/\{[+#./;?&]?([^}]+)\}/g)) {
    for (const part of match[1]!.split(',')) {
      const name = part.replace(/\*$/, '').replace(/:\d+$/, '').trim();
      if (name && !names.includes(name)) names.push(name);
    }
  }
  return names;
}

async function checkReference(session: Session, query: CompletionQuery, server: string): Promise<void> {
  const argument = query.argument.name;
  if (query.ref.type === 'prompt') {
    const wanted = query.ref.name;
    const { prompts } = await session.request((client) =>
      client.listPrompts(undefined, session.requestOptions()),
    );
    const prompt = prompts.find((candidate) => candidate.name === wanted);
    if (!prompt)
      throw new PatchbayError('not-found', `${server} has no prompt named ${JSON.stringify(wanted)}.`, {
        hint: nearOrList(
          wanted,
          prompts.map((candidate) => candidate.name),
          `patchbay prompts ${server}`,
        ),
      });
    const names = (prompt.arguments ?? []).map((declared) => declared.name);
    if (!names.includes(argument))
      throw new PatchbayError(
        'not-found',
        `The prompt ${terminalText(wanted)} has no argument named ${JSON.stringify(argument)}.`,
        { hint: `It takes: ${names.map((name) => terminalText(name)).join(', ') || '(no arguments)'}` },
      );
    return;
  }
  const wanted = query.ref.uri;
  const { resourceTemplates } = await session.request((client) =>
    client.listResourceTemplates(undefined, session.requestOptions()),
  );
  const template = resourceTemplates.find((candidate) => candidate.uriTemplate === wanted);
  if (!template)
    throw new PatchbayError('not-found', `${server} has no resource template ${JSON.stringify(wanted)}.`, {
      hint: nearOrList(
        wanted,
        resourceTemplates.map((candidate) => candidate.uriTemplate),
        `patchbay resources ${server}`,
      ),
    });
  const names = templateVariables(template.uriTemplate);
  if (!names.includes(argument))
    throw new PatchbayError(
      'not-found',
      `The template ${terminalText(wanted)} has no variable named ${JSON.stringify(argument)}.`,
      { hint: `Its variables: ${names.map((name) => terminalText(name)).join(', ') || '(none)'}` },
    );
}

function nearOrList(wanted: string, names: string[], lister: string): string {
  const near = names.find((name) => name.toLowerCase() === wanted.toLowerCase());
  if (near) return `Did you mean ${terminalText(near)}?`;
  if (names.length === 0) return `It has none. ${lister} lists what it offers.`;
  const shown = names.slice(0, 8).map((name) => terminalText(name, { max: 80 }));
  return `It has: ${shown.join(', ')}${names.length > shown.length ? ' …' : ''}  (${lister})`;
}
