/**
 * The registry of servers: the three scopes, their files, and precedence.
 *
 *   local   → patchbay's config.json, `projects[<project root>].mcpServers` (this user, this project)
 *   project → `<project root>/.mcp.json`, Claude Code's format, committed with the project
 *   user    → patchbay's config.json, `mcpServers` (this user, every project)
 *
 * Precedence is local > project > user, by whole entry. A file that does not parse takes its
 * scope(s) out of service and is never rewritten; the other scopes keep working.
 */

import { PatchbayError } from '../errors.js';
import { entryFromRaw, formatProblem, type Scope, type ServerEntry } from './entry.js';
import { readManagedPolicy, type ManagedPolicy } from './managed.js';
import {
  POLICY_FILE_CHOICE,
  policyLocation,
  readPolicyDoc,
  readPolicyFileChoice,
  readTeamPolicyFile,
  type PolicyDoc,
  type PolicyScope,
  type PolicySource,
} from './policy-files.js';
import { readJsonFile, updateJsonFile, type LoadedFile } from '../core/file-store.js';
import {
  contentDigest,
  objectAt,
  createObject,
  getOwn,
  hasOwn,
  isObject,
  setOwn,
  type JsonObject,
  type JsonValue,
  type ParsedJson,
} from '../core/json-source.js';
import { findProjectRoot, projectConfigPath, resolvePaths, type Paths } from '../core/paths.js';

export interface ConfigContext {
  env: NodeJS.ProcessEnv;
  /** Where patchbay's files are, resolved from `env` once by whoever made this context. */
  paths: Paths;
  cwd: string;
  projectRoot: string;
  userConfigPath: string;
  projectConfigPath: string;
}

export function createContext(
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
  paths: Paths = resolvePaths(env),
): ConfigContext {
  const projectRoot = findProjectRoot(cwd, env);
  return {
    env,
    paths,
    cwd,
    projectRoot,
    userConfigPath: paths.userConfig,
    projectConfigPath: projectConfigPath(projectRoot),
  };
}

export interface ScopedEntry {
  name: string;
  scope: Scope;
  /** The file it was read from. */
  path: string;
  raw: JsonValue;
  /** Absent when the entry has problems. */
  entry?: ServerEntry;
  /** `file:line:col: path: message` lines. */
  problems: string[];
  /** For a project entry (winner or shadowed): the user's decision about this exact content. */
  projectChoice?: ProjectChoice;
}

export type ProjectChoice = 'approved' | 'rejected' | 'pending';

export interface EffectiveServer {
  name: string;
  winner: ScopedEntry;
  /** Same-named entries of lower scopes, hidden by the winner. */
  shadowed: ScopedEntry[];
  /** For a project entry: the user's decision about this exact content. */
  projectChoice?: ProjectChoice;
  /** The administrator's policy, which may block this server (checked on the expanded entry). */
  managed?: ManagedPolicy;
  /** The policy file that disables this server (`patchbay disable`), if one does. */
  disabledBy?: PolicySource;
}

export interface PolicySet {
  /** Policy documents, most specific scope first: local, project (the team's file), user. */
  sources: PolicySource[];
  /**
   * The project's `.patchbay.json` when it exists and reads as a policy: its content digest and
   * the user's decision about exactly that content (policy/project-file says what it changes).
   */
  projectFile?: { path: string; sha256: string; choice: ProjectChoice };
  /** Policy documents that cannot be read (each is also a `broken` source, which denies). */
  problems: PatchbayError[];
  managed?: ManagedPolicy;
}

export interface FileStatus {
  scopes: Scope[];
  path: string;
  exists: boolean;
  error?: PatchbayError;
}

export interface Registry {
  context: ConfigContext;
  files: FileStatus[];
  entries: ScopedEntry[];
  servers: EffectiveServer[];
  policy: PolicySet;
}

interface StoredChoice {
  decision: 'approved' | 'rejected';
  sha256: string;
}

// ---------------------------------------------------------------------------------------------
// Reading

export async function loadRegistry(context: ConfigContext): Promise<Registry> {
  const [userFile, projectFile, teamFile, managed] = await Promise.all([
    readJsonFile(context.userConfigPath),
    readJsonFile(context.projectConfigPath),
    readTeamPolicyFile(context.projectRoot),
    readManagedPolicy(context.env),
  ]);
  const files: FileStatus[] = [];
  const entries: ScopedEntry[] = [];

  const userShape = checkUserConfigShape(userFile, context.projectRoot);
  const policyFileChoice = readPolicyFileChoice(userFile, context.projectRoot);
  const paths = { userConfigPath: context.userConfigPath, projectRoot: context.projectRoot };
  const localPolicy = readPolicyDoc(userFile, policyLocation('local', paths).at);
  const userPolicy = readPolicyDoc(userFile, policyLocation('user', paths).at);
  const teamPolicy = readPolicyDoc(teamFile, []);
  files.push({
    scopes: ['local', 'user'],
    path: userFile.path,
    exists: userFile.exists,
    error: userFile.error ?? userShape.error,
  });
  const projectShape = objectAtPath(projectFile, ['mcpServers']);
  files.push({
    scopes: ['project'],
    path: projectFile.path,
    exists: projectFile.exists,
    error: projectFile.error ?? projectShape.error,
  });

  if (userShape.local)
    entries.push(
      ...readServers(userShape.local, 'local', userFile, ['projects', context.projectRoot, 'mcpServers']),
    );
  if (projectShape.servers)
    entries.push(...readServers(projectShape.servers, 'project', projectFile, ['mcpServers']));
  if (userShape.user) entries.push(...readServers(userShape.user, 'user', userFile, ['mcpServers']));

  const choices = userShape.choices ?? createObject();
  for (const scoped of entries)
    if (scoped.scope === 'project') scoped.projectChoice = choiceFor(choices, scoped);
  const servers: EffectiveServer[] = [];
  const byName = new Map<string, EffectiveServer>();
  for (const scoped of entries) {
    const existing = byName.get(scoped.name);
    if (existing) {
      existing.shadowed.push(scoped);
      continue;
    }
    const server: EffectiveServer = { name: scoped.name, winner: scoped, shadowed: [] };
    if (scoped.projectChoice) server.projectChoice = scoped.projectChoice;
    byName.set(scoped.name, server);
    servers.push(server);
  }
  // The team's file holds no servers: listed to be watched, its problems are policy problems.
  if (teamFile.exists) files.push({ scopes: ['project'], path: teamFile.path, exists: true });
  const sources: PolicySource[] = [];
  const problems: PatchbayError[] = [];
  let policyFile: PolicySet['projectFile'];
  if (!teamFile.error && teamPolicy.doc && teamFile.parsed) {
    const sha256 = contentDigest(teamFile.parsed.value);
    const choice: ProjectChoice =
      policyFileChoice && policyFileChoice.sha256 === sha256 ? policyFileChoice.decision : 'pending';
    policyFile = { path: teamFile.path, sha256, choice };
  }
  const read: Array<[PolicyScope, string, { doc?: PolicyDoc; error?: PatchbayError }]> = [
    ['local', userFile.path, userFile.error ? {} : localPolicy],
    ['project', teamFile.path, teamFile.error ? { error: teamFile.error } : teamPolicy],
    ['user', userFile.path, userFile.error ? {} : userPolicy],
  ];
  for (const [scope, path, { doc, error }] of read) {
    // A policy that cannot be read is not ignored: it denies every tool until it is fixed.
    if (error) {
      problems.push(error);
      sources.push({ scope, path, doc: {}, broken: error.message });
    } else if (doc) {
      // The project's file is the repository's word, not the user's: until they approve it as
      // it reads now, it may only tighten (policy/rules).
      const choice = scope === 'project' ? policyFile?.choice : undefined;
      sources.push({ scope, path, doc, ...(choice && choice !== 'approved' ? { unapproved: choice } : {}) });
    }
  }
  for (const server of servers) {
    if (managed) server.managed = managed;
    const disabledBy = sources.find((source) => source.doc.servers?.[server.name]?.enabled === false);
    if (disabledBy) server.disabledBy = disabledBy;
  }
  return {
    context,
    files,
    entries,
    servers,
    policy: {
      sources,
      problems,
      ...(policyFile ? { projectFile: policyFile } : {}),
      ...(managed ? { managed } : {}),
    },
  };
}

function readServers(servers: JsonObject, scope: Scope, file: LoadedFile, basePath: string[]): ScopedEntry[] {
  const parsed = file.parsed!;
  return Object.entries(servers).map(([name, raw]) => {
    const { entry, problems } = entryFromRaw(raw);
    const scoped: ScopedEntry = {
      name,
      scope,
      path: file.path,
      raw,
      problems: problems.map((problem) =>
        formatProblem(file.path, [...basePath, name], problem, parsed.positionOf),
      ),
    };
    if (entry) scoped.entry = entry;
    return scoped;
  });
}

function shapeError(parsed: ParsedJson, file: string, path: Array<string>, expected: string): PatchbayError {
  const position = parsed.positionOf(path);
  const where = position ? `${file}:${position.line}:${position.column}` : file;
  return new PatchbayError(
    'config-shape',
    `${where}: ${path.length ? path.join('.') : 'the file'}: expected ${expected}`,
    {
      hint: `Fix ${file}; patchbay will not rewrite it while it is broken.`,
    },
  );
}

/** The object at `path` (empty when absent), or a shape error pointing at what is in the way. */
function objectAtPath(file: LoadedFile, path: string[]): { servers?: JsonObject; error?: PatchbayError } {
  if (!file.parsed) return {};
  let value: JsonValue | undefined = file.parsed.value;
  if (!isObject(value)) return { error: shapeError(file.parsed, file.path, [], 'a JSON object') };
  for (let i = 0; i < path.length; i++) {
    value = getOwn(value as JsonObject, path[i]!);
    if (value === undefined) return { servers: createObject() };
    if (!isObject(value))
      return { error: shapeError(file.parsed, file.path, path.slice(0, i + 1), 'an object') };
  }
  return { servers: value as JsonObject };
}

function checkUserConfigShape(
  file: LoadedFile,
  projectRoot: string,
): { user?: JsonObject; local?: JsonObject; choices?: JsonObject; error?: PatchbayError } {
  if (!file.parsed) return {};
  const user = objectAtPath(file, ['mcpServers']);
  if (user.error) return { error: user.error };
  const local = objectAtPath(file, ['projects', projectRoot, 'mcpServers']);
  if (local.error) return { error: local.error };
  const choices = objectAtPath(file, ['projects', projectRoot, 'mcpjsonChoices']);
  if (choices.error) return { error: choices.error };
  return { user: user.servers!, local: local.servers!, choices: choices.servers! };
}

/** Approvals are bound to the entry's content: a changed entry is pending again. */
export function entryDigest(raw: JsonValue): string {
  return contentDigest(raw);
}

/** A config file or the policy does not parse: what is served or listed would be missing parts. */
export function hasBrokenFile(registry: Registry): boolean {
  return registry.files.some((file) => file.error) || registry.policy.problems.length > 0;
}

function choiceFor(choices: JsonObject, scoped: ScopedEntry): ProjectChoice {
  const stored = getOwn(choices, scoped.name);
  if (!isObject(stored)) return 'pending';
  const choice = stored as unknown as StoredChoice;
  if (choice.sha256 !== entryDigest(scoped.raw)) return 'pending';
  return choice.decision === 'approved' || choice.decision === 'rejected' ? choice.decision : 'pending';
}

// ---------------------------------------------------------------------------------------------
// Lookup helpers

/**
 * The scope to remove `name` from: the one given, else the only one that has it. Several: an
 * ambiguous-scope error whose hint `say(scope)` words for the caller (a flag, a parameter).
 */
export function scopeToRemove(
  registry: Registry,
  name: string,
  given: Scope | undefined,
  say: (scope: Scope) => string,
): Scope {
  if (given !== undefined) return given;
  const found = registry.entries.filter((entry) => entry.name === name);
  if (found.length === 0) throw notFoundError(registry, name);
  if (found.length > 1)
    throw new PatchbayError(
      'ambiguous-scope',
      `${name} is configured in several scopes: ${found.map((entry) => `${entry.scope} (${entry.path})`).join(', ')}.`,
      { hint: `Say which one: ${found.map((entry) => say(entry.scope)).join('  or  ')}` },
    );
  return found[0]!.scope;
}

/** The one server named, or every server when no name is given (a command's `[name]`). */
export function selectServers(registry: Registry, name: string | undefined): EffectiveServer[] {
  if (name === undefined) return registry.servers;
  const server = findServer(registry, name);
  if (!server) throw notFoundError(registry, name);
  return [server];
}

export function findServer(registry: Registry, name: string): EffectiveServer | undefined {
  return registry.servers.find((server) => server.name === name);
}

/** The closest configured name, for "did you mean" hints. */
export function closestName(registry: Registry, name: string): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of new Set(registry.entries.map((entry) => entry.name))) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance <= Math.max(2, Math.floor(name.length / 3)) && (!best || distance < best.distance)) {
      best = { name: candidate, distance };
    }
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

export function notFoundError(registry: Registry, name: string): PatchbayError {
  const suggestion = closestName(registry, name);
  return new PatchbayError('not-found', `No server named ${JSON.stringify(name)} is configured.`, {
    hint: suggestion
      ? `Did you mean ${suggestion}? See all servers with: patchbay list --no-check`
      : 'See all servers with: patchbay list --no-check',
  });
}

// ---------------------------------------------------------------------------------------------
// Writing

export function scopeFilePath(context: ConfigContext, scope: Scope): string {
  return scope === 'project' ? context.projectConfigPath : context.userConfigPath;
}

function isSecretFile(scope: Scope): boolean {
  // patchbay's own config holds user/local entries with literal headers and env: keep it private.
  // .mcp.json is the team's committed file: it keeps its own mode.
  return scope !== 'project';
}

function serversPath(context: ConfigContext, scope: Scope): string[] {
  if (scope === 'local') return ['projects', context.projectRoot, 'mcpServers'];
  return ['mcpServers'];
}

/** Every `mcpServers` object in a file, with its JSON path: the user file has one per project. */
function serverObjects(root: JsonObject, scope: Scope): Array<{ path: string[]; servers: JsonObject }> {
  const found: Array<{ path: string[]; servers: JsonObject }> = [];
  const top = getOwn(root, 'mcpServers');
  if (isObject(top)) found.push({ path: ['mcpServers'], servers: top });
  const projects = scope === 'project' ? undefined : getOwn(root, 'projects');
  if (isObject(projects)) {
    for (const [project, settings] of Object.entries(projects)) {
      const servers = isObject(settings) ? getOwn(settings, 'mcpServers') : undefined;
      if (isObject(servers)) found.push({ path: ['projects', project, 'mcpServers'], servers });
    }
  }
  return found;
}

/**
 * Mutate one scope's servers under the file's lock. The callback sees the live object
 * (fresh from disk, after the lock) and returns whether to write. A file holding an invalid
 * entry is refused: writing back a file patchbay only half understands could lose the user's work.
 */
export async function updateScope<T>(
  context: ConfigContext,
  scope: Scope,
  mutate: (servers: JsonObject, root: JsonObject) => { write: boolean; result: T },
): Promise<T> {
  const path = scopeFilePath(context, scope);
  return updateJsonFile(
    path,
    (root, file) => {
      if (isObject(root) && file.parsed) {
        const problems: string[] = [];
        for (const { path: basePath, servers } of serverObjects(root, scope)) {
          for (const [name, raw] of Object.entries(servers)) {
            for (const problem of entryFromRaw(raw).problems) {
              problems.push(formatProblem(path, [...basePath, name], problem, file.parsed.positionOf));
            }
          }
        }
        if (problems.length > 0) {
          throw new PatchbayError('config-shape', `${problems.join('\n')}\nThe file was left unchanged.`, {
            hint: `Fix the entries above in ${path}; patchbay does not rewrite a file it cannot fully read.`,
          });
        }
      }
      const servers = objectAt(root, serversPath(context, scope), path);
      return mutate(servers, root as JsonObject);
    },
    { secret: isSecretFile(scope) },
  );
}

export interface AddResult {
  path: string;
  replaced: boolean;
}

export async function addServer(
  context: ConfigContext,
  scope: Scope,
  name: string,
  raw: JsonObject,
  options: { force?: boolean } = {},
): Promise<AddResult> {
  const path = scopeFilePath(context, scope);
  const result = await updateScope(context, scope, (servers) => {
    const replaced = hasOwn(servers, name);
    if (replaced && !options.force) {
      throw new PatchbayError(
        'duplicate',
        `A server named ${JSON.stringify(name)} already exists in the ${scope} scope (${path}).`,
        {
          hint: `Replace it with --force, remove it first (patchbay remove ${name} -s ${scope}), or choose another name.`,
        },
      );
    }
    setOwn(servers, name, raw);
    return { write: true, result: { path, replaced } };
  });
  // The user wrote this project entry themselves: it needs no approval from them.
  if (scope === 'project') await recordProjectChoices(context, [{ name, decision: 'approved', raw }]);
  return result;
}

/**
 * Rewrite one entry in place, under the file's lock: `change` gets the entry as it is on disk now
 * (so an edit never undoes one made meanwhile) and returns the new entry, or throws to leave the
 * file untouched. The rest of the file, the entry's keys `change` keeps included, is written back
 * as it was.
 */
export async function editServer(
  context: ConfigContext,
  scope: Scope,
  name: string,
  change: (stored: JsonValue) => JsonObject,
): Promise<{ path: string; raw: JsonObject }> {
  const path = scopeFilePath(context, scope);
  const raw = await updateScope(context, scope, (servers) => {
    if (!hasOwn(servers, name))
      throw new PatchbayError('not-found', `No server named ${JSON.stringify(name)} in the ${scope} scope.`, {
        hint: 'See all servers with: patchbay list --no-check',
      });
    const edited = change(servers[name]!);
    setOwn(servers, name, edited);
    return { write: true, result: edited };
  });
  // As with add: the user changed this project entry themselves, so it needs no approval from them.
  if (scope === 'project') await recordProjectChoices(context, [{ name, decision: 'approved', raw }]);
  return { path, raw };
}

export async function removeFromScope(context: ConfigContext, scope: Scope, name: string): Promise<boolean> {
  const removed = await updateScope(context, scope, (servers) => {
    if (!hasOwn(servers, name)) return { write: false, result: false };
    delete servers[name];
    return { write: true, result: true };
  });
  // The approval of a removed project entry must not outlive it: a server of the same name
  // added to .mcp.json later (by a teammate, a pull) is new content and waits for approval.
  if (removed && scope === 'project') await forgetProjectChoice(context, name);
  return removed;
}

/** Drop the approve/reject decision about one .mcp.json server of this project. */
async function forgetProjectChoice(context: ConfigContext, name: string): Promise<void> {
  await updateJsonFile(
    context.userConfigPath,
    (root) => {
      if (!isObject(root)) return { write: false, result: undefined };
      const projects = getOwn(root, 'projects');
      const project = isObject(projects) ? getOwn(projects, context.projectRoot) : undefined;
      const choices = isObject(project) ? getOwn(project, 'mcpjsonChoices') : undefined;
      if (!isObject(choices) || !hasOwn(choices, name)) return { write: false, result: undefined };
      delete choices[name];
      return { write: true, result: undefined };
    },
    { secret: true },
  );
}

function toChoice(decision: 'approved' | 'rejected', raw: JsonValue): JsonObject {
  const choice = createObject();
  setOwn(choice, 'decision', decision);
  setOwn(choice, 'sha256', entryDigest(raw));
  setOwn(choice, 'at', new Date().toISOString());
  return choice;
}

/** Record approve/reject decisions for project entries, in the user's config (never the project). */
export async function recordProjectChoices(
  context: ConfigContext,
  decisions: Array<{ name: string; decision: 'approved' | 'rejected'; raw: JsonValue }>,
): Promise<void> {
  await updateJsonFile(
    context.userConfigPath,
    (root) => {
      const choices = objectAt(
        root,
        ['projects', context.projectRoot, 'mcpjsonChoices'],
        context.userConfigPath,
      );
      for (const { name, decision, raw } of decisions) setOwn(choices, name, toChoice(decision, raw));
      return { write: decisions.length > 0, result: undefined };
    },
    { secret: true },
  );
}

/** Forget every decision about this project's files: its .mcp.json servers and its .patchbay.json. */
export async function resetProjectChoices(
  context: ConfigContext,
): Promise<{ servers: number; policyFile: boolean }> {
  return updateJsonFile(
    context.userConfigPath,
    (root) => {
      const none = { servers: 0, policyFile: false };
      if (!isObject(root)) return { write: false, result: none };
      const projects = getOwn(root, 'projects');
      const project = isObject(projects) ? getOwn(projects, context.projectRoot) : undefined;
      if (!isObject(project)) return { write: false, result: none };
      const choices = getOwn(project, 'mcpjsonChoices');
      const servers = isObject(choices) ? Object.keys(choices).length : 0;
      const policyFile = getOwn(project, POLICY_FILE_CHOICE) !== undefined;
      delete project['mcpjsonChoices'];
      delete project[POLICY_FILE_CHOICE];
      return { write: isObject(choices) || policyFile, result: { servers, policyFile } };
    },
    { secret: true },
  );
}
