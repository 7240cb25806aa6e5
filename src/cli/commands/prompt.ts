/**
 * `patchbay prompt <name> <prompt> [key=value ...]`: the messages a server's prompt produces,
 * with its arguments checked against what the prompt declares before anything is sent.
 */

import { checkPromptArguments } from '../../connect/prompt-arguments.js';
import { EXIT, PatchbayError } from '../../errors.js';
import { validateName } from '../../config/validate.js';
import { timeoutFrom } from '../health.js';
import { paint, printJson, useColor, writeLine, type Io } from '../io.js';
import { terminalText } from '../../core/terminal-text.js';
import type { ServerRequestOptions } from '../server-requests.js';
import { parseServerRequestOptions, useServer } from '../server-session.js';
import type { Session } from '../../connect/session.js';

export interface PromptOptions {
  name: string;
  prompt: string;
  arguments: Record<string, string>;
  json: boolean;
  timeoutMs: number;
  /** How the server's own requests (elicitation, roots) are answered. */
  requests: ServerRequestOptions;
}

export function parsePromptOptions(
  name: string,
  prompt: string,
  pairs: string[],
  raw: { json?: boolean; timeout?: string; roots?: boolean; acceptDefaults?: boolean },
  env: NodeJS.ProcessEnv,
): PromptOptions {
  const args: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals <= 0) {
      throw new PatchbayError('usage', `Expected key=value, got ${JSON.stringify(pair)}.`, {
        hint: `For example: patchbay prompt ${name} ${prompt} topic=weather`,
      });
    }
    args[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return {
    name: validateName(name),
    prompt,
    arguments: args,
    json: Boolean(raw.json),
    timeoutMs: timeoutFrom(raw.timeout, env),
    requests: parseServerRequestOptions(raw),
  };
}

interface PromptMessage {
  role: string;
  content: { type: string; text?: string; mimeType?: string; resource?: { uri?: string; text?: string } };
}

export async function runPrompt(options: PromptOptions, io: Io): Promise<number> {
  const got = await useServer(
    options.name,
    options.timeoutMs,
    io,
    (session) => promptOnSession(session, options),
    options.requests,
  );
  return printPrompt(got, options, io);
}

export interface GotPrompt {
  messages: PromptMessage[];
  description: string | undefined;
}

/** The prompt's messages, its arguments checked against its declaration first, on an open session. */
export async function promptOnSession(
  session: Session,
  options: Pick<PromptOptions, 'name' | 'prompt' | 'arguments'>,
): Promise<GotPrompt> {
  const { prompts } = await session.request((client) =>
    client.listPrompts(undefined, session.requestOptions()),
  );
  const declared = prompts.find((candidate) => candidate.name === options.prompt);
  if (!declared) {
    throw new PatchbayError(
      'not-found',
      `${options.name} has no prompt named ${JSON.stringify(options.prompt)}.`,
      {
        hint: `patchbay prompts ${options.name} lists them.`,
      },
    );
  }
  checkPromptArguments(declared, options.arguments);
  const result = await session.request((client) =>
    client.getPrompt({ name: options.prompt, arguments: { ...options.arguments } }, session.requestOptions()),
  );
  return { messages: result.messages as PromptMessage[], description: result.description };
}

/** What `prompt` prints: each message under its role, or --json. */
export function printPrompt(
  { messages, description }: GotPrompt,
  options: Pick<PromptOptions, 'json'>,
  io: Io,
): number {
  if (options.json) {
    printJson(io, { description: description ?? null, messages });
    return EXIT.ok;
  }
  const p = paint(useColor(io, 'stdout'));
  for (const message of messages) {
    writeLine(io.stdout, p.bold(`[${terminalText(message.role)}]`));
    writeLine(io.stdout, contentText(message.content));
  }
  return EXIT.ok;
}

function contentText(content: PromptMessage['content']): string {
  switch (content.type) {
    case 'text':
      return terminalText(content.text ?? '', { multiline: true });
    case 'resource':
      return terminalText(
        `(resource ${content.resource?.uri ?? ''})${content.resource?.text ? `\n${content.resource.text}` : ''}`,
        { multiline: true },
      );
    default:
      // Images and audio: named, never dumped as base64 on a terminal (--json has them).
      return terminalText(`(${content.type}${content.mimeType ? `, ${content.mimeType}` : ''}; see --json)`);
  }
}
