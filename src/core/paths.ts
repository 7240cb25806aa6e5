/**
 * Where patchbay's files live (XDG), and where the project is. `resolvePaths(env)` computes every
 * location once into a `Paths` value; the directory functions below are its parts.
 */

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

/**
 * `${XDG_CACHE_HOME:-~/.cache}/patchbay`: what can be deleted at any time (compiled code). The
 * binary's loader (scripts/cli-loader.js) applies the same rule, since it runs before this module.
 */
export function cacheDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const xdg =
    env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/')
      ? env.XDG_CACHE_HOME
      : join(homeDirectory(env), '.cache');
  return join(xdg, 'patchbay');
}

export function userConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return resolvePaths(env).userConfig;
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

/** Every file and directory patchbay computes from the environment (XDG variables, HOME). */
export interface Paths {
  home: string;
  /** `$PATCHBAY_CONFIG_DIR`, else `$XDG_CONFIG_HOME/patchbay`, else `~/.config/patchbay`. */
  configDir: string;
  /** Stored credentials, their index, lock files, hints. */
  dataDir: string;
  /** The audit log, usage counts, pinned definitions, running consoles. */
  stateDir: string;
  /** What may be deleted at any time. */
  cacheDir: string;
  /** The user scope's config file. */
  userConfig: string;
  /** The credential store's index of non-secret facts (auth/store.ts). */
  authIndex: string;
  /** Credentials as an older patchbay kept them, migrated on first use (auth/store-legacy.ts). */
  legacyCredentials: string;
  /** The gateway's bearer token for HTTP clients (gateway/token.ts). */
  gatewayToken: string;
  /** The gateway's shared state on one machine: API keys, the member vault, sign-ins (state/files.ts). */
  gatewayState: string;
  /** Which servers spoke the 2025 era when last seen (connect/era-hints.ts). */
  eraHints: string;
  /** Usage-limit counts (policy/limits.ts). */
  usage: string;
  /** Pinned tool definitions (policy/pins.ts). */
  pins: string;
  /** The audit log, before rotation (policy/audit.ts). */
  audit: string;
  /** One registration file per running console (console/registration.ts). */
  consolesDir: string;
  /** Each server's tool names as last listed, for shell completion (core/tool-name-cache.ts). */
  toolNames: string;
}

/** Every location, from `env` (process.env by default), computed once per call. */
export function resolvePaths(env: NodeJS.ProcessEnv = process.env): Paths {
  const configDir = configDirectory(env);
  const dataDir = dataDirectory(env);
  const stateDir = stateDirectory(env);
  const cacheDir = cacheDirectory(env);
  return {
    home: homeDirectory(env),
    configDir,
    dataDir,
    stateDir,
    cacheDir,
    userConfig: join(configDir, 'config.json'),
    authIndex: join(dataDir, AUTH_INDEX_FILE),
    legacyCredentials: join(configDir, 'credentials.json'),
    gatewayToken: join(dataDir, 'gateway-token'),
    gatewayState: join(dataDir, 'gateway'),
    eraHints: join(dataDir, ERA_HINTS_FILE),
    usage: join(stateDir, USAGE_FILE),
    pins: join(stateDir, PINS_FILE),
    audit: join(stateDir, 'audit.jsonl'),
    consolesDir: join(stateDir, 'consoles'),
    toolNames: join(cacheDir, TOOL_NAMES_FILE),
  };
}

/** The connect/ era hints file's name in the data directory. */
export const ERA_HINTS_FILE = 'era-hints.json';
/** policy/limits.ts's counts, in the state directory. */
export const USAGE_FILE = 'usage.json';
/** policy/pins.ts's pinned definitions, in the state directory. */
export const PINS_FILE = 'pins.json';
/** core/tool-name-cache.ts's file, in the cache directory. */
export const TOOL_NAMES_FILE = 'tool-names.json';
