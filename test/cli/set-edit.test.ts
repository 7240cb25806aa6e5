/**
 * `patchbay set` and `patchbay edit`: one setting, or the whole entry in an editor, changed in the
 * scope that holds it, every other key of the entry and of the file kept; a malformed file or an
 * invalid edit leaves the file as it was.
 */

import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { main } from '../../src/cli/main.js';
import { makeSandbox, type Sandbox } from '../config/hosts/helpers.js';

let box: Sandbox;
let userConfig: string;
let projectConfig: string;

beforeEach(async () => {
  box = await makeSandbox();
  userConfig = join(box.configDir, 'config.json');
  projectConfig = join(box.project, '.mcp.json');
});
afterEach(async () => {
  await box.cleanup();
});

async function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const io = box.io();
  io.env = { ...box.env, ...env };
  const code = await main(args, io);
  return { code, stdout: io.out(), stderr: io.err() };
}

/** A user config with a local and a user entry, unknown keys everywhere, indented by 4. */
async function seed(): Promise<void> {
  const user = {
    theme: 'kept',
    projects: {
      [box.project]: {
        mcpServers: {
          api: { type: 'http', url: 'https://api.example.com/mcp', futureKey: { nested: [1, 2] } },
        },
        otherSetting: 'kept',
      },
    },
    mcpServers: {
      api: { type: 'http', url: 'https://user.example.com/mcp', headers: { 'X-Old': 'v' } },
      tool: { command: 'npx', args: ['server'], env: { A: '1' }, extra: true },
    },
  };
  await box.put(userConfig, JSON.stringify(user, null, 4) + '\n');
  await box.put(
    projectConfig,
    JSON.stringify(
      { mcpServers: { team: { type: 'sse', url: 'https://team.example.com/sse', teamKey: 'x' } }, top: 1 },
      null,
      2,
    ) + '\n',
  );
}

const readJson = async (path: string) => JSON.parse(await readFile(path, 'utf8'));

describe('patchbay set', () => {
  beforeEach(seed);

  it('changes each kind of key in the scope in effect, keeping unknown keys and the indentation', async () => {
    for (const [key, value] of [
      ['url', 'https://api2.example.com/mcp'],
      ['transport', 'sse'],
      ['header.X-Api-Key', 'secretVALUE123456789'],
      ['timeout', '45s'],
      ['oauth.client-id', 'my-app'],
      ['oauth.callback-port', '8123'],
      ['oauth.scope', 'read write'],
      ['headers-helper', 'print-headers --json'],
      ['tls.ca-file', 'ca.pem'],
    ]) {
      const result = await run(['set', 'api', key!, value!]);
      expect(result.code, result.stderr).toBe(0);
    }
    const text = await readFile(userConfig, 'utf8');
    expect(text).toContain('\n    "theme"');
    const file = JSON.parse(text);
    // The local entry won, so it is the one changed; the user entry of the same name is untouched.
    expect(file.projects[box.project].mcpServers.api).toEqual({
      type: 'sse',
      url: 'https://api2.example.com/mcp',
      futureKey: { nested: [1, 2] },
      headers: { 'X-Api-Key': 'secretVALUE123456789' },
      timeout: 45_000,
      oauth: { clientId: 'my-app', callbackPort: 8123, scopes: 'read write' },
      headersHelper: 'print-headers --json',
      tls: { caFile: join(box.project, 'ca.pem') },
    });
    expect(file.mcpServers.api).toEqual({
      type: 'http',
      url: 'https://user.example.com/mcp',
      headers: { 'X-Old': 'v' },
    });
    expect(file.theme).toBe('kept');
    expect(file.projects[box.project].otherSetting).toBe('kept');
  });

  it('sets how a login without a browser is made, refusing a grant or method that does not exist', async () => {
    for (const [key, value] of [
      ['oauth.client-id', 'app'],
      ['oauth.grant', 'cross_app_access'],
      ['oauth.client-auth-method', 'client_secret_post'],
      ['oauth.idp-issuer', 'https://idp.example.com'],
      ['oauth.idp-client-id', 'agent'],
      ['oauth.id-token-file', 'id-token'],
    ]) {
      const result = await run(['set', 'api', key!, value!]);
      expect(result.code, result.stderr).toBe(0);
    }
    expect((await readJson(userConfig)).projects[box.project].mcpServers.api.oauth).toEqual({
      clientId: 'app',
      grant: 'cross_app_access',
      clientAuthMethod: 'client_secret_post',
      idpIssuer: 'https://idp.example.com',
      idpClientId: 'agent',
      idTokenFile: join(box.project, 'id-token'),
    });
    const bad = await run(['set', 'api', 'oauth.grant', 'password']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('expected one of authorization_code, client_credentials, cross_app_access');
    const method = await run(['set', 'api', 'oauth.auth-method', 'tls_client_auth']);
    expect(method.code).toBe(2);
  });

  it('prints secrets masked', async () => {
    const result = await run(['set', 'api', 'header.Authorization', 'Bearer secretVALUE123456789']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('Set header.Authorization = Bearer ****');
    expect(result.stderr + result.stdout).not.toContain('secretVALUE123456789');
  });

  it('writes the scope asked for when the name is in several, and says which one wins', async () => {
    const result = await run(['set', '-s', 'user', 'api', 'header.X-New', 'n']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('the local entry of the same name takes precedence');
    const file = await readJson(userConfig);
    expect(file.mcpServers.api.headers).toEqual({ 'X-Old': 'v', 'X-New': 'n' });
    expect(file.projects[box.project].mcpServers.api.headers).toBeUndefined();
  });

  it('changes the project file and env of a stdio server', async () => {
    expect((await run(['set', 'team', 'header.X-Team', '${TEAM_TOKEN}'])).code).toBe(0);
    expect(await readJson(projectConfig)).toEqual({
      mcpServers: {
        team: {
          type: 'sse',
          url: 'https://team.example.com/sse',
          teamKey: 'x',
          headers: { 'X-Team': '${TEAM_TOKEN}' },
        },
      },
      top: 1,
    });
    expect((await run(['set', 'tool', 'env.B', '2'])).code).toBe(0);
    expect((await run(['set', 'tool', 'args', "serve --root '/a b'"])).code).toBe(0);
    expect((await readJson(userConfig)).mcpServers.tool).toEqual({
      command: 'npx',
      args: ['serve', '--root', '/a b'],
      env: { A: '1', B: '2' },
      extra: true,
    });
  });

  it('--unset removes a key and an object it leaves empty', async () => {
    expect((await run(['set', '-s', 'user', 'api', '--unset', 'header.X-Old'])).code).toBe(0);
    expect((await readJson(userConfig)).mcpServers.api).toEqual({
      type: 'http',
      url: 'https://user.example.com/mcp',
    });
    expect((await run(['set', 'tool', '--unset', 'env.A', '--unset', 'timeout'])).code).toBe(0);
    expect((await readJson(userConfig)).mcpServers.tool).toEqual({
      command: 'npx',
      args: ['server'],
      extra: true,
    });
    const refused = await run(['set', 'api', '--unset', 'url']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('url cannot be unset');
  });

  it('refuses what add refuses, a key of the other kind, and an unknown key; the file unchanged', async () => {
    const before = await readFile(userConfig, 'utf8');
    for (const [args, message] of [
      [['set', 'api', 'url', 'ftp://x.example.com'], 'the scheme ftp: is not supported'],
      [['set', 'api', 'url', 'mcp.example.com/mcp'], 'has no scheme'],
      [['set', 'api', 'header.Bad Name', 'v'], 'is not an HTTP token'],
      [['set', 'api', 'env.A', '1'], 'applies to local commands'],
      [['set', 'tool', 'url', 'https://x.example.com'], 'applies to http and sse servers'],
      [['set', 'api', 'colour', 'blue'], 'Unknown key "colour"'],
      [['set', 'api', 'oauth.callback-port', '99999'], 'expected a port number'],
      [['set', 'nope', 'url', 'https://x.example.com'], 'No server named "nope"'],
      [['set', 'api', 'url'], 'Missing the value for url'],
    ] as const) {
      const result = await run([...args]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(message);
    }
    expect(await readFile(userConfig, 'utf8')).toBe(before);
  });

  it('--secret without a terminal says how to give the value instead', async () => {
    const result = await run(['set', 'api', 'header.Authorization', '--secret']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('no terminal');
    expect(result.stderr).toContain("patchbay set api header.Authorization '${MY_SECRET}'");
  });

  it('leaves a malformed file untouched, with a clear error', async () => {
    const broken =
      '{\n  // a comment is not JSON\n  "mcpServers": { "team": { "url": "https://t.example.com" } }\n}\n';
    await writeFile(projectConfig, broken);
    const result = await run(['set', '-s', 'project', 'team', 'url', 'https://new.example.com/mcp']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(projectConfig);
    expect(await readFile(projectConfig, 'utf8')).toBe(broken);
  });
});

describe('patchbay edit', () => {
  beforeEach(seed);

  async function editor(name: string, script: string): Promise<string> {
    const path = join(box.root, name);
    await writeFile(path, `#!/bin/sh\n${script}\n`);
    await chmod(path, 0o755);
    return path;
  }

  it('writes the edited entry back into its scope, the rest of the file as it was', async () => {
    // Rewrites the entry: a new URL and header, its unknown key kept, a new unknown key added.
    const script = await editor(
      'rewrite.sh',
      `node -e '
const fs = require("fs"); const f = process.argv[1];
const e = JSON.parse(fs.readFileSync(f, "utf8"));
e.url = "https://edited.example.com/mcp"; e.headers = { "X-Edited": "yes" }; e.addedKey = 7;
fs.writeFileSync(f, JSON.stringify(e, null, 2));' "$1"`,
    );
    const result = await run(['edit', 'api'], { EDITOR: script });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/Edited api in the local scope .*: url, headers, addedKey\./);
    const file = await readJson(userConfig);
    expect(file.projects[box.project].mcpServers.api).toEqual({
      type: 'http',
      url: 'https://edited.example.com/mcp',
      futureKey: { nested: [1, 2] },
      headers: { 'X-Edited': 'yes' },
      addedKey: 7,
    });
    expect(file.mcpServers.api.url).toBe('https://user.example.com/mcp');
    expect(file.theme).toBe('kept');
  });

  it('an editor that writes invalid JSON, or an entry that does not check: an error, the file untouched', async () => {
    const before = await readFile(userConfig, 'utf8');
    const invalid = await editor('invalid.sh', `printf '{ "url": ' > "$1"`);
    const result = await run(['edit', 'api'], { EDITOR: invalid });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('your edit is kept in');
    const badUrl = await editor('bad-url.sh', `printf '{ "type": "http", "url": "ftp://x" }' > "$1"`);
    const second = await run(['edit', 'api'], { EDITOR: badUrl });
    expect(second.code).toBe(2);
    expect(second.stderr).toContain('ftp:');
    const failing = await editor('fail.sh', 'exit 3');
    const third = await run(['edit', 'api'], { EDITOR: failing });
    expect(third.code).toBe(1);
    expect(third.stderr).toContain('status 3');
    expect(await readFile(userConfig, 'utf8')).toBe(before);
  });

  it('an unchanged entry is not written; without an editor it names set', async () => {
    const before = await readFile(userConfig, 'utf8');
    const same = await run(['edit', 'api'], { EDITOR: 'true' });
    expect(same.code).toBe(0);
    expect(same.stderr).toContain('No changes to api');
    const none = await run(['edit', 'api'], { EDITOR: '', VISUAL: '' });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('patchbay set api <key> <value>');
    expect(await readFile(userConfig, 'utf8')).toBe(before);
  });
});
