/**
 * Commands that use a server (tools, tool, and later call/read/prompt) open it the same way:
 * by name, with its login refreshed when needed, and fail with the same reason and hint as
 * `list` when it cannot be reached.
 */

import { PatchbayError } from '../errors.js';
import { findServer, notFoundError } from '../config/registry.js';
import { staticState } from '../config/status.js';
import type { Session } from '../connect/session.js';
import type { Io } from './io.js';
import { loadForCommand } from './registry-loader.js';
import { answerServerRequests } from './server-requests.js';

export async function openServer(
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
