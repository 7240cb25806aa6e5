/**
 * `patchbay add <name> --from-registry <server>[@version]`: the entry a server's `server.json`
 * describes, a remote (Streamable HTTP before SSE) or a package run over stdio pinned to its
 * version. The values the publisher leaves open are taken from -H and -e, else asked on a
 * terminal (secrets hidden, or written as a `${VAR}` reference), else reported all at once.
 * The result goes through add's own parse and writer, so scopes, validation and warnings are add's.
 */

import { createInterface } from 'node:readline';

import { PatchbayError } from '../../errors.js';
import { parseAddOptions, parseScope, type RawAddFlags } from '../../config/add-options.js';
import {
  buildAddOperands,
  chooseInstall,
  MissingFields,
  parseServerRef,
  type Field,
} from '../../config/server-json.js';
import { parseEnvFlag, parseHeaderFlag, validateName } from '../../config/validate.js';
import { isInteractive, note, type Io } from '../io.js';
import { readHiddenLine } from '../prompt.js';
import { withRegistry } from '../registry-session.js';
import { runAdd } from './add.js';

export interface RawAddFromRegistryFlags extends RawAddFlags {
  fromRegistry: string;
  registry?: string;
}

export interface AddFromRegistryOptions {
  name: string;
  server: { name: string; version: string };
  registry?: string;
  /** add's flags, -H and -e included, passed on to its parse. */
  flags: RawAddFlags;
  /** -H values by lower-case header name, -e values by variable name. */
  headers: Map<string, string>;
  env: Map<string, string>;
}

export function parseAddFromRegistryOptions(
  name: string,
  operands: string[],
  flags: RawAddFromRegistryFlags,
): AddFromRegistryOptions {
  validateName(name);
  parseScope(flags.scope);
  const { fromRegistry, registry, ...addFlags } = flags;
  if (operands.length > 0) {
    throw new PatchbayError(
      'usage',
      `--from-registry takes the URL or command from the registry, but ${operands.join(' ')} was given too.`,
      {
        hint: `Either: patchbay add ${name} --from-registry ${fromRegistry}   or: patchbay add ${name} ${operands.join(' ')}`,
      },
    );
  }
  const headers = new Map<string, string>();
  for (const flag of flags.header ?? []) {
    const [key, value] = parseHeaderFlag(flag);
    headers.set(key.toLowerCase(), value);
  }
  const env = new Map<string, string>();
  for (const flag of flags.env ?? []) {
    const [key, value] = parseEnvFlag(flag);
    env.set(key, value);
  }
  return {
    name,
    server: parseServerRef(fromRegistry),
    ...(registry !== undefined ? { registry } : {}),
    flags: addFlags,
    headers,
    env,
  };
}

export async function runAddFromRegistry(options: AddFromRegistryOptions, io: Io): Promise<number> {
  const { getServerVersion } = await import('../../connect/registry-api.js');
  const found = await withRegistry(io, options.registry, undefined, (request) =>
    getServerVersion(request, options.server.name, options.server.version),
  );
  const server = found.server;
  const wanted = options.flags.transport === 'streamable-http' ? 'http' : options.flags.transport;
  const choice = chooseInstall(server, wanted as 'http' | 'sse' | 'stdio' | undefined);
  if (found.status !== undefined && found.status !== 'active')
    note(io, `Note: the registry marks ${server.name} ${server.version} as ${found.status}.`);

  const usedHeaders = new Set<string>();
  const usedEnv = new Set<string>();
  const ask = isInteractive(io);
  const source = async (field: Field): Promise<string | undefined> => {
    if (field.kind === 'header' && options.headers.has(field.key.toLowerCase())) {
      usedHeaders.add(field.key.toLowerCase());
      return options.headers.get(field.key.toLowerCase());
    }
    if (field.kind === 'env' && options.env.has(field.key)) {
      usedEnv.add(field.key);
      return options.env.get(field.key);
    }
    if (!ask || !field.input.isRequired) return undefined;
    return askFor(io, server.name, field);
  };

  let built;
  try {
    built = await buildAddOperands(choice, source);
  } catch (error) {
    if (error instanceof MissingFields) throw missingError(options, server.name, error.fields, ask);
    throw error;
  }
  // -H and -e the server.json does not declare are the user's own: they are kept.
  for (const [key, value] of options.headers)
    if (!usedHeaders.has(key)) built.headers.push(`${headerName(options, key)}: ${value}`);
  for (const [key, value] of options.env) if (!usedEnv.has(key)) built.env.push(`${key}=${value}`);

  const what =
    choice.kind === 'remote'
      ? `its ${choice.remote!.type} remote`
      : `its ${choice.package!.registryType} package ${choice.package!.identifier}${choice.package!.version ? ` ${choice.package!.version}` : ''}`;
  note(io, `From the registry: ${server.name} ${server.version}, ${what}.`);
  const addOptions = parseAddOptions(
    options.name,
    built.operands,
    { ...options.flags, transport: built.transport, header: built.headers, env: built.env },
    built.transport === 'stdio',
  );
  return runAdd(addOptions, io);
}

/** The header as the user spelled it (the map keys are lower case). */
function headerName(options: AddFromRegistryOptions, key: string): string {
  for (const flag of options.flags.header ?? []) {
    const name = flag.slice(0, flag.indexOf(':')).trim();
    if (name.toLowerCase() === key) return name;
  }
  return key;
}

function describe(field: Field): string {
  const what = { header: 'header', env: 'environment variable', variable: 'value', argument: 'argument' }[
    field.kind
  ];
  return `${what} ${field.key}${field.input.description ? ` (${field.input.description})` : ''}`;
}

async function askFor(io: Io, server: string, field: Field): Promise<string | undefined> {
  const label = `${server}: ${describe(field)}`;
  if (field.input.isSecret) {
    const reference = field.reference;
    const question = reference
      ? `${label}\n  secret, hidden; press Enter alone to write ${reference} (read from your environment) instead: `
      : `${label}\n  secret, hidden: `;
    const answer = await readHiddenLine(io, question);
    if (answer === null) throw new PatchbayError('usage', 'Cancelled; nothing was changed.');
    if (answer === '') return reference;
    return answer;
  }
  const choices = field.input.choices?.length ? ` [${field.input.choices.join('/')}]` : '';
  const fallback = field.input.default !== undefined ? ` (Enter for ${field.input.default})` : '';
  const answer = await readVisibleLine(io, `${label}${choices}${fallback}: `);
  if (answer === null) throw new PatchbayError('usage', 'Cancelled; nothing was changed.');
  return answer === '' ? undefined : answer;
}

function readVisibleLine(io: Io, question: string): Promise<string | null> {
  const lines = createInterface({ input: io.stdin, output: io.stderr, terminal: true });
  return new Promise((resolve) => {
    let answered = false;
    lines.on('close', () => {
      if (!answered) resolve(null);
    });
    lines.question(question, (answer) => {
      answered = true;
      lines.close();
      resolve(answer.trim());
    });
  });
}

function missingError(
  options: AddFromRegistryOptions,
  server: string,
  fields: Field[],
  interactive: boolean,
): PatchbayError {
  const flagFor = (field: Field) =>
    field.kind === 'header'
      ? `-H "${field.key}: ${field.input.isSecret ? field.reference : '…'}"`
      : field.kind === 'env'
        ? `-e ${field.key}=${field.input.isSecret ? field.reference : '…'}`
        : undefined;
  const passable = fields.map(flagFor).filter((flag): flag is string => flag !== undefined);
  const rest = fields.filter((field) => flagFor(field) === undefined);
  const list = fields
    .map((field) => `  ${describe(field)}${field.input.isSecret ? ', secret' : ''}`)
    .join('\n');
  const base = `patchbay add ${options.name} --from-registry ${options.server.name}${options.server.version === 'latest' ? '' : `@${options.server.version}`}`;
  const hints: string[] = [];
  if (passable.length > 0) hints.push(`Pass them: ${base} ${passable.join(' ')}`);
  if (rest.length > 0)
    hints.push(
      interactive
        ? 'Values and arguments without a flag are asked for; enter one for each.'
        : 'Values and arguments have no flag: run the command on a terminal to be asked for them.',
    );
  return new PatchbayError(
    'usage',
    `${server} needs ${fields.length === 1 ? 'a value' : 'values'} ${interactive ? 'that were not given' : 'that cannot be asked for without a terminal'}:\n${list}`,
    { hint: hints.join('\n') },
  );
}
