/**
 * `patchbay resources <name>` (resources and resource templates) and `patchbay prompts <name>`:
 * what else a server offers, every page of it. Every string comes from the server and is made
 * printable before it reaches the terminal.
 */

import { EXIT } from '../../errors.js';
import { paint, printJson, useColor, writeLine, type Io } from '../io.js';
import { terminalText } from '../../core/terminal-text.js';
import { parseServerReadOptions, useServer, type ServerReadOptions } from '../server-session.js';
import type { Session } from '../../connect/session.js';

export type CatalogOptions = ServerReadOptions;
export const parseCatalogOptions = parseServerReadOptions;

export interface ResourceInfo {
  uri: string;
  name?: string;
  title?: string;
  mimeType?: string;
  description?: string;
}

export interface TemplateInfo {
  uriTemplate: string;
  name?: string;
  title?: string;
  mimeType?: string;
  description?: string;
}

export interface Catalog {
  resources: ResourceInfo[];
  templates: TemplateInfo[];
}

export async function runResources(options: CatalogOptions, io: Io): Promise<number> {
  return printResources(
    await useServer(options.name, options.timeoutMs, io, resourcesOnSession),
    options,
    io,
  );
}

/** Every page of the server's resources and resource templates, on an open session. */
export async function resourcesOnSession(session: Session): Promise<Catalog> {
  const offers = session.client.getServerCapabilities()?.resources;
  if (!offers) return { resources: [], templates: [] };
  // Without a cursor the SDK follows every page.
  const [listed, templated] = await Promise.all([
    session.request((client) => client.listResources(undefined, session.requestOptions())),
    session.request((client) => client.listResourceTemplates(undefined, session.requestOptions())),
  ]);
  return {
    resources: listed.resources as ResourceInfo[],
    templates: templated.resourceTemplates as TemplateInfo[],
  };
}

/** What `resources` prints: each resource, then each template, or --json. */
export function printResources(
  { resources, templates }: Catalog,
  options: Pick<CatalogOptions, 'name' | 'json'>,
  io: Io,
): number {
  if (options.json) {
    printJson(io, { resources, templates });
    return EXIT.ok;
  }
  const p = paint(useColor(io, 'stdout'));
  for (const resource of resources) {
    const label = resource.title ?? resource.name;
    writeLine(
      io.stdout,
      `${p.bold(text(resource.uri))}${label ? `  ${text(label)}` : ''}${resource.mimeType ? p.dim(`  ${text(resource.mimeType)}`) : ''}`,
    );
    if (resource.description) writeLine(io.stdout, `  ${firstLine(resource.description)}`);
  }
  for (const template of templates) {
    const label = template.title ?? template.name;
    writeLine(
      io.stdout,
      `${p.bold(text(template.uriTemplate))}${label ? `  ${text(label)}` : ''}  ${p.dim('(template)')}`,
    );
    if (template.description) writeLine(io.stdout, `  ${firstLine(template.description)}`);
  }
  writeLine(
    io.stderr,
    p.dim(
      `${count(resources.length, 'resource')}, ${count(templates.length, 'template')} on ${options.name}`,
    ),
  );
  return EXIT.ok;
}

export interface PromptInfo {
  name: string;
  title?: string;
  description?: string;
  arguments?: Array<{ name: string; description?: string; required?: boolean }>;
}

export async function runPrompts(options: CatalogOptions, io: Io): Promise<number> {
  return printPrompts(await useServer(options.name, options.timeoutMs, io, promptsOnSession), options, io);
}

/** Every page of the server's prompts, on an open session. */
export async function promptsOnSession(session: Session): Promise<PromptInfo[]> {
  if (!session.client.getServerCapabilities()?.prompts) return [];
  const { prompts } = await session.request((client) =>
    client.listPrompts(undefined, session.requestOptions()),
  );
  return prompts as PromptInfo[];
}

/** What `prompts` prints: each prompt with its arguments, or --json. */
export function printPrompts(
  prompts: PromptInfo[],
  options: Pick<CatalogOptions, 'name' | 'json'>,
  io: Io,
): number {
  if (options.json) {
    printJson(io, prompts);
    return EXIT.ok;
  }
  const p = paint(useColor(io, 'stdout'));
  for (const prompt of prompts) {
    const title = prompt.title && prompt.title !== prompt.name ? ` ${p.dim(`(${text(prompt.title)})`)}` : '';
    writeLine(io.stdout, `${p.bold(text(prompt.name))}${title}`);
    const args = (prompt.arguments ?? [])
      .map((arg) => `${text(arg.name)}${arg.required ? '' : '?'}`)
      .join(', ');
    writeLine(io.stdout, `  ${p.dim('args')} ${args || '(none)'}`);
    if (prompt.description) writeLine(io.stdout, `  ${firstLine(prompt.description)}`);
  }
  writeLine(io.stderr, p.dim(`${count(prompts.length, 'prompt')} on ${options.name}`));
  return EXIT.ok;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function firstLine(description: string): string {
  const line = description.trim().split(/\r?\n/, 1)[0] ?? '';
  return text(line.length > 160 ? `${line.slice(0, 159)}…` : line);
}

function text(value: string): string {
  return terminalText(value);
}
