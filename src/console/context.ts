/** What every API handler works with: this launch's settings, and the config read fresh per request. */

import { createContext, findServer, loadRegistry, notFoundError } from '../config/registry.js';
import type { EffectiveServer, Registry } from '../config/registry.js';
import { validateName } from '../config/validate.js';
import type { RefreshState } from '../auth/refresh.js';
import type { EraHints } from '../connect/era-hints.js';
import type { Paths } from '../core/paths.js';
import type { LoginStart } from './api-types.js';

export interface ConsoleContext {
  env: NodeJS.ProcessEnv;
  /** Where patchbay's files are, resolved from `env` once for this console. */
  paths: Paths;
  /**
   * What this console's connects share for its lifetime, as a gateway's do: refreshes under way,
   * issuer metadata, the 401 loop guard (auth/refresh.ts).
   */
  refreshState: RefreshState;
  /** This console's memory of which servers speak the 2025 era (connect/era-hints.ts). */
  eraHints: EraHints;
  /** Where the project is looked for, as for a command run there. */
  cwd: string;
  version: string;
  /** `http://127.0.0.1:PORT`: where the browser comes back to after a login. */
  origin: string;
  /** Connect timeout for each server (an entry's own timeout wins). */
  timeoutMs: number;
  /** A line for the terminal that runs `patchbay ui` (never a secret). */
  log(message: string): void;
  logins: Logins;
}

/**
 * The logins started from the page (routes/auth.ts's LoginFlows). Declared here, as what the
 * routes need of it, so that this file does not import a route.
 */
export interface Logins {
  start(ctx: ConsoleContext, name: string): Promise<LoginStart>;
}

/** The config as it is now: another terminal may have changed it since the last request. */
export function loadConfig(ctx: ConsoleContext): Promise<Registry> {
  return loadRegistry(createContext(ctx.env, ctx.cwd, ctx.paths));
}

/** The named server (a name the CLI would accept), or a 404 saying which names exist. */
export async function loadServer(
  ctx: ConsoleContext,
  name: string,
): Promise<{ registry: Registry; server: EffectiveServer }> {
  validateName(name);
  const registry = await loadConfig(ctx);
  const server = findServer(registry, name);
  if (!server) throw notFoundError(registry, name);
  return { registry, server };
}
