/**
 * The credential store with real files in throwaway directories, and real processes for what
 * only processes can show: one refresh among 20 that find the same expired token, writers of
 * different keys that keep each other's records, a write killed by a file-size limit.
 */

import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { resolvePaths } from '../../src/core/paths.js';
import { readClientSecret, storeClientSecret } from '../../src/auth/client-secrets.js';
import { nativeKeychainVerdict } from '../../src/auth/store-keychain.js';
import {
  openCredentialStore,
  redactSecrets,
  type KeychainApi,
  type StoredClient,
  type StoredTokens,
} from '../../src/auth/store.js';
import { PatchbayError } from '../../src/errors.js';

const BUILT_STORE = fileURLToPath(new URL('../../dist/auth/store.js', import.meta.url));
const TRACER = fileURLToPath(new URL('../fixtures/trace-imports.mjs', import.meta.url));

let root: string;
let env: NodeJS.ProcessEnv;
let dataDir: string;
let configDir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'patchbay-store-'));
  dataDir = join(root, 'data', 'patchbay');
  configDir = join(root, 'config', 'patchbay');
  env = {
    PATH: process.env.PATH,
    HOME: join(root, 'home'),
    PATCHBAY_DATA_DIR: dataDir,
    PATCHBAY_CONFIG_DIR: configDir,
    PATCHBAY_CREDENTIAL_STORE: 'file',
  };
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

// The child processes run the built store: make sure it is the current one.
beforeAll(async () => {
  if (!existsSync(BUILT_STORE)) throw new Error('dist/auth/store.js is missing: run npm run build first.');
  const sources = (await readdir(fileURLToPath(new URL('../../src/auth/', import.meta.url)))).filter((name) =>
    name.startsWith('store'),
  );
  const built = (await stat(BUILT_STORE)).mtimeMs;
  for (const name of sources) {
    const source = fileURLToPath(new URL(`../../src/auth/${name}`, import.meta.url));
    if ((await stat(source)).mtimeMs > built) {
      throw new Error(`dist/ is older than src/auth/${name}: run npm run build first.`);
    }
  }
});

const ISSUER = 'https://as.example.com';
const RESOURCE = 'https://mcp.example.com/mcp';
const KEY = `${ISSUER} ${RESOURCE}`;

function tokens(overrides: Partial<StoredTokens> = {}): StoredTokens {
  return {
    issuer: ISSUER,
    resource: RESOURCE,
    accessToken: 'at-8f3a9c1e7b2d4f60',
    tokenType: 'Bearer',
    refreshToken: 'rt-0c5e2b7a9d1f3e84',
    expiresAt: 1_900_000_000_000,
    scope: 'mcp:read mcp:write',
    clientId: 'client-1',
    obtainedAt: 1_800_000_000_000,
    ...overrides,
  };
}

function dynamicClient(overrides: Partial<StoredClient> = {}): StoredClient {
  return {
    issuer: ISSUER,
    redirectUri: 'http://127.0.0.1:33418/callback',
    kind: 'dynamic',
    clientId: 'dyn-1',
    clientSecret: 'cs-5b8e1d4a7c0f2e93',
    registeredAt: 1_800_000_000_000,
    information: {
      client_id: 'dyn-1',
      client_secret: 'cs-5b8e1d4a7c0f2e93',
      client_secret_expires_at: 0,
      redirect_uris: ['http://127.0.0.1:33418/callback'],
      token_endpoint_auth_method: 'client_secret_post',
    },
    ...overrides,
  };
}

const indexPath = () => join(dataDir, 'auth-index.json');
const secretsPath = () => join(dataDir, 'auth-secrets.json');
const mode = (path: string) => statSync(path).mode & 0o777;

async function rejection(promise: Promise<unknown>): Promise<PatchbayError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(PatchbayError);
  return error as PatchbayError;
}

/** An in-memory keychain, as @napi-rs/keyring behaves where it works. */
function memoryKeychain(options: { maxValue?: number; failWrites?: string; hang?: boolean } = {}) {
  const entries = new Map<string, string>();
  const api: KeychainApi = {
    name: 'a test keychain',
    get: (account) => Promise.resolve(entries.get(account) ?? null),
    set: (account, value) => {
      if (options.hang) return new Promise(() => undefined);
      if (options.failWrites) return Promise.reject(new Error(options.failWrites));
      if (options.maxValue !== undefined && value.length > options.maxValue) {
        return Promise.reject(new Error('Attribute too long for platform'));
      }
      entries.set(account, value);
      return Promise.resolve();
    },
    delete: (account) => Promise.resolve(entries.delete(account)),
  };
  return { api, entries };
}

describe('file backend', () => {
  it('round-trips token sets, keeps only facts in the index, 0600 files in a 0700 directory', async () => {
    const store = await openCredentialStore(env);
    expect(store.describe()).toEqual({
      backend: 'file',
      location: `${secretsPath()} (mode 0600)`,
      dataDirectory: dataDir,
      indexPath: indexPath(),
    });
    expect(await store.getTokens(KEY)).toBeUndefined();

    await store.saveTokens(KEY, tokens());
    expect(await store.getTokens(KEY)).toEqual(tokens());
    // Another open (another process) sees the same.
    expect(await (await openCredentialStore(env)).getTokens(KEY)).toEqual(tokens());

    expect(mode(dataDir)).toBe(0o700);
    expect(mode(indexPath())).toBe(0o600);
    expect(mode(secretsPath())).toBe(0o600);
    const index = await readFile(indexPath(), 'utf8');
    expect(index).not.toContain(tokens().accessToken);
    expect(index).not.toContain(tokens().refreshToken);
    expect(await readFile(secretsPath(), 'utf8')).toContain(tokens().refreshToken);

    const listing = await store.list();
    expect(listing.tokens).toEqual([
      {
        serverKey: KEY,
        issuer: ISSUER,
        resource: RESOURCE,
        tokenType: 'Bearer',
        scope: 'mcp:read mcp:write',
        expiresAt: 1_900_000_000_000,
        clientId: 'client-1',
        obtainedAt: 1_800_000_000_000,
        refreshable: true,
        storedIn: 'file',
      },
    ]);

    const rotated = tokens({
      accessToken: 'at-2',
      refreshToken: undefined,
      lastRefreshAt: 1_850_000_000_000,
    });
    await store.saveTokens(KEY, rotated);
    const { refreshToken: _gone, ...withoutRefresh } = rotated;
    expect(await store.getTokens(KEY)).toEqual(withoutRefresh);
    expect((await store.list()).tokens[0]).toMatchObject({
      refreshable: false,
      lastRefreshAt: 1_850_000_000_000,
    });

    expect(await store.deleteTokens(KEY)).toBe(true);
    expect(await store.deleteTokens(KEY)).toBe(false);
    expect(await store.getTokens(KEY)).toBeUndefined();
    expect((await store.list()).tokens).toEqual([]);
    expect(await readFile(secretsPath(), 'utf8')).not.toContain('at-2');
  });

  it('tightens a data directory that is readable by others', async () => {
    await mkdir(dataDir, { recursive: true, mode: 0o755 });
    const store = await openCredentialStore(env);
    await store.saveTokens(KEY, tokens());
    expect(mode(dataDir)).toBe(0o700);
  });

  it('opening, reading and listing write nothing', async () => {
    const store = await openCredentialStore(env);
    expect(await store.getTokens(KEY)).toBeUndefined();
    expect(await store.getClient(ISSUER)).toBeUndefined();
    expect(await store.getClientSecret('a', 'https://a.example.com')).toBeUndefined();
    expect(await store.deleteTokens(KEY)).toBe(false);
    expect(await store.recordRefreshError(KEY, 'boom')).toBe(false);
    expect((await store.list()).tokens).toEqual([]);
    expect(existsSync(join(root, 'data'))).toBe(false);
  });

  it('keeps client registrations per issuer and redirect URI', async () => {
    const store = await openCredentialStore(env);
    const dynamic = dynamicClient();
    const otherPort = dynamicClient({
      clientId: 'dyn-2',
      redirectUri: 'http://127.0.0.1:40000/callback',
      registeredAt: 1_800_000_000_500,
      information: { client_id: 'dyn-2', redirect_uris: ['http://127.0.0.1:40000/callback'] },
      clientSecret: undefined,
    });
    const preRegistered: StoredClient = {
      issuer: ISSUER,
      kind: 'pre-registered',
      clientId: 'configured',
      registeredAt: 1_700_000_000_000,
      information: { client_id: 'configured' },
    };
    const elsewhere = dynamicClient({ issuer: 'https://other-as.example.com', clientId: 'elsewhere' });
    for (const client of [dynamic, otherPort, preRegistered, elsewhere]) await store.saveClient(client);

    expect(await store.getClient(ISSUER, { redirectUri: dynamic.redirectUri })).toEqual(dynamic);
    expect(await store.getClient(ISSUER, { redirectUri: otherPort.redirectUri })).toEqual(otherPort);
    // No registration for this redirect URI: the one bound to none still fits.
    expect(await store.getClient(ISSUER, { redirectUri: 'http://127.0.0.1:1/callback' })).toEqual(
      preRegistered,
    );
    expect(await store.getClient(ISSUER, { clientId: 'dyn-1' })).toEqual(dynamic);
    expect(await store.getClient(ISSUER)).toEqual(otherPort); // the most recent
    expect(await store.getClient('https://unknown.example.com')).toBeUndefined();

    const index = await readFile(indexPath(), 'utf8');
    expect(index).not.toContain('cs-5b8e1d4a7c0f2e93');
    const facts = (await store.list()).clients;
    expect(facts).toContainEqual({
      issuer: ISSUER,
      redirectUri: dynamic.redirectUri,
      kind: 'dynamic',
      clientId: 'dyn-1',
      registeredAt: 1_800_000_000_000,
      hasClientSecret: true,
      storedIn: 'file',
    });
    expect(facts).toHaveLength(4);

    expect(await store.deleteClient(ISSUER, { clientId: 'dyn-1' })).toBe(1);
    expect(await store.deleteClient(ISSUER)).toBe(2);
    expect(await store.getClient(ISSUER)).toBeUndefined();
    expect(await store.getClient('https://other-as.example.com')).toEqual(elsewhere);
  });

  it('round-trips pre-registered client secrets by server name and URL', async () => {
    const store = await openCredentialStore(env);
    await store.saveClientSecret('notion', 'https://mcp.notion.com/mcp', 'cs-notion-1', 1_800_000_000_000);
    expect(await store.getClientSecret('notion', 'https://mcp.notion.com/mcp')).toBe('cs-notion-1');
    expect(await store.getClientSecret('notion', 'https://evil.example.com/mcp')).toBeUndefined();
    expect(await readFile(indexPath(), 'utf8')).not.toContain('cs-notion-1');
    expect((await store.list()).clientSecrets).toEqual([
      { name: 'notion', url: 'https://mcp.notion.com/mcp', storedAt: 1_800_000_000_000, storedIn: 'file' },
    ]);
    expect(await store.deleteClientSecret('notion', 'https://mcp.notion.com/mcp')).toBe(true);
    expect(await store.getClientSecret('notion', 'https://mcp.notion.com/mcp')).toBeUndefined();
  });

  it('records the last refresh error without the tokens in it, and a successful save clears it', async () => {
    const store = await openCredentialStore(env);
    await store.saveTokens(KEY, tokens());
    const message =
      `refresh failed: invalid_grant for ${tokens().refreshToken}; sent Authorization: Bearer ${tokens().accessToken}` +
      ' body {"refresh_token":"opaque-xyz"} refresh_token=opaque-abc&client_id=x';
    expect(await store.recordRefreshError(KEY, message, 1_860_000_000_000)).toBe(true);

    const stored = await store.getTokens(KEY);
    expect(stored?.lastRefreshError?.at).toBe(1_860_000_000_000);
    const text = stored!.lastRefreshError!.message;
    for (const secret of [tokens().refreshToken!, tokens().accessToken, 'opaque-xyz', 'opaque-abc']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('invalid_grant');
    expect((await store.list()).tokens[0]?.lastRefreshError).toEqual(stored?.lastRefreshError);
    const index = await readFile(indexPath(), 'utf8');
    expect(index).toContain('invalid_grant');
    expect(index).not.toContain(tokens().accessToken);

    await store.saveTokens(KEY, tokens({ accessToken: 'at-new', lastRefreshAt: 1_870_000_000_000 }));
    expect((await store.getTokens(KEY))?.lastRefreshError).toBeUndefined();
  });

  it('redacts JWTs, credentials in headers and forms, and caps the length', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl';
    const text = redactSecrets(
      `token ${jwt} Basic dXNlcjpwYXNz client_secret=s3cr3t\n${'x'.repeat(600)}`,
      [],
    );
    expect(text).not.toContain(jwt);
    expect(text).not.toContain('dXNlcjpwYXNz');
    expect(text).not.toContain('s3cr3t');
    expect(text).not.toContain('\n');
    expect(text.length).toBeLessThanOrEqual(500);
  });

  it('refuses a store file that does not parse, and leaves it as it was', async () => {
    const store = await openCredentialStore(env);
    await store.saveTokens(KEY, tokens());
    const broken = '{ "version": 1, "tokens": { \n';
    await writeFile(indexPath(), broken);

    const read = await rejection(store.getTokens(KEY));
    expect(read.code).toBe('config-parse');
    expect(read.message).toContain(indexPath());
    expect(read.hint).toContain('will not rewrite it');
    const write = await rejection(store.saveTokens('other', tokens()));
    expect(write.message).toContain(indexPath());
    expect(await readFile(indexPath(), 'utf8')).toBe(broken);
    await rejection(store.list());
  });

  it('refuses a record of the wrong shape, naming the file, line and field (never its value)', async () => {
    const store = await openCredentialStore(env);
    await store.saveTokens(KEY, tokens());
    const text = (await readFile(secretsPath(), 'utf8')).replace('"tokenType": "Bearer"', '"tokenType": 42');
    await writeFile(secretsPath(), text);

    const error = await rejection(store.getTokens(KEY));
    expect(error.code).toBe('config-shape');
    expect(error.message).toMatch(new RegExp(`^${secretsPath()}:\\d+:\\d+ .*tokenType`));
    expect(error.message).not.toContain(tokens().accessToken);
    await rejection(store.saveClientSecret('a', 'https://a.example.com', 'x'));
    expect(await readFile(secretsPath(), 'utf8')).toBe(text);
  });

  it('refuses a store written by a newer patchbay', async () => {
    await mkdir(dataDir, { recursive: true });
    await writeFile(indexPath(), '{ "version": 2 }\n');
    const store = await openCredentialStore(env);
    const error = await rejection(store.list());
    expect(error.message).toContain('version 2');
    await rejection(store.saveTokens(KEY, tokens()));
    expect(await readFile(indexPath(), 'utf8')).toBe('{ "version": 2 }\n');
  });

  it('a write that fails (file size limit) leaves the old files whole', async () => {
    const store = await openCredentialStore(env);
    await store.saveTokens(KEY, tokens());
    const [index, secrets] = await Promise.all([
      readFile(indexPath(), 'utf8'),
      readFile(secretsPath(), 'utf8'),
    ]);
    const result = await runChild(['save', KEY, 'at-never-stored'], {
      wrapper: ['sh', '-c', 'ulimit -f 0; exec "$0" "$@"'],
    });
    expect(result.code).not.toBe(0);
    expect(await readFile(indexPath(), 'utf8')).toBe(index);
    expect(await readFile(secretsPath(), 'utf8')).toBe(secrets);
    expect((await readdir(dataDir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect(await store.getTokens(KEY)).toEqual(tokens());
  });
});

describe('backend selection', () => {
  it('rejects an unknown PATCHBAY_CREDENTIAL_STORE', async () => {
    const error = await rejection(openCredentialStore({ ...env, PATCHBAY_CREDENTIAL_STORE: 'vault' }));
    expect(error.code).toBe('usage');
    expect(error.message).toContain('"vault"');
  });

  it('auto uses the OS keychain only where a probe finds it working; otherwise files, without failing', async () => {
    const verdict = await nativeKeychainVerdict();
    const store = await openCredentialStore({ ...env, PATCHBAY_CREDENTIAL_STORE: undefined });
    if (verdict.usable) {
      expect(store.describe().backend).toBe('keychain');
      return;
    }
    // This machine (a container): "Couldn't access platform storage" or no Secret Service.
    expect(store.describe()).toMatchObject({ backend: 'file', keychainUnavailable: verdict.reason });
    const forced = await rejection(openCredentialStore({ ...env, PATCHBAY_CREDENTIAL_STORE: 'keychain' }));
    expect(forced.message).toContain(verdict.reason);
    expect(forced.hint).toContain('PATCHBAY_CREDENTIAL_STORE=file');
    const byOption = await rejection(openCredentialStore(env, { backend: 'keychain' }));
    expect(byOption.message).toContain('cannot be used');
  });

  it('auto falls back to files when the keychain refuses writes or does not answer in time', async () => {
    const denied = memoryKeychain({ failWrites: "Couldn't access platform storage: AccessDenied" });
    const store = await openCredentialStore(
      { ...env, PATCHBAY_CREDENTIAL_STORE: 'auto' },
      { keychain: denied.api },
    );
    expect(store.describe()).toMatchObject({
      backend: 'file',
      keychainUnavailable: "Couldn't access platform storage: AccessDenied",
    });

    const started = Date.now();
    const hanging = memoryKeychain({ hang: true });
    const slow = await openCredentialStore(env, {
      backend: 'auto',
      keychain: hanging.api,
      probeTimeoutMs: 200,
    });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(slow.describe()).toMatchObject({
      backend: 'file',
      keychainUnavailable: 'it did not answer within 200 ms',
    });

    const forced = await rejection(openCredentialStore(env, { backend: 'keychain', keychain: denied.api }));
    expect(forced.message).toContain('AccessDenied');
  });

  it('the file backend never loads the keychain module', async () => {
    const traceFile = join(root, 'trace.txt');
    const result = await runChild(['save', KEY, 'at-traced'], {
      env: { TRACE_IMPORTS_FILE: traceFile, NODE_OPTIONS: `--import ${TRACER}` },
    });
    expect(result.code, result.stderr).toBe(0);
    const modules = await readFile(traceFile, 'utf8');
    expect(modules).toContain('/dist/auth/store.js');
    expect(modules).not.toContain('keyring');
  });
});

describe('keychain backend (an in-memory keychain standing in for the OS one)', () => {
  it('keeps secrets in keychain entries and only facts in the index; same API and results', async () => {
    const keychain = memoryKeychain();
    const store = await openCredentialStore(env, { backend: 'keychain', keychain: keychain.api });
    expect(store.describe()).toMatchObject({
      backend: 'keychain',
      location: 'a test keychain (service "patchbay")',
    });

    await store.saveTokens(KEY, tokens());
    await store.saveClient(dynamicClient());
    await store.saveClientSecret('notion', 'https://mcp.notion.com/mcp', 'cs-notion-1');
    expect(await store.getTokens(KEY)).toEqual(tokens());
    expect(await store.getClient(ISSUER, { redirectUri: dynamicClient().redirectUri })).toEqual(
      dynamicClient(),
    );
    expect(await store.getClientSecret('notion', 'https://mcp.notion.com/mcp')).toBe('cs-notion-1');

    expect([...keychain.entries.keys()].sort()).toEqual([
      'clientSecrets:notion https://mcp.notion.com/mcp',
      `clients:${ISSUER} ${dynamicClient().redirectUri}`,
      `tokens:${KEY}`,
    ]);
    expect(existsSync(secretsPath())).toBe(false);
    const index = await readFile(indexPath(), 'utf8');
    for (const secret of [
      tokens().accessToken,
      tokens().refreshToken!,
      'cs-5b8e1d4a7c0f2e93',
      'cs-notion-1',
    ]) {
      expect(index).not.toContain(secret);
    }
    const listing = await store.list();
    expect(listing.tokens.map((entry) => entry.storedIn)).toEqual(['keychain']);
    expect(listing.clients.map((entry) => entry.storedIn)).toEqual(['keychain']);

    expect(await store.deleteTokens(KEY)).toBe(true);
    expect(keychain.entries.has(`tokens:${KEY}`)).toBe(false);
    expect(await store.getTokens(KEY)).toBeUndefined();
  });

  it('a process that uses files still finds what another put in the keychain, and moves it on the next save', async () => {
    const keychain = memoryKeychain();
    const desktop = await openCredentialStore(env, { backend: 'keychain', keychain: keychain.api });
    await desktop.saveTokens(KEY, tokens());

    const headless = await openCredentialStore(env, { backend: 'file', keychain: keychain.api });
    expect(await headless.getTokens(KEY)).toEqual(tokens());
    await headless.saveTokens(KEY, tokens({ accessToken: 'at-from-files' }));
    expect(keychain.entries.has(`tokens:${KEY}`)).toBe(false);
    expect((await desktop.getTokens(KEY))?.accessToken).toBe('at-from-files');
    expect((await desktop.list()).tokens[0]?.storedIn).toBe('file');

    // Without a usable keychain, a record that is only there says so rather than looking absent.
    await desktop.saveClientSecret('notion', 'https://mcp.notion.com/mcp', 'cs-notion-1');
    const cut = memoryKeychain({ failWrites: 'no keychain here' });
    const cutOff = await openCredentialStore(env, { backend: 'file', keychain: cut.api });
    const error = await rejection(cutOff.getClientSecret('notion', 'https://mcp.notion.com/mcp'));
    expect(error.code).toBe('needs-auth');
    expect(error.message).toContain('no keychain here');
  });

  it('auto puts a secret the keychain refuses (too long for it) in the file, and says where it is', async () => {
    const keychain = memoryKeychain({ maxValue: 400 });
    const store = await openCredentialStore(env, { backend: 'auto', keychain: keychain.api });
    expect(store.describe().backend).toBe('keychain');
    const big = tokens({ accessToken: 'a'.repeat(3000) });
    await store.saveTokens(KEY, big);
    expect(await store.getTokens(KEY)).toEqual(big);
    expect((await store.list()).tokens[0]?.storedIn).toBe('file');
    expect(keychain.entries.size).toBe(0);

    const forced = await openCredentialStore(env, { backend: 'keychain', keychain: keychain.api });
    const error = await rejection(forced.saveTokens('other', big));
    expect(error.code).toBe('write-failed');
    expect(error.message).not.toContain(big.accessToken);
  });
});

describe('client secrets from before the store (credentials.json)', () => {
  async function writeLegacy(content: object): Promise<string> {
    await mkdir(configDir, { recursive: true });
    const path = join(configDir, 'credentials.json');
    await writeFile(path, JSON.stringify(content, null, 2) + '\n', { mode: 0o600 });
    return path;
  }

  it('are read in place, never rewritten by a read, and moved into the store on the next write', async () => {
    const legacy = await writeLegacy({
      clientSecrets: {
        'notion https://mcp.notion.com/mcp': 'old-notion',
        'linear https://mcp.linear.app/mcp': 'old-linear',
      },
    });
    const before = await readFile(legacy, 'utf8');
    const store = await openCredentialStore(env);

    expect(await store.getClientSecret('notion', 'https://mcp.notion.com/mcp')).toBe('old-notion');
    expect((await store.list()).clientSecrets).toEqual([
      { name: 'notion', url: 'https://mcp.notion.com/mcp', storedIn: 'legacy-file' },
      { name: 'linear', url: 'https://mcp.linear.app/mcp', storedIn: 'legacy-file' },
    ]);
    expect(await readFile(legacy, 'utf8')).toBe(before);
    expect(existsSync(dataDir)).toBe(false);

    // A new secret for one of them wins over the old one, which is not brought back.
    await store.saveClientSecret('notion', 'https://mcp.notion.com/mcp', 'new-notion');
    expect(existsSync(legacy)).toBe(false);
    expect(await store.getClientSecret('notion', 'https://mcp.notion.com/mcp')).toBe('new-notion');
    expect(await store.getClientSecret('linear', 'https://mcp.linear.app/mcp')).toBe('old-linear');
    expect((await store.list()).clientSecrets.map((entry) => [entry.name, entry.storedIn])).toEqual([
      ['linear', 'file'],
      ['notion', 'file'],
    ]);
  });

  it('keeps whatever else the old file holds', async () => {
    const legacy = await writeLegacy({
      somethingElse: { kept: true },
      clientSecrets: { 'a https://a.example.com': 's' },
    });
    const store = await openCredentialStore(env);
    expect(await store.migrateLegacyClientSecrets()).toBe(1);
    expect(JSON.parse(await readFile(legacy, 'utf8'))).toEqual({ somethingElse: { kept: true } });
    expect(mode(legacy)).toBe(0o600);
    expect(await store.getClientSecret('a', 'https://a.example.com')).toBe('s');
    expect(await store.migrateLegacyClientSecrets()).toBe(0);
  });

  it('a broken old file is reported with its path and left alone', async () => {
    await mkdir(configDir, { recursive: true });
    const legacy = join(configDir, 'credentials.json');
    await writeFile(legacy, '{ "clientSecrets": { "a https://a": \n');
    const store = await openCredentialStore(env);
    const error = await rejection(store.saveClientSecret('b', 'https://b.example.com', 'x'));
    expect(error.message).toContain(legacy);
    expect(await readFile(legacy, 'utf8')).toBe('{ "clientSecrets": { "a https://a": \n');
    await rejection(store.getClientSecret('a', 'https://a'));
  });

  it('client-secrets.ts stores through the store and says where, without the secret', async () => {
    await writeLegacy({ clientSecrets: { 'old https://old.example.com': 'old-secret' } });
    const where = await storeClientSecret(
      { env, paths: resolvePaths(env) },
      'x',
      'https://x.example.com/mcp',
      'cs-x',
    );
    expect(where).toBe(`${secretsPath()} (mode 0600)`);
    expect(await readClientSecret({ env, paths: resolvePaths(env) }, 'x', 'https://x.example.com/mcp')).toBe(
      'cs-x',
    );
    expect(await readClientSecret({ env, paths: resolvePaths(env) }, 'old', 'https://old.example.com')).toBe(
      'old-secret',
    );
    expect(existsSync(join(configDir, 'credentials.json'))).toBe(false);
  });
});

// ----- other processes --------------------------------------------------------------------------

/** A child that opens the built store from its environment and does one thing (argv). */
const CHILD_SCRIPT = `
import { readFile, writeFile } from 'node:fs/promises';
const { openCredentialStore } = await import(process.env.STORE_MODULE);
const [mode, ...args] = process.argv.slice(2);
const store = await openCredentialStore(process.env);
if (process.env.WAIT_FOR_GO) {
  process.stdout.write('ready\\n');
  await new Promise((resolve) => process.stdin.once('data', resolve));
}
if (mode === 'save') {
  const [key, accessToken] = args;
  const [issuer, resource] = key.split(' ');
  await store.saveTokens(key, { issuer, resource, accessToken, tokenType: 'Bearer', obtainedAt: Date.now() });
} else if (mode === 'refresh') {
  const [key, counter] = args;
  const used = await store.withServerLock(key, async (current) => {
    if (!current) throw new Error('no tokens');
    if (current.expiresAt > Date.now()) return current.accessToken;
    if (current.refreshToken !== 'refresh-0') throw new Error('refreshed with a refresh token already used');
    const count = Number(await readFile(counter, 'utf8').catch(() => '0')) + 1;
    await writeFile(counter, String(count));
    await new Promise((resolve) => setTimeout(resolve, 100)); // a token endpoint taking its time
    const next = {
      ...current,
      accessToken: 'access-' + process.pid,
      refreshToken: 'refresh-' + process.pid,
      expiresAt: Date.now() + 3_600_000,
      lastRefreshAt: Date.now(),
    };
    await store.saveTokens(key, next);
    return next.accessToken;
  });
  const after = await store.getTokens(key);
  process.stdout.write(JSON.stringify({ used, after: after.accessToken, refresh: after.refreshToken }) + '\\n');
} else if (mode === 'write') {
  const [id] = args;
  for (let i = 0; i < 5; i++) {
    const issuer = 'https://as.example.com';
    const resource = 'https://rs-' + id + '-' + i + '.example.com';
    await store.saveTokens(issuer + ' ' + resource, {
      issuer, resource, accessToken: 'at-' + id + '-' + i, tokenType: 'Bearer', obtainedAt: Date.now(),
    });
  }
  await store.saveClient({
    issuer: 'https://as-' + id + '.example.com', kind: 'dynamic', clientId: 'c-' + id,
    registeredAt: Date.now(), information: { client_id: 'c-' + id },
  });
  await store.saveClientSecret('srv' + id, 'https://srv' + id + '.example.com/mcp', 'cs-' + id);
}
`;

interface ChildResult {
  code: number;
  stdout: string;
  stderr: string;
}

function startChild(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; wrapper?: string[]; waitForGo?: boolean } = {},
) {
  const script = join(root, 'child.mjs');
  const [program, ...programArgs] = [...(options.wrapper ?? []), process.execPath, script, ...args];
  const child = spawn(program!, programArgs, {
    env: {
      ...env,
      STORE_MODULE: pathToFileURL(BUILT_STORE).href,
      ...(options.waitForGo ? { WAIT_FOR_GO: '1' } : {}),
      ...options.env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const ready = new Promise<void>((resolve) => {
    const check = () => (stdout.includes('ready\n') ? resolve() : undefined);
    child.stdout.on('data', check);
  });
  const done = new Promise<ChildResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
  });
  if (!options.waitForGo) child.stdin.end();
  return { ready, go: () => child.stdin.end('go\n'), done };
}

async function runChild(args: string[], options: { env?: NodeJS.ProcessEnv; wrapper?: string[] } = {}) {
  await writeFile(join(root, 'child.mjs'), CHILD_SCRIPT);
  return startChild(args, options).done;
}

/** Start every child, wait until each has loaded the store, then let them all go at once. */
async function runTogether(argsList: string[][]): Promise<ChildResult[]> {
  await writeFile(join(root, 'child.mjs'), CHILD_SCRIPT);
  const children = argsList.map((args) => startChild(args, { waitForGo: true }));
  await Promise.race([
    Promise.all(children.map((child) => child.ready)),
    Promise.all(children.map((child) => child.done)).then((results) => {
      throw new Error(`children exited before they were ready: ${results.map((r) => r.stderr).join('\n')}`);
    }),
  ]);
  for (const child of children) child.go();
  return Promise.all(children.map((child) => child.done));
}

describe('across processes (the built dist/auth/store.js)', () => {
  it('20 processes that find the same expired token make one refresh, and all use its result', async () => {
    const store = await openCredentialStore(env);
    await store.saveTokens(
      KEY,
      tokens({ accessToken: 'access-0', refreshToken: 'refresh-0', expiresAt: Date.now() - 1 }),
    );
    const counter = join(root, 'refreshes');

    const results = await runTogether(Array.from({ length: 20 }, () => ['refresh', KEY, counter]));
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    expect(await readFile(counter, 'utf8')).toBe('1');

    const final = await store.getTokens(KEY);
    expect(final?.accessToken).toMatch(/^access-\d+$/);
    expect(final?.refreshToken).toBe(final?.accessToken.replace('access', 'refresh'));
    const seen = results.map(
      (result) => JSON.parse(result.stdout.replace('ready\n', '')) as Record<string, string>,
    );
    expect(
      seen.every((entry) => entry.used === final?.accessToken && entry.after === final?.accessToken),
    ).toBe(true);
    expect(seen.every((entry) => entry.refresh === final?.refreshToken)).toBe(true);
    expect((await readdir(join(dataDir, 'locks'))).filter((name) => name.endsWith('.lock'))).toEqual([]);
  }, 90_000);

  it('processes writing different keys at once lose nothing (and drain the old file once)', async () => {
    await mkdir(configDir, { recursive: true });
    await writeFile(
      join(configDir, 'credentials.json'),
      JSON.stringify({
        clientSecrets: { 'old1 https://old1.example.com': 'o1', 'old2 https://old2.example.com': 'o2' },
      }),
      { mode: 0o600 },
    );
    const ids = Array.from({ length: 8 }, (_, i) => String(i));
    const results = await runTogether(ids.map((id) => ['write', id]));
    for (const result of results) expect(result.code, result.stderr).toBe(0);

    const store = await openCredentialStore(env);
    const listing = await store.list();
    expect(listing.tokens).toHaveLength(40);
    expect(listing.clients).toHaveLength(8);
    expect(listing.clientSecrets.map((entry) => `${entry.name}:${entry.storedIn}`).sort()).toEqual(
      [...ids.map((id) => `srv${id}:file`), 'old1:file', 'old2:file'].sort(),
    );
    for (const id of ids) {
      for (let i = 0; i < 5; i++) {
        const tokensOf = await store.getTokens(`${ISSUER} https://rs-${id}-${i}.example.com`);
        expect(tokensOf?.accessToken).toBe(`at-${id}-${i}`);
      }
      expect(await store.getClientSecret(`srv${id}`, `https://srv${id}.example.com/mcp`)).toBe(`cs-${id}`);
      expect((await store.getClient(`https://as-${id}.example.com`))?.clientId).toBe(`c-${id}`);
    }
    expect(await store.getClientSecret('old2', 'https://old2.example.com')).toBe('o2');
    expect(existsSync(join(configDir, 'credentials.json'))).toBe(false);
  }, 90_000);
});
