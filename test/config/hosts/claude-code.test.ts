import { describe, expect, it } from 'vitest';
import { entryFromRaw } from '../../../src/config/entry.js';
import { claudeCode } from '../../../src/config/hosts/claude-code.js';
import { parseJsonSource } from '../../../src/core/json-source.js';
import { convertFixture, plain } from './helpers.js';

describe('Claude Code converter', () => {
  it('takes user entries verbatim: the format is patchbay’s own', async () => {
    const converted = await convertFixture(claudeCode, 'claude-code/claude.json');
    expect(Object.keys(converted)).toEqual(['sentry', 'linear', 'github', 'context7', 'postgres']);
    expect(plain(converted.github)).toEqual({
      raw: {
        type: 'http',
        url: 'https://api.githubcopilot.com/mcp/',
        headers: { Authorization: 'Bearer ${GITHUB_PAT}' },
      },
      notes: [],
    });
    expect(plain(converted.linear)).toMatchObject({
      raw: { type: 'sse', url: 'https://mcp.linear.app/sse' },
    });
  });

  it('reads the local entries of the project from projects[<path>].mcpServers', async () => {
    const converted = await convertFixture(claudeCode, 'claude-code/claude.json', {
      serversPath: ['projects', '/home/dev/src/shop', 'mcpServers'],
      replace: { __PROJECT__: '/home/dev/src/shop' },
      scope: 'local',
    });
    expect(Object.keys(converted)).toEqual(['postgres', 'internal-api']);
    expect(plain(converted['internal-api'])).toMatchObject({
      raw: { timeout: 20000, headers: { 'X-Api-Key': 'sk-live-4f9a8b7c6d5e' } },
    });
  });

  it('refuses an entry patchbay could not use, with file:line:col', () => {
    const text = '{\n  "mcpServers": {\n    "bad": { "type": "websocket", "url": "wss://x" }\n  }\n}\n';
    const parsed = parseJsonSource(text, { fileLabel: '/home/dev/.claude.json' });
    const servers = (parsed.value as { mcpServers: Record<string, unknown> }).mcpServers;
    const conversion = claudeCode.toPatchbay(servers.bad as never, 'bad', {
      env: {},
      platform: 'linux',
      projectRoot: '/p',
      cwd: '/p',
      targetScope: 'local',
      location: { scope: 'user', path: '/home/dev/.claude.json', serversPath: ['mcpServers'] },
      root: parsed.value,
      positionOf: parsed.positionOf,
    });
    expect(conversion).toEqual({
      reason: expect.stringMatching(
        /^\/home\/dev\/\.claude\.json:3:\d+: mcpServers\.bad\.type: expected "http", "sse" or "stdio"/,
      ),
    });
  });

  it('exports the raw entry unchanged, unknown keys included', () => {
    const raw = {
      type: 'http',
      url: 'https://x.example/mcp',
      headersHelper: 'get-token',
      alwaysAllow: ['read'],
    };
    const { entry } = entryFromRaw(raw);
    expect(plain(claudeCode.fromPatchbay(entry!, raw, { platform: 'linux' }))).toEqual({ raw, notes: [] });
  });
});
