/**
 * Requests a server sends back while a command uses it: elicitation is answered on a terminal
 * (form fields with their schema defaults; a URL shown and opened only with consent) and declined
 * without one; sampling is declined (patchbay runs no model); roots list the current directory
 * only when the user asked for it (`--roots`).
 */

import { basename } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { pathToFileURL } from 'node:url';

import type { Client } from '@modelcontextprotocol/client';

import { isInteractive, note, sanitizeForTerminal, type Io } from './io.js';

export interface ServerRequestOptions {
  /** Answer roots/list with the current directory. */
  roots: boolean;
}

export function answerServerRequests(client: Client, io: Io, options: ServerRequestOptions): void {
  client.registerCapabilities({
    elicitation: { form: {}, url: {} },
    sampling: {},
    ...(options.roots ? { roots: { listChanged: false } } : {}),
  });
  client.setRequestHandler('elicitation/create', async (request) => answerElicitation(request.params, io));
  client.setRequestHandler('sampling/createMessage', async () => {
    note(io, 'The server asked patchbay to run a language model (sampling); declined: patchbay runs none.');
    throw new Error('patchbay does not run language models; the sampling request was declined');
  });
  if (options.roots) {
    client.setRequestHandler('roots/list', async () => ({
      roots: [{ uri: pathToFileURL(io.cwd).href, name: basename(io.cwd) }],
    }));
  }
}

interface ElicitParams {
  message: string;
  mode?: string;
  url?: string;
  requestedSchema?: { properties?: Record<string, FieldSchema>; required?: string[] };
}

interface FieldSchema {
  type?: string;
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
}

type ElicitAnswer =
  | { action: 'accept'; content?: Record<string, string | number | boolean | string[]> }
  | { action: 'decline' | 'cancel' };

async function answerElicitation(raw: unknown, io: Io): Promise<ElicitAnswer> {
  const params = raw as ElicitParams;
  const message = sanitizeForTerminal(String(params.message ?? ''));
  if (!isInteractive(io)) {
    note(io, `The server asked a question, declined (no terminal to ask on): ${message}`);
    return { action: 'decline' };
  }
  const prompt = createInterface({ input: io.stdin, output: io.stderr, terminal: true });
  try {
    return await askOnTerminal(prompt, params, message, io);
  } catch {
    // Ctrl-D (or Ctrl-C) at a question: the person chose not to answer.
    note(io, 'Cancelled the answer to the server.');
    return { action: 'cancel' };
  } finally {
    prompt.close();
  }
}

async function askOnTerminal(
  prompt: ReturnType<typeof createInterface>,
  params: ElicitParams,
  message: string,
  io: Io,
): Promise<ElicitAnswer> {
  note(io, `The server asks: ${message}`);
  if (params.mode === 'url') {
    note(io, `It wants you to open: ${sanitizeForTerminal(String(params.url ?? ''))}`);
    const consent = (await prompt.question('Open it? [y/N] ')).trim().toLowerCase();
    return { action: consent === 'y' || consent === 'yes' ? 'accept' : 'decline' };
  }
  const content: Record<string, string | number | boolean | string[]> = {};
  const required = new Set(params.requestedSchema?.required ?? []);
  for (const [key, field] of Object.entries(params.requestedSchema?.properties ?? {})) {
    const label = sanitizeForTerminal(field.title ?? key);
    const choices = Array.isArray(field.enum) ? ` (${field.enum.map(String).join('/')})` : '';
    const fallback = field.default === undefined ? '' : ` [${String(field.default)}]`;
    for (;;) {
      const answer = (
        await prompt.question(`${label}${choices}${fallback}${required.has(key) ? '' : ' (optional)'}: `)
      ).trim();
      if (answer === '' && field.default !== undefined) {
        content[key] = field.default as string | number | boolean;
        break;
      }
      if (answer === '' && !required.has(key)) break;
      const value = convert(answer, field);
      if (value !== undefined) {
        content[key] = value;
        break;
      }
      note(
        io,
        `That is not ${field.enum ? `one of ${field.enum.map(String).join(', ')}` : `a ${field.type ?? 'value'}`}.`,
      );
    }
  }
  const send = (await prompt.question('Send these answers? [Y/n] ')).trim().toLowerCase();
  return send === 'n' || send === 'no' ? { action: 'decline' } : { action: 'accept', content };
}

function convert(answer: string, field: FieldSchema): string | number | boolean | undefined {
  if (Array.isArray(field.enum)) return field.enum.map(String).includes(answer) ? answer : undefined;
  switch (field.type) {
    case 'number':
    case 'integer': {
      const number = Number(answer);
      if (!Number.isFinite(number) || (field.type === 'integer' && !Number.isInteger(number)))
        return undefined;
      return number;
    }
    case 'boolean':
      if (/^(y|yes|true)$/i.test(answer)) return true;
      if (/^(n|no|false)$/i.test(answer)) return false;
      return undefined;
    default:
      return answer;
  }
}
