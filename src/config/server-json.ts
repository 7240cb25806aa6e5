/**
 * The MCP Registry's `server.json` (schema https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json)
 * and the v0 API's envelopes around it: checked field by field, then turned into the operands and
 * flags of `patchbay add`, so an entry from the registry goes through the same parse, validation
 * and writer as one typed by hand. Pure: the HTTP part is connect/registry-api.ts.
 *
 * Every string here comes from a registry, so it is treated as hostile: fields are type-checked,
 * URLs are left to add's own URL validation, and nothing is run through a shell (arguments stay a
 * list).
 */

import { PatchbayError } from '../errors.js';

/** An input of server.json: a header, an environment variable, an argument or a template variable. */
export interface RegistryInput {
  description?: string;
  isRequired?: boolean;
  isSecret?: boolean;
  format?: string;
  /** Fixed by the publisher; `{name}` parts refer to `variables`. */
  value?: string;
  default?: string;
  placeholder?: string;
  choices?: string[];
  variables?: Record<string, RegistryInput>;
}

export interface RegistryKeyValue extends RegistryInput {
  name: string;
}

export interface RegistryArgument extends RegistryInput {
  type: string;
  /** Named arguments: the flag, dashes included. */
  name?: string;
  /** Positional arguments: a label for the value. */
  valueHint?: string;
  isRepeated?: boolean;
}

export interface RegistryRemote {
  /** 'streamable-http' or 'sse'. */
  type: string;
  url: string;
  headers?: RegistryKeyValue[];
  variables?: Record<string, RegistryInput>;
}

export interface RegistryPackage {
  /** 'npm', 'pypi', 'oci', 'nuget', 'mcpb', … */
  registryType: string;
  identifier: string;
  version?: string;
  runtimeHint?: string;
  transport: { type: string; url?: string };
  runtimeArguments?: RegistryArgument[];
  packageArguments?: RegistryArgument[];
  environmentVariables?: RegistryKeyValue[];
}

export interface ServerJson {
  $schema?: string;
  name: string;
  description: string;
  version: string;
  title?: string;
  websiteUrl?: string;
  remotes?: RegistryRemote[];
  packages?: RegistryPackage[];
}

/** One item of the API: the server.json and what the registry says about it. */
export interface RegistryServer {
  server: ServerJson;
  /** From `_meta["io.modelcontextprotocol.registry/official"]`, when the registry gives it. */
  status?: string;
  isLatest?: boolean;
  publishedAt?: string;
}

export interface RegistryPage {
  servers: RegistryServer[];
  /** Items of the list whose document breaks the schema: left out, said, never fatal to a search. */
  skipped: Array<{ name?: string; problem: string }>;
  nextCursor?: string;
}

// ---------------------------------------------------------------------------------------------
// Checking documents

type Json = unknown;
type Obj = Record<string, Json>;

const isObj = (value: Json): value is Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function kindOf(value: Json): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** A document that is not what the schema says: the field, and what it holds instead. */
class ShapeError extends Error {}

function fail(path: string, expected: string, value: Json): never {
  throw new ShapeError(`${path} is ${kindOf(value)}, expected ${expected}`);
}

function str(obj: Obj, key: string, path: string): string {
  const value = obj[key];
  if (typeof value !== 'string' || value === '') fail(`${path}.${key}`, 'a non-empty string', value);
  return value;
}

function optStr(obj: Obj, key: string, path: string): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') fail(`${path}.${key}`, 'a string', value);
  return value;
}

function optBool(obj: Obj, key: string, path: string): boolean | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') fail(`${path}.${key}`, 'true or false', value);
  return value;
}

function optList<T>(
  obj: Obj,
  key: string,
  path: string,
  item: (value: Json, path: string) => T,
): T[] | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) fail(`${path}.${key}`, 'a list', value);
  return value.map((entry, index) => item(entry, `${path}.${key}[${index}]`));
}

function object(value: Json, path: string): Obj {
  if (!isObj(value)) fail(path, 'an object', value);
  return value;
}

function input(value: Json, path: string): RegistryInput {
  const obj = object(value, path);
  const out: RegistryInput = {};
  const description = optStr(obj, 'description', path);
  if (description !== undefined) out.description = description;
  const isRequired = optBool(obj, 'isRequired', path);
  if (isRequired !== undefined) out.isRequired = isRequired;
  const isSecret = optBool(obj, 'isSecret', path);
  if (isSecret !== undefined) out.isSecret = isSecret;
  for (const key of ['format', 'value', 'default', 'placeholder'] as const) {
    const text = optStr(obj, key, path);
    if (text !== undefined) out[key] = text;
  }
  const choices = optList(obj, 'choices', path, (entry, at) =>
    typeof entry === 'string' ? entry : fail(at, 'a string', entry),
  );
  if (choices) out.choices = choices;
  const variables = variablesOf(obj, path);
  if (variables) out.variables = variables;
  return out;
}

function variablesOf(obj: Obj, path: string): Record<string, RegistryInput> | undefined {
  const value = obj.variables;
  if (value === undefined || value === null) return undefined;
  const map = object(value, `${path}.variables`);
  const out: Record<string, RegistryInput> = Object.create(null) as Record<string, RegistryInput>;
  for (const [name, entry] of Object.entries(map)) out[name] = input(entry, `${path}.variables.${name}`);
  return out;
}

function keyValue(value: Json, path: string): RegistryKeyValue {
  return { ...input(value, path), name: str(object(value, path), 'name', path) };
}

function argument(value: Json, path: string): RegistryArgument {
  const obj = object(value, path);
  const out: RegistryArgument = { ...input(obj, path), type: str(obj, 'type', path) };
  const name = optStr(obj, 'name', path);
  if (name !== undefined) out.name = name;
  const valueHint = optStr(obj, 'valueHint', path);
  if (valueHint !== undefined) out.valueHint = valueHint;
  const isRepeated = optBool(obj, 'isRepeated', path);
  if (isRepeated !== undefined) out.isRepeated = isRepeated;
  if (out.type === 'named' && !out.name) fail(`${path}.name`, 'a non-empty string (a named argument)', name);
  return out;
}

function remote(value: Json, path: string): RegistryRemote {
  const obj = object(value, path);
  const out: RegistryRemote = { type: str(obj, 'type', path), url: str(obj, 'url', path) };
  const headers = optList(obj, 'headers', path, keyValue);
  if (headers) out.headers = headers;
  const variables = variablesOf(obj, path);
  if (variables) out.variables = variables;
  return out;
}

function pkg(value: Json, path: string): RegistryPackage {
  const obj = object(value, path);
  const transport = object(obj.transport, `${path}.transport`);
  const out: RegistryPackage = {
    registryType: str(obj, 'registryType', path),
    identifier: str(obj, 'identifier', path),
    transport: { type: str(transport, 'type', `${path}.transport`) },
  };
  const url = optStr(transport, 'url', `${path}.transport`);
  if (url !== undefined) out.transport.url = url;
  const version = optStr(obj, 'version', path);
  if (version) out.version = version;
  const runtimeHint = optStr(obj, 'runtimeHint', path);
  if (runtimeHint) out.runtimeHint = runtimeHint;
  const runtimeArguments = optList(obj, 'runtimeArguments', path, argument);
  if (runtimeArguments) out.runtimeArguments = runtimeArguments;
  const packageArguments = optList(obj, 'packageArguments', path, argument);
  if (packageArguments) out.packageArguments = packageArguments;
  const environmentVariables = optList(obj, 'environmentVariables', path, keyValue);
  if (environmentVariables) out.environmentVariables = environmentVariables;
  return out;
}

function serverJson(value: Json, path: string): ServerJson {
  const obj = object(value, path);
  const out: ServerJson = {
    name: str(obj, 'name', path),
    description: str(obj, 'description', path),
    version: str(obj, 'version', path),
  };
  for (const key of ['$schema', 'title', 'websiteUrl'] as const) {
    const text = optStr(obj, key, path);
    if (text !== undefined) out[key] = text;
  }
  const remotes = optList(obj, 'remotes', path, remote);
  if (remotes) out.remotes = remotes;
  const packages = optList(obj, 'packages', path, pkg);
  if (packages) out.packages = packages;
  return out;
}

const OFFICIAL_META = 'io.modelcontextprotocol.registry/official';

function serverResponse(value: Json, path: string): RegistryServer {
  const obj = object(value, path);
  const out: RegistryServer = { server: serverJson(obj.server, `${path}.server`) };
  const meta = isObj(obj._meta) ? obj._meta[OFFICIAL_META] : undefined;
  if (isObj(meta)) {
    if (typeof meta.status === 'string') out.status = meta.status;
    if (typeof meta.isLatest === 'boolean') out.isLatest = meta.isLatest;
    if (typeof meta.publishedAt === 'string') out.publishedAt = meta.publishedAt;
  }
  return out;
}

function checked<T>(parse: () => T, what: string, hint: string): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof ShapeError)) throw error;
    throw new PatchbayError(
      'registry-failed',
      `${what} is not a valid registry document: ${error.message}.`,
      {
        hint,
      },
    );
  }
}

/** `GET /v0/servers`: `{ servers: [{ server, _meta }], metadata: { nextCursor, count } }`. */
export function parseServerList(value: Json, what: string): RegistryPage {
  return checked(
    () => {
      const obj = object(value, 'the answer');
      if (!Array.isArray(obj.servers)) fail('the answer.servers', 'a list', obj.servers);
      const page: RegistryPage = { servers: [], skipped: [] };
      obj.servers.forEach((item: Json, index) => {
        try {
          page.servers.push(serverResponse(item, `the answer.servers[${index}]`));
        } catch (error) {
          if (!(error instanceof ShapeError)) throw error;
          const name = isObj(item) && isObj(item.server) ? item.server.name : undefined;
          page.skipped.push({ ...(typeof name === 'string' ? { name } : {}), problem: error.message });
        }
      });
      if (isObj(obj.metadata)) {
        const cursor = optStr(obj.metadata, 'nextCursor', 'the answer.metadata');
        if (cursor) page.nextCursor = cursor;
      }
      return page;
    },
    what,
    'The registry answered in a format patchbay does not know; check --registry or PATCHBAY_REGISTRY_URL.',
  );
}

/** `GET /v0/servers/{serverName}/versions/{version}`: `{ server, _meta }`. */
export function parseServerResponse(value: Json, what: string, name: string): RegistryServer {
  return checked(
    () => serverResponse(value, 'the answer'),
    what,
    `The publisher's server.json is broken; ask them to fix it, or add the server by hand: patchbay add <name> <url>  (or -- <command>). Its versions: patchbay search ${name}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Names and summaries

/** `io.github.user/server` or `io.github.user/server@1.2.0`; server names cannot hold "@". */
export function parseServerRef(text: string): { name: string; version: string } {
  const at = text.lastIndexOf('@');
  const name = at === -1 ? text : text.slice(0, at);
  const version = at === -1 ? 'latest' : text.slice(at + 1);
  if (!/^[a-zA-Z0-9.-]+\/[a-zA-Z0-9._-]+$/.test(name) || version === '') {
    throw new PatchbayError(
      'usage',
      `Invalid registry server ${JSON.stringify(text)}: expected a name like io.github.owner/server, optionally with @version.`,
      { hint: 'Find the name with: patchbay search <words>' },
    );
  }
  return { name, version };
}

/** How a server can be used, shortest first: `http, sse, npm, oci`. */
export function transportsOf(server: ServerJson): string[] {
  const out: string[] = [];
  for (const r of server.remotes ?? []) out.push(r.type === 'streamable-http' ? 'http' : r.type);
  for (const p of server.packages ?? []) out.push(p.registryType);
  return [...new Set(out)];
}

// ---------------------------------------------------------------------------------------------
// From server.json to add's operands

/** Where a value the user gives ends up. */
export type FieldKind = 'header' | 'env' | 'variable' | 'argument';

/** One value the entry needs and the publisher did not fix. */
export interface Field {
  kind: FieldKind;
  /** Header name, variable name, argument flag or value hint. */
  key: string;
  input: RegistryInput;
  /** The `${VAR}` to write instead of a secret (headers and env only). */
  reference?: string;
}

/** Answers a field; undefined leaves it to the default (or out, when optional). */
export type FieldSource = (field: Field) => Promise<string | undefined>;

export interface Choice {
  kind: 'remote' | 'package';
  /** What `patchbay add` would be told: -t and the operands. */
  transport: 'http' | 'sse' | 'stdio';
  remote?: RegistryRemote;
  package?: RegistryPackage;
}

const RUNNERS: Record<string, string> = { npm: 'npx', pypi: 'uvx', oci: 'docker', nuget: 'dnx' };

/**
 * The remote if there is one (Streamable HTTP before SSE), else the first package patchbay can run
 * over stdio. `want` narrows the choice to a transport (add's -t).
 */
export function chooseInstall(server: ServerJson, want?: 'http' | 'sse' | 'stdio'): Choice {
  const remotes = server.remotes ?? [];
  const http = remotes.find((r) => r.type === 'streamable-http');
  const sse = remotes.find((r) => r.type === 'sse');
  const runnable = (server.packages ?? []).find(
    (p) => p.transport.type === 'stdio' && RUNNERS[p.registryType] !== undefined,
  );
  const choices: Choice[] = [];
  if (http) choices.push({ kind: 'remote', transport: 'http', remote: http });
  if (sse) choices.push({ kind: 'remote', transport: 'sse', remote: sse });
  if (runnable) choices.push({ kind: 'package', transport: 'stdio', package: runnable });
  const chosen = want ? choices.find((c) => c.transport === want) : choices[0];
  if (chosen) return chosen;
  const offered = transportsOf(server).join(', ') || 'nothing';
  throw new PatchbayError(
    'usage',
    want
      ? `${server.name} ${server.version} offers no ${want} transport (it offers: ${offered}).`
      : `${server.name} ${server.version} offers nothing patchbay can run: no remote, and no npm, pypi, oci or nuget package over stdio (it offers: ${offered}).`,
    {
      hint: want
        ? `Leave out -t to take what it offers, or see: patchbay search ${server.name}`
        : 'Add it by hand following its documentation: patchbay add <name> <url>  or  patchbay add <name> -- <command>',
    },
  );
}

/** `X-API-Key` → `X_API_KEY`: the variable a reference to a header's secret reads. */
export function referenceNameFor(header: string): string {
  const name = header
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return name === 'AUTHORIZATION' ? 'API_TOKEN' : name || 'VALUE';
}

/** What add is given: -t, operands (URL, or command and arguments), -H and -e values. */
export interface AddOperands {
  transport: 'http' | 'sse' | 'stdio';
  operands: string[];
  headers: string[];
  env: string[];
}

/** The required fields nobody answered, for one error listing them all. */
export class MissingFields extends Error {
  constructor(readonly fields: Field[]) {
    super(`missing: ${fields.map((f) => f.key).join(', ')}`);
  }
}

/**
 * The operands of `patchbay add` for a choice, asking `source` for every value the publisher left
 * open. A required value with no answer takes its default; with none, it is reported (all of them
 * at once, as MissingFields). `{name}` templates are filled from their `variables`.
 */
export async function buildAddOperands(choice: Choice, source: FieldSource): Promise<AddOperands> {
  const missing: Field[] = [];
  const answer = async (field: Field): Promise<string | undefined> => {
    const given = await source(field);
    if (given !== undefined) return given;
    const fallback = field.input.default;
    if (fallback !== undefined && field.input.isRequired) return fallback;
    if (field.input.isRequired) missing.push(field);
    return undefined;
  };
  const fill = async (template: string, variables: Record<string, RegistryInput> | undefined) => {
    let out = '';
    let last = 0;
    for (const match of template.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
      const declared = variables?.[match[1]!];
      if (!declared) continue; // Unknown braces stay as they are (the schema says so).
      const value = declared.value ?? (await answer({ kind: 'variable', key: match[1]!, input: declared }));
      out += template.slice(last, match.index) + (value ?? '');
      last = match.index + match[0].length;
    }
    return out + template.slice(last);
  };
  const keyValues = async (kind: 'header' | 'env', list: RegistryKeyValue[] | undefined) => {
    const out: string[] = [];
    for (const item of list ?? []) {
      const value =
        item.value !== undefined
          ? await fill(item.value, item.variables)
          : await answer({
              kind,
              key: item.name,
              input: item,
              reference: `\${${kind === 'env' ? item.name : referenceNameFor(item.name)}}`,
            });
      if (value !== undefined)
        out.push(kind === 'header' ? `${item.name}: ${value}` : `${item.name}=${value}`);
    }
    return out;
  };
  const argv = async (list: RegistryArgument[] | undefined) => {
    const out: string[] = [];
    for (const arg of list ?? []) {
      const key = arg.type === 'named' ? arg.name! : (arg.valueHint ?? 'argument');
      const value =
        arg.value !== undefined
          ? await fill(arg.value, arg.variables)
          : await answer({ kind: 'argument', key, input: arg });
      if (value === undefined) continue;
      if (arg.type === 'named') out.push(arg.name!, value);
      else out.push(value);
    }
    return out;
  };

  let result: AddOperands;
  if (choice.kind === 'remote') {
    const r = choice.remote!;
    result = {
      transport: choice.transport,
      operands: [await fill(r.url, r.variables)],
      headers: await keyValues('header', r.headers),
      env: [],
    };
  } else {
    const p = choice.package!;
    const env = await keyValues('env', p.environmentVariables);
    const runtime = await argv(p.runtimeArguments);
    const args = await argv(p.packageArguments);
    result = { transport: 'stdio', operands: commandFor(p, runtime, args, env), headers: [], env };
  }
  if (missing.length > 0) throw new MissingFields(missing);
  return result;
}

/** The command line of a package, pinned to its version. */
function commandFor(p: RegistryPackage, runtime: string[], args: string[], env: string[]): string[] {
  const runner = p.runtimeHint ?? RUNNERS[p.registryType]!;
  const declared = p.runtimeArguments !== undefined;
  switch (p.registryType) {
    case 'npm':
      return [
        runner,
        ...(declared ? runtime : runner === 'npx' ? ['-y'] : []),
        p.version ? `${p.identifier}@${p.version}` : p.identifier,
        ...args,
      ];
    case 'pypi':
      return [runner, ...runtime, p.version ? `${p.identifier}==${p.version}` : p.identifier, ...args];
    case 'nuget':
      return [
        runner,
        ...runtime,
        p.version ? `${p.identifier}@${p.version}` : p.identifier,
        '--yes',
        ...(args.length > 0 ? ['--', ...args] : []),
      ];
    default: {
      // oci: the identifier carries its tag since schema 2025-10-11; older documents put it in version.
      const last = p.identifier.slice(p.identifier.lastIndexOf('/') + 1);
      const image =
        last.includes(':') || last.includes('@') || !p.version
          ? p.identifier
          : `${p.identifier}:${p.version}`;
      // A container sees only the variables passed to it: each one the entry sets is passed by name.
      const passed = new Set<string>();
      for (let i = 0; i < runtime.length - 1; i++)
        if (runtime[i] === '-e' || runtime[i] === '--env') passed.add(runtime[i + 1]!.split('=')[0]!);
      const forwards = env
        .map((pair) => pair.slice(0, pair.indexOf('=')))
        .filter((name) => !passed.has(name))
        .flatMap((name) => ['-e', name]);
      return [runner, 'run', '-i', '--rm', ...runtime, ...forwards, image, ...args];
    }
  }
}
