#!/usr/bin/env node
// Start-up time of commands that need no network: they must not load the MCP SDK.
// Usage: npm run build && node bench/startup.mjs [runs]
// Prints the median and p90 wall time of each command over N runs, beside `node -e 0` (the floor).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const runs = Number(process.argv[2] ?? 20);
const binary = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'patchbay-bench-'));
const env = {
  ...process.env,
  PATCHBAY_CONFIG_DIR: join(root, 'config'),
  PATCHBAY_PROJECT_DIR: join(root, 'project'),
  NO_COLOR: '1',
};

function time(args, { node = false } = {}) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    const result = spawnSync(process.execPath, node ? args : [binary, ...args], { env, encoding: 'utf8' });
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (result.status !== 0 && !args.includes('add'))
      throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)], p90: samples[Math.floor(samples.length * 0.9)] };
}

// 50 servers in the user scope, so list and get read a realistic file.
for (let i = 0; i < 50; i++)
  spawnSync(process.execPath, [binary, 'add', '-s', 'user', `server-${i}`, `https://s${i}.example.com/mcp`], {
    env,
  });

let counter = 0;
const rows = [
  ['node -e 0 (floor)', time(['-e', '0'], { node: true })],
  ['patchbay --version', time(['--version'])],
  ['patchbay list --no-check (50 servers)', time(['list', '--no-check'])],
  ['patchbay list --no-check --json', time(['list', '--no-check', '--json'])],
  ['patchbay get server-7 --no-check', time(['get', 'server-7', '--no-check'])],
  [
    'patchbay add (local scope)',
    (() => {
      const samples = [];
      for (let i = 0; i < runs; i++) {
        const start = process.hrtime.bigint();
        spawnSync(process.execPath, [binary, 'add', `new-${counter++}`, 'https://n.example.com/mcp'], {
          env,
        });
        samples.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
      samples.sort((a, b) => a - b);
      return { median: samples[Math.floor(runs / 2)], p90: samples[Math.floor(runs * 0.9)] };
    })(),
  ],
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
  const timeClaude = (argsFor) => {
    const samples = [];
    for (let i = 0; i < runs; i++) {
      const start = process.hrtime.bigint();
      spawnSync(claude, argsFor(i), { env: claudeEnv, cwd: claudeHome, encoding: 'utf8' });
      samples.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    samples.sort((a, b) => a - b);
    return { median: samples[Math.floor(runs / 2)], p90: samples[Math.floor(runs * 0.9)] };
  };
  spawnSync('mkdir', ['-p', claudeHome]);
  for (let i = 0; i < 50; i++)
    spawnSync(
      claude,
      ['mcp', 'add', '-s', 'user', '-t', 'http', `server-${i}`, `https://s${i}.example.com/mcp`],
      { env: claudeEnv, cwd: claudeHome },
    );
  rows.push(['claude --version', timeClaude(() => ['--version'])]);
  rows.push(['claude mcp get server-7', timeClaude(() => ['mcp', 'get', 'server-7'])]);
  rows.push([
    'claude mcp add (local scope)',
    timeClaude((i) => ['mcp', 'add', '-t', 'http', `new-${i}`, 'https://n.example.com/mcp']),
  ]);
}
rmSync(root, { recursive: true, force: true });

console.log(`node ${process.version}, ${runs} runs each`);
for (const [label, { median, p90 }] of rows)
  console.log(
    `${label.padEnd(42)} median ${median.toFixed(1).padStart(6)} ms   p90 ${p90.toFixed(1).padStart(6)} ms`,
  );
