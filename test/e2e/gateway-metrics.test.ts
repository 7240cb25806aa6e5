/**
 * `/metrics` on the built binary: a team gateway (`serve --config`, API keys) serves it to any
 * credential it accepts and to nobody else, with its state store's latency; `--metrics-public`
 * (and a deployment's `"metrics": "public"`) serve it without one, `/mcp` staying protected.
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

let sandbox: Sandbox;
const running: RunningGateway[] = [];

beforeAll(async () => {
  sandbox = await createSandbox();
}, 30_000);

afterAll(async () => {
  for (const gateway of running) await gateway.stop();
  await sandbox?.cleanup();
});

async function scrape(gateway: RunningGateway, bearer?: string): Promise<Response> {
  return fetch(
    new URL('/metrics', gateway.url),
    bearer ? { headers: { Authorization: `Bearer ${bearer}` } } : {},
  );
}

async function mcpStatus(gateway: RunningGateway): Promise<number> {
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
  });
  await response.body?.cancel();
  return response.status;
}

describe('gateway /metrics', () => {
  it('on a team gateway: any accepted credential (an API key) may read it, nobody else', async () => {
    const created = await sandbox.run(['keys', 'create', 'scraper', '--service']);
    expect(created.code, created.stderr).toBe(0);
    const key = created.stdout.trim();
    const config = join(sandbox.root, 'team.json');
    await writeFile(config, '{ "auth": { "apiKeys": true } }\n');
    const gateway = await startGateway(sandbox, ['--config', config]);
    running.push(gateway);
    expect((await scrape(gateway)).status).toBe(401);
    expect((await scrape(gateway, 'pbk_not-a-key')).status).toBe(401);
    const response = await scrape(gateway, key);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/^patchbay_requests_refused_total\{reason="unauthenticated"\} 1$/m);
    // Reading the key went through the state store, timed.
    expect(text).toMatch(/^patchbay_state_store_seconds_count\{op="\w+"\} [1-9]/m);
    expect(text).toMatch(/^patchbay_sessions 0$/m);
  }, 60_000);

  it('with --metrics-public or "metrics": "public": served without a credential, /mcp still protected', async () => {
    const flag = await startGateway(sandbox, ['--metrics-public']);
    running.push(flag);
    const config = join(sandbox.root, 'public.json');
    await writeFile(config, '{ "metrics": "public" }\n');
    const file = await startGateway(sandbox, ['--config', config]);
    running.push(file);
    for (const gateway of [flag, file]) {
      const response = await scrape(gateway);
      expect(response.status).toBe(200);
      expect(await response.text()).toContain('# TYPE patchbay_calls_total counter');
      expect(await mcpStatus(gateway)).toBe(401);
    }
  }, 60_000);
});
