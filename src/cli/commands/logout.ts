/**
 * `patchbay logout <name|url>`: remove a server's stored login (every issuer's tokens for its URL)
 * and revoke the tokens at the authorization server when it offers revocation (RFC 7009). The
 * local tokens go first and whatever the server says; a failed revocation is a warning. The client
 * registration stays: the next login reuses it. A URL instead of a name removes a login whose
 * server is no longer configured (`patchbay auth status` lists them).
 */

import { EXIT, PatchbayError } from '../../errors.js';
import type { ServerEntry } from '../../config/entry.js';
import { expandEntry, expandString } from '../../config/expand.js';
import { findServer, notFoundError, type EffectiveServer } from '../../config/registry.js';
import { staticState } from '../../config/status.js';
import { validateName, validateUrl } from '../../config/validate.js';
import type { RevocationOutcome } from '../../auth/revoke.js';
import { timeoutFrom } from '../health.js';
import { sameResource } from '../../auth/resource-url.js';
import { note, warn, writeLine, type Io } from '../io.js';
import { terminalText } from '../../core/terminal-text.js';
import { loadForCommand } from '../registry-loader.js';

export type LogoutTarget = { kind: 'name'; name: string } | { kind: 'url'; url: string };

export interface LogoutOptions {
  target: LogoutTarget;
  /** For the revocation requests (discovery included). */
  timeoutMs: number;
}

export function parseLogoutOptions(
  nameOrUrl: string,
  raw: { timeout?: string },
  env: NodeJS.ProcessEnv,
): LogoutOptions {
  // A name never holds ':' (validateName), so anything with a scheme is a URL.
  const target: LogoutTarget = nameOrUrl.includes('://')
    ? { kind: 'url', url: validateUrl(nameOrUrl, 'server URL').url.href }
    : { kind: 'name', name: validateName(nameOrUrl) };
  return { target, timeoutMs: timeoutFrom(raw.timeout, env) };
}

export async function runLogout(options: LogoutOptions, io: Io): Promise<number> {
  const registry = await loadForCommand(io);
  let label: string;
  let resource: string;
  let server: EffectiveServer | undefined;
  if (options.target.kind === 'name') {
    label = options.target.name;
    server = findServer(registry, label);
    if (!server) throw notFoundError(registry, label);
    const url = serverUrl(server, io.env);
    if (url === undefined) {
      writeLine(io.stdout, `${label} is a local command (stdio): it has no OAuth login to remove.`);
      return EXIT.ok;
    }
    resource = url;
  } else {
    resource = options.target.url;
    label = resource;
    server = registry.servers.find((candidate) => {
      const url = safeServerUrl(candidate, io.env);
      return url !== undefined && sameResource(url, resource);
    });
  }
  // The expanded entry, TLS paths resolved, for the revocation requests' CA and client certificate.
  const entry = server && (staticState(server, io.env).resolved ?? safeExpanded(server, io.env, resource));

  const { logout } = await import('../../use/logout.js');
  const { found, outcomes } = await logout({
    resources: [resource],
    resource,
    serverName: server?.name,
    entry,
    env: io.env,
    timeoutMs: options.timeoutMs,
    say: (message) => note(io, message),
  });
  if (found === 0) {
    writeLine(io.stdout, `No login is stored for ${terminalText(label)}; nothing to remove.`);
    return EXIT.ok;
  }

  const parts = outcomes.map((outcome) => describeOutcome(outcome, outcomes.length > 1));
  for (const outcome of outcomes) {
    if (outcome.status === 'failed')
      warn(io, `the tokens from ${outcome.issuer} were removed here but not revoked: ${outcome.reason}`);
  }
  writeLine(
    io.stdout,
    terminalText(`Logged out of ${label} (tokens removed${parts.length ? `; ${parts.join('; ')}` : ''})`),
  );
  return EXIT.ok;
}

function describeOutcome(outcome: RevocationOutcome, several: boolean): string {
  if (outcome.status === 'revoked') return `revoked at ${outcome.issuer}`;
  return `not revoked${several ? ` at ${outcome.issuer}` : ''}: ${outcome.reason}`;
}

/** The server's expanded URL, undefined for a stdio server; a usage error when it cannot be told. */
function serverUrl(server: EffectiveServer, env: NodeJS.ProcessEnv): string | undefined {
  const { winner } = server;
  if (!winner.entry) {
    throw new PatchbayError('usage', `Cannot log out of ${server.name}: its entry is invalid.`, {
      hint: `Fix the entry in ${winner.path}, or log out by URL: patchbay auth status lists stored logins.`,
    });
  }
  if (winner.entry.transport === 'stdio' || winner.entry.url === undefined) return undefined;
  try {
    return expandString(winner.entry.url, env, 'url');
  } catch (error) {
    if (!(error instanceof PatchbayError)) throw error;
    throw new PatchbayError('usage', `Cannot tell which URL ${server.name} points to: ${error.message}`, {
      hint: `${error.hint ? `${error.hint} ` : ''}Or log out by URL: patchbay auth status lists the stored logins, then patchbay logout <url>.`,
    });
  }
}

function safeServerUrl(server: EffectiveServer, env: NodeJS.ProcessEnv): string | undefined {
  const url = server.winner.entry?.url;
  try {
    return url === undefined ? undefined : expandString(url, env, 'url');
  } catch {
    return undefined;
  }
}

/** The entry expanded as far as it can be: an unset variable in a header does not hide its oauth settings. */
function safeExpanded(server: EffectiveServer, env: NodeJS.ProcessEnv, url: string): ServerEntry | undefined {
  const entry = server.winner.entry;
  if (!entry) return undefined;
  try {
    return expandEntry(entry, env);
  } catch {
    return { transport: entry.transport, url, ...(entry.oauth ? { oauth: entry.oauth } : {}) };
  }
}
