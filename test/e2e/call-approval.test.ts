/** `patchbay call` of a tool set to ask, on a real terminal: once, always (a rule is written), no. */

import { readFile } from 'node:fs/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';
import { runInTerminal } from '../helpers/terminal.js';

let sandbox: Sandbox;
let demo: DemoServer;

beforeAll(async () => {
  sandbox = await createSandbox();
  demo = await startDemoServer();
  await sandbox.run(['add', 'demo', demo.url]);
  await sandbox.run(['permit', 'demo', 'echo', 'ask']);
}, 20_000);

afterAll(async () => {
  await demo?.close();
  await sandbox?.cleanup();
});

const QUESTION = /\[y\] yes, this once {2}\[a\] always {2}\[N\] no: $/m;

describe('patchbay call of a tool set to ask, on a terminal', () => {
  it('asks with the rule and the arguments, and runs it once on y', async () => {
    const terminal = runInTerminal(['call', 'demo', 'echo', 'text=hello'], sandbox.env, sandbox.project);
    const shown = await terminal.waitFor(QUESTION, 15_000);
    expect(shown).toContain("Allow demo's tool echo?");
    expect(shown).toContain('rule "echo": ask');
    expect(shown).toContain('Arguments: {"text":"hello"}');
    terminal.type('y');
    expect(await terminal.exited, terminal.screen()).toBe(0);
    expect(terminal.screen()).toContain('hello');
  }, 30_000);

  it('refuses on no (Enter), and on always writes the rule and asks no more', async () => {
    const refused = runInTerminal(['call', 'demo', 'echo', 'text=no'], sandbox.env, sandbox.project);
    await refused.waitFor(QUESTION, 15_000);
    refused.type('');
    expect(await refused.exited).toBe(6);
    expect(refused.screen()).toContain("The person declined demo's tool echo for this call.");

    const always = runInTerminal(['call', 'demo', 'echo', 'text=always'], sandbox.env, sandbox.project);
    await always.waitFor(QUESTION, 15_000);
    always.type('a');
    expect(await always.exited, always.screen()).toBe(0);
    expect(always.screen()).toContain('demo echo: allow from now on (local');
    expect(await readFile(sandbox.userConfig, 'utf8')).toMatch(/"echo": "allow"/);
    const quiet = await sandbox.run(['call', 'demo', 'echo', 'text=quiet']);
    expect(quiet.stdout, quiet.stderr).toBe('quiet\n');
  }, 40_000);
});
