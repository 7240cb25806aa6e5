/**
 * The memory of 2025-era servers (connect/era-hints.ts) and its use by checks against a real
 * 2025-era server (server-everything over Streamable HTTP): learned by a check, not by a
 * read-only one, lapsing after a day, forgotten when the server turns out modern.
 */

import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  EraHints,
  ERA_HINTS_FILE,
  HINT_TTL_MS,
  knownLegacy,
  rememberEra,
} from '../../src/connect/era-hints.js';
import { resolvePaths, type Paths } from '../../src/core/paths.js';
import { probeServer } from '../../src/connect/probe.js';
import { startEverything, type EverythingServer } from '../fixtures/everything.js';

async function dataDir(): Promise<{
  env: NodeJS.ProcessEnv;
  paths: Paths;
  file: string;
  done(): Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'patchbay-era-hints-'));
  return {
    env: { PATCHBAY_DATA_DIR: dir },
    paths: resolvePaths({ PATCHBAY_DATA_DIR: dir }),
    file: join(dir, ERA_HINTS_FILE),
    done: () => rm(dir, { recursive: true, force: true }),
  };
}

describe('era hints', () => {
  it('remember a legacy server for a day, and forget it when it answers as modern', async () => {
    const data = await dataDir();
    try {
      const url = 'http://127.0.0.1:1/mcp';
      const now = Date.now();
      expect(await knownLegacy(url, data.paths, now)).toBe(false);
      await rememberEra(url, 'legacy', data.paths, now);
      expect(await knownLegacy(url, data.paths, now + 1000)).toBe(true);
      expect(await knownLegacy(url, data.paths, now + HINT_TTL_MS)).toBe(false);
      expect(JSON.parse(await readFile(data.file, 'utf8'))).toEqual({ version: 1, legacy: { [url]: now } });
      // A steady state writes nothing.
      const written = (await stat(data.file)).mtimeMs;
      await rememberEra(url, 'legacy', data.paths, now + 1000);
      expect((await stat(data.file)).mtimeMs).toBe(written);
      await rememberEra(url, 'modern', data.paths, now + 2000);
      expect(await knownLegacy(url, data.paths, now + 2000)).toBe(false);
      expect(JSON.parse(await readFile(data.file, 'utf8'))).toEqual({ version: 1, legacy: {} });
    } finally {
      await data.done();
    }
  });
  it('are held by their owner: another owner reads the file afresh, the process keeps what it read', async () => {
    const data = await dataDir();
    try {
      const url = 'http://127.0.0.1:2/mcp';
      const now = Date.now();
      expect(await knownLegacy(url, data.paths, now)).toBe(false);
      const gateway = new EraHints();
      await gateway.rememberEra(url, 'legacy', data.paths, now);
      expect(await gateway.knownLegacy(url, data.paths, now + 1000)).toBe(true);
      expect(await new EraHints().knownLegacy(url, data.paths, now + 1000)).toBe(true);
      // The process's hints were read before the gateway wrote, and are not re-read.
      expect(await knownLegacy(url, data.paths, now + 1000)).toBe(false);
    } finally {
      await data.done();
    }
  });
});

describe('checks of a 2025-era server', () => {
  let server: EverythingServer;
  beforeAll(async () => {
    server = await startEverything('streamableHttp');
  });
  afterAll(async () => {
    await server.close();
  });

  it('learn its era, then connect with initialize straight away; a read-only check writes nothing', async () => {
    const readOnly = await dataDir();
    const data = await dataDir();
    try {
      const first = await probeServer(
        { transport: 'http', url: server.url },
        { timeoutMs: 10_000, env: readOnly.env, refresh: false },
      );
      expect(first).toMatchObject({ status: 'connected', era: 'legacy' });
      await expect(stat(readOnly.file)).rejects.toThrow();

      const learned = await probeServer(
        { transport: 'http', url: server.url },
        { timeoutMs: 10_000, env: data.env },
      );
      expect(learned).toMatchObject({ status: 'connected', era: 'legacy', toolCount: expect.any(Number) });
      expect(await knownLegacy(server.url, data.paths)).toBe(true);
      const hinted = await probeServer(
        { transport: 'http', url: server.url },
        { timeoutMs: 10_000, env: data.env },
      );
      expect(hinted).toMatchObject({
        status: 'connected',
        era: 'legacy',
        toolCount: learned.toolCount,
        resourceCount: learned.resourceCount,
        promptCount: learned.promptCount,
        server: learned.server,
      });
    } finally {
      await readOnly.done();
      await data.done();
    }
  });
});
