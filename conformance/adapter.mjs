#!/usr/bin/env node
/**
 * The client adapter the conformance suite's runner drives: `adapter.mjs <server-url>`, with the
 * scenario in MCP_CONFORMANCE_SCENARIO and, for some, JSON in MCP_CONFORMANCE_CONTEXT.
 *
 * It is patchbay used the way a person uses it, not a client written for the suite:
 *   1. `patchbay add conformance <url>` (the built binary) in a throwaway home, config and data
 *      directory — with `--client-id … --client-secret` when the scenario hands out a
 *      pre-registered client;
 *   2. the library's `connect(entry, { credentials: 'refresh' })`, then tools/list and a
 *      tools/call of every tool listed (arguments filled in from each tool's input schema);
 *   3. when that ends in needs-auth, the command patchbay's hint names (`patchbay login
 *      conformance [--scope "…"]`, the built binary, the browser step done by the headless
 *      PATCHBAY_BROWSER script), then step 2 again — at most MAX_LOGINS logins in all.
 *
 * Exit 0 when step 2 completed; 1 otherwise (the reason on stderr). Everything is logged to
 * stderr, which the runner keeps in its results directory.
 */

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const BINARY = join(ROOT, 'dist', 'cli', 'main.js');
const LIBRARY = join(ROOT, 'dist', 'index.js');
/** Follows redirects on loopback to the login's callback: the suite's servers are on localhost. */
const BROWSER = join(ROOT, 'test', 'fixtures', 'oauth', 'browser.mjs');
/**
 * The Client ID Metadata Document URL the suite's authorization servers expect
 * (auth/basic-cimd); patchbay uses it only where the server advertises CIMD support, and
 * registers dynamically everywhere else — as with any user who sets PATCHBAY_CLIENT_METADATA_URL.
 */
const CLIENT_METADATA_URL = 'https://conformance-test.local/client-metadata.json';
const NAME = 'conformance';
/** The first login and two step-up logins: the spec's "bounded" retry of insufficient_scope. */
const MAX_LOGINS = 3;
const CONNECT_TIMEOUT_MS = 10_000;
const LOGIN_TIMEOUT_S = 15;

const log = (message) => process.stderr.write(`[adapter] ${message}\n`);

const serverUrl = process.argv[2];
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '(none)';
const context = parseContext(process.env.MCP_CONFORMANCE_CONTEXT);

if (!serverUrl) {
  log('usage: adapter.mjs <server-url> (the conformance runner appends it)');
  // eslint-disable-next-line no-restricted-syntax -- a standalone script, not part of the library
  process.exit(2);
}

const root = await mkdtemp(join(tmpdir(), 'patchbay-conformance-'));
let exitCode = 1;
try {
  exitCode = await run(root);
} catch (error) {
  log(`failed: ${describe(error)}`);
} finally {
  if (!process.env.CONFORMANCE_KEEP_SANDBOX) await rm(root, { recursive: true, force: true });
  else log(`sandbox kept at ${root}`);
}
// Exit now rather than wait for a keep-alive socket: the runner counts a slow exit as a timeout.
// eslint-disable-next-line no-restricted-syntax -- a standalone script, not part of the library
process.exit(exitCode);

async function run(root) {
  const home = join(root, 'home');
  const project = join(root, 'project');
  await mkdir(home, { recursive: true });
  await mkdir(project, { recursive: true });
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    PATCHBAY_PROJECT_DIR: project,
    PATCHBAY_DATA_DIR: join(root, 'data'),
    PATCHBAY_CREDENTIAL_STORE: 'file',
    PATCHBAY_BROWSER: `"${process.execPath}" "${BROWSER}"`,
    PATCHBAY_CLIENT_METADATA_URL: CLIENT_METADATA_URL,
    BROWSER_TIMEOUT_MS: '10000',
    NO_COLOR: '1',
  };
  log(`scenario ${scenario}, server ${serverUrl}`);

  // 1. Register the server as a user would.
  const addArgs = ['add', NAME, serverUrl];
  const addEnv = { ...env };
  if (typeof context.client_id === 'string') {
    addArgs.push('--client-id', context.client_id);
    if (typeof context.client_secret === 'string') {
      addArgs.push('--client-secret');
      addEnv.MCP_CLIENT_SECRET = context.client_secret;
    }
  }
  const added = await patchbay(addArgs, addEnv, project);
  if (added.code !== 0) throw new Error(`patchbay add exited with ${added.code}`);

  // 2 and 3. Use it; log in when patchbay says so, as its hint says.
  const library = await import(LIBRARY);
  for (let logins = 0; ;) {
    const entry = await resolvedEntry(library, env, project);
    const outcome = await exercise(library, entry, env, project);
    if (outcome.ok) return 0;
    const failure = outcome.failure;
    log(`${failure.status ?? 'error'}: ${failure.message}${failure.hint ? ` (hint: ${failure.hint})` : ''}`);
    const login = failure.status === 'needs-auth' ? loginCommand(failure.hint) : undefined;
    if (!login) return 1;
    if (logins >= MAX_LOGINS) {
      log(`giving up after ${logins} logins`);
      return 1;
    }
    logins++;
    const result = await patchbay([...login, '--timeout', String(LOGIN_TIMEOUT_S)], env, project);
    if (result.code !== 0) {
      log(`patchbay login exited with ${result.code}`);
      return 1;
    }
  }
}

/** connect, tools/list, tools/call of each tool; the failure as patchbay explains it. */
async function exercise(library, entry, env, project) {
  let session;
  try {
    session = await library.connect(entry, {
      name: NAME,
      timeoutMs: CONNECT_TIMEOUT_MS,
      credentials: 'refresh',
      env,
      cwd: project,
    });
    log(
      `connected: ${session.server?.name ?? '?'} ${session.server?.version ?? ''}, protocol ${session.protocolVersion}, ${session.era} era, ${session.transport}`,
    );
    const { tools } = await session.request((client) =>
      client.listTools(undefined, session.requestOptions()),
    );
    log(`tools: ${tools.map((tool) => tool.name).join(', ') || '(none)'}`);
    for (const tool of tools) {
      const args = sampleArguments(tool.inputSchema);
      const result = await session.request((client) =>
        client.callTool({ name: tool.name, arguments: args }, session.requestOptions()),
      );
      const text = (result.content ?? [])
        .filter((part) => part.type === 'text')
        .map((part) => part.text)
        .join(' ');
      log(
        `called ${tool.name}(${JSON.stringify(args)}): ${result.isError ? 'error ' : ''}${text.slice(0, 200)}`,
      );
    }
    return { ok: true };
  } catch (error) {
    const explained =
      error instanceof library.ConnectError ? error : session ? session.explain(error) : error;
    return {
      ok: false,
      failure: {
        status: explained?.status,
        message: explained?.reason ?? describe(explained),
        hint: explained?.hint,
      },
    };
  } finally {
    await session?.close().catch(() => undefined);
  }
}

async function resolvedEntry(library, env, project) {
  const registry = await library.loadRegistry(library.createContext(env, project));
  const server = library.findServer(registry, NAME);
  if (!server) throw new Error(`patchbay does not list ${NAME} after add`);
  const state = library.staticState(server, env);
  if (!state.resolved) throw new Error(`${NAME} is ${state.status}: ${state.reason}`);
  return state.resolved;
}

/** `patchbay login <name> [--scope "…"]` from a hint, as argv; anything else is not followed. */
function loginCommand(hint) {
  const match = /^patchbay login (\S+)(?: --scope "([^"]*)")?$/.exec(hint ?? '');
  if (!match) return undefined;
  return ['login', match[1], ...(match[2] ? ['--scope', match[2]] : [])];
}

/** Values for the required properties of a tool's input schema (the suite's tools take numbers or nothing). */
function sampleArguments(schema) {
  const args = {};
  const properties = schema?.properties ?? {};
  for (const name of schema?.required ?? []) {
    const type = properties[name]?.type;
    args[name] =
      type === 'number' || type === 'integer'
        ? Object.keys(args).length + 2
        : type === 'boolean'
          ? true
          : type === 'array'
            ? []
            : type === 'object'
              ? {}
              : 'test';
  }
  return args;
}

function patchbay(args, env, cwd) {
  log(`$ patchbay ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BINARY, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const relay = (chunk) => {
      for (const line of chunk.toString().split('\n')) if (line) log(`  ${line}`);
    };
    child.stdout.on('data', relay);
    child.stderr.on('data', relay);
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1) }));
  });
}

function parseContext(text) {
  if (!text) return {};
  try {
    const parsed = JSON.parse(text);
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch {
    log('MCP_CONFORMANCE_CONTEXT is not JSON; ignored');
    return {};
  }
}

function describe(error) {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
