/** `patchbay login <name>`: log in to a server with OAuth and say who is logged in, never the token. */

import { EXIT, PatchbayError } from '../../errors.js';
import { findServer, notFoundError } from '../../config/registry.js';
import { staticState } from '../../config/status.js';
import { validateName } from '../../config/validate.js';
import { note, writeLine, type Io } from '../io.js';
import { parseDuration } from '../../core/duration.js';
import { loadForCommand } from '../registry-loader.js';

export interface LoginOptions {
  name: string;
  noBrowser: boolean;
  device: boolean;
  scope: string | undefined;
  timeoutMs: number;
}

/** How long a login waits for the browser by default. */
const LOGIN_TIMEOUT_MS = 5 * 60_000;

export function parseLoginOptions(
  name: string,
  raw: { browser?: boolean; device?: boolean; scope?: string; timeout?: string },
): LoginOptions {
  const timeoutMs =
    raw.timeout === undefined
      ? LOGIN_TIMEOUT_MS
      : parseDuration(raw.timeout, '--timeout', { hint: 'For example: --timeout 2m (the default is 5m)' });
  const scope = raw.scope?.trim();
  return {
    name: validateName(name),
    noBrowser: raw.browser === false,
    device: Boolean(raw.device),
    scope: scope || undefined,
    timeoutMs,
  };
}

export async function runLogin(options: LoginOptions, io: Io): Promise<number> {
  const registry = await loadForCommand(io);
  const server = findServer(registry, options.name);
  if (!server) throw notFoundError(registry, options.name);
  const state = staticState(server, io.env);
  if (!state.resolved) {
    throw new PatchbayError('usage', `Cannot log in to ${options.name}: ${state.reason ?? state.status}.`, {
      ...(state.hint ? { hint: state.hint } : {}),
    });
  }
  const { openCredentialStore } = await import('../../auth/store.js');
  const { login } = await import('../../auth/login.js');
  const store = await openCredentialStore(io.env);
  const { createHttpClient } = await import('../../connect/network.js');
  const entry = state.resolved;
  const http = await createHttpClient({ env: io.env, ...(entry.tls ? { tls: entry.tls } : {}) });
  const result = await login({
    http,
    name: options.name,
    entry: state.resolved,
    store,
    env: io.env,
    ...(options.scope ? { scope: options.scope } : {}),
    noBrowser: options.noBrowser,
    device: options.device,
    // The redirect URL may be pasted (a browser on another machine), or piped in by a script.
    pasteFrom: io.stdin,
    timeoutMs: options.timeoutMs,
    say: (message) => note(io, message),
  }).finally(() => http.close());
  const expiry =
    result.expiresAt === undefined
      ? 'no expiry given'
      : `expires ${new Date(result.expiresAt).toISOString()}${result.refreshable ? ', refreshed automatically' : ', no refresh token'}`;
  writeLine(io.stdout, `Logged in to ${options.name} at ${result.issuer}`);
  writeLine(io.stdout, `  scopes        ${result.scope ?? '(none granted explicitly)'}`);
  writeLine(io.stdout, `  token         ${expiry}`);
  writeLine(io.stdout, `  client        ${result.registration}`);
  writeLine(io.stdout, `  stored in     ${store.describe().location}`);
  return EXIT.ok;
}
