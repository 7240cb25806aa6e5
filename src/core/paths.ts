/** Where patchbay's files live (XDG), and where the project is. */

import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export function homeDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return env.HOME || homedir();
}

/** `${PATCHBAY_CONFIG_DIR:-${XDG_CONFIG_HOME:-~/.config}/patchbay}` */
export function configDirectory(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PATCHBAY_CONFIG_DIR) return resolve(env.PATCHBAY_CONFIG_DIR);
  const xdg =
    env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/')
      ? env.XDG_CONFIG_HOME
      : join(homeDirectory(env), '.config');
  return join(xdg, 'patchbay');
}

/**
 * `${PATCHBAY_DATA_DIR:-${XDG_DATA_HOME:-~/.local/share}/patchbay}`: what patchbay keeps rather than
 * what the user writes (stored credentials, their index, lock files).
 */
export function dataDirectory(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PATCHBAY_DATA_DIR) return resolve(env.PATCHBAY_DATA_DIR);
  const xdg =
    env.XDG_DATA_HOME && env.XDG_DATA_HOME.startsWith('/')
      ? env.XDG_DATA_HOME
      : join(homeDirectory(env), '.local', 'share');
  return join(xdg, 'patchbay');
}

/**
 * `${PATCHBAY_STATE_DIR:-${XDG_STATE_HOME:-~/.local/state}/patchbay}`: what patchbay records as it
 * runs (the audit log, usage counts, pinned tool definitions), kept across restarts.
 */
export function stateDirectory(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PATCHBAY_STATE_DIR) return resolve(env.PATCHBAY_STATE_DIR);
  const xdg =
    env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/')
      ? env.XDG_STATE_HOME
      : join(homeDirectory(env), '.local', 'state');
  return join(xdg, 'patchbay');
}

/** `${XDG_CACHE_HOME:-~/.cache}/patchbay`: what can be deleted at any time (compiled code). */
export function cacheDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const xdg =
    env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/')
      ? env.XDG_CACHE_HOME
      : join(homeDirectory(env), '.cache');
  return join(xdg, 'patchbay');
}

export function userConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDirectory(env), 'config.json');
}

export const PROJECT_FILE = '.mcp.json';

/**
 * The project root: `PATCHBAY_PROJECT_DIR` if set, else the nearest directory from `cwd` upward
 * that holds a `.mcp.json`, else the nearest that holds `.git`, else `cwd` itself. The home
 * directory is never taken as a project by the upward search (a stray ~/.mcp.json is not a project).
 */
export function findProjectRoot(cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env): string {
  if (env.PATCHBAY_PROJECT_DIR) return resolve(env.PATCHBAY_PROJECT_DIR);
  const start = resolve(cwd);
  const home = resolve(homeDirectory(env));
  const search = (marker: string): string | undefined => {
    for (let dir = start; ; dir = dirname(dir)) {
      if (dir === home && dir !== start) return undefined;
      if (existsSync(join(dir, marker))) return dir;
      if (dirname(dir) === dir) return undefined;
    }
  };
  return search(PROJECT_FILE) ?? search('.git') ?? start;
}

export function projectConfigPath(projectRoot: string): string {
  return join(projectRoot, PROJECT_FILE);
}

/** The credential store's index of non-secret facts, in the data directory (see auth/store.ts). */
export const AUTH_INDEX_FILE = 'auth-index.json';
