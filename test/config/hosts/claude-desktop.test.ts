import { describe, expect, it } from 'vitest';
import { entryFromRaw } from '../../../src/config/entry.js';
import { claudeDesktop } from '../../../src/config/hosts/claude-desktop.js';
import { convertFixture, plain } from './helpers.js';

function exported(raw: Record<string, unknown>) {
  const { entry } = entryFromRaw(raw as never);
  return plain(claudeDesktop.fromPatchbay(entry!, raw as never, { platform: 'darwin' }));
}

describe('Claude Desktop converter', () => {
  it('imports local commands as stdio entries', async () => {
    const converted = await convertFixture(claudeDesktop, 'claude-desktop/claude_desktop_config.json');
    expect(plain(converted.filesystem)).toEqual({
      raw: {
        type: 'stdio',
        command: 'npx',
        args: ['-y', '@modelcontextprotocol/server-filesystem', '/Users/dev/Desktop', '/Users/dev/Downloads'],
      },
      notes: [],
    });
    expect(plain(converted.github)).toMatchObject({
      raw: { env: { GITHUB_PERSONAL_ACCESS_TOKEN: 'ghp_1234567890abcdefghijklmnopqrstuvwxyz' } },
    });
  });

  it('says that Claude Desktop passed ${VAR} literally while patchbay expands it', async () => {
    const converted = await convertFixture(claudeDesktop, 'claude-desktop/claude_desktop_config.json');
    expect(plain(converted['brave-search'])).toMatchObject({
      raw: { env: { BRAVE_API_KEY: '${BRAVE_API_KEY}' } },
      notes: [expect.stringContaining('literal text; patchbay expands it')],
    });
  });

  it('refuses a remote entry in the file: Claude Desktop does not run it either', async () => {
    const conversion = claudeDesktop.toPatchbay({ url: 'https://x.example/mcp' } as never, 'x', {
      env: {},
      platform: 'darwin',
      projectRoot: '/p',
      cwd: '/p',
      targetScope: 'local',
      location: { scope: 'user', path: 'claude_desktop_config.json', serversPath: ['mcpServers'] },
      root: null,
    });
    expect(conversion).toEqual({ reason: expect.stringContaining('not a local command') });
  });

  it('exports stdio entries as command/args/env', () => {
    expect(
      exported({
        type: 'stdio',
        command: 'uvx',
        args: ['mcp-server-git'],
        env: { GIT_AUTHOR: 'me' },
        timeout: 5000,
      }),
    ).toEqual({
      raw: { command: 'uvx', args: ['mcp-server-git'], env: { GIT_AUTHOR: 'me' } },
      notes: [expect.stringContaining('timeout 5000 ms was not exported')],
    });
  });

  it('refuses remote entries, pointing at custom Connectors', () => {
    expect(exported({ type: 'http', url: 'https://mcp.notion.com/mcp' })).toEqual({
      reason: expect.stringMatching(/takes only local commands.*custom Connector/),
    });
  });

  it('refuses ${VAR} references, which Claude Desktop would pass literally', () => {
    expect(
      exported({ type: 'stdio', command: 'npx', args: ['server'], env: { API_KEY: '${API_KEY}' } }),
    ).toEqual({
      reason: expect.stringContaining('does not expand variables'),
    });
  });
});
