/**
 * OpenTelemetry trace export on the built binary (the bundle's lazily loaded SDK): a team gateway
 * whose deployment file sets `"telemetry": { "otlp": … }` sends a call's span to a loopback OTLP
 * receiver when it stops, naming the API key's member by subject only.
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import { startOtlpReceiver, type OtlpReceiver } from '../fixtures/otlp-receiver.js';
import { startGateway } from '../helpers/gateway.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

const TRACE_ID = '5bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '10f067aa0ba902b7';

let sandbox: Sandbox;
let everything: EverythingServer;
let receiver: OtlpReceiver;

beforeAll(async () => {
  [sandbox, everything, receiver] = await Promise.all([
    createSandbox(),
    startEverything('streamableHttp'),
    startOtlpReceiver(),
  ]);
}, 30_000);

afterAll(async () => {
  await everything?.close();
  await receiver?.close();
  await sandbox?.cleanup();
});

it("a team gateway exports a span per call to the deployment file's collector, flushed on SIGTERM", async () => {
  expect((await sandbox.run(['add', 'ev', everything.url])).code).toBe(0);
  const created = await sandbox.run([
    'keys',
    'create',
    'alice-laptop',
    '--member',
    'alice-sub',
    '--email',
    'alice@example.com',
  ]);
  expect(created.code, created.stderr).toBe(0);
  const key = created.stdout.trim();
  const config = join(sandbox.root, 'team.json');
  await writeFile(config, JSON.stringify({ auth: { apiKeys: true }, telemetry: { otlp: receiver.url } }));
  const gateway = await startGateway(sandbox, ['--config', config]);
  try {
    const client = new Client(
      { name: 'otel-e2e', version: '1.0.0' },
      { versionNegotiation: { mode: 'legacy' } },
    );
    await client.connect(
      new StreamableHTTPClientTransport(new URL(gateway.url), {
        requestInit: {
          headers: { Authorization: `Bearer ${key}`, traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` },
        },
      }),
    );
    const result = await client.callTool({ name: 'ev__echo', arguments: { message: 'e2e' } });
    expect(result.isError, JSON.stringify(result)).toBeFalsy();
    await client.close();
  } finally {
    await gateway.stop();
  }
  expect(gateway.stderr()).not.toContain('OpenTelemetry');
  expect(receiver.spans).toHaveLength(1);
  const [span] = receiver.spans;
  expect(span).toMatchObject({ traceId: TRACE_ID, parentSpanId: PARENT_ID, name: 'tools/call echo' });
  expect(span!.resource['service.name']).toBe('patchbay-gateway');
  expect(span!.attributes).toMatchObject({
    'patchbay.member.subject': 'alice-sub',
    'patchbay.auth': 'api-key',
    'patchbay.outcome': 'ok',
  });
  const text = JSON.stringify(span);
  for (const hidden of ['alice@example.com', 'alice-laptop', key, 'e2e"']) expect(text).not.toContain(hidden);
}, 60_000);
