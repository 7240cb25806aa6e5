import { Client } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';

import { rawChannelOf } from '../../src/connect/raw-channel.js';
import { StdioProcessTransport } from '../../src/connect/stdio-transport.js';
import { EVERYTHING_SCRIPT } from '../fixtures/everything.js';

type Message = Record<string, unknown>;

describe('rawChannelOf: a stdio session relayed as raw JSON-RPC beside the SDK client', () => {
  let client: Client | undefined;
  afterEach(async () => {
    await client?.close();
    client = undefined;
  });

  async function connected() {
    client = new Client({ name: 'raw-channel-test', version: '1.0.0' });
    const transport = new StdioProcessTransport({
      command: process.execPath,
      args: [EVERYTHING_SCRIPT, 'stdio'],
    });
    await client.connect(transport, { timeout: 15_000 });
    return { client, channel: rawChannelOf(transport), again: rawChannelOf(transport) };
  }

  it('routes the response and the progress of a relayed request to the relay, and the rest to the client', async () => {
    const { client, channel, again } = await connected();
    expect(again).toBe(channel);
    const seen: Message[] = [];
    let answered!: (message: Message) => void;
    const response = new Promise<Message>((resolve) => (answered = resolve));
    const sdkProgress: unknown[] = [];
    // The SDK client's own call, with its own progress, at the same time as the relayed one.
    const sdkCall = client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 0.2, steps: 2 } },
      { onprogress: (progress) => sdkProgress.push(progress) },
    );
    await channel.send(
      {
        jsonrpc: '2.0',
        id: 'pb-hot-1',
        method: 'tools/call',
        params: {
          name: 'trigger-long-running-operation',
          arguments: { duration: 0.2, steps: 2 },
          _meta: { progressToken: 'pb-progress-1' },
        },
      },
      (message) => {
        seen.push(message);
        if ('result' in message || 'error' in message) answered(message);
      },
    );
    const relayed = await response;
    expect(relayed.id).toBe('pb-hot-1');
    expect(JSON.stringify(relayed.result)).toContain('completed');
    const progress = seen.filter((message) => message.method === 'notifications/progress');
    expect(progress.length).toBe(2);
    expect(progress.every((message) => (message.params as Message).progressToken === 'pb-progress-1')).toBe(
      true,
    );
    const sdkResult = await sdkCall;
    expect(JSON.stringify(sdkResult)).toContain('completed');
    // The SDK client hears its own progress (it may drop one that arrives with the result).
    expect(sdkProgress.length).toBeGreaterThan(0);
  });

  it('drops a released request: its late response never reaches the relay nor the client as its own', async () => {
    const { client, channel } = await connected();
    const seen: Message[] = [];
    await channel.send(
      {
        jsonrpc: '2.0',
        id: 'pb-hot-2',
        method: 'tools/call',
        params: { name: 'echo', arguments: { message: 'x' } },
      },
      (message) => seen.push(message),
    );
    channel.release('pb-hot-2');
    // The client keeps working afterwards (the unclaimed response went to it and was ignored).
    const result = await client.callTool({ name: 'echo', arguments: { message: 'after' } });
    expect(JSON.stringify(result)).toContain('Echo: after');
    expect(seen.length).toBeLessThanOrEqual(1);
  });
});
