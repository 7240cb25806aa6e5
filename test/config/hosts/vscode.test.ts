import { describe, expect, it } from 'vitest';
import { entryFromRaw } from '../../../src/config/entry.js';
import { vscode } from '../../../src/config/hosts/vscode.js';
import { convertFixture, plain } from './helpers.js';

function exported(raw: Record<string, unknown>) {
  const { entry } = entryFromRaw(raw as never);
  return plain(vscode.fromPatchbay(entry!, raw as never, { platform: 'linux' }));
}

describe('VS Code converter: import', () => {
  it('reads `servers` from the tab-indented JSONC user file', async () => {
    const converted = await convertFixture(vscode, 'vscode/user-mcp.json');
    expect(Object.keys(converted)).toEqual(['github', 'perplexity', 'fetch', 'microsoft-docs']);
    expect(plain(converted.github)).toEqual({
      raw: { type: 'http', url: 'https://api.githubcopilot.com/mcp/' },
      notes: [],
    });
    expect(plain(converted.fetch)).toEqual({
      raw: { type: 'stdio', command: 'uvx', args: ['mcp-server-fetch'] },
      notes: [],
    });
    expect(plain(converted['microsoft-docs'])).toMatchObject({
      notes: [expect.stringContaining('ignored "gallery"')],
    });
  });

  it('turns ${input:id} into an environment variable and says which to set', async () => {
    const converted = await convertFixture(vscode, 'vscode/user-mcp.json');
    expect(plain(converted.perplexity)).toEqual({
      raw: {
        type: 'stdio',
        command: 'npx',
        args: ['-y', 'server-perplexity-ask'],
        env: { PERPLEXITY_API_KEY: '${PERPLEXITY_KEY}' },
      },
      notes: [
        'set PERPLEXITY_KEY in your environment: it replaces ${input:perplexity-key}, which VS Code prompted for ("Perplexity API Key")',
      ],
    });
  });

  it('handles the workspace file: workspaceFolder, cwd, envFile, dev, unknown variables', async () => {
    const converted = await convertFixture(vscode, 'vscode/workspace-mcp.json', { scope: 'project' });
    expect(plain(converted['github-local'])).toMatchObject({
      raw: { env: { GITHUB_PERSONAL_ACCESS_TOKEN: '${GITHUB_TOKEN}' } },
      notes: [expect.stringContaining('set GITHUB_TOKEN in your environment')],
    });
    expect(plain(converted.playwright)).toMatchObject({
      raw: {
        type: 'stdio',
        args: ['@playwright/mcp@latest', '--config', '/home/dev/src/shop/playwright-mcp.json'],
      },
    });
    expect(plain(converted.db)).toEqual({
      raw: { type: 'stdio', command: 'uv', args: ['run', 'db-mcp'] },
      notes: [expect.stringMatching(/^"cwd" "\$\{workspaceFolder\}\/tools" was not imported/)],
    });
    expect(converted.secrets).toEqual({ reason: expect.stringContaining('envFile') });
    expect(plain(converted.docs)).toEqual({
      raw: {
        type: 'sse',
        url: 'http://localhost:8931/sse',
        headers: { Authorization: 'Bearer ${DOCS_TOKEN}' },
      },
      notes: [expect.stringContaining('ignored "dev"')],
    });
    expect(converted['task-runner']).toEqual({
      reason: expect.stringContaining('${config:taskRunner.path}'),
    });
  });

  it('refuses an unknown type and reports bad values with file:line:col', async () => {
    const converted = await convertFixture(vscode, 'vscode/user-mcp.json', {
      replace: {
        '"type": "http",\n\t\t\t"url": "https://api.githubcopilot.com/mcp/"':
          '"type": "websocket", "url": "x"',
        '"args": ["mcp-server-fetch"]': '"args": ["mcp-server-fetch", 3]',
      },
    });
    expect(converted.github).toEqual({ reason: expect.stringContaining('type "websocket"') });
    expect(converted.fetch).toEqual({
      reason: expect.stringMatching(
        /^vscode\/user-mcp\.json:\d+:\d+: servers\.fetch\.args\.1: expected a string/,
      ),
    });
  });
});

describe('VS Code converter: export', () => {
  it('always writes the type', () => {
    expect(exported({ type: 'stdio', command: 'node', args: [], env: {} })).toEqual({
      raw: { type: 'stdio', command: 'node' },
      notes: [],
    });
    expect(
      exported({ type: 'sse', url: 'https://x.example/sse', headers: { 'X-Key': '${KEY:-dev}' } }),
    ).toEqual({
      raw: { type: 'sse', url: 'https://x.example/sse', headers: { 'X-Key': '${env:KEY}' } },
      notes: [expect.stringContaining('default of ${KEY} was dropped (VS Code has no defaults)')],
    });
  });
});
