/**
 * `patchbay list` on the network people's machines have: private CAs, mTLS, proxies with and
 * without credentials, NO_PROXY, names that do not resolve, servers that are slow to answer.
 * Everything on loopback, through the built binary.
 */

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import { startHttpFaultServer, type FaultServer } from '../fixtures/fault-servers.js';
import { startGate, startProxy, type GateFixture, type ProxyFixture } from '../fixtures/proxy-server.js';
import { startTlsFront, tlsPair, tlsPath, type TlsFront } from '../fixtures/tls-servers.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

interface View {
  name: string;
  status: string;
  reason: string | null;
  hint: string | null;
  step: string | null;
  durationMs: number | null;
}

let demo: DemoServer;
let sandbox: Sandbox;

beforeAll(async () => {
  demo = await startDemoServer();
});
afterAll(async () => {
  await demo?.close();
});
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  await sandbox.cleanup();
});

async function listOne(env: NodeJS.ProcessEnv = {}, timeout = '5'): Promise<View> {
  const result = await sandbox.run(['list', '--json', '--timeout', timeout], { env });
  const views = JSON.parse(result.stdout) as View[];
  expect(views).toHaveLength(1);
  return views[0]!;
}

describe('TLS', () => {
  const fronts: Record<string, TlsFront> = {};
  beforeAll(async () => {
    const port = Number(new URL(demo.url).port);
    const clientCa = tlsPair('client-ca').cert;
    [fronts.trusted, fronts.expired, fronts.wrongHost, fronts.selfSigned, fronts.mtls] = await Promise.all([
      startTlsFront(port, tlsPair('server')),
      startTlsFront(port, tlsPair('expired')),
      startTlsFront(port, tlsPair('wrong-host')),
      startTlsFront(port, tlsPair('self-signed')),
      startTlsFront(port, { ...tlsPair('server'), ca: clientCa, requestCert: true }),
    ]);
  });
  afterAll(async () => {
    await Promise.all(Object.values(fronts).map((front) => front.close()));
  });

  it('a certificate from a private CA is not trusted, and the hint says how to trust it', async () => {
    await sandbox.run(['add', 'corp', fronts.trusted!.url('/mcp')]);
    const view = await listOne();
    expect(view).toMatchObject({
      status: 'failed',
      step: 'tls',
      reason: 'the TLS certificate of 127.0.0.1 is not trusted: it was issued by an unknown CA',
    });
    expect(view.hint).toContain('NODE_EXTRA_CA_CERTS=');
  });

  it('the private CA is trusted through NODE_EXTRA_CA_CERTS', async () => {
    await sandbox.run(['add', 'corp', fronts.trusted!.url('/mcp')]);
    const view = await listOne({ NODE_EXTRA_CA_CERTS: tlsPath('ca', 'pem') });
    expect(view.status).toBe('connected');
  });

  it('the private CA is trusted through the server\u2019s own --ca-file', async () => {
    await sandbox.run(['add', 'corp', fronts.trusted!.url('/mcp'), '--ca-file', tlsPath('ca', 'pem')]);
    expect((await listOne()).status).toBe('connected');
  });

  it('names an expired certificate, a certificate for another host and a self-signed one', async () => {
    const ca = tlsPath('ca', 'pem');
    await sandbox.run(['add', 'expired', fronts.expired!.url('/mcp'), '--ca-file', ca]);
    await sandbox.run(['add', 'wrong', fronts.wrongHost!.url('/mcp'), '--ca-file', ca]);
    await sandbox.run(['add', 'selfie', fronts.selfSigned!.url('/mcp')]);
    const result = await sandbox.run(['list', '--json']);
    const reasons = Object.fromEntries((JSON.parse(result.stdout) as View[]).map((v) => [v.name, v.reason]));
    expect(reasons).toEqual({
      expired: 'the TLS certificate of 127.0.0.1 has expired',
      wrong: 'the TLS certificate presented by 127.0.0.1 is for another host name',
      selfie: 'the TLS certificate of 127.0.0.1 is not trusted: it is self-signed',
    });
    expect(result.code).toBe(8);
  });

  it('presents a client certificate (mTLS) when the entry has one', async () => {
    const ca = tlsPath('ca', 'pem');
    await sandbox.run(['add', 'without', fronts.mtls!.url('/mcp'), '--ca-file', ca]);
    await sandbox.run([
      'add',
      'with',
      fronts.mtls!.url('/mcp'),
      '--ca-file',
      ca,
      '--client-cert',
      tlsPath('client', 'pem'),
      '--client-key',
      tlsPath('client', 'key'),
    ]);
    const result = await sandbox.run(['list', '--json']);
    const byName = Object.fromEntries((JSON.parse(result.stdout) as View[]).map((v) => [v.name, v]));
    expect(byName.with!.status).toBe('connected');
    expect(byName.without!.status).toBe('failed');
    expect(byName.without!.hint).toContain('--client-cert');
  });
});

describe('proxies', () => {
  let gate: GateFixture;
  let proxy: ProxyFixture;
  let authProxy: ProxyFixture;
  let tlsFront: TlsFront;
  let tlsGate: GateFixture;
  beforeAll(async () => {
    // The gate admits only connections coming from the proxy, so "connected" proves the proxy was used.
    gate = await startGate(Number(new URL(demo.url).port));
    tlsFront = await startTlsFront(Number(new URL(demo.url).port), tlsPair('server'));
    tlsGate = await startGate(tlsFront.port);
    [proxy, authProxy] = await Promise.all([
      startProxy(),
      startProxy({ auth: { user: 'pat', pass: 's3cret pw' } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([
      gate?.close(),
      tlsGate?.close(),
      tlsFront?.close(),
      proxy?.close(),
      authProxy?.close(),
    ]);
  });

  it('sends http traffic through HTTP_PROXY, and without it the server is unreachable', async () => {
    await sandbox.run(['add', 'behind', gate.url('/mcp')]);
    const before = proxy.connects.length;
    expect((await listOne({ HTTP_PROXY: proxy.url })).status).toBe('connected');
    expect(proxy.connects.length).toBeGreaterThan(before);
    expect((await listOne({}, '2')).status).toBe('failed');
  });

  it('tunnels https through https_proxy (lower case), with the private CA', async () => {
    await sandbox.run(['add', 'secure', tlsGate.url('/mcp').replace('http:', 'https:')]);
    const view = await listOne({ https_proxy: proxy.url, NODE_EXTRA_CA_CERTS: tlsPath('ca', 'pem') });
    expect(view.status).toBe('connected');
    expect(proxy.connects).toContain(`127.0.0.1:${tlsGate.port}`);
  });

  it('bypasses the proxy for NO_PROXY hosts', async () => {
    await sandbox.run(['add', 'behind', gate.url('/mcp')]);
    const before = proxy.connects.length;
    const view = await listOne({ HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' }, '2');
    expect(view.status).toBe('failed');
    expect(proxy.connects.length).toBe(before);
  });

  it('takes proxy credentials from the proxy URL, and says when they are missing', async () => {
    await sandbox.run(['add', 'behind', gate.url('/mcp')]);
    const withCredentials = authProxy.url;
    expect(withCredentials).toContain('@');
    expect((await listOne({ HTTP_PROXY: withCredentials })).status).toBe('connected');
    const anonymous = withCredentials.replace(/\/\/[^@]+@/, '//');
    const view = await listOne({ HTTP_PROXY: anonymous });
    expect(view).toMatchObject({ status: 'failed', step: 'connect' });
    expect(view.reason).toMatch(/proxy .* requires authentication \(HTTP 407\)/);
    // The password never appears, wherever the URL is shown.
    expect(JSON.stringify(view)).not.toContain('s3cret');
  });
});

describe('names, slowness', () => {
  let slow: FaultServer;
  beforeAll(async () => {
    // Reads the request, then takes 4 s to send the response headers.
    slow = await startHttpFaultServer((_req, res) => {
      const timer = setTimeout(() => res.writeHead(500).end(), 4_000);
      res.once('close', () => clearTimeout(timer));
    });
  });
  afterAll(async () => {
    await slow?.close();
  });

  it('says a name does not resolve (DNS), distinct from a refused connection', async () => {
    await sandbox.run(['add', 'nowhere', 'https://mcp.patchbay.invalid/mcp']);
    expect(await listOne()).toMatchObject({
      status: 'failed',
      step: 'connect',
      reason: 'DNS name not found: mcp.patchbay.invalid',
    });
  });

  it('a server slow to send its headers costs the timeout, and the reason says where it waited', async () => {
    await sandbox.run(['add', 'slow', slow.url]);
    const view = await listOne({}, '1');
    expect(view.durationMs).toBeLessThan(2_000);
    expect(view).toMatchObject({
      status: 'failed',
      step: 'handshake',
      reason: `timed out after 1 s: no answer from 127.0.0.1:${slow.port} to the MCP handshake (not even response headers)`,
    });
  });
});
