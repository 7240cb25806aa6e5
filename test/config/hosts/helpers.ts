/** A throwaway home, project and patchbay config dir per test, and an Io that records output. */

import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { resolvePaths } from '../../../src/core/paths.js';
import type { Io } from '../../../src/cli/io.js';
import type { Scope } from '../../../src/config/entry.js';
import type { Conversion, HostAdapter, HostScope } from '../../../src/config/hosts/types.js';
import { getOwn, isObject, parseJsonSource, type JsonValue } from '../../../src/core/json-source.js';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'hosts');

export async function fixture(name: string): Promise<string> {
  return readFile(join(FIXTURES, name), 'utf8');
}

export interface Sandbox {
  root: string;
  home: string;
  project: string;
  configDir: string;
  env: NodeJS.ProcessEnv;
  /** Write a file (creating directories); `__PROJECT__` in the text becomes the project path. */
  put(path: string, text: string): Promise<string>;
  /** Copy a fixture to `path`, with `__PROJECT__` replaced. */
  install(fixtureName: string, path: string): Promise<string>;
  read(path: string): Promise<string>;
  readJson(path: string): Promise<Record<string, unknown>>;
  io(): RecordingIo;
  cleanup(): Promise<void>;
}

export interface RecordingIo extends Io {
  out(): string;
  err(): string;
}

function recorder(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      text += String(chunk);
      callback();
    },
  });
  return { stream, text: () => text };
}

export async function makeSandbox(): Promise<Sandbox> {
  // realpath: macOS's tmpdir is a symlink, and project roots are compared as resolved paths.
  const root = await realpath(await mkdtemp(join(tmpdir(), 'patchbay-hosts-')));
  const home = join(root, 'home');
  const project = join(root, 'work', 'shop');
  const configDir = join(root, 'patchbay-config');
  await mkdir(home, { recursive: true });
  await mkdir(project, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    HOME: home,
    PATH: process.env.PATH,
    PATCHBAY_CONFIG_DIR: configDir,
    PATCHBAY_PROJECT_DIR: project,
    NO_COLOR: '1',
  };
  const sandbox: Sandbox = {
    root,
    home,
    project,
    configDir,
    env,
    async put(path, text) {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, text.replaceAll('__PROJECT__', project));
      return path;
    },
    async install(fixtureName, path) {
      return sandbox.put(path, await fixture(fixtureName));
    },
    read: (path) => readFile(path, 'utf8'),
    async readJson(path) {
      return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    },
    io() {
      const stdout = recorder();
      const stderr = recorder();
      return {
        stdout: stdout.stream,
        stderr: stderr.stream,
        stdin: process.stdin,
        env,
        paths: resolvePaths(env),
        cwd: project,
        out: stdout.text,
        err: stderr.text,
      };
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
  return sandbox;
}

/** Run a host's import converter over every server of a fixture, as `planImport` would. */
export async function convertFixture(
  host: HostAdapter,
  fixtureName: string,
  options: {
    scope?: HostScope;
    serversPath?: string[];
    targetScope?: Scope;
    platform?: NodeJS.Platform;
    projectRoot?: string;
    replace?: Record<string, string>;
  } = {},
): Promise<Record<string, Conversion>> {
  let text = await fixture(fixtureName);
  for (const [from, to] of Object.entries(options.replace ?? {})) text = text.replaceAll(from, to);
  const parsed = parseJsonSource(text, { jsonc: host.jsonc, fileLabel: fixtureName });
  const serversPath = options.serversPath ?? (host.id === 'vscode' ? ['servers'] : ['mcpServers']);
  let servers: JsonValue | undefined = parsed.value;
  for (const key of serversPath) servers = isObject(servers) ? getOwn(servers, key) : undefined;
  if (!isObject(servers)) throw new Error(`no servers at ${serversPath.join('.')} in ${fixtureName}`);
  const out: Record<string, Conversion> = {};
  for (const [name, raw] of Object.entries(servers)) {
    out[name] = host.toPatchbay(raw, name, {
      env: { HOME: '/home/dev' },
      platform: options.platform ?? 'linux',
      projectRoot: options.projectRoot ?? '/home/dev/src/shop',
      cwd: options.projectRoot ?? '/home/dev/src/shop',
      targetScope: options.targetScope ?? 'local',
      location: { scope: options.scope ?? 'user', path: fixtureName, serversPath },
      root: parsed.value,
      positionOf: parsed.positionOf,
    });
  }
  return out;
}

/** The converted raw entry as a plain object (or the refusal), for `toEqual`. */
export function plain(conversion: Conversion | undefined): unknown {
  return JSON.parse(JSON.stringify(conversion));
}
