/**
 * The package as a user gets it: `npm pack`, then `npm i -g` of the tarball into an empty prefix
 * and `npx` of it, each with only its runtime dependencies, from a loopback registry that serves
 * what package-lock.json locks out of npm's cache (test/helpers/lock-registry.ts says why
 * `--offline` alone cannot do it). Then the installed `patchbay`: --version, the demo up to its
 * console (the built web files inside the package), a `call` to server-everything over HTTP, and
 * the library's every module importing with the installed dependencies alone.
 *
 * `npm pack --ignore-scripts`: the package's prepack builds from clean, which would replace dist/
 * under the other e2e tests running the binary; here dist/ is the build this test run made.
 */

import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { startLockRegistry, type LockRegistry } from '../helpers/lock-registry.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MANIFEST = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
};

let root: string;
let registry: LockRegistry;
let tarball: string;
let prefix: string;
let installed: string;
/** The user's environment: a throwaway home, node on PATH, npm pointed at the loopback registry. */
let env: NodeJS.ProcessEnv;

/** npm, run with no user config, no proxy and no registry but the loopback one. */
async function npm(args: string[], cwd = root): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(
      'npm',
      [
        ...args,
        '--registry',
        registry.url,
        '--cache',
        join(root, 'npm-cache'),
        '--no-audit',
        '--no-fund',
        '--no-update-notifier',
      ],
      { cwd, env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
    );
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(
      `npm ${args.join(' ')} failed` +
        (registry.missing.length ? `; the loopback registry lacked: ${registry.missing.join(', ')}` : '') +
        `\n--- stdout\n${stdout}\n--- stderr\n${stderr}`,
    );
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'patchbay-package-'));
  // The developer's npm cache, which `npm ci` filled: asked before HOME is replaced.
  const cacheDir = (await run('npm', ['config', 'get', 'cache'], { cwd: REPO })).stdout.trim();
  registry = await startLockRegistry(join(REPO, 'package-lock.json'), cacheDir);
  const home = join(root, 'home');
  await mkdir(home);
  env = {
    PATH: [dirname(process.execPath), process.env.PATH].join(':'),
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_CACHE_HOME: join(home, '.cache'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_STATE_HOME: join(home, '.local', 'state'),
    PATCHBAY_CREDENTIAL_STORE: 'file',
    NO_COLOR: '1',
  };

  const packed = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', root], REPO);
  const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
  tarball = join(root, filename);
  prefix = join(root, 'prefix');
  await mkdir(prefix);
  await npm(['install', '--global', '--prefix', prefix, tarball]);
  installed = join(prefix, 'lib', 'node_modules', 'patchbay');
}, 120_000);

afterAll(async () => {
  await registry?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

function patchbay(args: string[], cwd = root): Promise<{ stdout: string; stderr: string }> {
  return run(join(prefix, 'bin', 'patchbay'), args, { cwd, env, timeout: 30_000 });
}

describe('the packed package', () => {
  it('holds what runs, and no source maps or test output', () => {
    const files = filesUnder(installed).filter((file) => !file.startsWith('node_modules/'));
    expect(files).toContain('package.json');
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('dist/cli/patchbay.cjs');
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/web/index.html');
    expect(files.filter((file) => file.startsWith('dist/web/assets/'))).not.toEqual([]);
    expect(files.filter((file) => file.endsWith('.map'))).toEqual([]);
    expect(files.filter((file) => /^(src|test|bench|web|scripts|conformance)\//.test(file))).toEqual([]);
    // The CLI is the bundle: tsc's own output of cli/ stays out.
    expect(files.filter((file) => file.startsWith('dist/cli/')).sort()).toEqual([
      'dist/cli/main.js',
      'dist/cli/patchbay.cjs',
    ]);
  });

  it('installs with its runtime dependencies only', () => {
    const top = readdirSync(join(prefix, 'lib', 'node_modules'));
    expect(top).toEqual(['patchbay']);
    const modules = join(installed, 'node_modules');
    const names = readdirSync(modules).flatMap((name) =>
      name.startsWith('@') ? readdirSync(join(modules, name)).map((scoped) => `${name}/${scoped}`) : [name],
    );
    for (const dependency of Object.keys(MANIFEST.dependencies)) expect(names).toContain(dependency);
    for (const devOnly of ['typescript', 'esbuild', 'vitest', 'vite', 'preact', 'marked'])
      expect(names).not.toContain(devOnly);
  });

  it('patchbay --version prints the package version, from the installed bin', async () => {
    const { stdout } = await patchbay(['--version']);
    expect(stdout.trim()).toBe(MANIFEST.version);
  });

  it('calls a tool of server-everything over Streamable HTTP', async () => {
    let everything: EverythingServer | undefined;
    try {
      everything = await startEverything('streamableHttp');
      await patchbay(['add', '-s', 'user', 'ev', everything.url]);
      const { stdout } = await patchbay([
        'call',
        'ev',
        'echo',
        'message=from the package',
        '--timeout',
        '20',
      ]);
      expect(stdout).toBe('Echo: from the package\n');
    } finally {
      await everything?.close();
    }
  });

  it('runs the demo up to its console, and stops it cleanly', async () => {
    const child = spawn(join(prefix, 'bin', 'patchbay'), ['demo'], {
      cwd: root,
      env: { ...env, PATCHBAY_DEMO_NO_OPEN: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    }) as ChildProcessWithoutNullStreams;
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | string>((resolve) =>
      child.once('close', (code, signal) => resolve(code ?? signal ?? -1)),
    );
    try {
      const deadline = Date.now() + 45_000;
      while (!/press Log in on demo/.test(stdout)) {
        if (child.exitCode !== null || Date.now() > deadline)
          throw new Error(`the demo did not reach its console\n--- stdout\n${stdout}\n--- stderr\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(stdout).toMatch(/!\s+demo\s+local\s+http\s+.*needs-auth/);
      const consoleUrl = /^(http:\/\/127\.0\.0\.1:\d+\/\S*)$/m.exec(stdout)?.[1];
      expect(consoleUrl, stdout).toBeDefined();
      // The console's page and its script come from the package's dist/web.
      const page = await fetch(consoleUrl!);
      expect(page.status).toBe(200);
      const html = await page.text();
      const script = /<script[^>]+src="([^"]+)"/.exec(html)?.[1];
      expect(script, html).toBeDefined();
      const asset = await fetch(new URL(script!, consoleUrl));
      expect(asset.status).toBe(200);
      await asset.body?.cancel();
    } finally {
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      expect(await exited, stderr).toBe(0);
      clearTimeout(timer);
    }
    expect(stdout).toContain('Demo stopped: the servers are closed and the throwaway config is removed.');
  }, 60_000);

  it('imports as a library: every module of dist/ resolves with the installed dependencies', async () => {
    const modules = filesUnder(join(installed, 'dist'))
      .filter((file) => file.endsWith('.js') && !file.startsWith('cli/') && !file.startsWith('web/'))
      .map((file) => pathToFileURL(join(installed, 'dist', file)).href);
    const script = `for (const url of ${JSON.stringify(modules)}) await import(url);
const api = await import(${JSON.stringify(pathToFileURL(join(installed, 'dist', 'index.js')).href)});
console.log(typeof api.loadRegistry, typeof api.connect);`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: root,
      env,
      timeout: 30_000,
    });
    expect(stdout.trim()).toBe('function function');
  });

  it('runs with npx from the tarball', async () => {
    const { stdout } = await npm(['exec', '--yes', '--package', tarball, '--', 'patchbay', '--version']);
    expect(stdout.trim()).toBe(MANIFEST.version);
  }, 60_000);

  it('fetched nothing the lock file does not lock', () => {
    expect(registry.missing).toEqual([]);
    expect(existsSync(tarball)).toBe(true);
  });
});
