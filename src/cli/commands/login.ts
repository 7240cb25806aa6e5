/** `patchbay login <name>`: log in to a server with OAuth and say who is logged in, never the token. */

import { EXIT, PatchbayError } from '../../errors.js';
import { findServer, notFoundError } from '../../config/registry.js';
import { staticState, unusableError } from '../../config/status.js';
import { validateName } from '../../config/validate.js';
import { note, writeLine, type Io } from '../io.js';
import { parseDuration } from '../../core/duration.js';
import { loadForCommand } from '../registry-loader.js';
import { resolve } from 'node:path';

export interface LoginOptions {
  name: string;
  noBrowser: boolean;
  device: boolean;
  scope: string | undefined;
  timeoutMs: number;
  /** Cross-app access: this login's ID token file. */
  idTokenFile?: string;
}

/** How long a login waits for the browser by default. */
const LOGIN_TIMEOUT_MS = 5 * 60_000;

export function parseLoginOptions(
  name: string,
  raw: {
    browser?: boolean;
    device?: boolean;
    oauthScope?: string;
    scope?: string;
    timeout?: string;
    idTokenFile?: string;
  },
  io?: Io,
): LoginOptions {
  const timeoutMs =
    raw.timeout === undefined
      ? LOGIN_TIMEOUT_MS
      : parseDuration(raw.timeout, '--timeout', { hint: 'For example: --timeout 2m (the default is 5m)' });
  const scope = (raw.oauthScope ?? oldScopeFlag(name, raw.scope, io))?.trim();
  return {
    name: validateName(name),
    noBrowser: raw.browser === false,
    device: Boolean(raw.device),
    scope: scope || undefined,
    timeoutMs,
    ...(raw.idTokenFile ? { idTokenFile: resolve(raw.idTokenFile) } : {}),
  };
}

const CONFIG_SCOPES = new Set(['local', 'project', 'user']);

/**
 * `login --scope` was the OAuth scopes before --scope meant a config scope on every other command.
 * A config scope's name is refused (that is the confusion); anything else still works, with a note.
 */
function oldScopeFlag(name: string, value: string | undefined, io: Io | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (CONFIG_SCOPES.has(value.trim())) {
    throw new PatchbayError(
      'usage',
      `login takes no config scope: --scope ${value.trim()} is not an OAuth scope, and a login is kept per server URL, not per config scope.`,
      { hint: `For OAuth scopes: patchbay login ${name} --oauth-scope "<scope> <scope>"` },
    );
  }
  if (io) note(io, 'login --scope is now --oauth-scope (--scope names a config scope elsewhere).');
  return value;
}

export async function runLogin(options: LoginOptions, io: Io): Promise<number> {
  const registry = await loadForCommand(io);
  const server = findServer(registry, options.name);
  if (!server) throw notFoundError(registry, options.name);
  const state = staticState(server, io.env);
  if (!state.resolved) throw unusableError(options.name, state, 'log in to');
  const { openCredentialStore } = await import('../../auth/store.js');
  const { login } = await import('../../auth/login.js');
  const store = await openCredentialStore(io.env, { paths: io.paths });
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
    ...(options.idTokenFile ? { idTokenFile: options.idTokenFile } : {}),
    say: (message) => note(io, message),
  })
    .catch((error: unknown) => {
      // Nothing to log in to is an answer, not a failure.
      if (error instanceof PatchbayError && error.code === 'no-login-needed') return undefined;
      throw error;
    })
    .finally(() => http.close());
  if (!result) {
    writeLine(
      io.stdout,
      `${options.name} needs no login: it answers without credentials and publishes no OAuth metadata.`,
    );
    return EXIT.ok;
  }
  const expiry =
    result.expiresAt === undefined
      ? 'no expiry given'
      : `expires ${new Date(result.expiresAt).toISOString()}${result.grant ? ', renewed by a new grant' : result.refreshable ? ', refreshed automatically' : ', no refresh token'}`;
  writeLine(io.stdout, `Logged in to ${options.name} at ${result.issuer}`);
  writeLine(io.stdout, `  scopes        ${result.scope ?? '(none granted explicitly)'}`);
  writeLine(io.stdout, `  token         ${expiry}`);
  writeLine(io.stdout, `  client        ${result.registration}`);
  if (result.grant)
    writeLine(
      io.stdout,
      `  grant         ${result.grant === 'client_credentials' ? 'client credentials (no browser)' : 'cross-app access: ID token → ID-JAG → token (no browser)'}`,
    );
  writeLine(io.stdout, `  stored in     ${store.describe().location}`);
  return EXIT.ok;
}
