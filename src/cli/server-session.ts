/**
 * Commands that use a server (tools, tool, and later call/read/prompt) open it the same way:
 * by name, with its login refreshed when needed, and fail with the same reason and hint as
 * `list` when it cannot be reached.
 */

import { PatchbayError } from '../errors.js';
import { findServer, notFoundError } from '../config/registry.js';
import { staticState } from '../config/status.js';
import type { Session } from '../connect/session.js';
import { validateName } from '../config/validate.js';
import { timeoutFrom } from './health.js';
import type { Io } from './io.js';
import { loadForCommand } from './registry-loader.js';
import { answerServerRequests } from './server-requests.js';

async function openServer(
  name: string,
  timeoutMs: number,
  io: Io,
  options: { roots?: boolean } = {},
): Promise<Session> {
  const registry = await loadForCommand(io);
  const server = findServer(registry, name);
  if (!server) throw notFoundError(registry, name);
  const state = staticState(server, io.env);
  if (!state.resolved) {
    // Pending approval, rejected, an invalid entry, an unset variable: the same words as `list`.
    const code = state.status === 'failed' ? 'connect-failed' : 'usage';
    throw new PatchbayError(code, `${name}: ${state.reason ?? state.status}`, {
      ...(state.hint ? { hint: state.hint } : {}),
    });
  }
  const { connect } = await import('../connect/session.js');
  return connect(state.resolved, {
    name,
    timeoutMs,
    credentials: 'refresh',
    cwd: io.cwd,
    env: io.env,
    configureClient: (client) => answerServerRequests(client, io, { roots: options.roots ?? false }),
  });
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
  use: (session: Session) => Promise<T>,
  options: { roots?: boolean } = {},
): Promise<T> {
  const session = await openServer(name, timeoutMs, io, options);
  try {
    return await use(session);
  } catch (error) {
    throw error instanceof PatchbayError ? error : session.explain(error);
  } finally {
    await session.close();
  }
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
