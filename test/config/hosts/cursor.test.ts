import { describe, expect, it } from 'vitest';
import { entryFromRaw } from '../../../src/config/entry.js';
import { cursor } from '../../../src/config/hosts/cursor.js';
import { convertFixture, plain } from './helpers.js';

function exported(raw: Record<string, unknown>) {
  const { entry } = entryFromRaw(raw as never);
  return plain(cursor.fromPatchbay(entry!, raw as never, { platform: 'linux' }));
}

describe('Cursor converter: import', () => {
  it('reads the JSONC user file and converts ${env:NAME}', async () => {
    const converted = await convertFixture(cursor, 'cursor/user-mcp.json');
    expect(plain(converted.github)).toEqual({
      raw: {
        type: 'http',
        url: 'https://api.githubcopilot.com/mcp/',
        headers: { Authorization: 'Bearer ${GITHUB_PERSONAL_ACCESS_TOKEN}' },
      },
      notes: [],
    });
    expect(plain(converted.context7)).toEqual({
      raw: {
        type: 'stdio',
        command: 'npx',
        args: ['-y', '@upstash/context7-mcp', '--api-key', '${CONTEXT7_API_KEY}'],
      },
      notes: [],
    });
    expect(plain(converted.linear)).toMatchObject({
      raw: { type: 'sse', url: 'https://mcp.linear.app/sse' },
    });
    expect(plain(converted.figma)).toMatchObject({ raw: { type: 'http', url: 'http://127.0.0.1:3845/mcp' } });
  });

  it('converts ${userHome} and ${pathSeparator} faithfully', async () => {
    const converted = await convertFixture(cursor, 'cursor/user-mcp.json');
    expect(plain(converted.notes)).toEqual({
      raw: {
        type: 'stdio',
        command: 'node',
        args: ['${HOME}/mcp/notes-server/dist/index.js'],
        env: { NOTES_DIR: '${HOME}/notes' },
      },
      notes: ['${userHome} became ${HOME}'],
    });
  });

  it('skips envFile entries and drops a static OAuth client with a note', async () => {
    const converted = await convertFixture(cursor, 'cursor/user-mcp.json');
    expect(converted.vault).toEqual({ reason: expect.stringMatching(/envFile .*put them in "env"/) });
    expect(plain(converted.atlassian)).toEqual({
      raw: { type: 'http', url: 'https://mcp.atlassian.com/v1/sse' },
      notes: [
        expect.stringMatching(/"auth" \(Cursor's OAuth client\) was not imported.*patchbay login atlassian/),
      ],
    });
  });

  it('pins ${workspaceFolder} into the local scope only', async () => {
    const local = await convertFixture(cursor, 'cursor/project-mcp.json', { scope: 'project' });
    expect(plain(local['repo-tools'])).toEqual({
      raw: {
        type: 'stdio',
        command: 'node',
        args: ['/home/dev/src/shop/tools/mcp/server.js'],
        env: { REPO_NAME: 'shop', LOG_LEVEL: 'info' },
      },
      notes: [
        '${workspaceFolder} became /home/dev/src/shop (this project)',
        '${workspaceFolderBasename} became shop (this project)',
      ],
    });
    const user = await convertFixture(cursor, 'cursor/project-mcp.json', {
      scope: 'project',
      targetScope: 'user',
    });
    expect(user['repo-tools']).toEqual({ reason: expect.stringContaining('${workspaceFolder}') });
  });
});

describe('Cursor converter: export', () => {
  it('writes stdio as command/args/env with ${env:NAME}', () => {
    expect(
      exported({
        type: 'stdio',
        command: 'npx',
        args: ['-y', 'pkg', '--key', '${KEY}'],
        env: { TOKEN: '${TOKEN}' },
      }),
    ).toEqual({
      raw: { command: 'npx', args: ['-y', 'pkg', '--key', '${env:KEY}'], env: { TOKEN: '${env:TOKEN}' } },
      notes: [],
    });
  });

  it('writes http as url/headers and names only sse', () => {
    expect(
      exported({ type: 'http', url: 'https://x.example/mcp', headers: { Authorization: 'Bearer ${T}' } }),
    ).toEqual({
      raw: { url: 'https://x.example/mcp', headers: { Authorization: 'Bearer ${env:T}' } },
      notes: [],
    });
    expect(exported({ type: 'sse', url: 'https://x.example/sse' })).toEqual({
      raw: { type: 'sse', url: 'https://x.example/sse' },
      notes: [],
    });
  });

  it('notes what Cursor has no place for, and refuses headersHelper', () => {
    expect(
      exported({
        type: 'http',
        url: 'https://${HOST:-mcp.example.com}/mcp',
        oauth: { clientId: 'abc', callbackPort: 8080 },
        timeout: 9000,
      }),
    ).toEqual({
      raw: { url: 'https://${env:HOST}/mcp' },
      notes: [
        expect.stringContaining('oauth settings were not exported'),
        expect.stringContaining('timeout 9000 ms'),
        expect.stringContaining('default of ${HOST} was dropped'),
      ],
    });
    expect(
      exported({
        type: 'http',
        url: 'https://x.example/mcp',
        headersHelper: 'vault read -field=token secret/mcp',
      }),
    ).toEqual({
      reason: expect.stringContaining('headersHelper'),
    });
  });
});
