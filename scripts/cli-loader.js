#!/usr/bin/env node
// The `patchbay` binary (dist/cli/main.js), written by scripts/bundle-cli.mjs from this template:
// it loads the CLI's CommonJS bundle, dist/cli/patchbay.cjs, through a V8 code cache.
//
// Node 20 has no compile cache for modules (module.enableCompileCache is Node >= 22.1), and V8
// compiling the CLI's code was a fifth of a one-shot `patchbay list`. Here the bundle is compiled
// with vm.Script and the code V8 made for it (the functions the command ran included) is kept in
// ${XDG_CACHE_HOME:-~/.cache}/patchbay/v8-cache/, one file per command word (a command that runs
// little, like --version, then does not read the code of one that ran much), named by the bundle's
// hash, its length and the Node version and architecture: a new build or a new Node starts a new
// file. V8 checks the file itself (its version, its flags, the source's length) and rejects one
// that does not fit; a rejected, corrupt or unreadable cache is rebuilt or ignored, never an error.
// NODE_DISABLE_COMPILE_CACHE=1 (Node's own variable) turns it off. On Node >= 22.1 the bundle is
// required after module.enableCompileCache, which does the same for every Node-loaded file.

import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import module, { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getHeapCodeStatistics, setFlagsFromString } from 'node:v8';
import { Script } from 'node:vm';

const BUNDLE_HASH = '__BUNDLE_HASH__';
const bundle = fileURLToPath(new URL('./patchbay.cjs', import.meta.url));
const require = createRequire(bundle);
const env = process.env;
const cacheRoot = join(
  env.XDG_CACHE_HOME?.startsWith('/') ? env.XDG_CACHE_HOME : join(env.HOME || homedir(), '.cache'),
  'patchbay',
);

// HTTP responses are parsed by undici's llhttp, which is WebAssembly: V8 compiles it quickly
// (Liftoff), then again, optimised (TurboFan), on background threads, and node waits for those
// compilations to finish before it exits. For a one-shot command that parsed a few responses that
// was 50–150 ms after the output (more on a busy machine) and CPU the checks needed. Commands that
// keep running and parsing get the optimised code. Decided here, before the bundle is compiled:
// V8's flags are part of a code cache's identity, so they must not change between the compilation
// and the moment the cache is written (Node 20 to 24 know the flag).
const LONG_RUNNING = new Set(['serve', 'connect', 'ui', 'demo']);
const command = process.argv[2] ?? '';

// `patchbay --version` (or -V), alone, is answered here: compiling the CLI only to print one line
// was a third of its time. The answer is the bundle's own (commander's `.version()` prints
// core/version.ts's packageVersion() and a newline, exit 0), read from the same file:
// ../../package.json from dist/cli/ is the one core/version.ts reads from dist/core/. Should it be
// unreadable, the bundle answers (with "unknown", as it does).
const version =
  process.argv.length === 3 && (command === '--version' || command === '-V') ? ownVersion() : undefined;
if (version !== undefined) {
  // As the CLI does: a reader that left (`patchbay --version | true`) is no error.
  process.stdout.on('error', (error) => {
    if (error.code !== 'EPIPE') throw error;
  });
  process.stdout.write(`${version}\n`);
} else {
  if (!LONG_RUNNING.has(command)) setFlagsFromString('--liftoff-only');
  if (module.enableCompileCache) {
    if (!env.NODE_COMPILE_CACHE) {
      try {
        module.enableCompileCache(join(cacheRoot, 'compile-cache'));
      } catch {
        // A cache that cannot be written is only slower.
      }
    }
    require(bundle);
  } else {
    runCached();
  }
}

function ownVersion() {
  try {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    return typeof version === 'string' ? version : undefined;
  } catch {
    return undefined;
  }
}

function runCached() {
  const source = readFileSync(bundle, 'utf8');
  const cacheDir = join(cacheRoot, 'v8-cache');
  const version = `${BUNDLE_HASH}-${source.length}-${process.version}-${process.arch}`;
  const word = /^[a-z][a-z-]{0,30}$/.test(command) ? command : 'other';
  const cacheFile = join(cacheDir, `${word}-${version}.bin`);
  // A cache file: the size of V8's bytecode when it was made and the CRC-32 of V8's data (4 bytes
  // each), then the data. V8 checks the data's length, not its bytes (a damaged file can crash it):
  // the CRC does. Node < 20.15 has no zlib.crc32, and no code cache then.
  const { crc32 } = require('node:zlib');
  const useCache = env.NODE_DISABLE_COMPILE_CACHE !== '1' && typeof crc32 === 'function';
  let cachedData;
  let bytecodeThen = 0;
  if (useCache) {
    try {
      const file = readFileSync(cacheFile);
      const data = file.subarray(8);
      if (file.length > 8 && crc32(data) === file.readUInt32LE(4)) {
        bytecodeThen = file.readUInt32LE(0);
        cachedData = data;
      }
    } catch {
      // No cache yet (or unreadable): compiled from source, cached at exit.
    }
  }
  // `0,function` and not `(function`: V8 compiles a parenthesised function eagerly, all of it.
  const script = new Script(`0,function (exports, require, module, __filename, __dirname) {${source}\n}`, {
    filename: bundle,
    cachedData,
  });
  const accepted = cachedData !== undefined && !script.cachedDataRejected;
  // Not after a usage error (exit code 2): a mistyped command would get a cache file of its own;
  // nor after a signal (128 + its number): whoever stopped the process may be removing its home.
  if (useCache)
    process.once('exit', (code) => {
      if (code !== 2 && code < 128)
        writeCache(script, accepted, bytecodeThen, cacheDir, cacheFile, version, crc32);
    });
  const bundleModule = { exports: {} };
  script.runInThisContext()(bundleModule.exports, require, bundleModule, bundle, join(bundle, '..'));
}

/**
 * Keeps the code this run compiled, when there is no usable cache yet or this run compiled
 * noticeably more than the cached one holds (its command reached code the cached run did not).
 */
function writeCache(script, accepted, bytecodeThen, cacheDir, cacheFile, version, crc32) {
  try {
    const bytecode = getHeapCodeStatistics().bytecode_and_metadata_size;
    if (accepted && bytecode < bytecodeThen * 1.1) return;
    const data = script.createCachedData();
    const header = Buffer.alloc(8);
    header.writeUInt32LE(Math.min(bytecode, 0xffffffff), 0);
    header.writeUInt32LE(crc32(data), 4);
    mkdirSync(cacheDir, { recursive: true });
    // Caches of other builds or Node versions are of no more use.
    for (const name of readdirSync(cacheDir))
      if (name.endsWith('.bin') && !name.endsWith(`-${version}.bin`)) removeQuietly(join(cacheDir, name));
    const temporary = `${cacheFile}.${process.pid}.tmp`;
    writeFileSync(temporary, Buffer.concat([header, data]));
    renameSync(temporary, cacheFile);
  } catch {
    // A cache that cannot be written is only slower.
  }
}

function removeQuietly(path) {
  try {
    unlinkSync(path);
  } catch {
    // Gone already (another patchbay cleaned up too).
  }
}
