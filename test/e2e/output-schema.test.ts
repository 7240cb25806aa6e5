/**
 * A tool's structured result is checked against its output schema by the SDK's JSON Schema
 * validator (ajv). The bundle loads that validator only when a first schema is checked
 * (scripts/bundle-cli.mjs), so that checks do not pay for it: a call must still be checked.
 */

import { Server } from '@modelcontextprotocol/server';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { startModernServer, type LoopbackServer } from '../fixtures/modern-servers.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

/** Two tools with one output schema: `good` returns what it declares, `bad` does not. */
function createSchemaServer(): Server {
  const server = new Server({ name: 'schemas', version: '1.0.0' }, { capabilities: { tools: {} } });
  const outputSchema = {
    type: 'object' as const,
    properties: { celsius: { type: 'number' as const } },
    required: ['celsius'],
  };
  server.setRequestHandler('tools/list', () => ({
    tools: ['good', 'bad'].map((name) => ({ name, inputSchema: { type: 'object' as const }, outputSchema })),
  }));
  server.setRequestHandler('tools/call', (request) => {
    const structuredContent = request.params.name === 'good' ? { celsius: 21 } : { celsius: 'warm' };
    return {
      content: [{ type: 'text' as const, text: JSON.stringify(structuredContent) }],
      structuredContent,
    };
  });
  return server;
}

let sandbox: Sandbox;
let mcp: LoopbackServer;
beforeAll(async () => {
  sandbox = await createSandbox();
  mcp = await startModernServer(() => createSchemaServer());
  expect((await sandbox.run(['add', 'schemas', mcp.url])).code).toBe(0);
});
afterAll(async () => {
  await mcp.close();
  await sandbox.cleanup();
});

it('a structured result that matches the output schema is printed', async () => {
  const result = await sandbox.run(['call', 'schemas', 'good', '--json']);
  expect(result.code, result.stderr).toBe(0);
  expect(JSON.parse(result.stdout)).toMatchObject({ structuredContent: { celsius: 21 } });
});

it('a structured result that breaks the output schema is refused', async () => {
  const result = await sandbox.run(['call', 'schemas', 'bad', '--json']);
  expect(result.code).not.toBe(0);
  expect(result.stdout).not.toContain('warm');
  expect(result.stderr).toMatch(/celsius/);
});
