/**
 * `patchbay call <name> <tool> [key=value ...] [--args JSON|-]`: call a tool from the shell.
 *
 * Arguments are typed by the tool's input schema (numbers, booleans, JSON for objects and arrays)
 * and validated against it before anything is sent, the error naming the argument. Text is
 * printed plainly, structured content as JSON; images, audio and blobs go to files (never base64
 * on a terminal). A tool result with `isError` exits 1 with its text on stderr.
 */

import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { EXIT, PatchbayError } from '../../errors.js';
import { validateName } from '../../config/validate.js';
import { timeoutFrom } from '../health.js';
import { note, printJson, writeLine, type Io } from '../io.js';
import { terminalText } from '../../core/terminal-text.js';
import { liveView } from '../progress.js';
import type { QuestionSource } from '../questions.js';
import type { ServerRequestOptions } from '../server-requests.js';
import { parseServerRequestOptions, useServer, type OpenedServer } from '../server-session.js';
import type { Session } from '../../connect/session.js';
import { exampleArguments, typePhrase, type JsonSchema } from '../../connect/tool-arguments.js';

export interface CallOptions {
  name: string;
  tool: string;
  pairs: string[];
  /** `--args JSON`, or '-' to read it from stdin. */
  args: string | undefined;
  json: boolean;
  /** Where binary content goes; a new temporary directory when absent. */
  outputDir: string | undefined;
  /** How the server's own requests (elicitation, roots) are answered. */
  requests: ServerRequestOptions;
  timeoutMs: number;
  /** --yes: a tool set to ask (policy) is approved for this call without asking. */
  yes: boolean;
  /** --log-arguments: the audit log keeps the (masked) arguments. */
  logArguments: boolean;
  /** --allow-unknown-args: send argument names the tool's schema does not declare. */
  allowUnknownArgs: boolean;
  /** Where an approval is asked on a terminal (the shell lends its line editor). */
  questions?: QuestionSource;
  /** --task: run a tool that allows it as a task (one that requires it always runs as one). */
  task: boolean;
}

export function parseCallOptions(
  name: string,
  tool: string,
  pairs: string[],
  raw: {
    args?: string;
    json?: boolean;
    output?: string;
    timeout?: string;
    roots?: boolean;
    acceptDefaults?: boolean;
    yes?: boolean;
    logArguments?: boolean;
    allowUnknownArgs?: boolean;
    task?: boolean;
  },
  env: NodeJS.ProcessEnv,
): CallOptions {
  for (const pair of pairs) {
    if (pair.indexOf('=') <= 0)
      throw new PatchbayError('usage', `Expected key=value, got ${JSON.stringify(pair)}.`, {
        hint: `For example: patchbay call ${name} ${tool} message=hello count=3 --args '{"deep": {"x": 1}}'`,
      });
  }
  return {
    name: validateName(name),
    tool,
    pairs,
    args: raw.args,
    json: Boolean(raw.json),
    outputDir: raw.output,
    requests: parseServerRequestOptions(raw),
    timeoutMs: timeoutFrom(raw.timeout, env),
    yes: Boolean(raw.yes),
    logArguments: Boolean(raw.logArguments),
    allowUnknownArgs: Boolean(raw.allowUnknownArgs),
    task: Boolean(raw.task),
  };
}

interface ToolInfo {
  name: string;
  inputSchema?: JsonSchema;
  execution?: { taskSupport?: unknown };
}

export async function runCall(options: CallOptions, io: Io): Promise<number> {
  const base = options.args === undefined ? {} : parseArgsJson(await readArgs(options.args, io));
  const outcome = await useServer(
    options.name,
    options.timeoutMs,
    io,
    (session, opened) => callOnSession(session, opened, options, base, io),
    options.requests,
  );
  return printCallOutcome(outcome, options, io);
}

/**
 * The call on an open session (the shell keeps one for many calls): the guarded call with its
 * progress line, the result, or `Interrupted` when Ctrl-C (io.interrupt) cancelled it.
 */
export async function callOnSession(
  session: Session,
  opened: OpenedServer,
  options: CallOptions,
  base: Record<string, unknown>,
  io: Io,
): Promise<CallResult | Interrupted> {
  const [{ guardedSessionCall }, { resultOrThrow, terminalCaller }, tasks] = await Promise.all([
    import('../../use/guarded-call.js'),
    import('../call-policy.js'),
    import('./task-call.js'),
  ]);
  let interrupted = false;
  let asTask = false;
  try {
    const outcome = await guardedSessionCall(
      session,
      opened,
      {
        toolName: options.tool,
        args: (tool) => {
          // Decided before policy is asked: a tool that cannot run as asked is refused unasked.
          asTask = tasks.runsAsTask(session, tool as ToolInfo, options.task, options.name);
          return typedArguments(options.pairs, base, (tool as ToolInfo).inputSchema ?? {}, options);
        },
        check: (tool) => ({
          allowUnknown: options.allowUnknownArgs,
          hint: argumentsHint(tool as ToolInfo, options),
          onUncheckable: (why) =>
            note(
              io,
              `Could not check the arguments against ${options.tool}'s input schema (${why}); sending them as given.`,
            ),
        }),
        notFoundHint: `patchbay tools ${options.name} lists them.`,
        onWarning: (message) => note(io, message),
        send: async (request) => {
          if (asTask)
            try {
              return await tasks.callAsTask(session, request, options.name, io, {
                describeProgress: (report) => describeProgress(options.tool, report),
                ...(options.questions ? { questions: options.questions } : {}),
              });
            } catch (error) {
              // Ctrl-C before the task was created: the creating request was cancelled.
              interrupted = io.interrupt?.aborted === true && !(error instanceof tasks.TaskStopped);
              throw error;
            }
          const progress = progressLine(io, options.tool);
          try {
            return await session.request((client) =>
              client.callTool(request, {
                ...session.requestOptions(),
                // Ctrl-C: the SDK sends notifications/cancelled for this request.
                ...(io.interrupt ? { signal: io.interrupt } : {}),
                onprogress: progress.update,
                // A long operation that keeps reporting progress is not timed out between reports.
                resetTimeoutOnProgress: true,
              }),
            );
          } catch (error) {
            interrupted = io.interrupt?.aborted === true;
            throw error;
          } finally {
            progress.finish();
          }
        },
      },
      terminalCaller(opened, options.tool, options, io),
    );
    return resultOrThrow(outcome) as CallResult;
  } catch (error) {
    if (interrupted) return new Interrupted();
    // The task was cancelled or left running after Ctrl-C; task-call.ts said which.
    if (error instanceof tasks.TaskStopped) return new TaskStoppedOutcome();
    throw error;
  }
}

/** What `call` prints of a call's outcome (text, files, or --json), and its exit status. */
export async function printCallOutcome(
  outcome: CallResult | Interrupted,
  options: CallOptions,
  io: Io,
): Promise<number> {
  if (outcome instanceof TaskStoppedOutcome) return EXIT.interrupted;
  if (outcome instanceof Interrupted) {
    note(io, `Cancelled ${options.tool}: the server was told to stop.`);
    return EXIT.interrupted;
  }
  const result = outcome;
  if (options.json) {
    printJson(io, result);
    return result.isError ? EXIT.error : EXIT.ok;
  }
  return printResult(result, options, io);
}

/** A call cancelled by Ctrl-C: the server was told (notifications/cancelled). */
export class Interrupted extends Error {}

/** A task stopped by Ctrl-C (cancelled, or left running): task-call.ts has said which. */
export class TaskStoppedOutcome extends Interrupted {}

/** Progress notifications as a line on a terminal: `42 %` with the server's message, or a count. */
function progressLine(io: Io, tool: string): { update(progress: ProgressReport): void; finish(): void } {
  const live = liveView(io);
  return {
    update: (progress) => live.status(describeProgress(tool, progress)),
    finish: () => live.finish(),
  };
}

interface ProgressReport {
  progress: number;
  total?: number;
  message?: string;
}

export function describeProgress(tool: string, report: ProgressReport): string {
  const message = report.message ? ` ${terminalText(report.message).slice(0, 80)}` : '';
  if (report.total === undefined || !(report.total > 0)) return `${tool}: ${report.progress}${message}`;
  const fraction = Math.min(1, Math.max(0, report.progress / report.total));
  const filled = Math.round(fraction * PROGRESS_BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(PROGRESS_BAR_WIDTH - filled)}]`;
  return `${tool} ${bar} ${Math.round(fraction * 100)} %${message}`;
}

const PROGRESS_BAR_WIDTH = 20;

// ---------------------------------------------------------------------------------------------
// Arguments

export async function readArgs(source: string, io: Io): Promise<string> {
  if (source !== '-') return source;
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

export function parseArgsJson(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PatchbayError('usage', '--args is not valid JSON.', {
      hint: `For example: --args '{"query": "x"}'`,
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new PatchbayError('usage', '--args must be a JSON object of arguments.');
  return value as Record<string, unknown>;
}

/** key=value pairs typed by the schema's property types, laid over --args. */
export function typedArguments(
  pairs: string[],
  base: Record<string, unknown>,
  schema: JsonSchema,
  options: Pick<CallOptions, 'name' | 'tool'>,
): Record<string, unknown> {
  const args: Record<string, unknown> = { ...base };
  const properties = schema.properties ?? {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    const key = pair.slice(0, equals);
    const raw = pair.slice(equals + 1);
    const property = Object.hasOwn(properties, key) ? properties[key] : undefined;
    args[key] = typed(options.tool, key, raw, property, () =>
      argumentsHint({ name: options.tool, inputSchema: schema }, options),
    );
  }
  return args;
}

/** The example call built from the tool's schema, and where every argument is described. */
function argumentsHint(tool: ToolInfo, options: Pick<CallOptions, 'name' | 'tool'>): string {
  const example = exampleArguments(tool.inputSchema ?? {});
  return [
    `For example: patchbay call ${options.name} ${options.tool}${example ? ` ${example}` : ''}`,
    `Its arguments, described: patchbay tool ${options.name} ${options.tool}`,
  ].join('\n');
}

function typed(
  tool: string,
  key: string,
  raw: string,
  property: JsonSchema | undefined,
  hint: () => string,
): unknown {
  const types = property ? (Array.isArray(property.type) ? property.type : [property.type]) : [];
  const fail = (expected: string) =>
    new PatchbayError(
      'usage',
      `Cannot call ${tool}: argument ${JSON.stringify(key)} must be ${expected}; got ${JSON.stringify(raw)}.`,
      {
        hint: hint(),
      },
    );
  if (types.includes('string') || types.length === 0 || types[0] === undefined) return raw;
  if (types.includes('integer') || types.includes('number')) {
    const number = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(number))
      throw fail(typePhrase(types.includes('number') ? 'number' : 'integer'));
    if (!types.includes('number') && !Number.isInteger(number)) throw fail(typePhrase('integer'));
    return number;
  }
  if (types.includes('boolean')) {
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    throw fail(typePhrase('boolean'));
  }
  if (types.includes('object') || types.includes('array') || types.includes('null')) {
    try {
      return JSON.parse(raw);
    } catch {
      throw fail(
        `JSON: ${types
          .filter((type): type is string => typeof type === 'string')
          .map(typePhrase)
          .join(' or ')}`,
      );
    }
  }
  return raw;
}

// ---------------------------------------------------------------------------------------------
// Results

interface ContentBlock {
  type: string;
  text?: string;
  data?: string;
  mimeType?: string;
  uri?: string;
  name?: string;
  resource?: { uri: string; mimeType?: string; text?: string; blob?: string };
}

export interface CallResult {
  content?: ContentBlock[];
  structuredContent?: unknown;
  isError?: boolean;
}

/** A tool's result as call prints it (also `task --result`): text, files for binary content. */
export async function printResult(
  result: CallResult,
  options: Pick<CallOptions, 'tool' | 'outputDir'>,
  io: Io,
): Promise<number> {
  const text: string[] = [];
  const files: string[] = [];
  let directory: string | undefined;
  const save = async (base64: string, mimeType: string | undefined): Promise<string> => {
    if (directory === undefined) {
      if (options.outputDir) {
        directory = resolve(io.cwd, options.outputDir);
        await mkdir(directory, { recursive: true }).catch((error: unknown) => {
          throw new PatchbayError('write-failed', `Cannot create ${directory}: ${(error as Error).message}`);
        });
      } else {
        directory = await mkdtemp(join(tmpdir(), `patchbay-${options.tool.replace(/[^\w.-]/g, '_')}-`));
      }
    }
    const path = join(
      directory,
      `${options.tool.replace(/[^\w.-]/g, '_')}-${files.length + 1}${extension(mimeType)}`,
    );
    await writeFile(path, Buffer.from(base64, 'base64'));
    files.push(path);
    return path;
  };
  for (const block of result.content ?? []) {
    switch (block.type) {
      case 'text':
        text.push(block.text ?? '');
        break;
      case 'image':
      case 'audio':
        text.push(
          `(${block.type}, ${block.mimeType ?? 'unknown type'}: ${await save(block.data ?? '', block.mimeType)})`,
        );
        break;
      case 'resource': {
        const resource = block.resource;
        if (resource?.text !== undefined) text.push(`(resource ${resource.uri})\n${resource.text}`);
        else if (resource?.blob !== undefined)
          text.push(
            `(resource ${resource.uri}, ${resource.mimeType ?? 'binary'}: ${await save(resource.blob, resource.mimeType)})`,
          );
        break;
      }
      case 'resource_link':
        text.push(
          `(link ${block.uri ?? ''}${block.name ? ` ${block.name}` : ''}${block.mimeType ? `, ${block.mimeType}` : ''})`,
        );
        break;
      default:
        text.push(`(${block.type} content; see --json)`);
    }
  }
  let output = text.join('\n');
  // Servers should also send structured content serialized as text; it is printed once.
  const echoed = text.some((block) => sameJson(block, result.structuredContent));
  if (result.structuredContent !== undefined && !result.isError && !echoed) {
    output += `${output ? '\n' : ''}${JSON.stringify(result.structuredContent, null, 2)}`;
  }
  const clean = terminalText(output, { multiline: true });
  if (result.isError) {
    writeLine(io.stderr, clean || `${options.tool} reported an error without text.`);
    return EXIT.error;
  }
  if (clean) writeLine(io.stdout, clean);
  if (files.length > 0)
    note(io, `Wrote ${files.length} file${files.length === 1 ? '' : 's'} to ${directory}`);
  return EXIT.ok;
}

function sameJson(text: string, value: unknown): boolean {
  if (value === undefined) return false;
  try {
    return JSON.stringify(JSON.parse(text)) === JSON.stringify(value);
  } catch {
    return false;
  }
}

const EXTENSIONS: Record<string, string> = {
  'image/png': '.png',
  'image/jpeg': '.jpg',
  'image/gif': '.gif',
  'image/webp': '.webp',
  'image/svg+xml': '.svg',
  'audio/wav': '.wav',
  'audio/x-wav': '.wav',
  'audio/mpeg': '.mp3',
  'audio/ogg': '.ogg',
  'application/pdf': '.pdf',
  'application/json': '.json',
  'application/gzip': '.gz',
  'application/zip': '.zip',
  'text/plain': '.txt',
};

function extension(mimeType: string | undefined): string {
  return (mimeType && EXTENSIONS[mimeType.split(';', 1)[0]!.trim().toLowerCase()]) ?? '.bin';
}
