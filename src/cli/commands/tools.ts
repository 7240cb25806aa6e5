/**
 * `patchbay tools <name>`: what a server offers, one line per tool (name, title, annotations,
 * arguments, description); `patchbay tool <name> <tool>`: one tool's input and output schema.
 * Every string comes from the server and is made printable before it reaches the terminal.
 */

import { EXIT, PatchbayError } from '../../errors.js';
import { paint, printJson, useColor, writeLine, type Io } from '../io.js';
import { terminalJson, terminalText } from '../../core/terminal-text.js';
import { rememberToolNames } from '../../core/tool-name-cache.js';
import { parseServerReadOptions, useServer, type ServerReadOptions } from '../server-session.js';
import type { Session } from '../../connect/session.js';

export type ToolsOptions = ServerReadOptions;

export interface ToolOptions extends ToolsOptions {
  tool: string;
}

export interface ToolInfo {
  name: string;
  title?: string;
  description?: string;
  annotations?: Record<string, unknown>;
  inputSchema?: unknown;
  outputSchema?: unknown;
}

export const parseToolsOptions = parseServerReadOptions;

export function parseToolOptions(
  name: string,
  tool: string,
  raw: { json?: boolean; timeout?: string },
  env: NodeJS.ProcessEnv,
): ToolOptions {
  if (tool.trim() === '') throw new PatchbayError('usage', 'The tool name is empty.');
  return { ...parseToolsOptions(name, raw, env), tool };
}

function listTools(options: ToolsOptions, io: Io): Promise<ToolInfo[]> {
  return useServer(options.name, options.timeoutMs, io, (session) =>
    toolsOnSession(session, options.name, io),
  );
}

/** Every page of the server's tools, on an open session (the shell keeps one), remembered for completion. */
export async function toolsOnSession(session: Session, name: string, io: Io): Promise<ToolInfo[]> {
  if (!session.client.getServerCapabilities()?.tools) return [];
  // Without a cursor the SDK follows every page.
  const { tools } = await session.request((client) => client.listTools(undefined, session.requestOptions()));
  // For shell completion: remembered in the background, never waited on.
  rememberToolNames(
    io.paths,
    name,
    tools.map((tool) => tool.name),
  );
  return tools as ToolInfo[];
}

export async function runTools(options: ToolsOptions, io: Io): Promise<number> {
  return printTools(await listTools(options, io), options, io);
}

/** What `tools` prints: one entry per tool (name, title, annotations, arguments), or --json. */
export function printTools(tools: ToolInfo[], options: Pick<ToolsOptions, 'name' | 'json'>, io: Io): number {
  if (options.json) {
    printJson(io, tools);
    return EXIT.ok;
  }
  if (tools.length === 0) {
    writeLine(io.stderr, `${options.name} offers no tools.`);
    return EXIT.ok;
  }
  const p = paint(useColor(io, 'stdout'));
  const width = Math.min(40, Math.max(...tools.map((tool) => text(tool.name).length)));
  for (const tool of tools) {
    const flags = annotationFlags(tool.annotations);
    const title = tool.title && tool.title !== tool.name ? ` ${p.dim(`(${text(tool.title)})`)}` : '';
    writeLine(
      io.stdout,
      `${p.bold(text(tool.name).padEnd(width))}${title}${flags ? `  ${p.yellow(flags)}` : ''}`,
    );
    const args = argumentSummary(tool.inputSchema);
    writeLine(io.stdout, `  ${p.dim('args')} ${args || '(none)'}`);
    const description = firstLine(tool.description);
    if (description) writeLine(io.stdout, `  ${description}`);
  }
  writeLine(
    io.stderr,
    p.dim(
      `${tools.length} tool${tools.length === 1 ? '' : 's'}; details: patchbay tool ${options.name} <tool>`,
    ),
  );
  return EXIT.ok;
}

export async function runTool(options: ToolOptions, io: Io): Promise<number> {
  return printTool(findTool(await listTools(options, io), options), options, io);
}

/** The tool named `options.tool`, or the not-found error that names the nearest. */
export function findTool(tools: ToolInfo[], options: Pick<ToolOptions, 'name' | 'tool'>): ToolInfo {
  const tool = tools.find((candidate) => candidate.name === options.tool);
  if (tool) return tool;
  const names = tools.map((candidate) => candidate.name);
  const near = names.find((candidate) => candidate.toLowerCase() === options.tool.toLowerCase());
  throw new PatchbayError('not-found', `${options.name} has no tool named ${JSON.stringify(options.tool)}.`, {
    hint: near
      ? `Did you mean ${near}?`
      : `patchbay tools ${options.name} lists its ${names.length} tool${names.length === 1 ? '' : 's'}.`,
  });
}

/** What `tool` prints: one tool's description, annotations and schemas, or --json. */
export function printTool(tool: ToolInfo, options: Pick<ToolOptions, 'json'>, io: Io): number {
  if (options.json) {
    printJson(io, tool);
    return EXIT.ok;
  }
  const p = paint(useColor(io, 'stdout'));
  writeLine(io.stdout, p.bold(text(tool.name)) + (tool.title ? ` ${p.dim(`(${text(tool.title)})`)}` : ''));
  if (tool.description) writeLine(io.stdout, terminalText(tool.description, { multiline: true }));
  const flags = annotationFlags(tool.annotations);
  if (flags) writeLine(io.stdout, `${p.dim('annotations')} ${flags}`);
  writeLine(io.stdout, p.dim('input schema'));
  writeLine(io.stdout, terminalJson(tool.inputSchema ?? {}));
  if (tool.outputSchema !== undefined) {
    writeLine(io.stdout, p.dim('output schema'));
    writeLine(io.stdout, terminalJson(tool.outputSchema));
  }
  return EXIT.ok;
}

/** The MCP tool annotations as words: hints from the server, shown as such. */
function annotationFlags(annotations: Record<string, unknown> | undefined): string {
  if (!annotations) return '';
  const flags: string[] = [];
  if (annotations.readOnlyHint === true) flags.push('read-only');
  if (annotations.destructiveHint === true) flags.push('destructive');
  if (annotations.idempotentHint === true) flags.push('idempotent');
  if (annotations.openWorldHint === true) flags.push('open-world');
  return flags.join(', ');
}

/** `a: number, b?: string, mode: "x"|"y"` from a JSON Schema object's properties. */
export function argumentSummary(schema: unknown): string {
  if (typeof schema !== 'object' || schema === null) return '';
  const { properties, required } = schema as { properties?: unknown; required?: unknown };
  if (typeof properties !== 'object' || properties === null) return '';
  const needed = new Set(Array.isArray(required) ? required.filter((key) => typeof key === 'string') : []);
  return Object.entries(properties as Record<string, unknown>)
    .map(([key, property]) => `${text(key)}${needed.has(key) ? '' : '?'}: ${typeName(property)}`)
    .join(', ');
}

function typeName(property: unknown): string {
  if (typeof property !== 'object' || property === null) return 'any';
  const { type, enum: choices } = property as { type?: unknown; enum?: unknown };
  if (Array.isArray(choices) && choices.length > 0 && choices.length <= 6)
    return choices.map((choice) => text(JSON.stringify(choice))).join('|');
  if (typeof type === 'string') return text(type);
  if (Array.isArray(type)) return type.filter((t) => typeof t === 'string').join('|');
  return 'any';
}

function firstLine(description: string | undefined): string {
  if (!description) return '';
  const line = description.trim().split(/\r?\n/, 1)[0] ?? '';
  return text(line.length > 160 ? `${line.slice(0, 159)}…` : line);
}

function text(value: string): string {
  return terminalText(value);
}
