#!/usr/bin/env node
/**
 * The client adapter the conformance suite's runner drives: `adapter.mjs <server-url>`, with the
 * scenario in MCP_CONFORMANCE_SCENARIO and, for some, JSON in MCP_CONFORMANCE_CONTEXT.
 *
 * It is patchbay used the way a person uses it, not a client written for the suite:
 *   1. `patchbay add conformance <url>` (the built binary) in a throwaway home, config and data
 *      directory — with `--client-id … --client-secret` (or `--client-key FILE`) when the
 *      scenario hands out a pre-registered client, and `--idp-issuer … --idp-client-id …
 *      --id-token-file FILE` when it hands out an identity provider and an ID token (cross-app
 *      access);
 *   2. `patchbay tools conformance --json`, then `patchbay call conformance <tool> --json
 *      --accept-defaults` of every tool listed (arguments filled in from each tool's input
 *      schema; a question from the server is answered with its defaults);
 *   3. when that ends in needs-auth, the command patchbay's hint names (`patchbay login
 *      conformance [--oauth-scope "…"]`, the built binary, the browser step done by the headless
 *      PATCHBAY_BROWSER script), then step 2 again — at most MAX_LOGINS logins in all.
 *
 * Exit 0 when step 2 completed; 1 otherwise (the reason on stderr). Everything is logged to
 * stderr, which the runner keeps in its results directory.
 */

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const BINARY = join(ROOT, 'dist', 'cli', 'main.js');
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
const REQUEST_TIMEOUT_S = 10;
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
    // A machine client's private key (private_key_jwt), handed over as a PEM file would be.
    if (typeof context.private_key_pem === 'string') {
      const keyFile = join(root, 'client-key.pem');
      await writeFile(keyFile, context.private_key_pem, { mode: 0o600 });
      addArgs.push('--client-key', keyFile);
    }
  }
  // Cross-app access: the organisation's IdP and the ID token it issued the user, in a file as a
  // sign-in helper would leave it.
  if (typeof context.idp_issuer === 'string' && typeof context.idp_id_token === 'string') {
    const tokenFile = join(root, 'id-token');
    await writeFile(tokenFile, context.idp_id_token, { mode: 0o600 });
    addArgs.push('--idp-issuer', context.idp_issuer, '--id-token-file', tokenFile);
    if (typeof context.idp_client_id === 'string') addArgs.push('--idp-client-id', context.idp_client_id);
  }
  const added = await patchbay(addArgs, addEnv, project);
  if (added.code !== 0) throw new Error(`patchbay add exited with ${added.code}`);

  // 2 and 3. Use it; log in when patchbay says so, as its hint says.
  for (let logins = 0; ;) {
    const outcome = await exercise(env, project);
    if (outcome.ok) return 0;
    const failure = outcome.failure;
    log(`${failure.status}: ${failure.message}${failure.hint ? ` (hint: ${failure.hint})` : ''}`);
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

/**
 * `patchbay tools --json`, then `patchbay call --json --accept-defaults` of each tool (arguments
 * filled in from its input schema). A tool result with isError, or a JSON-RPC error answer, still
 * counts as a call made; anything else that is not 0 is a failure, explained as patchbay printed
 * it.
 */
async function exercise(env, project) {
  const timeout = ['--timeout', String(REQUEST_TIMEOUT_S)];
  const listed = await patchbay(['tools', NAME, '--json', ...timeout], env, project);
  if (listed.code !== 0) return { ok: false, failure: failureOf(listed) };
  const tools = JSON.parse(listed.stdout);
  log(`tools: ${tools.map((tool) => tool.name).join(', ') || '(none)'}`);
  // Some scenarios say which calls to make (MCP_CONFORMANCE_CONTEXT.toolCalls); else every tool.
  const calls = Array.isArray(context.toolCalls)
    ? context.toolCalls
    : tools.map((tool) => ({ name: tool.name, arguments: sampleArguments(tool.inputSchema) }));
  for (const call of calls) {
    // patchbay checks arguments against the tool's schema before sending, and a null where the
    // schema says boolean does not pass; null means "not given", so it is left out instead.
    const given = Object.entries(call.arguments ?? {}).filter(([, value]) => value !== null);
    const args = JSON.stringify(Object.fromEntries(given));
    const called = await patchbay(
      ['call', NAME, call.name, '--args', args, '--json', '--accept-defaults', ...timeout],
      env,
      project,
    );
    const result = parseJson(called.stdout);
    if (called.code === 0 || (called.code === 1 && result?.isError)) continue;
    // The server answered the call with a JSON-RPC error (some scenarios' servers serve tools/list
    // only): the exchange itself worked.
    const failure = failureOf(called);
    if (failure.message.startsWith('the server answered with JSON-RPC error')) continue;
    return { ok: false, failure };
  }
  return { ok: true };
}

/** What patchbay printed on stderr for a failure: its `error:` line and its `hint:`. */
function failureOf(result) {
  const line = (prefix) =>
    result.stderr
      .split('\n')
      .find((text) => text.startsWith(prefix))
      ?.slice(prefix.length)
      .trim();
  return {
    status: result.code === 4 ? 'needs-auth' : `exit ${result.code}`,
    message: line('error:') ?? '(no error line)',
    hint: line('hint:'),
  };
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `patchbay login <name> [--oauth-scope "…"]` from a hint, as argv; anything else is not followed. */
function loginCommand(hint) {
  const match = /^patchbay login (\S+)(?: --oauth-scope "([^"]*)")?$/.exec(hint ?? '');
  if (!match) return undefined;
  return ['login', match[1], ...(match[2] ? ['--oauth-scope', match[2]] : [])];
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
    let stdout = '';
    let stderr = '';
    const relay = (chunk) => {
      for (const line of chunk.toString().split('\n')) if (line) log(`  ${line}`);
    };
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      relay(chunk);
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      relay(chunk);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
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
