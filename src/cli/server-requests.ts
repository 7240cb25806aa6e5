/**
 * Requests a server sends back while a command uses it — as server→client requests (2025 era)
 * or embedded in an `input_required` result (2026-07-28, which the SDK fulfils through these
 * same handlers and then retries): elicitation is asked on a terminal (form fields with their
 * schema defaults; a URL shown and opened only with consent), answered with the form's defaults
 * with `--accept-defaults`, and declined otherwise; sampling is declined (patchbay runs no
 * model); roots list the current directory only when the user asked for it (`--roots`).
 */

import { basename } from 'node:path';
import type { Interface } from 'node:readline/promises';
import { pathToFileURL } from 'node:url';

import type { Client } from '@modelcontextprotocol/client';

import { PatchbayError } from '../errors.js';
import {
  defaultAnswers,
  questionFor,
  readAnswer,
  type FieldValue,
  type FormSchema,
} from './elicitation-form.js';
import { isInteractive, note, type Io } from './io.js';
import { terminalText } from '../core/terminal-text.js';
import { holdTerminal } from './progress.js';
import { askOrCancel, ownTerminal, type QuestionSource } from './questions.js';

export interface ServerRequestOptions {
  /** Answer roots/list with the current directory. */
  roots: boolean;
  /** Answer form questions with the schema's defaults, without asking (for scripts). */
  acceptDefaults: boolean;
  /** Where questions are asked on a terminal (default: an interface of their own; the shell lends its). */
  questions?: QuestionSource;
}

export function answerServerRequests(client: Client, io: Io, options: ServerRequestOptions): void {
  client.registerCapabilities({
    elicitation: { form: {}, url: {} },
    sampling: {},
    ...(options.roots ? { roots: { listChanged: false } } : {}),
  });
  client.setRequestHandler('elicitation/create', async (request) =>
    answerElicitation(request.params as ElicitParams, io, options),
  );
  client.setRequestHandler('sampling/createMessage', async () => {
    note(io, 'The server asked patchbay to run a language model (sampling); declined: patchbay runs none.');
    // 2025 era: the server gets this as a JSON-RPC error and decides. 2026-07-28: an
    // input_required result cannot be finished without the answer, so the request fails with it.
    throw new PatchbayError(
      'server-request-declined',
      'The request could not finish without the language model answer the server asked for.',
      { hint: 'Use this from an AI host (Claude Code, Cursor …) connected through patchbay.' },
    );
  });
  if (options.roots) {
    client.setRequestHandler('roots/list', async () => ({
      roots: [{ uri: pathToFileURL(io.cwd).href, name: basename(io.cwd) }],
    }));
  }
}

interface ElicitParams {
  message?: string;
  mode?: string;
  url?: string;
  requestedSchema?: FormSchema;
}

type ElicitAnswer =
  { action: 'accept'; content?: Record<string, FieldValue> } | { action: 'decline' | 'cancel' };

async function answerElicitation(
  params: ElicitParams,
  io: Io,
  options: ServerRequestOptions,
): Promise<ElicitAnswer> {
  const message = terminalText(String(params.message ?? ''), { multiline: true });
  const isUrl = params.mode === 'url';
  if (options.acceptDefaults && !isUrl) {
    const { content, missing } = defaultAnswers(params.requestedSchema);
    if (missing.length > 0) {
      note(
        io,
        `The server asked a question, declined: ${missing.map((key) => terminalText(key)).join(', ')} ${missing.length === 1 ? 'has' : 'have'} no default (--accept-defaults): ${message}`,
      );
      return { action: 'decline' };
    }
    note(io, `The server asked a question, answered with its defaults (--accept-defaults): ${message}`);
    return { action: 'accept', content };
  }
  if (!isInteractive(io)) {
    const url = isUrl ? ` It wanted you to open ${terminalText(String(params.url ?? ''))}` : '';
    note(io, `The server asked a question, declined (no terminal to ask on): ${message}${url}`);
    if (!isUrl) note(io, 'Run it in a terminal to answer, or pass --accept-defaults to send the defaults.');
    return { action: 'decline' };
  }
  const release = holdTerminal();
  const { prompt, done } = (options.questions ?? ownTerminal)(io);
  try {
    // Ctrl-C at a question: readline takes the terminal's raw input, so it raises SIGINT here.
    const answer = await askOrCancel<ElicitAnswer | 'cancel'>(
      prompt,
      (signal) =>
        isUrl ? askToOpen(prompt, params, message, io, signal) : askForm(prompt, params, message, io, signal),
      'cancel',
    );
    if (answer === 'cancel') {
      note(io, '\nCancelled the answer to the server.');
      return { action: 'cancel' };
    }
    return answer;
  } finally {
    done();
    release();
  }
}

async function askToOpen(
  prompt: Interface,
  params: ElicitParams,
  message: string,
  io: Io,
  signal: AbortSignal,
): Promise<ElicitAnswer> {
  const { checkAuthorizationUrl, openAuthorizationUrl } = await import('../auth/browser.js');
  note(io, `The server asks: ${message}`);
  let url: URL;
  try {
    url = checkAuthorizationUrl(String(params.url ?? ''));
  } catch (error) {
    note(io, `Declined: ${error instanceof PatchbayError ? error.message : String(error)}`);
    return { action: 'decline' };
  }
  note(io, `It wants you to open: ${url.href}`);
  const consent = (await prompt.question('Open it? [y/N] ', { signal })).trim().toLowerCase();
  if (consent !== 'y' && consent !== 'yes') return { action: 'decline' };
  const opened = await openAuthorizationUrl(url, io.env);
  if (!opened.opened) note(io, `${opened.reason}; open the URL above yourself.`);
  return { action: 'accept' };
}

async function askForm(
  prompt: Interface,
  params: ElicitParams,
  message: string,
  io: Io,
  signal: AbortSignal,
): Promise<ElicitAnswer> {
  note(io, `The server asks: ${message}`);
  const content: Record<string, FieldValue> = {};
  const required = new Set(params.requestedSchema?.required ?? []);
  for (const [key, field] of Object.entries(params.requestedSchema?.properties ?? {})) {
    if (field.description) note(io, `  ${terminalText(field.description)}`);
    const question = terminalText(questionFor(key, field, required.has(key)));
    for (;;) {
      const typed = (await prompt.question(question, { signal })).trim();
      if (typed === '' && field.default !== undefined) {
        content[key] = field.default as FieldValue;
        break;
      }
      if (typed === '' && !required.has(key)) break;
      if (typed === '') {
        note(io, 'An answer is required.');
        continue;
      }
      const read = readAnswer(typed, field);
      if ('value' in read) {
        content[key] = read.value;
        break;
      }
      note(io, terminalText(read.problem));
    }
  }
  const send = (await prompt.question('Send these answers? [Y/n] ', { signal })).trim().toLowerCase();
  return send === 'n' || send === 'no' ? { action: 'decline' } : { action: 'accept', content };
}
