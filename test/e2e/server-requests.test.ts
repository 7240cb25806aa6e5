/**
 * What patchbay answers when a server asks something back while it works: elicitation, roots and
 * sampling, in both protocol eras — server→client requests (2025, server-everything over stdio)
 * and `input_required` results (2026-07-28, the asking server over Streamable HTTP) — with and
 * without a terminal, and on a real pseudo-terminal where a person answers the form.
 */

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { EVERYTHING_SCRIPT } from '../fixtures/everything.js';
import { createAskingServer, startModernServer, type LoopbackServer } from '../fixtures/modern-servers.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';
import { runInTerminal } from '../helpers/terminal.js';

let sandbox: Sandbox;
let asking: LoopbackServer;

beforeAll(async () => {
  asking = await startModernServer(() => createAskingServer());
});
afterAll(async () => {
  await asking?.close();
});
beforeEach(async () => {
  sandbox = await createSandbox();
  await sandbox.run(['add', 'asking', asking.url]);
});
afterEach(async () => {
  await sandbox.cleanup();
});

describe('2026-07-28 input_required results', () => {
  it('declines a form without a terminal, and says how to send the defaults', async () => {
    const result = await sandbox.run(['call', 'asking', 'deploy']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('deploy: decline\n');
    expect(result.stderr).toContain('declined (no terminal to ask on): Deploy where?');
    expect(result.stderr).toContain('--accept-defaults');
  });

  it('answers with the schema defaults given --accept-defaults, in call, prompt and read', async () => {
    const call = await sandbox.run(['call', 'asking', 'deploy', '--accept-defaults']);
    expect(call.code, call.stderr).toBe(0);
    expect(call.stdout).toBe('deploy: accept {"environment":"stg","replicas":2,"notify":true}\n');
    expect(call.stderr).toContain('answered with its defaults');
    const prompt = await sandbox.run(['prompt', 'asking', 'interview', 'style=brief', '--accept-defaults']);
    expect(prompt.code, prompt.stderr).toBe(0);
    expect(prompt.stdout).toContain('brief: accept {"topic":"MCP"}');
    // A required field without a default cannot be answered for the user: declined, and said why.
    const read = await sandbox.run(['read', 'asking', 'note://secret', '--accept-defaults']);
    expect(read.code, read.stderr).toBe(0);
    expect(read.stdout).toBe('secret: decline\n');
    expect(read.stderr).toMatch(/declined: pin has no default/);
  });

  it('lists roots only with --roots, declines sampling, and shows a URL it will not open', async () => {
    const withRoots = await sandbox.run(['call', 'asking', 'where', '--roots']);
    expect(withRoots.code, withRoots.stderr).toBe(0);
    expect(withRoots.stdout).toBe(`where: roots file://${sandbox.project}\n`);
    // Without --roots the server is told of no roots capability, and refuses (-32021): the error says how to grant it.
    const withoutRoots = await sandbox.run(['call', 'asking', 'where']);
    expect(withoutRoots.code).toBe(1);
    expect(withoutRoots.stdout).toBe('');
    expect(withoutRoots.stderr).toContain('asking needs roots from the client');
    expect(withoutRoots.stderr).toContain('Run it again with --roots');
    // A 2026-era request cannot be finished without the sampled answer: it fails, saying why.
    const think = await sandbox.run(['call', 'asking', 'think']);
    expect(think.code).toBe(1);
    expect(think.stderr).toContain('declined: patchbay runs none');
    expect(think.stderr).toContain('could not finish without the language model answer');
    expect(think.stdout).toBe('');
    const visit = await sandbox.run(['call', 'asking', 'visit']);
    expect(visit.code, visit.stderr).toBe(0);
    expect(visit.stdout).toBe('visit: decline\n');
    expect(visit.stderr).toContain('It wanted you to open https://example.com/connect');
  });
});

describe('on a terminal', () => {
  it('asks a 2026-era form field by field, re-asks a bad answer, and sends what was typed', async () => {
    const terminal = runInTerminal(['call', 'asking', 'deploy'], sandbox.env, sandbox.project);
    await terminal.waitFor(/Environment \(1\) Staging {2}2\) Production\) \[Staging\]: $/m);
    terminal.type('2');
    await terminal.waitFor(/Replicas \(whole number; 1–9\) \[2\]: $/m);
    terminal.type('12');
    await terminal.waitFor(/It must be at most 9\.\s+Replicas/);
    terminal.type('5');
    await terminal.waitFor(/Notify the team \(y\/n\) \[y\]: $/m);
    terminal.type('');
    await terminal.waitFor(/Send these answers\? \[Y\/n\] $/m);
    terminal.type('y');
    expect(await terminal.exited, terminal.screen()).toBe(0);
    expect(terminal.screen()).toContain('deploy: accept {"environment":"prd","replicas":5,"notify":true}');
  });

  it("answers server-everything's 2025-era elicitation request, defaults and all", async () => {
    await sandbox.run(['add', 'ev', '--', process.execPath, EVERYTHING_SCRIPT, 'stdio']);
    const terminal = runInTerminal(
      ['call', 'ev', 'trigger-elicitation-request', '--timeout', '20'],
      sandbox.env,
      sandbox.project,
    );
    await terminal.waitFor(/^String: $/m, 20_000);
    terminal.type('Ada Lovelace');
    await terminal.waitFor(/Boolean \(y\/n\) \(optional\): $/m);
    terminal.type('y');
    // Every other field: Enter, which takes its default or leaves it out.
    for (let field = 0; field < 11; field++) {
      await terminal.waitFor(/: $/m);
      terminal.type('');
    }
    await terminal.waitFor(/Send these answers\? \[Y\/n\] $/m);
    terminal.type('');
    expect(await terminal.exited, terminal.screen()).toBe(0);
    const screen = terminal.screen();
    expect(screen).toContain('- Name: Ada Lovelace');
    expect(screen).toMatch(/"untitledMultipleSelectEnum": \[\s+"Guitar"\s+\]/);
    expect(screen).toContain('"titledSingleSelectEnum": "hero-1"');
  });
});

describe('server-everything over stdio (2025 era)', () => {
  it('declines elicitation without a terminal, declines sampling, and lists roots only with --roots', async () => {
    await sandbox.run(['add', 'ev', '--', process.execPath, EVERYTHING_SCRIPT, 'stdio']);
    const elicit = await sandbox.run(['call', 'ev', 'trigger-elicitation-request', '--timeout', '20']);
    expect(elicit.code, elicit.stderr).toBe(0);
    expect(elicit.stdout).toContain('"action": "decline"');
    expect(elicit.stderr).toMatch(/declined \(no terminal to ask on\)/);
    const sampling = await sandbox.run([
      'call',
      'ev',
      'trigger-sampling-request',
      'prompt=hi',
      '--timeout',
      '20',
    ]);
    expect(sampling.code).toBe(1);
    expect(sampling.stderr).toMatch(/declined: patchbay runs none/);
    const withRoots = await sandbox.run(['call', 'ev', 'get-roots-list', '--roots', '--timeout', '20']);
    expect(withRoots.code, withRoots.stderr).toBe(0);
    expect(withRoots.stdout).toContain(`file://${sandbox.project}`);
    const tools = JSON.parse(
      (await sandbox.run(['tools', 'ev', '--json', '--timeout', '20'])).stdout,
    ) as Array<{
      name: string;
    }>;
    // Without --roots the client declares no roots capability: the server offers no roots tool.
    expect(tools.some((tool) => tool.name === 'get-roots-list')).toBe(false);
  });
});
