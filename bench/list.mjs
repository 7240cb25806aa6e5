#!/usr/bin/env node
// Health checks: wall time of `patchbay list --json` beside Claude Code's `claude mcp list` (and
// `get` of one server beside `claude mcp get`), both reading the same `.mcp.json` of loopback MCP
// servers, and how many servers each reported as connected.
//
// Usage: npm run build && CLAUDE_BIN=/path/to/claude node bench/list.mjs
// Without CLAUDE_BIN the claude column says n/a. Progress goes to stderr, the markdown table to
// stdout. Environment:
//   PATCHBAY_BEFORE      another build's dist/cli/main.js (e.g. a copy of main's), measured in the
//                        same runs as a "before" column
//   BENCH_SERVER         everything (default: @modelcontextprotocol/server-everything, one process
//                        per server) or demo (patchbay's demo server, all in one process)
//   BENCH_RUNS           runs per measurement (default 5 for fast scenarios, 3 for slow ones)
//   BENCH_SLOW_RUNS      runs per measurement of the slow scenarios only (default BENCH_RUNS or 3)
//   BENCH_CELL_BUDGET_S  stop repeating one measurement once its runs took this long (default 100:
//                        claude's 50 × 2 s case takes ~104 s a run and varies by < 1 s, so it gets
//                        one run, which keeps the whole bench near 6 minutes)
//   BENCH_RUN_TIMEOUT_S  kill a single run after this long (default 300)
//   BENCH_ONLY           comma-separated scenario ids to run: 1, 10, 50, get, 50-remote, slow, hang
//   BENCH_EXTRAS=0       skip the extra claude rows (MCP_SERVER_CONNECTION_BATCH_SIZE, MCP_TIMEOUT)
//   BENCH_FLOOR=0        skip the floor column: bench/raw-check.mjs, plain fetch and no SDK, sending
//                        the requests of a full check to every server at once (what the servers
//                        alone cost; a tool close to it is measuring the servers)
//
// The servers run in a child process (bench/servers.mjs), so serving them never shares an event
// loop with the timing here. Each tool gets a throwaway HOME; claude also gets its own settings
// and no network beyond loopback (autoupdater, telemetry and non-essential traffic are off).

import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { benchEnv, killTree, live, packageVersion, stopOnExit, timedRun } from './processes.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const binary = join(repo, 'dist/cli/main.js');
const serversScript = join(repo, 'bench/servers.mjs');
for (const file of [binary, join(repo, 'dist/demo/demo-server.js')])
  if (!existsSync(file)) {
    console.error(`bench/list.mjs: ${file} is missing; run npm run build first.`);
    process.exit(1);
  }

const positiveInt = (name, fallback) => {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`bench/list.mjs: ${name} must be a positive integer, not ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
};
const fastRuns = positiveInt('BENCH_RUNS', 5);
const slowRuns = positiveInt('BENCH_SLOW_RUNS', positiveInt('BENCH_RUNS', 3));
const cellBudgetMs = positiveInt('BENCH_CELL_BUDGET_S', 100) * 1000;
const runTimeoutMs = positiveInt('BENCH_RUN_TIMEOUT_S', 300) * 1000;
const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((s) => s.trim())) : null;
const claudeBin = process.env.CLAUDE_BIN || null;
const beforeBinary = process.env.PATCHBAY_BEFORE || null;
if (beforeBinary && !existsSync(beforeBinary)) {
  console.error(`bench/list.mjs: PATCHBAY_BEFORE is ${beforeBinary}, which does not exist.`);
  process.exit(2);
}
const serverKind = process.env.BENCH_SERVER || 'everything';
if (serverKind !== 'everything' && serverKind !== 'demo') {
  console.error(`bench/list.mjs: BENCH_SERVER must be everything or demo, not ${JSON.stringify(serverKind)}`);
  process.exit(2);
}
const extras = process.env.BENCH_EXTRAS !== '0' && claudeBin !== null; // they vary claude only
const floor = process.env.BENCH_FLOOR !== '0';
const rawCheckScript = join(repo, 'bench/raw-check.mjs');

// ---------------------------------------------------------------------------------------------
// Clean-up: the servers child and a running tool are killed however the bench ends.

const root = realpathSync(mkdtempSync(join(tmpdir(), 'patchbay-bench-list-')));
const project = join(root, 'project');
const patchbayHome = join(root, 'patchbay-home');
const claudeHome = join(root, 'claude-home');
for (const dir of [project, patchbayHome, claudeHome]) mkdirSync(dir, { recursive: true });

let cleanedUp = false;
function cleanUp() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const child of live) killTree(child);
  rmSync(root, { recursive: true, force: true });
}
stopOnExit('bench/list.mjs', cleanUp);

// ---------------------------------------------------------------------------------------------
// Environments. Inherited settings that would change what is measured are dropped.

const baseEnv = benchEnv([
  'CLAUDE_CONFIG_DIR',
  'MCP_TIMEOUT',
  'MCP_SERVER_CONNECTION_BATCH_SIZE',
  'MCP_REMOTE_SERVER_CONNECTION_BATCH_SIZE',
  'MCP_CONNECT_TIMEOUT_MS',
]);

const patchbayEnv = {
  ...baseEnv,
  HOME: patchbayHome,
  XDG_CONFIG_HOME: join(patchbayHome, '.config'),
  PATCHBAY_CONFIG_DIR: join(patchbayHome, '.config', 'patchbay'),
  PATCHBAY_PROJECT_DIR: project,
};
const claudeEnv = {
  ...baseEnv,
  HOME: claudeHome,
  XDG_CONFIG_HOME: join(claudeHome, '.config'),
  DISABLE_AUTOUPDATER: '1',
  DISABLE_TELEMETRY: '1',
  DISABLE_ERROR_REPORTING: '1',
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
};

// Claude Code shows .mcp.json servers as "Pending approval" (and does not contact them) until the
// project is trusted and its servers approved. A user does this once in the interactive UI; here
// it is the state that UI leaves: trust in ~/.claude.json, the approval in the project's
// .claude/settings.local.json (claude itself moves enableAllProjectMcpServers there).
function approveForClaude() {
  const globalFile = join(claudeHome, '.claude.json');
  const config = existsSync(globalFile) ? JSON.parse(readFileSync(globalFile, 'utf8')) : {};
  config.hasCompletedOnboarding = true;
  config.projects ??= {};
  config.projects[project] = {
    ...config.projects[project],
    hasTrustDialogAccepted: true,
    enableAllProjectMcpServers: true,
  };
  writeFileSync(globalFile, JSON.stringify(config, null, 2));
  mkdirSync(join(project, '.claude'), { recursive: true });
  writeFileSync(
    join(project, '.claude', 'settings.local.json'),
    JSON.stringify({ enableAllProjectMcpServers: true }, null, 2),
  );
}

// ---------------------------------------------------------------------------------------------
// Servers: one child process per scenario.

async function startServers({ count, delayMs = 0, hang = 0 }) {
  const child = spawn(
    process.execPath,
    [
      serversScript,
      '--kind',
      serverKind,
      '--count',
      String(count),
      '--delay-ms',
      String(delayMs),
      '--hang',
      String(hang),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  live.add(child);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const nextLine = async () => {
    const result = await Promise.race([lines.next(), exited.then((code) => ({ exitCode: code }))]);
    if ('exitCode' in result || result.done) throw new Error(`bench/servers.mjs exited (${result.exitCode})`);
    return JSON.parse(result.value);
  };
  const urls = await nextLine();
  return {
    ...urls,
    /** Since the last call (delayed servers only): the most busy at once, and requests served. */
    async stats() {
      child.stdin.write('stats\n');
      return nextLine();
    },
    async stop() {
      child.stdin.end();
      const timer = setTimeout(() => killTree(child), 5000);
      await exited;
      clearTimeout(timer);
      live.delete(child);
    },
  };
}

function writeMcpJson(urls) {
  const mcpServers = {};
  urls.forEach((url, i) => (mcpServers[`s${String(i + 1).padStart(2, '0')}`] = { type: 'http', url }));
  writeFileSync(join(project, '.mcp.json'), `${JSON.stringify({ mcpServers }, null, 2)}\n`);
}

// ---------------------------------------------------------------------------------------------
// One timed run of a tool.

/** patchbay's `list --json`: an array of objects with `name` and `status`. */
function parsePatchbay(result) {
  if (result.timedOut) return { error: 'timed out' };
  if (result.code !== 0 && result.code !== 8)
    return { error: `exit ${result.code}: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}` };
  let entries;
  try {
    entries = JSON.parse(result.stdout);
  } catch {
    return { error: `stdout is not JSON: ${result.stdout.slice(0, 200)}` };
  }
  if (!Array.isArray(entries)) return { error: 'stdout is not a JSON array' };
  const statuses = {};
  for (const entry of entries) statuses[entry.status] = (statuses[entry.status] ?? 0) + 1;
  return { total: entries.length, connected: statuses.connected ?? 0, statuses };
}

/** patchbay's `get --json`: one object with `name` and `status`. */
function parsePatchbayGet(result) {
  if (result.timedOut) return { error: 'timed out' };
  if (result.code !== 0 && result.code !== 8)
    return { error: `exit ${result.code}: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}` };
  try {
    const entry = JSON.parse(result.stdout);
    return { total: 1, connected: entry.status === 'connected' ? 1 : 0, statuses: { [entry.status]: 1 } };
  } catch {
    return { error: `stdout is not JSON: ${result.stdout.slice(0, 200)}` };
  }
}

/** claude's `mcp get`: a block whose `Status:` line says how the check went. */
function parseClaudeGet(result) {
  if (result.timedOut) return { error: 'timed out' };
  if (result.code !== 0)
    return { error: `exit ${result.code}: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}` };
  const status = /^\s*Status: (.*)$/m.exec(result.stdout)?.[1]?.trim() ?? '(no status line)';
  const connected = /Connected$/.test(status);
  return { total: 1, connected: connected ? 1 : 0, statuses: { [connected ? 'connected' : status]: 1 } };
}

/** claude's text: one line per server, `name: target (HTTP) - <mark> <status>`. */
function parseClaude(result) {
  if (result.timedOut) return { error: 'timed out' };
  if (result.code !== 0)
    return { error: `exit ${result.code}: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}` };
  const statuses = {};
  let total = 0;
  // eslint-disable-next-line no-control-regex
  for (const line of result.stdout.replace(/\x1b\[[0-9;]*m/g, '').split('\n')) {
    const match = /^s\d+: .* - (.+)$/u.exec(line.trim());
    if (!match) continue;
    total++;
    const text = match[1];
    const status = /Pending approval/.test(text)
      ? 'pending approval'
      : /Needs authentication/.test(text)
        ? 'needs auth'
        : /tools fetch failed/.test(text)
          ? 'connected, tools fetch failed'
          : /Connected$/.test(text)
            ? 'connected'
            : /Failed to connect/.test(text)
              ? 'failed'
              : /error/i.test(text)
                ? 'connection error'
                : text;
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
  return { total, connected: statuses.connected ?? 0, statuses };
}

// ---------------------------------------------------------------------------------------------
// Measurements ("cells"): N runs of one tool on one scenario.

const tools = {
  patchbay: (extraArgs = [], { build = binary, command = ['list', '--json'] } = {}) => ({
    label: `patchbay${build === binary ? '' : ' (before)'} ${[...command, ...extraArgs].join(' ')}`,
    exec: () =>
      timedRun(process.execPath, [build, ...command, ...extraArgs], {
        env: patchbayEnv,
        cwd: project,
        timeoutMs: runTimeoutMs,
      }),
    parse: command[0] === 'get' ? parsePatchbayGet : parsePatchbay,
  }),
  claude: (extraEnv = {}, command = ['mcp', 'list']) => ({
    label: `${Object.entries(extraEnv)
      .map(([k, v]) => `${k}=${v} `)
      .join('')}claude ${command.join(' ')}`,
    exec: () =>
      timedRun(claudeBin, command, {
        env: { ...claudeEnv, ...extraEnv },
        cwd: project,
        timeoutMs: runTimeoutMs,
      }),
    parse: command[1] === 'get' ? parseClaudeGet : parseClaude,
  }),
};
tools.floor = () => ({
  label: 'raw-check (floor)',
  exec: () =>
    timedRun(process.execPath, [rawCheckScript], { env: patchbayEnv, cwd: project, timeoutMs: runTimeoutMs }),
  parse: parsePatchbay,
});
/** The same patchbay cell, run by the PATCHBAY_BEFORE build. */
const before = (extraArgs, options = {}) => tools.patchbay(extraArgs, { ...options, build: beforeBinary });

/**
 * One run of a tool, recorded in its cell and reported on stderr. With `servers`, the CPU time the
 * servers spent answering this run is recorded too (the stats reset before it and read after).
 */
async function runOnce(tool, cell, servers) {
  if (servers) await servers.stats();
  const result = await tool.exec();
  if (servers) {
    const { serverCpuMs } = await servers.stats();
    if (serverCpuMs !== null) cell.serverCpu.push(serverCpuMs);
  }
  cell.spent += result.ms;
  const check = tool.parse(result);
  cell.samples.push(result.ms);
  cell.checks.push(check);
  const what = check.error
    ? `ERROR ${check.error}`
    : `${check.connected}/${check.total} connected ${JSON.stringify(check.statuses)}`;
  console.error(`    ${tool.label}: ${(result.ms / 1000).toFixed(2)} s, ${what}`);
}

function summary(cell) {
  const sorted = [...cell.samples].sort((a, b) => a - b);
  const median =
    sorted.length % 2
      ? sorted[(sorted.length - 1) / 2]
      : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  const cpu = [...cell.serverCpu].sort((a, b) => a - b);
  const serverCpuMedian = cpu.length ? cpu[Math.floor((cpu.length - 1) / 2)] : null;
  return { ...cell, median, min: sorted[0], max: sorted.at(-1), n: sorted.length, serverCpuMedian };
}

/**
 * The cells of a scenario. Fast ones run interleaved, one run of each tool per round, so a change
 * in the machine's load touches every tool alike. Delayed ones run one cell after another, since
 * the servers' counters (peak busy, requests) are per cell; their times are set by the delays.
 */
async function measureScenario(cells, { runs, warmUp, servers }) {
  const entries = Object.entries(cells);
  const state = Object.fromEntries(
    entries.map(([key]) => [key, { samples: [], checks: [], spent: 0, serverCpu: [] }]),
  );
  if (servers.hasDelay) {
    for (const [key, tool] of entries) {
      if (warmUp) await tool.exec();
      await servers.stats(); // reset
      const cell = state[key];
      for (let i = 0; i < runs && (i === 0 || cell.spent < cellBudgetMs); i++) await runOnce(tool, cell);
      const stats = await servers.stats();
      if (stats.serverCpuMs !== null) cell.serverCpu.push(stats.serverCpuMs / cell.samples.length);
      cell.peakBusy = stats.peakBusyServers;
      cell.requestsPerCheck = stats.requests / cell.samples.length / servers.healthy.length;
    }
  } else {
    if (warmUp) for (const [, tool] of entries) await tool.exec();
    for (let i = 0; i < runs; i++)
      for (const [key, tool] of entries) {
        const cell = state[key];
        if (i === 0 || cell.spent < cellBudgetMs) await runOnce(tool, cell, servers);
      }
  }
  return Object.fromEntries(entries.map(([key]) => [key, { peakBusy: null, ...summary(state[key]) }]));
}

// ---------------------------------------------------------------------------------------------
// Scenarios. Each row pairs one patchbay cell with one claude cell; a cell may appear in two rows.

const scenarios = [
  { id: '1', title: '1 healthy server', servers: { count: 1 }, slow: false },
  { id: '10', title: '10 healthy servers', servers: { count: 10 }, slow: false },
  { id: '50', title: '50 healthy servers', servers: { count: 50 }, slow: false },
  {
    id: 'get',
    title: '`get` of 1 healthy server',
    servers: { count: 1 },
    slow: false,
    cells: {
      pb: tools.patchbay([], { command: ['get', 's01', '--json'] }),
      ...(beforeBinary ? { pbBefore: before([], { command: ['get', 's01', '--json'] }) } : {}),
      cc: tools.claude({}, ['mcp', 'get', 's01']),
    },
  },
  {
    // Loopback answers in microseconds, so the rows above measure CPU, not waiting; a remote
    // server a few tens of milliseconds away is what people actually check.
    id: '50-remote',
    title: '50 healthy servers, 50 ms per request (a nearby cloud region)',
    servers: { count: 50, delayMs: 50 },
    slow: false,
  },
  {
    id: 'slow',
    title: '50 servers, every request delayed 2 s',
    servers: { count: 50, delayMs: 2000 },
    slow: true,
    cells: {
      pb: tools.patchbay(),
      ...(beforeBinary ? { pbBefore: before() } : {}),
      cc: tools.claude(),
      ...(extras ? { ccBatch: tools.claude({ MCP_SERVER_CONNECTION_BATCH_SIZE: '50' }) } : {}),
    },
    rows: [
      ['', 'pb', 'cc', 'pbBefore'],
      ...(extras ? [['claude with MCP_SERVER_CONNECTION_BATCH_SIZE=50', 'pb', 'ccBatch', 'pbBefore']] : []),
    ],
  },
  {
    id: 'hang',
    title: '10 healthy + 1 hanging (accepts TCP, never answers)',
    servers: { count: 10, hang: 1 },
    slow: true,
    cells: {
      pb5: tools.patchbay(['--timeout', '5']),
      ...(beforeBinary ? { pb5Before: before(['--timeout', '5']) } : {}),
      pb10: tools.patchbay(),
      ...(beforeBinary ? { pb10Before: before() } : {}),
      cc: tools.claude(),
      ...(extras ? { cc5: tools.claude({ MCP_TIMEOUT: '5000' }) } : {}),
    },
    rows: [
      ['patchbay --timeout 5, claude default (MCP_TIMEOUT 30 s)', 'pb5', 'cc', 'pb5Before'],
      ['patchbay default timeout (10 s), claude default (30 s)', 'pb10', 'cc', 'pb10Before'],
      ...(extras ? [['patchbay --timeout 5, claude MCP_TIMEOUT=5000', 'pb5', 'cc5', 'pb5Before']] : []),
    ],
  },
];
for (const scenario of scenarios) {
  scenario.cells ??= {
    pb: tools.patchbay(),
    ...(beforeBinary ? { pbBefore: before() } : {}),
    cc: tools.claude(),
    ...(floor ? { floor: tools.floor() } : {}),
  };
  scenario.rows ??= [['', 'pb', 'cc', 'pbBefore', 'floor']];
}

function version(command, args) {
  const result = spawnSync(command, args, {
    env: command === claudeBin ? claudeEnv : patchbayEnv,
    encoding: 'utf8',
  });
  return (result.stdout || result.stderr || '').trim().split('\n')[0];
}

const git = (args) => spawnSync('git', ['-C', repo, ...args], { encoding: 'utf8' }).stdout.trim();
const header = [
  `node ${process.version}, ${cpus().length} CPUs, patchbay ${version(process.execPath, [binary, '--version'])} ` +
    `(commit ${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain', '--', 'src']) ? ', src/ modified' : ''})`,
  `claude: ${claudeBin ? version(claudeBin, ['--version']) : 'n/a (set CLAUDE_BIN)'}`,
  `patchbay before: ${beforeBinary ?? 'n/a (set PATCHBAY_BEFORE)'}`,
  `servers: ${serverKind === 'everything' ? `${packageVersion(join(repo, 'node_modules/@modelcontextprotocol/server-everything/package.json'))}, one process each, Streamable HTTP` : "patchbay's demo server"}`,
  `runs: ${fastRuns} (fast scenarios, after one warm-up run), ${slowRuns} (slow ones); ` +
    `a measurement stops repeating once its runs took ${cellBudgetMs / 1000} s`,
];
console.error(header.join('\n'));
if (claudeBin) approveForClaude();

const results = []; // { scenario, label, pb, cc }
const notes = [];
const benchStart = Date.now();
for (const scenario of scenarios) {
  if (only && !only.has(scenario.id)) continue;
  console.error(`\n${scenario.title}`);
  const servers = await startServers(scenario.servers);
  servers.hasDelay = (scenario.servers.delayMs ?? 0) > 0;
  try {
    writeMcpJson([...servers.healthy, ...servers.hanging]);
    const approve = await timedRun(process.execPath, [binary, 'approve', '--all'], {
      env: patchbayEnv,
      cwd: project,
      timeoutMs: runTimeoutMs,
    });
    if (approve.code !== 0)
      throw new Error(`patchbay approve --all exited ${approve.code}: ${approve.stderr}`);

    const cells = Object.fromEntries(
      Object.entries(scenario.cells).filter(([key]) => !key.startsWith('cc') || claudeBin),
    );
    const measured = await measureScenario(cells, {
      runs: scenario.slow ? slowRuns : fastRuns,
      warmUp: !scenario.slow,
      servers,
    });
    for (const [key, tool] of Object.entries(cells)) {
      if (measured[key].peakBusy !== null)
        notes.push(
          `${scenario.title}: ${tool.label} had at most ${measured[key].peakBusy} servers busy at once, ` +
            `${measured[key].requestsPerCheck.toFixed(1)} HTTP requests per server checked.`,
        );
      const pending = measured[key].checks.reduce(
        (sum, c) => sum + (c.statuses?.['pending approval'] ?? 0),
        0,
      );
      if (pending) notes.push(`${tool.label}: ${pending} server(s) pending approval, so not checked.`);
    }
    const cpuOf = Object.entries(cells)
      .filter(([key]) => measured[key].serverCpuMedian !== null)
      .map(([key, tool]) => `${tool.label} ${Math.round(measured[key].serverCpuMedian)} ms`);
    if (cpuOf.length)
      notes.push(
        `${scenario.title}: CPU the servers spent per run (median; ${cpus().length} cores): ${cpuOf.join(', ')}.`,
      );
    const expected = {
      total: servers.healthy.length + servers.hanging.length,
      connected: servers.healthy.length,
    };
    for (const [label, pbKey, ccKey, beforeKey, floorKey] of scenario.rows)
      results.push({
        scenario,
        label,
        pb: measured[pbKey],
        cc: measured[ccKey],
        pbBefore: measured[beforeKey],
        floor: measured[floorKey],
        expected,
      });
  } finally {
    await servers.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// The table.

const seconds = (ms) => (ms / 1000).toFixed(2);
const timeCell = (cell) =>
  cell ? `${seconds(cell.median)} s (${seconds(cell.min)}–${seconds(cell.max)}, n=${cell.n})` : 'n/a';
function connectedCell(cell, expected) {
  if (!cell) return 'n/a';
  const errors = cell.checks.filter((c) => c.error);
  if (errors.length) return `${errors.length} run(s) failed: ${errors[0].error}`;
  const counts = [...new Set(cell.checks.map((c) => c.connected))].sort((a, b) => a - b);
  const totals = [...new Set(cell.checks.map((c) => c.total))];
  const text = `${counts.join('–')}/${totals.join('–')}`;
  return counts.length === 1 && counts[0] === expected.connected && totals[0] === expected.total
    ? `${text} ✓`
    : `${text} (expected ${expected.connected}/${expected.total})`;
}

const ratio = (a, b) => (a && b ? `${(a.median / b.median).toFixed(2)}×` : 'n/a');
const lines = beforeBinary
  ? [
      '| scenario | patchbay median (min–max) | patchbay before | claude median (min–max) | claude ÷ patchbay | claude ÷ before | floor (no SDK) | patchbay connected | before connected | claude connected |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ]
  : [
      '| scenario | patchbay median (min–max) | claude median (min–max) | claude ÷ patchbay | floor (no SDK) | patchbay connected | claude connected |',
      '| --- | --- | --- | --- | --- | --- | --- |',
    ];
for (const { scenario, label, pb, cc, pbBefore, floor: raw, expected } of results) {
  const title = label ? `${scenario.title}: ${label}` : scenario.title;
  lines.push(
    beforeBinary
      ? `| ${title} | ${timeCell(pb)} | ${timeCell(pbBefore)} | ${timeCell(cc)} | ${ratio(cc, pb)} | ${ratio(cc, pbBefore)} | ${timeCell(raw)} | ${connectedCell(pb, expected)} | ${connectedCell(pbBefore, expected)} | ${connectedCell(cc, expected)} |`
      : `| ${title} | ${timeCell(pb)} | ${timeCell(cc)} | ${ratio(cc, pb)} | ${timeCell(raw)} | ${connectedCell(pb, expected)} | ${connectedCell(cc, expected)} |`,
  );
}

console.log(header.join('  \n'));
console.log('');
console.log(lines.join('\n'));
if (notes.length) console.log(`\n${notes.map((n) => `- ${n}`).join('\n')}`);
console.error(`\ntotal bench time ${((Date.now() - benchStart) / 1000).toFixed(0)} s`);
