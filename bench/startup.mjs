#!/usr/bin/env node
// Start-up time of commands that need no network: they must not load the MCP SDK.
// Usage: npm run build && node bench/startup.mjs [runs]
// Prints the median and p90 wall time of each command over N runs (default 20), beside `node -e 0`
// (the floor), each median as a multiple of the floor's, and `patchbay --version` against its
// target (issue #22: at most 1.3x `node -e 0`, measured in the same run).
//
// Each command gets one warm-up run (patchbay's code cache, in the bench's own XDG_CACHE_HOME, is
// then warm, as it is for a user from the second run on), then the runs go in rounds of one run
// of each command, so that a change in the machine's load touches all of them alike.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const runs = Number(process.argv[2] ?? 20);
const VERSION_TARGET = 1.3;
const binary = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'patchbay-bench-'));
const env = {
  ...process.env,
  PATCHBAY_CONFIG_DIR: join(root, 'config'),
  PATCHBAY_PROJECT_DIR: join(root, 'project'),
  XDG_CACHE_HOME: join(root, 'cache'),
  NO_COLOR: '1',
};

/**
 * A command to time: `program` with the arguments of run `i`; `check` says whether a run's exit
 * status is what it should be (a failing command's time means nothing).
 */
function command(label, program, argsFor, { env: commandEnv = env, cwd, check = (s) => s === 0 } = {}) {
  return { label, program, argsFor, env: commandEnv, cwd, check, samples: [] };
}
const patchbay = (label, args, options) => command(label, process.execPath, () => [binary, ...args], options);

// 50 servers in the user scope, so list and get read a realistic file.
for (let i = 0; i < 50; i++)
  spawnSync(process.execPath, [binary, 'add', '-s', 'user', `server-${i}`, `https://s${i}.example.com/mcp`], {
    env,
  });

const floor = command('node -e 0 (floor)', process.execPath, () => ['-e', '0']);
const version = patchbay('patchbay --version', ['--version']);
const commands = [
  floor,
  version,
  patchbay('patchbay list --no-check (50 servers)', ['list', '--no-check']),
  patchbay('patchbay list --no-check --json', ['list', '--no-check', '--json']),
  patchbay('patchbay get server-7 --no-check', ['get', 'server-7', '--no-check']),
  command('patchbay add (local scope)', process.execPath, (i) => [
    binary,
    'add',
    `new-${i}`,
    'https://n.example.com/mcp',
  ]),
];

// Peer: Claude Code's `claude mcp` on the same 50 servers, when CLAUDE_BIN points at its binary
// (e.g. npm i @anthropic-ai/claude-code in a scratch directory). It gets its own throwaway HOME.
const claude = process.env.CLAUDE_BIN;
if (claude) {
  const claudeHome = join(root, 'claude-home');
  const claudeEnv = {
    ...process.env,
    HOME: claudeHome,
    CLAUDE_CONFIG_DIR: join(claudeHome, '.claude'),
    NO_COLOR: '1',
  };
  spawnSync('mkdir', ['-p', claudeHome]);
  for (let i = 0; i < 50; i++)
    spawnSync(
      claude,
      ['mcp', 'add', '-s', 'user', '-t', 'http', `server-${i}`, `https://s${i}.example.com/mcp`],
      { env: claudeEnv, cwd: claudeHome },
    );
  const options = { env: claudeEnv, cwd: claudeHome, check: () => true };
  commands.push(
    command('claude --version', claude, () => ['--version'], options),
    command('claude mcp get server-7', claude, () => ['mcp', 'get', 'server-7'], options),
    command(
      'claude mcp add (local scope)',
      claude,
      (i) => ['mcp', 'add', '-t', 'http', `new-${i}`, 'https://n.example.com/mcp'],
      options,
    ),
  );
}

function runOnce(cmd, i) {
  const start = process.hrtime.bigint();
  const result = spawnSync(cmd.program, cmd.argsFor(i), { env: cmd.env, cwd: cmd.cwd, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (!cmd.check(result.status)) throw new Error(`${cmd.label} exited ${result.status}: ${result.stderr}`);
  return ms;
}

const loadBefore = loadavg();
for (const cmd of commands) runOnce(cmd, runs); // warm-up
for (let i = 0; i < runs; i++) for (const cmd of commands) cmd.samples.push(runOnce(cmd, i));
const loadAfter = loadavg();
rmSync(root, { recursive: true, force: true });

const stats = (samples) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], p90: sorted[Math.floor(sorted.length * 0.9)] };
};
const floorMedian = stats(floor.samples).median;
const load = (l) => l.map((n) => n.toFixed(2)).join(' ');
console.log(
  `node ${process.version}, ${runs} runs each, in rounds; load average ${load(loadBefore)} before, ${load(loadAfter)} after`,
);
for (const cmd of commands) {
  const { median, p90 } = stats(cmd.samples);
  console.log(
    `${cmd.label.padEnd(42)} median ${median.toFixed(1).padStart(6)} ms   p90 ${p90.toFixed(1).padStart(6)} ms   ${(median / floorMedian).toFixed(2).padStart(5)}x floor`,
  );
}
const ratio = stats(version.samples).median / floorMedian;
console.log(
  `patchbay --version / node -e 0: ${ratio.toFixed(2)}x (target <= ${VERSION_TARGET}x: ${ratio <= VERSION_TARGET ? 'met' : 'missed'})`,
);
