/**
 * Commands that use a server (tools, tool, resources, prompts, call, read, prompt) open it the same way:
 * by name, with its login refreshed when needed, and fail with the same reason and hint as
 * `list` when it cannot be reached.
 */

import { PatchbayError } from '../errors.js';
import { terminalText } from '../core/terminal-text.js';
import { findServer, notFoundError, type EffectiveServer, type Registry } from '../config/registry.js';
import { staticState, unusableError } from '../config/status.js';
import type { Client } from '@modelcontextprotocol/client';

import type { Session } from '../connect/session.js';
import { validateName } from '../config/validate.js';
import { timeoutFrom } from './health.js';
import type { Io } from './io.js';
import { loadForCommand } from './registry-loader.js';
import { answerServerRequests, type ServerRequestOptions } from './server-requests.js';

/** The server a command opened, as the config has it (for policy: its rules, its pins). */
export interface OpenedServer {
  registry: Registry;
  server: EffectiveServer;
}

/**
 * Open the server by name and leave it open: for `useServer` below, and for the shell, which
 * keeps one session for many commands (and closes it itself).
 */
export async function openServer(
  name: string,
  timeoutMs: number,
  io: Io,
  options: Partial<ServerRequestOptions> = {},
  /** More for each new client before it connects (the shell's notification handlers). */
  configure?: (client: Client) => void,
): Promise<{ session: Session; opened: OpenedServer }> {
  const registry = await loadForCommand(io);
  const server = findServer(registry, name);
  if (!server) throw notFoundError(registry, name);
  const state = staticState(server, io.env);
  // Pending approval, rejected, an invalid entry, an unset variable: the same words as `list`.
  if (!state.resolved) throw unusableError(name, state);
  const { connect } = await import('../connect/session.js');
  const session = await connect(state.resolved, {
    name,
    // The entry's own timeout (ms, Claude Code's format) wins, as in list, get, doctor and serve.
    timeoutMs: state.resolved.timeout ?? timeoutMs,
    credentials: 'refresh',
    cwd: io.cwd,
    env: io.env,
    paths: io.paths,
    configureClient: (client) => {
      answerServerRequests(client, io, {
        roots: options.roots ?? false,
        acceptDefaults: options.acceptDefaults ?? false,
        ...(options.questions ? { questions: options.questions } : {}),
      });
      configure?.(client);
    },
  });
  return { session, opened: { registry, server } };
}

/**
 * Open the server, run `use` with the session, and close it whatever happens. A failure that is
 * not already patchbay's own (a request the SDK rejected, a timeout, a dead connection) is
 * explained as `list` would explain it.
 */
export async function useServer<T>(
  name: string,
  timeoutMs: number,
  io: Io,
  use: (session: Session, opened: OpenedServer) => Promise<T>,
  options: Partial<ServerRequestOptions> = {},
): Promise<T> {
  const { session, opened } = await openServer(name, timeoutMs, io, options);
  try {
    return await use(session, opened);
  } catch (error) {
    throw await explainUseFailure(name, session, error);
  } finally {
    await session.close();
  }
}

/**
 * What a failed use of an open session is shown as: patchbay's own errors as they are, anything
 * else (a request the SDK rejected, a timeout, a dead connection) explained as `list` would.
 */
export async function explainUseFailure(name: string, session: Session, error: unknown): Promise<Error> {
  if (error instanceof PatchbayError) return error;
  await session.settle();
  return missingCapability(name, error) ?? session.explain(error);
}

/** JSON-RPC -32021: the server needs a capability the client did not declare. */
const MISSING_REQUIRED_CLIENT_CAPABILITY = -32021;

/**
 * A server that needs a client capability patchbay left out (roots without --roots): the
 * capability named, and how to grant it.
 */
function missingCapability(name: string, error: unknown): PatchbayError | undefined {
  const failure = error as { code?: unknown; data?: { requiredCapabilities?: unknown } } | undefined;
  if (failure?.code !== MISSING_REQUIRED_CLIENT_CAPABILITY) return undefined;
  const required = failure.data?.requiredCapabilities;
  const names =
    typeof required === 'object' && required !== null
      ? Object.keys(required).map((key) => terminalText(key, { max: 40 }))
      : [];
  const what = names.length > 0 ? names.join(', ') : 'a client capability';
  return new PatchbayError(
    'server-request-declined',
    `${name} needs ${what} from the client to do this, which patchbay offers only when asked.`,
    names.includes('roots')
      ? { hint: 'Run it again with --roots to let the server see the current directory.' }
      : {},
  );
}

/** The options every command that reads from one server takes: its name, --json, --timeout. */
export interface ServerReadOptions {
  name: string;
  json: boolean;
  timeoutMs: number;
}

export function parseServerReadOptions(
  name: string,
  raw: { json?: boolean; timeout?: string },
  env: NodeJS.ProcessEnv,
): ServerReadOptions {
  return { name: validateName(name), json: Boolean(raw.json), timeoutMs: timeoutFrom(raw.timeout, env) };
}

/** What call, read and prompt add: how to answer the server's own requests while it works. */
export function parseServerRequestOptions(raw: {
  roots?: boolean;
  acceptDefaults?: boolean;
}): ServerRequestOptions {
  return { roots: Boolean(raw.roots), acceptDefaults: Boolean(raw.acceptDefaults) };
}
