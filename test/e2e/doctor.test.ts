/**
 * `patchbay doctor` as a user runs it: the built binary in a throwaway home and project, against
 * real servers on 127.0.0.1 (server-everything over Streamable HTTP and SSE, fault servers, an
 * OAuth-protected endpoint, a TLS front with the test CA, stdio commands).
 */

import { readdir, readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import { startOAuthProtectedServer } from '../fixtures/doctor-servers.js';
import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import {
  getFreePort,
  startHangingServer,
  startStatusServer,
  type FaultServer,
} from '../fixtures/fault-servers.js';
import { startTlsFront, tlsPair, tlsPath, type TlsFront } from '../fixtures/tls-servers.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

const EXIT_CODE_SCRIPT = fileURLToPath(new URL('../fixtures/stdio/exit-code.mjs', import.meta.url));

interface JsonFinding {
  layer: string;
  status: string;
  summary: string;
  evidence: Record<string, unknown>;
  fix?: string;
}
interface JsonDiagnosis {
  name: string;
  scope: string;
  file: string;
  transport: string | null;
  target: string;
  verdict: string;
  findings: JsonFinding[];
  durationMs: number;
}

let sandbox: Sandbox;
let everythingHttp: EverythingServer;
let everythingSse: EverythingServer;
let demo: DemoServer;
let oauth: FaultServer;
let hanging: FaultServer;
let hostile: FaultServer;
let tlsFront: TlsFront;

beforeAll(async () => {
  [everythingHttp, everythingSse, demo, oauth, hanging, hostile] = await Promise.all([
    startEverything('streamableHttp'),
    startEverything('sse'),
    startDemoServer(),
    startOAuthProtectedServer(),
    startHangingServer(),
    // A JSON-RPC error whose message tries to drive the terminal.
    startStatusServer(200, {
      contentType: 'application/json',
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        error: { code: -32600, message: '\u001b[2J\u001b[31mpwned\u0007' },
      }),
    }),
  ]);
  tlsFront = await startTlsFront(Number(new URL(demo.url).port), tlsPair('server'));
}, 60_000);
afterAll(async () => {
  await Promise.all([
    everythingHttp.close(),
    everythingSse.close(),
    demo.close(),
    oauth.close(),
    hanging.close(),
    hostile.close(),
    tlsFront.close(),
  ]);
});
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  await sandbox.cleanup();
});

async function add(...args: string[]): Promise<void> {
  const result = await sandbox.run(['add', ...args]);
  expect(result.code, result.stderr).toBe(0);
}

function layerOf(diagnosis: JsonDiagnosis, layer: string): JsonFinding {
  const found = diagnosis.findings.find((finding) => finding.layer === layer);
  if (!found) throw new Error(`no ${layer} finding`);
  return found;
}

describe('patchbay doctor', () => {
  it('server-everything over Streamable HTTP and over SSE: every layer passes, exit 0', async () => {
    await add('everything', everythingHttp.url);
    await add('-t', 'sse', 'legacy', everythingSse.url);

    const human = await sandbox.run(['doctor']);
    expect(human.code, human.stdout + human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^everything {2}ok {2}\(local · http · http:\/\/127\.0\.0\.1:\d+\/mcp\)$/m);
    expect(human.stdout).toMatch(/^legacy {2}ok {2}\(local · sse · http:\/\/127\.0\.0\.1:\d+\/sse\)$/m);
    expect(human.stdout).toMatch(/^ {2}✔ dns +127\.0\.0\.1 is an IP address/m);
    expect(human.stdout).toMatch(/^ {2}✔ mcp +mcp-servers\/everything .* over Streamable HTTP/m);
    expect(human.stdout).toMatch(/^ {2}✔ mcp +mcp-servers\/everything .* over legacy SSE/m);
    expect(human.stdout).not.toMatch(/[✘!] /);
    expect(human.stderr).toMatch(/2 servers: 2 ok/);
    // NO_COLOR (set by the sandbox): plain text.
    expect(human.stdout).not.toContain('\u001b[');

    const json = await sandbox.run(['doctor', '--json']);
    expect(json.code).toBe(0);
    const diagnoses = JSON.parse(json.stdout) as JsonDiagnosis[];
    expect(diagnoses.map((d) => [d.name, d.verdict, d.transport])).toEqual([
      ['everything', 'ok', 'http'],
      ['legacy', 'ok', 'sse'],
    ]);
    for (const diagnosis of diagnoses) {
      expect(Object.keys(diagnosis).sort()).toEqual(
        ['durationMs', 'file', 'findings', 'name', 'scope', 'target', 'transport', 'verdict'].sort(),
      );
      expect(diagnosis.findings.map((finding) => finding.layer)).toEqual([
        'config',
        'proxy',
        'dns',
        'tcp',
        'http',
        'auth',
        'mcp',
        'tools',
      ]);
      expect(layerOf(diagnosis, 'tools').evidence.count).toBeGreaterThan(5);
    }
    expect(layerOf(diagnoses[1]!, 'http').evidence).toMatchObject({ method: 'GET', status: 200 });
  });

  it('one server by name: a single JSON object; an unknown name is the registry’s not-found error', async () => {
    await add('everything', everythingHttp.url);
    const one = await sandbox.run(['doctor', 'everything', '--json']);
    expect(one.code).toBe(0);
    expect((JSON.parse(one.stdout) as JsonDiagnosis).name).toBe('everything');

    const unknown = await sandbox.run(['doctor', 'everythin']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/No server named "everythin" is configured/);
    expect(unknown.stderr).toMatch(/Did you mean everything\?/);
  });

  it('an http entry on a legacy SSE endpoint works with warnings, and the fix is add -t sse', async () => {
    await add('wrongtype', everythingSse.url);
    const result = await sandbox.run(['doctor', 'wrongtype']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^wrongtype {2}ok, 2 warnings/m);
    expect(result.stdout).toContain(`→ patchbay add --force -s local -t sse wrongtype ${everythingSse.url}`);
  });

  it('failures in parallel, each bounded, in config order; exit 8', async () => {
    const refused = await getFreePort();
    // The entry's own timeout (ms) wins over --timeout: a loaded machine must not fail the healthy one.
    await add('--timeout', '20s', 'everything', everythingHttp.url);
    await add('slow', hanging.url);
    await add('gone', `http://127.0.0.1:${refused}/mcp`);
    await add('nowhere', 'https://mcp.example.invalid/mcp');
    await add('missing', '--', 'patchbay-test-no-such-command');
    await add('crash', '--', process.execPath, EXIT_CODE_SCRIPT);
    await add('-H', 'Authorization: Bearer ${DOCTOR_E2E_TOKEN}', 'unset', everythingHttp.url);

    const started = Date.now();
    const result = await sandbox.run(['doctor', '--json', '--timeout', '1.5']);
    const elapsed = Date.now() - started;
    expect(result.code).toBe(8);
    // In parallel: the hanging server's 1.5 s is not added to the others'.
    expect(elapsed).toBeLessThan(8_000);
    const diagnoses = JSON.parse(result.stdout) as JsonDiagnosis[];
    expect(diagnoses.map((d) => d.name)).toEqual([
      'everything',
      'slow',
      'gone',
      'nowhere',
      'missing',
      'crash',
      'unset',
    ]);
    const by = Object.fromEntries(diagnoses.map((d) => [d.name, d]));
    expect(by.everything!.verdict).toBe('ok');
    expect(layerOf(by.slow!, 'http').summary).toMatch(/within 1\.5 s/);
    expect(layerOf(by.gone!, 'dns').status).toBe('pass');
    expect(layerOf(by.gone!, 'tcp').summary).toBe(
      `nothing listening on 127.0.0.1:${refused} (connection refused)`,
    );
    expect(layerOf(by.nowhere!, 'dns').summary).toMatch(/^DNS name not found: mcp\.example\.invalid/);
    expect(layerOf(by.missing!, 'command').summary).toMatch(
      /^command not found: patchbay-test-no-such-command/,
    );
    expect(layerOf(by.crash!, 'mcp').summary).toMatch(/code 3.*boom: missing API key/);
    expect(layerOf(by.unset!, 'config')).toMatchObject({
      status: 'fail',
      fix: expect.stringMatching(/^export DOCTOR_E2E_TOKEN=…/),
    });
    for (const diagnosis of diagnoses.filter((d) => d.verdict === 'failed'))
      expect(diagnosis.findings.filter((finding) => finding.status === 'fail')).toHaveLength(1);

    const human = await sandbox.run(['doctor', '--timeout', '1.5']);
    expect(human.code).toBe(8);
    expect(human.stdout).toMatch(
      /^ {2}✘ tcp +nothing listening on 127\.0\.0\.1:\d+ \(connection refused\)$/m,
    );
    expect(human.stdout).toMatch(/^ {2}- http +skipped: tcp failed$/m);
    expect(human.stdout).toMatch(/^ {12}→ export DOCTOR_E2E_TOKEN=…/m);
    expect(human.stderr).toMatch(/7 servers: 1 ok, 6 failed/);
  });

  it('exit 4 when the only problem is a login; nothing registered, no token asked for, no file written', async () => {
    await add('everything', everythingHttp.url);
    await add('corp', oauth.url);
    const configBefore = await readFile(sandbox.userConfig, 'utf8');
    const mtimeBefore = (await stat(sandbox.userConfig)).mtimeMs;
    const filesBefore = await readdir(sandbox.configDir);

    const result = await sandbox.run(['doctor']);
    expect(result.code, result.stdout).toBe(4);
    expect(result.stdout).toMatch(/^corp {2}needs login/m);
    expect(result.stdout).toMatch(
      /^ {2}✘ auth +login required: OAuth with http:\/\/127\.0\.0\.1:\d+ \(PKCE S256, dynamic client registration\)$/m,
    );
    expect(result.stdout).toMatch(/^ {12}→ patchbay login corp$/m);

    const json = await sandbox.run(['doctor', 'corp', '--json']);
    expect(json.code).toBe(4);
    const diagnosis = JSON.parse(json.stdout) as JsonDiagnosis;
    expect(diagnosis.verdict).toBe('needs-auth');
    expect(layerOf(diagnosis, 'auth').evidence).toMatchObject({
      pkceS256: true,
      registrationEndpoint: true,
      resource: oauth.url,
    });

    const paths = oauth.requests.map(
      (request) => `${request.method} ${new URL(request.url, 'http://x').pathname}`,
    );
    expect(paths.filter((path) => /\/(register|token)$/.test(path))).toEqual([]);
    expect(paths.filter((path) => !path.startsWith('GET ') && path !== 'POST /mcp')).toEqual([]);
    expect(await readFile(sandbox.userConfig, 'utf8')).toBe(configBefore);
    expect((await stat(sandbox.userConfig)).mtimeMs).toBe(mtimeBefore);
    expect(await readdir(sandbox.configDir)).toEqual(filesBefore);
  });

  it('TLS with a private CA: untrusted names the fixes; add --ca-file makes it pass', async () => {
    const url = tlsFront.url('/mcp');
    await add('secure', url);
    const untrusted = await sandbox.run(['doctor', 'secure']);
    expect(untrusted.code).toBe(8);
    expect(untrusted.stdout).toMatch(
      /^ {2}✘ tls +certificate not trusted: issued by patchbay test CA \(test only\)/m,
    );
    expect(untrusted.stdout).toContain('--ca-file /path/to/ca.pem secure');
    expect(untrusted.stdout).toContain('NODE_EXTRA_CA_CERTS=/path/to/ca.pem');

    const viaEnv = await sandbox.run(['doctor', 'secure'], {
      env: { NODE_EXTRA_CA_CERTS: tlsPath('ca', 'pem') },
    });
    expect(viaEnv.code, viaEnv.stdout).toBe(0);

    await add('--force', '--ca-file', tlsPath('ca', 'pem'), 'secure', url);
    const trusted = await sandbox.run(['doctor', 'secure', '--json']);
    expect(trusted.code, trusted.stdout).toBe(0);
    expect(layerOf(JSON.parse(trusted.stdout) as JsonDiagnosis, 'tls').evidence).toMatchObject({
      authorized: true,
      issuer: 'patchbay test CA (test only)',
    });
  });

  it('what a server sends is sanitised before it reaches the terminal', async () => {
    await add('hostile', hostile.url);
    const result = await sandbox.run(['doctor', 'hostile', '--timeout', '2'], {
      env: { FORCE_COLOR: '1', NO_COLOR: '' },
    });
    expect(result.stdout).toMatch(/pwned/);
    // Only patchbay's own colour codes: no clear-screen, no bell.
    expect(result.stdout).not.toContain('\u001b[2J');
    expect(result.stdout).not.toContain('\u0007');
    expect(result.stdout).toContain('\u001b[32m');
  });
});
