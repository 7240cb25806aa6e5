/**
 * A config reload while hosts are calling: `patchbay serve --http` in front of two demo servers,
 * one of which is removed, added back and renamed while hosts of both eras (a 2025-era session
 * and 2026-07-28 per-request calls) keep calling its tools. Every answer must be a result or an
 * error whose text is one the gateway means to give — never a fault's text leaking through.
 */

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
let stable: DemoServer;
let flux: DemoServer;
let gateway: RunningGateway;

beforeAll(async () => {
  sandbox = await createSandbox();
  [stable, flux] = await Promise.all([startDemoServer(), startDemoServer()]);
  await sandbox.run(['add', 'stable', stable.url]);
  await sandbox.run(['add', 'flux', flux.url]);
  gateway = await startGateway(sandbox);
}, 30_000);

afterAll(async () => {
  await gateway?.stop();
  await Promise.all([stable?.close(), flux?.close()]);
  await sandbox?.cleanup();
});

/** Run a config command and wait until the gateway has applied it. */
async function change(args: string[]): Promise<void> {
  await gateway.applied(
    async () => {
      const run = await sandbox.run(args);
      expect(run.code, run.stderr).toBe(0);
    },
    `patchbay ${args.join(' ')}`,
  );
}

async function host(era: 'legacy' | 'auto'): Promise<Client> {
  const client = new Client({ name: `${era}-host`, version: '1.0.0' }, { versionNegotiation: { mode: era } });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gateway.url), {
      requestInit: { headers: { Authorization: `Bearer ${gateway.token}` } },
    }),
  );
  return client;
}

/**
 * What a call's answer says, or why it is not acceptable. The gateway's known answers: the result,
 * "Unknown tool" (a JSON-RPC error), or a tool error saying the server could not be reached or
 * was removed while the call was on its way.
 */
async function answer(client: Client, name: string): Promise<string> {
  try {
    const result = await client.callTool({ name, arguments: { text: 'hi' } }, { timeout: 30_000 });
    const text = JSON.stringify(result.content);
    if (!result.isError) return text.includes('hi') ? 'result' : `odd result ${text}`;
    return /patchbay could not reach flux2?: /.test(text) ? 'unreachable' : `odd tool error ${text}`;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return new RegExp(`Unknown tool: ${name}$`).test(message) ? 'unknown' : `odd error ${message}`;
  }
}

describe('a reload while hosts call', () => {
  it('answers a removed or renamed tool as unknown, in both eras', async () => {
    const hosts = { legacy: await host('legacy'), modern: await host('auto') };
    try {
      for (const client of Object.values(hosts)) {
        const names = (await client.listTools()).tools.map((tool) => tool.name);
        expect(names).toEqual(expect.arrayContaining(['stable__echo', 'flux__echo']));
      }
      await change(['remove', 'flux']);
      for (const [era, client] of Object.entries(hosts)) {
        // The host still has the old listing: the name is stale, and said to be unknown.
        expect(await answer(client, 'flux__echo'), era).toBe('unknown');
        expect(await answer(client, 'stable__echo'), era).toBe('result');
      }
      await change(['add', 'flux2', flux.url]);
      for (const [era, client] of Object.entries(hosts)) {
        expect(await answer(client, 'flux__echo'), era).toBe('unknown');
        expect(await answer(client, 'flux2__echo'), era).toBe('result');
      }
      await change(['remove', 'flux2']);
      await change(['add', 'flux', flux.url]);
      for (const [era, client] of Object.entries(hosts))
        expect(await answer(client, 'flux__echo'), era).toBe('result');
    } finally {
      await Promise.all(Object.values(hosts).map((client) => client.close()));
    }
  }, 60_000);

  it('gives every call of a storm during repeated reloads a result or a known error', async () => {
    const hosts = [await host('legacy'), await host('auto'), await host('legacy'), await host('auto')];
    const answers: Array<{ name: string; said: string }> = [];
    const names = ['flux__echo', 'flux2__echo', 'stable__echo'];
    let editing = true;
    const MAX_CALLS = 600;
    // Each host keeps a few calls in flight until the edits are over (bounded in total).
    const caller = async (client: Client, lane: number) => {
      for (let i = lane; editing && answers.length < MAX_CALLS; i++) {
        const name = names[i % names.length]!;
        answers.push({ name, said: await answer(client, name) });
      }
    };
    const storm = Promise.all(hosts.flatMap((client) => [0, 1, 2].map((lane) => caller(client, lane))));
    try {
      for (const edit of [
        ['remove', 'flux'],
        ['add', 'flux', flux.url],
        ['remove', 'flux'],
        ['add', 'flux2', flux.url],
        ['remove', 'flux2'],
        ['add', 'flux', flux.url],
      ])
        await change(edit);
    } finally {
      editing = false;
      await storm;
      await Promise.all(hosts.map((client) => client.close()));
    }
    const odd = answers.filter(({ said }) => !['result', 'unknown', 'unreachable'].includes(said));
    expect(odd).toEqual([]);
    expect(answers.length).toBeGreaterThan(names.length * hosts.length);
    expect(answers.some(({ said }) => said === 'unknown')).toBe(true);
    expect(answers.some(({ said }) => said === 'result')).toBe(true);
    expect(gateway.stderr()).not.toMatch(/inside patchbay/);
  }, 120_000);
});
