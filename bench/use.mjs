#!/usr/bin/env node
// Use commands against one server: wall time of patchbay's one-shot `tools` and `call` beside the
// same two operations in two peers, all against one loopback MCP server over Streamable HTTP:
//   - mcpc (@apify/mcpc) keeps a session open in a background bridge process; its commands are
//     timed after the session was opened once (that one-time cost is reported on its own);
//   - the MCP Inspector CLI (@modelcontextprotocol/inspector-cli) is one-shot, like patchbay.
//
// Usage: npm run build && MCPC_BIN=… INSPECTOR_BIN=… node bench/use.mjs [runs]
// Prints the median and p90 of each command over N runs (default 15). A peer whose variable is
// unset is skipped. Progress goes to stderr, the markdown table to stdout. Environment:
//   MCPC_BIN             the `mcpc` binary (e.g. /tmp/peers/node_modules/.bin/mcpc)
//   INSPECTOR_BIN        the `mcp-inspector-cli` binary
//   BENCH_RUN_TIMEOUT_S  kill a single run after this long (default 60)
//
// The server is @modelcontextprotocol/server-everything (a devDependency) in its own process, so
// serving never shares an event loop with the timing; it is bound to 127.0.0.1 only. Every tool
// gets a throwaway HOME; nothing but 127.0.0.1 is contacted. Every run's exit status and output are
// checked (the calls must print "Echo: hi", the listings must include the echo tool): a failing
// command stops the bench. The commands are interleaved, one run of each per round, so that a
// change in the machine's load touches all of them alike.

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
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import {
  benchEnv,
  killTree,
  live,
  packageVersion,
  stopOnExit,
  timedRun,
  peerBinaries,
  loopbackPreloadArgs,
} from './processes.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const binary = join(repo, 'dist/cli/main.js');
const everything = join(repo, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
for (const [file, fix] of [
  [binary, 'run npm run build first'],
  [everything, 'run npm install first'],
])
  if (!existsSync(file)) {
    console.error(`bench/use.mjs: ${file} is missing; ${fix}.`);
    process.exit(1);
  }

const runsText = process.argv[2] ?? '15';
const runs = Number(runsText);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(
    `bench/use.mjs: the number of runs must be a positive integer, not ${JSON.stringify(runsText)}`,
  );
  process.exit(2);
}
const timeoutText = process.env.BENCH_RUN_TIMEOUT_S || '60';
const runTimeoutMs = Number(timeoutText) * 1000;
if (!(runTimeoutMs > 0)) {
  console.error(
    `bench/use.mjs: BENCH_RUN_TIMEOUT_S must be a positive number, not ${JSON.stringify(timeoutText)}`,
  );
  process.exit(2);
}
const { MCPC_BIN: mcpcBin, INSPECTOR_BIN: inspectorBin } = peerBinaries('bench/use.mjs', [
  'MCPC_BIN',
  'INSPECTOR_BIN',
]);

// ---------------------------------------------------------------------------------------------
// Clean-up: the server, a running command and mcpc's bridge go however the bench ends.

const root = realpathSync(mkdtempSync(join(tmpdir(), 'patchbay-bench-use-')));
const dirs = {
  patchbayHome: join(root, 'patchbay-home'),
  project: join(root, 'project'),
  mcpcHome: join(root, 'mcpc-home'),
  inspectorHome: join(root, 'inspector-home'),
  // The inspector's index.js looks for "../package.json" relative to its working directory (and
  // then imports its own package.json): it fails unless the parent of its cwd holds a
  // package.json. This cwd has one.
  inspectorCwd: join(root, 'inspector-home', 'cwd'),
};
for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
writeFileSync(join(dirs.inspectorHome, 'package.json'), '{}\n');

let bridgePid = null; // mcpc's bridge, detached by mcpc itself
let cleanedUp = false;
function cleanUp() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const child of live) killTree(child);
  killBridge();
  rmSync(root, { recursive: true, force: true });
}
/** Kill the bridge process this bench's mcpc session started, if it is still that process. */
function killBridge() {
  if (bridgePid === null) return false;
  let cmdline;
  try {
    cmdline = readFileSync(`/proc/${bridgePid}/cmdline`, 'utf8');
  } catch {
    return false; // gone (or no /proc)
  }
  if (!cmdline.includes('bridge')) return false; // the pid was reused by something else
  try {
    process.kill(bridgePid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}
const fail = stopOnExit('bench/use.mjs', cleanUp);

// ---------------------------------------------------------------------------------------------
// Environments. Inherited settings that would change what is measured are dropped.

const baseEnv = benchEnv([
  'PATCHBAY_CONFIG_DIR',
  'PATCHBAY_DEBUG',
  'MCPC_HOME_DIR',
  'MCPC_JSON',
  'MCPC_VERBOSE',
  'DBUS_SESSION_BUS_ADDRESS', // so no tool can reach the user's keyring
  'NODE_OPTIONS',
]);
const homeEnv = (home) => ({
  ...baseEnv,
  HOME: home,
  XDG_CONFIG_HOME: join(home, '.config'),
  XDG_DATA_HOME: join(home, '.local', 'share'),
  XDG_STATE_HOME: join(home, '.local', 'state'),
  XDG_CACHE_HOME: join(home, '.cache'),
});
const patchbayEnv = {
  ...homeEnv(dirs.patchbayHome),
  PATCHBAY_PROJECT_DIR: dirs.project,
  PATCHBAY_DATA_DIR: join(dirs.patchbayHome, 'data'),
  PATCHBAY_CREDENTIAL_STORE: 'file',
};
const mcpcEnv = { ...homeEnv(dirs.mcpcHome), MCPC_HOME_DIR: join(dirs.mcpcHome, '.mcpc') };
const inspectorEnv = homeEnv(dirs.inspectorHome);

// ---------------------------------------------------------------------------------------------
// The server: server-everything's Streamable HTTP transport in a child process, kept on 127.0.0.1
// on a free port by processes.mjs's preload, and ended when its stdin closes.

async function startServer() {
  const child = spawn(
    process.execPath,
    [...loopbackPreloadArgs, everything, 'streamableHttp'],
    // stdout gets a line per request: it goes nowhere.
    { env: { ...baseEnv, PORT: '0' }, stdio: ['pipe', 'ignore', 'pipe'] },
  );
  live.add(child);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  let log = '';
  const address = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`it did not listen within 15 s: ${log}`)), 15000);
    createInterface({ input: child.stderr }).on('line', (line) => {
      const match = /^BENCH_LISTENING (.*)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(JSON.parse(match[1]));
      } else log += `${line}\n`;
    });
    exited.then((how) => reject(new Error(`it exited (${how}): ${log}`)));
  }).catch((error) => fail(`server-everything did not start: ${error.message}`));
  if (address.address !== '127.0.0.1') fail(`server-everything listens on ${address.address}, not 127.0.0.1`);
  return {
    url: `http://127.0.0.1:${address.port}/mcp`,
    async stop() {
      child.stdin.end();
      const timer = setTimeout(() => killTree(child), 5000);
      await exited;
      clearTimeout(timer);
      live.delete(child);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// One timed run: from spawn to the process's exit. Each runs in its own process group, so a
// timeout also kills what it started (mcpc's bridge detaches from it and is handled apart).

/** Why a run does not count, or null when it exited 0 and printed what it should. */
function problem(result, expect) {
  const tail = (text) => text.trim().split('\n').slice(-5).join(' | ');
  if (result.timedOut) return `timed out after ${runTimeoutMs / 1000} s`;
  if (result.code !== 0) return `exit ${result.code}: ${tail(result.stderr) || tail(result.stdout)}`;
  const why = expect(result.stdout);
  return why ? `${why}; stdout: ${tail(result.stdout) || '(empty)'}` : null;
}
const printsEcho = (stdout) => (stdout.includes('Echo: hi') ? null : 'no "Echo: hi" in its output');
const listsEcho = (pattern) => (stdout) =>
  pattern.test(stdout) ? null : 'the echo tool is not in its output';
const listsEchoJson = (stdout) => {
  try {
    return JSON.parse(stdout).tools.some((tool) => tool.name === 'echo') ? null : 'no tool named echo';
  } catch {
    return 'its output is not a JSON object with tools';
  }
};

// ---------------------------------------------------------------------------------------------
// Versions, for the header.

/** The version in the package.json nearest above a binary (symlinks resolved). */
const git = (args) => spawnSync('git', ['-C', repo, ...args], { encoding: 'utf8' }).stdout.trim();
const patchbayVersion = spawnSync(process.execPath, [binary, '--version'], {
  env: patchbayEnv,
  encoding: 'utf8',
}).stdout.trim();

// ---------------------------------------------------------------------------------------------
// Set-up.

const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
const loadBefore = load();
const server = await startServer();
console.error(`server-everything at ${server.url}`);

const added = await timedRun(process.execPath, [binary, 'add', 'ev', server.url], {
  timeoutMs: runTimeoutMs,
  env: patchbayEnv,
  cwd: dirs.project,
});
if (added.code !== 0) fail(`patchbay add ev ${server.url} exited ${added.code}: ${added.stderr}`);

const node = (args) => ({ command: process.execPath, args, env: baseEnv, cwd: root });
const patchbay = (args) => ({
  command: process.execPath,
  args: [binary, ...args],
  env: patchbayEnv,
  cwd: dirs.project,
});
const session = '@bench';
const mcpc = (args) => ({ command: mcpcBin, args, env: mcpcEnv, cwd: dirs.mcpcHome });
// In its --cli mode the launcher (build/cli.js) runs build/index.js in a second node process.
const inspector = (args) => ({
  command: inspectorBin,
  args: ['--cli', server.url, '--transport', 'http', ...args],
  env: inspectorEnv,
  cwd: dirs.inspectorCwd,
});

const commands = [
  { label: 'node -e 0 (floor)', ...node(['-e', '0']), expect: () => null },
  { label: 'patchbay tools ev', ...patchbay(['tools', 'ev']), expect: listsEcho(/^echo\s/m) },
  {
    label: 'patchbay call ev echo message=hi',
    ...patchbay(['call', 'ev', 'echo', 'message=hi']),
    expect: printsEcho,
    baseline: true,
  },
];
const skipped = [];
let sessionOpen = null;
if (mcpcBin) {
  // The one-time cost: mcpc starts its bridge, which connects and initializes the session.
  console.error(`mcpc connect ${server.url} ${session}`);
  sessionOpen = await timedRun(mcpcBin, ['connect', server.url, session], {
    env: mcpcEnv,
    cwd: dirs.mcpcHome,
    timeoutMs: runTimeoutMs,
  });
  try {
    bridgePid = JSON.parse(readFileSync(join(mcpcEnv.MCPC_HOME_DIR, 'sessions.json'), 'utf8')).sessions[
      session
    ].pid;
  } catch {
    // reported just below if the connect failed too
  }
  const why = problem(sessionOpen, () =>
    bridgePid ? null : `no ${session} with a bridge pid in sessions.json`,
  );
  if (why) fail(`mcpc connect failed: ${why}`);
  console.error(`  ${sessionOpen.ms.toFixed(0)} ms, bridge pid ${bridgePid}`);
  commands.push(
    {
      // No MCP at all: what starting mcpc's CLI costs, which every command below pays.
      label: 'mcpc --version (its start-up)',
      ...mcpc(['--version']),
      expect: (stdout) => (/\d+\.\d+\.\d+/.test(stdout) ? null : 'no version number'),
    },
    {
      label: `mcpc ${session} tools-list (warm session)`,
      ...mcpc([session, 'tools-list']),
      expect: listsEcho(/`echo \(/),
    },
    {
      label: `mcpc ${session} tools-call echo message:=hi (warm session)`,
      ...mcpc([session, 'tools-call', 'echo', 'message:=hi']),
      expect: printsEcho,
      peerCall: true,
    },
  );
} else skipped.push('mcpc skipped: set MCPC_BIN');
if (inspectorBin)
  commands.push(
    {
      label: 'mcp-inspector-cli --cli <url> --transport http --method tools/list',
      ...inspector(['--method', 'tools/list']),
      expect: listsEchoJson,
    },
    {
      label: 'mcp-inspector-cli … --method tools/call --tool-name echo --tool-arg message=hi',
      ...inspector(['--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', 'message=hi']),
      expect: printsEcho,
      inspectorCall: true,
    },
  );
else skipped.push('MCP Inspector CLI skipped: set INSPECTOR_BIN');
for (const note of skipped) console.error(note);

const header = [
  `node ${process.version}, ${cpus().length} CPUs, load average ${loadBefore} before the bench`,
  `patchbay ${patchbayVersion} (commit ${git(['rev-parse', '--short', 'HEAD'])}${
    git(['status', '--porcelain', '--', 'src']) ? ', src/ modified' : ''
  }); server ${packageVersion(everything)}, Streamable HTTP on 127.0.0.1`,
  `mcpc: ${mcpcBin ? packageVersion(mcpcBin) : 'n/a (set MCPC_BIN)'}; inspector: ${
    inspectorBin ? packageVersion(inspectorBin) : 'n/a (set INSPECTOR_BIN)'
  }`,
  `${runs} runs of each command after one warm-up run, interleaved (one run of each per round)`,
];
console.error(header.join('\n'));

// ---------------------------------------------------------------------------------------------
// Measurement: a warm-up round (checked, not timed), then `runs` rounds, each starting one
// command further along the list.

async function once(command) {
  const result = await timedRun(command.command, command.args, { ...command, timeoutMs: runTimeoutMs });
  const why = problem(result, command.expect);
  if (why) fail(`${command.label} failed: ${why}`);
  return result.ms;
}
console.error('\nwarm-up');
for (const command of commands) console.error(`  ${command.label}: ${(await once(command)).toFixed(0)} ms`);
for (const command of commands) command.samples = [];
for (let round = 0; round < runs; round++) {
  const times = [];
  for (let i = 0; i < commands.length; i++) {
    const command = commands[(round + i) % commands.length];
    command.samples.push(await once(command));
  }
  for (const command of commands) times.push(command.samples.at(-1).toFixed(0));
  console.error(`round ${round + 1}/${runs}: ${times.join(' ')} ms`);
}

// ---------------------------------------------------------------------------------------------
// Tear-down: close mcpc's session (the bridge exits), make sure the bridge is gone, stop the server.

let sessionClose = null;
if (mcpcBin) {
  sessionClose = await timedRun(mcpcBin, [session, 'close'], {
    env: mcpcEnv,
    cwd: dirs.mcpcHome,
    timeoutMs: runTimeoutMs,
  });
  if (sessionClose.code !== 0)
    console.error(`mcpc ${session} close exited ${sessionClose.code}: ${sessionClose.stderr.trim()}`);
  await new Promise((resolve) => setTimeout(resolve, 500));
  if (killBridge()) console.error(`mcpc's bridge (pid ${bridgePid}) outlived the close; killed it.`);
}
await server.stop();
const loadAfter = load();

// ---------------------------------------------------------------------------------------------
// The table.

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median = sorted.length % 2 ? sorted[Math.floor(mid)] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, p90: sorted[Math.ceil(sorted.length * 0.9) - 1] }; // p90: nearest rank
}
for (const command of commands) Object.assign(command, stats(command.samples));
const baseline = commands.find((command) => command.baseline);
const ms = (value) => `${value.toFixed(0)} ms`;
const lines = [
  '| command | median | p90 | vs patchbay call |',
  '| --- | --: | --: | --: |',
  ...commands.map(
    (c) =>
      `| \`${c.label}\` | ${ms(c.median)} | ${ms(c.p90)} | ${(c.median / baseline.median).toFixed(2)}× |`,
  ),
];

const notes = [...skipped];
if (sessionOpen) {
  notes.push(
    `mcpc's one-time session open (\`mcpc connect <url> ${session}\`, starts the bridge): ` +
      `${ms(sessionOpen.ms)} (one run); closing it (\`mcpc ${session} close\`): ${ms(sessionClose.ms)}.`,
  );
  const peerCall = commands.find((command) => command.peerCall);
  const perCall = peerCall.median - baseline.median;
  notes.push(
    perCall > 0
      ? `Per call, mcpc's warm session is ${ms(perCall)} slower than patchbay's one-shot call, so ` +
          `patchbay stays ahead at any number of calls, before counting mcpc's session open.`
      : `mcpc's warm call saves ${ms(-perCall)} per call; it pays back its session open after ` +
          `${Math.ceil(sessionOpen.ms / -perCall)} calls.`,
  );
}
// Issue #22's targets, each against a peer's call measured in this same run (medians).
const TARGETS = [
  ['peerCall', 0.3, "mcpc's warm-session tools-call"],
  ['inspectorCall', 0.4, "the Inspector CLI's tools/call"],
];
for (const [key, target, what] of TARGETS) {
  const peer = commands.find((command) => command[key]);
  if (!peer) continue;
  const ratio = baseline.median / peer.median;
  notes.push(
    `Target "patchbay call ≤ ${target}× ${what}": ${ratio.toFixed(2)}× — ${ratio <= target ? 'met' : 'not met'}.`,
  );
}
notes.push(`Load average ${loadBefore} before the bench, ${loadAfter} after.`);

console.log(header.join('  \n'));
console.log('');
console.log(lines.join('\n'));
console.log(`\n${notes.map((note) => `- ${note}`).join('\n')}`);
