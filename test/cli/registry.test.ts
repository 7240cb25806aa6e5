/**
 * `patchbay search` and `patchbay add --from-registry`, run in-process against a loopback MCP
 * Registry serving recorded server.json documents (test/fixtures/registry).
 */

import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { parseAddFromRegistryOptions } from '../../src/cli/commands/add-from-registry.js';
import { parseSearchOptions } from '../../src/cli/commands/search.js';
import { createContext, loadRegistry } from '../../src/config/registry.js';
import { buildAddOperands, chooseInstall, parseServerRef } from '../../src/config/server-json.js';
import { registryUrl } from '../../src/connect/registry-api.js';
import { makeSandbox, type Sandbox } from '../config/hosts/helpers.js';
import { startRegistryFixture, type RegistryFixture } from '../fixtures/registry-server.js';

let registry: RegistryFixture;
let box: Sandbox;

beforeAll(async () => {
  // Pages of two servers: a search of the fixture's five names takes three requests.
  registry = await startRegistryFixture({ pageSize: 2 });
});
afterAll(async () => {
  await registry.close();
});
beforeEach(async () => {
  box = await makeSandbox();
  box.env.PATCHBAY_REGISTRY_URL = registry.url;
  registry.requests.length = 0;
});
afterEach(async () => {
  await box.cleanup();
});

async function run(...argv: string[]) {
  const io = box.io();
  const code = await main(argv, io);
  return { code, out: io.out(), err: io.err() };
}

async function entryOf(name: string) {
  const loaded = await loadRegistry(createContext(box.env, box.project));
  return loaded.entries.find((entry) => entry.name === name);
}

describe('patchbay search', () => {
  it('lists the newest version of each match as a table: name, version, transports, description', async () => {
    const { code, out, err } = await run('search', 'acme');
    expect(code).toBe(0);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+VERSION\s+TRANSPORTS\s+DESCRIPTION$/);
    expect(out).toMatch(/io\.github\.acme-labs\/weather\s+1\.3\.0\s+npm\s+Forecasts and current conditions/);
    expect(out).toMatch(/io\.github\.acme-labs\/dbtool\s+3\.1\.0\s+oci\s+/);
    expect(out).not.toContain('1.2.0');
    expect(err).toContain('patchbay add <name> --from-registry');
    // The broken document is left out with a warning; the search goes on.
    expect(err).toContain('warning: left out io.github.acme-labs/broken: its server.json is not valid');
    expect(registry.requests[0]).toContain('version=latest');
    // Two pages of two, the second asked for with the cursor of the first.
    expect(registry.requests).toHaveLength(2);
    expect(registry.requests[1]).toContain('cursor=');
  });

  it('--json puts the data on stdout, remotes and packages included', async () => {
    const { code, out } = await run('search', 'notes', '--json');
    expect(code).toBe(0);
    const data = JSON.parse(out) as {
      registry: string;
      servers: Array<Record<string, unknown>>;
      more: boolean;
    };
    expect(data.registry).toBe(`${registry.url}/`);
    expect(data.more).toBe(false);
    expect(data.servers).toEqual([
      expect.objectContaining({
        name: 'com.example.notes/notes',
        version: '2.4.1',
        status: 'active',
        transports: ['sse', 'http'],
        remotes: [
          { type: 'sse', url: 'https://mcp.notes.example.com/sse' },
          { type: 'streamable-http', url: 'https://mcp.notes.example.com/mcp' },
        ],
        packages: [],
      }),
    ]);
  });

  it('follows the cursor over pages until --limit, and says more match', async () => {
    // Five servers match "a"; two are shown.
    const { code, out } = await run('search', 'a', '--limit', '2', '--json');
    expect(code).toBe(0);
    const data = JSON.parse(out) as { servers: Array<{ name: string }>; more: boolean };
    expect(data.servers).toHaveLength(2);
    expect(data.more).toBe(true);
  });

  it('asks for the next page with the cursor it was given', async () => {
    const { searchServers } = await import('../../src/connect/registry-api.js');
    const { createHttpClient } = await import('../../src/connect/network.js');
    const http = await createHttpClient({ env: box.env });
    try {
      // The fixture pages by `limit`: force pages of one server by listing directly.
      const { listServers } = await import('../../src/connect/registry-api.js');
      const base = registryUrl(registry.url, box.env);
      // The first item (by name) is the broken document: left out of servers, reported in skipped.
      const first = await listServers({ http, base }, { search: 'acme', limit: 1, version: 'latest' });
      expect(first.servers).toHaveLength(0);
      expect(first.skipped).toEqual([
        { name: 'io.github.acme-labs/broken', problem: expect.stringContaining('packages is an object') },
      ]);
      expect(first.nextCursor).toBe('io.github.acme-labs/broken:0.1.0');
      const second = await listServers(
        { http, base },
        { search: 'acme', limit: 1, version: 'latest', cursor: first.nextCursor! },
      );
      expect(second.servers[0]!.server.name).toBe('io.github.acme-labs/dbtool');
      expect(registry.requests.at(-1)).toContain(`cursor=${encodeURIComponent(first.nextCursor!)}`);
      const all = await searchServers({ http, base }, 'acme', 50);
      expect(all.servers.map((s) => s.server.name)).toContain('io.github.acme-labs/weather');
    } finally {
      await http.close();
    }
  });

  it('narrows by every word, in the name, title or description', async () => {
    const { out } = await run('search', 'acme', 'container', '--json');
    const data = JSON.parse(out) as { servers: Array<{ name: string }> };
    expect(data.servers.map((s) => s.name)).toEqual(['io.github.acme-labs/dbtool']);
  });

  it('--registry wins over PATCHBAY_REGISTRY_URL', async () => {
    box.env.PATCHBAY_REGISTRY_URL = 'http://127.0.0.1:9/';
    const { code, out } = await run('search', 'weather', '--registry', registry.url, '--json');
    expect(code).toBe(0);
    expect((JSON.parse(out) as { registry: string }).registry).toBe(`${registry.url}/`);
  });

  it('PATCHBAY_REGISTRY_URL is used, and an unreachable one is a clear error', async () => {
    box.env.PATCHBAY_REGISTRY_URL = 'http://127.0.0.1:9/';
    const { code, err } = await run('search', 'weather');
    expect(code).toBe(1);
    expect(err).toContain('Could not reach the registry at http://127.0.0.1:9');
    expect(err).toContain('hint:');
  });

  it('refuses plain http off loopback, and an answer that is not JSON', async () => {
    expect(() => registryUrl('http://registry.example.com', {})).toThrow(/must use https/);
    const { code, err } = await run('search', 'weather', '--registry', `${registry.url}/not-json`);
    expect(code).toBe(1);
    expect(err).toContain('text/html, not JSON');
  });

  it('parses its flags', () => {
    expect(parseSearchOptions(['a', 'b'], { limit: '5' })).toEqual({
      words: ['a', 'b'],
      limit: 5,
      json: false,
    });
    expect(() => parseSearchOptions(['a'], { limit: '0' })).toThrow(/--limit/);
  });
});

describe('patchbay add --from-registry', () => {
  it('a remote: Streamable HTTP first, with the required secret header from -H', async () => {
    const { code, err } = await run(
      'add',
      'notes',
      '--from-registry',
      'com.example.notes/notes',
      '-H',
      'X-API-Key: ${NOTES_KEY}',
    );
    expect(err).toContain('From the registry: com.example.notes/notes 2.4.1, its streamable-http remote.');
    expect(code).toBe(0);
    const entry = await entryOf('notes');
    expect(entry?.scope).toBe('local');
    expect(entry?.entry).toMatchObject({
      transport: 'http',
      url: 'https://mcp.notes.example.com/mcp',
      headers: { 'X-API-Key': '${NOTES_KEY}' },
    });
    // An optional header with a default is left to the server.
    expect(entry?.entry?.headers).not.toHaveProperty('X-Notes-Region');
  });

  it('-t sse picks the SSE remote', async () => {
    const { code } = await run(
      'add',
      'notes',
      '-t',
      'sse',
      '--from-registry',
      'com.example.notes/notes',
      '-H',
      'x-api-key: k-123',
    );
    expect(code).toBe(0);
    const entry = await entryOf('notes');
    expect(entry?.entry).toMatchObject({ transport: 'sse', url: 'https://mcp.notes.example.com/sse' });
    expect(entry?.entry?.headers).toEqual({ 'X-API-Key': 'k-123' });
  });

  it('an npm package over stdio, pinned, with its environment from --env', async () => {
    const { code } = await run(
      'add',
      'weather',
      '-s',
      'project',
      '--from-registry',
      'io.github.acme-labs/weather',
      '--env',
      'OPENWEATHER_API_KEY=${OPENWEATHER_API_KEY}',
    );
    expect(code).toBe(0);
    const file = await box.readJson(join(box.project, '.mcp.json'));
    expect(file).toEqual({
      mcpServers: {
        weather: {
          type: 'stdio',
          command: 'npx',
          args: ['-y', '@acme-labs/weather-mcp@1.3.0', '--units', 'metric'],
          env: { OPENWEATHER_API_KEY: '${OPENWEATHER_API_KEY}' },
        },
      },
    });
  });

  it('@version pins an older version', async () => {
    const { code, err } = await run(
      'add',
      'weather',
      '--from-registry',
      'io.github.acme-labs/weather@1.2.0',
      '-e',
      'OPENWEATHER_API_KEY=abc',
    );
    expect(code).toBe(0);
    expect(err).toContain('io.github.acme-labs/weather 1.2.0');
    const entry = await entryOf('weather');
    expect(entry?.entry).toMatchObject({
      transport: 'stdio',
      command: 'npx',
      args: ['-y', '@acme-labs/weather-mcp@1.2.0'],
      env: { OPENWEATHER_API_KEY: 'abc' },
    });
    expect(registry.requests).toContain('/v0/servers/io.github.acme-labs%2Fweather/versions/1.2.0');
  });

  it('a missing required variable without a terminal: exit 2, naming it and the flag to pass', async () => {
    const { code, err } = await run('add', 'weather', '--from-registry', 'io.github.acme-labs/weather');
    expect(code).toBe(2);
    expect(err).toContain('cannot be asked for without a terminal');
    expect(err).toContain('environment variable OPENWEATHER_API_KEY (Your OpenWeather API key), secret');
    expect(err).toContain(
      'patchbay add weather --from-registry io.github.acme-labs/weather -e OPENWEATHER_API_KEY=${OPENWEATHER_API_KEY}',
    );
    expect(await entryOf('weather')).toBeUndefined();
  });

  it('a missing required header names -H', async () => {
    const { code, err } = await run('add', 'notes', '--from-registry', 'com.example.notes/notes');
    expect(code).toBe(2);
    expect(err).toContain('-H "X-API-Key: ${X_API_KEY}"');
  });

  it('a container: docker run -i --rm with its runtime arguments and the image as published', async () => {
    const { code } = await run(
      'add',
      'db',
      '--from-registry',
      'io.github.acme-labs/dbtool',
      '-e',
      'DATABASE_URL=${DATABASE_URL}',
    );
    expect(code).toBe(0);
    expect((await entryOf('db'))?.entry).toMatchObject({
      command: 'docker',
      args: [
        'run',
        '-i',
        '--rm',
        '--network',
        'host',
        '-e',
        'DATABASE_URL',
        'ghcr.io/acme-labs/dbtool-mcp:3.1.0',
      ],
      env: { DATABASE_URL: '${DATABASE_URL}' },
    });
  });

  it('a PyPI package: uvx name==version and its fixed arguments', async () => {
    const { code } = await run('add', 'search', '--from-registry', 'io.github.acme-labs/pysearch');
    expect(code).toBe(0);
    expect((await entryOf('search'))?.entry).toMatchObject({
      command: 'uvx',
      args: ['pysearch-mcp==0.9.2', 'serve'],
    });
  });

  it('a server the registry does not have: 404, said plainly', async () => {
    const { code, err } = await run('add', 'x', '--from-registry', 'io.github.nobody/nothing');
    expect(code).toBe(2);
    expect(err).toContain('has no server named io.github.nobody/nothing');
    expect(err).toContain('patchbay search nothing');
    const version = await run('add', 'x', '--from-registry', 'io.github.acme-labs/weather@9.9.9');
    expect(version.err).toContain('has no version 9.9.9 of io.github.acme-labs/weather');
  });

  it('a malformed server.json: which field, and what to do', async () => {
    const { code, err } = await run('add', 'x', '--from-registry', 'io.github.acme-labs/broken');
    expect(code).toBe(1);
    expect(err).toContain(
      'is not a valid registry document: the answer.server.packages is an object, expected a list',
    );
    expect(await entryOf('x')).toBeUndefined();
  });

  it('refuses operands beside --from-registry, and a bad server name, before any request', async () => {
    expect(() =>
      parseAddFromRegistryOptions('w', ['https://x.example/mcp'], { fromRegistry: 'a.b/c' }),
    ).toThrow(/--from-registry takes the URL/);
    expect(() => parseServerRef('not a name')).toThrow(/Invalid registry server/);
    expect(parseServerRef('io.github.a/b@1.0.0')).toEqual({ name: 'io.github.a/b', version: '1.0.0' });
  });
});

describe('server.json → add operands (pure)', () => {
  it('fills {variables} of a remote URL and falls back to required defaults', async () => {
    const choice = chooseInstall({
      name: 'com.example/tenant',
      description: 'd',
      version: '1.0.0',
      remotes: [
        {
          type: 'streamable-http',
          url: 'https://{tenant}.api.example.com/mcp',
          variables: { tenant: { isRequired: true, description: 'Your tenant' } },
          headers: [{ name: 'X-Region', isRequired: true, default: 'eu' }],
        },
      ],
    });
    const built = await buildAddOperands(choice, async (field) =>
      field.key === 'tenant' ? 'acme' : undefined,
    );
    expect(built).toEqual({
      transport: 'http',
      operands: ['https://acme.api.example.com/mcp'],
      headers: ['X-Region: eu'],
      env: [],
    });
  });
});
