/** The administrator's lists (Claude Code's managed format): matching, precedence, failing closed. */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ServerEntry } from '../../src/config/entry.js';
import { managedBlock, readManagedPolicy, type ManagedPolicy } from '../../src/config/managed.js';

const http = (url: string): ServerEntry => ({ transport: 'http', url });
const stdio = (command: string, ...args: string[]): ServerEntry => ({ transport: 'stdio', command, args });

describe('managedBlock', () => {
  const policy = (lists: Partial<ManagedPolicy>): ManagedPolicy => ({
    path: '/etc/patchbay/managed.json',
    denied: [],
    ...lists,
  });

  it.each([
    ['no file, nothing blocked', undefined, 'gh', http('https://x.example/mcp'), false],
    ['denied by name', policy({ denied: [{ serverName: 'gh' }] }), 'gh', http('https://x.example/mcp'), true],
    ['another name', policy({ denied: [{ serverName: 'gh' }] }), 'gl', http('https://x.example/mcp'), false],
    [
      'denied by URL wildcard',
      policy({ denied: [{ serverUrl: 'https://*.evil.example/*' }] }),
      'a',
      http('https://mcp.evil.example/v1'),
      true,
    ],
    [
      'a wildcard is anchored',
      policy({ denied: [{ serverUrl: 'https://*.evil.example/*' }] }),
      'a',
      http('https://evil.example.com/x'),
      false,
    ],
    [
      'dots are literal',
      policy({ denied: [{ serverUrl: 'https://a.b/*' }] }),
      'a',
      http('https://axb/c'),
      false,
    ],
    [
      'denied by exact command',
      policy({ denied: [{ serverCommand: ['npx', '-y', 'bad'] }] }),
      'a',
      stdio('npx', '-y', 'bad'),
      true,
    ],
    [
      'a command with other arguments',
      policy({ denied: [{ serverCommand: ['npx', '-y', 'bad'] }] }),
      'a',
      stdio('npx', '-y', 'bad', '--x'),
      false,
    ],
    ['allow list: listed', policy({ allowed: [{ serverName: 'gh' }] }), 'gh', http('https://x/'), false],
    [
      'allow list: not listed',
      policy({ allowed: [{ serverName: 'gh' }] }),
      'other',
      http('https://x/'),
      true,
    ],
    ['an empty allow list allows nothing', policy({ allowed: [] }), 'gh', http('https://x/'), true],
    [
      'deny wins over allow',
      policy({ allowed: [{ serverName: 'gh' }], denied: [{ serverUrl: '*' }] }),
      'gh',
      http('https://x/'),
      true,
    ],
  ] as const)('%s', (_case, managed, name, entry, blocked) => {
    expect(managedBlock(managed, name, entry) !== undefined).toBe(blocked);
  });

  it('names the file and the rule', () => {
    const reason = managedBlock(
      policy({ denied: [{ serverUrl: 'https://*.evil.example/*' }] }),
      'a',
      http('https://m.evil.example/'),
    );
    expect(reason).toBe(
      `denied by the administrator's policy (/etc/patchbay/managed.json: deniedMcpServers serverUrl "https://*.evil.example/*")`,
    );
  });
});

describe('readManagedPolicy', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'patchbay-managed-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads both lists, and is absent when there is no file', async () => {
    const path = join(dir, 'ok.json');
    await writeFile(
      path,
      JSON.stringify({
        allowedMcpServers: [{ serverName: 'gh' }],
        deniedMcpServers: [{ serverCommand: ['x'] }],
        mcpServers: {},
      }),
    );
    expect(await readManagedPolicy({ PATCHBAY_MANAGED_POLICY: path })).toEqual({
      path,
      allowed: [{ serverName: 'gh' }],
      denied: [{ serverCommand: ['x'] }],
    });
    expect(await readManagedPolicy({ PATCHBAY_MANAGED_POLICY: join(dir, 'missing.json') })).toBeUndefined();
  });

  it.each([
    ['not JSON', '{ "deniedMcpServers": ['],
    ['a list that is not an array', '{ "deniedMcpServers": {} }'],
    ['an entry of no known kind', '{ "allowedMcpServers": [{ "serverHost": "x" }] }'],
  ])('a file that cannot be used blocks every server: %s', async (_case, text) => {
    const path = join(dir, `bad-${_case.length}.json`);
    await writeFile(path, text);
    const managed = await readManagedPolicy({ PATCHBAY_MANAGED_POLICY: path });
    expect(managed?.error).toBeDefined();
    expect(managedBlock(managed, 'anything', http('https://x/'))).toContain('cannot be used');
  });
});
