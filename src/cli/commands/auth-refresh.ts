/**
 * `patchbay auth refresh <name>`: use the stored refresh token now, rather than at the next use —
 * what a health check (which makes no token request) points to when a login's access token expired.
 */

import { EXIT, PatchbayError } from '../../errors.js';
import { findServer, notFoundError } from '../../config/registry.js';
import { staticState, unusableError } from '../../config/status.js';
import { validateName } from '../../config/validate.js';
import { timeoutFrom } from '../health.js';
import { writeLine, type Io } from '../io.js';
import { loadForCommand } from '../registry-loader.js';

export interface AuthRefreshOptions {
  name: string;
  timeoutMs: number;
}

export function parseAuthRefreshOptions(
  name: string,
  raw: { timeout?: string },
  env: NodeJS.ProcessEnv,
): AuthRefreshOptions {
  return { name: validateName(name), timeoutMs: timeoutFrom(raw.timeout, env) };
}

export async function runAuthRefresh(options: AuthRefreshOptions, io: Io): Promise<number> {
  const registry = await loadForCommand(io);
  const server = findServer(registry, options.name);
  if (!server) throw notFoundError(registry, options.name);
  const state = staticState(server, io.env);
  if (!state.resolved) throw unusableError(options.name, state, 'refresh the login of');
  const entry = state.resolved;
  if (entry.transport === 'stdio' || !entry.url) {
    throw new PatchbayError('usage', `${options.name} has no OAuth login to refresh.`, {
      hint: `patchbay auth status shows how each server authenticates.`,
    });
  }
  const { storedAccess } = await import('../../auth/stored-token.js');
  const before = await storedAccess(entry.url, io.paths);
  if (!before) {
    throw new PatchbayError('needs-auth', `No login is stored for ${options.name}.`, {
      hint: `patchbay login ${options.name}`,
    });
  }
  // A session in refresh mode renews an expiring token (single flight with every other process).
  const { connect } = await import('../../connect/session.js');
  const session = await connect(entry, {
    name: options.name,
    timeoutMs: options.timeoutMs,
    credentials: 'refresh',
    cwd: io.cwd,
    env: io.env,
    paths: io.paths,
  });
  await session.close();
  const after = await storedAccess(entry.url, io.paths);
  if (after?.kind !== 'valid') {
    throw new PatchbayError('needs-auth', `The login for ${options.name} could not be renewed.`, {
      hint: `patchbay login ${options.name}`,
    });
  }
  writeLine(
    io.stdout,
    before.kind === 'valid'
      ? `The login for ${options.name} was still valid; nothing to refresh.`
      : `Refreshed the login for ${options.name} at ${after.issuer}.`,
  );
  return EXIT.ok;
}
