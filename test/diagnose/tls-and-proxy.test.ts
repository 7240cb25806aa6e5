/**
 * The TLS layer with the test CA (trusted via tls.caFile, untrusted, expired, wrong host,
 * self-signed) and the proxy layer with a real proxy whose gate proves the traffic went through it.
 */

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDemoServer, type DemoServer } from '../../src/demo/demo-server.js';
import { diagnose } from '../../src/diagnose/doctor.js';
import { startGate, startProxy, type GateFixture, type ProxyFixture } from '../fixtures/proxy-server.js';
import {
  startTlsFront,
  tlsPair,
  tlsPath,
  type TlsFixtureName,
  type TlsFront,
} from '../fixtures/tls-servers.js';
import { layer, optionsWith, serverFor, statuses } from './helpers.js';

let demo: DemoServer;
let demoPort: number;
const fronts = new Map<TlsFixtureName, TlsFront>();

beforeAll(async () => {
  demo = await startDemoServer();
  demoPort = Number(new URL(demo.url).port);
  for (const name of ['server', 'expired', 'wrong-host', 'self-signed'] as const)
    fronts.set(name, await startTlsFront(demoPort, tlsPair(name)));
});
afterAll(async () => {
  await Promise.all([demo.close(), ...[...fronts.values()].map((front) => front.close())]);
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function front(name: TlsFixtureName): TlsFront {
  return fronts.get(name)!;
}

describe('TLS', () => {
  it('trusted through tls.caFile: the certificate is described and every layer passes', async () => {
    const diagnosis = await diagnose(
      serverFor('secure', {
        type: 'http',
        url: front('server').url('/mcp'),
        tls: { caFile: tlsPath('ca', 'pem') },
      }),
      optionsWith(),
    );
    expect(statuses(diagnosis)).toEqual([
      'config:pass',
      'proxy:pass',
      'dns:pass',
      'tcp:pass',
      'tls:pass',
      'http:pass',
      'auth:pass',
      'mcp:pass',
      'tools:pass',
    ]);
    const tls = layer(diagnosis, 'tls');
    expect(tls.evidence).toMatchObject({
      subject: 'patchbay test server',
      issuer: 'patchbay test CA (test only)',
      names: '127.0.0.1, localhost',
      authorized: true,
      authorizationError: null,
    });
    expect(tls.evidence.daysLeft).toBeGreaterThan(3_000);
    expect(tls.summary).toMatch(
      /certificate for 127\.0\.0\.1, localhost issued by patchbay test CA \(test only\), valid until 21\d\d-/,
    );
  });

  it('trusted through NODE_EXTRA_CA_CERTS (read by loadTlsMaterial with a caFile of another CA)', async () => {
    const diagnosis = await diagnose(
      serverFor('secure', {
        type: 'http',
        url: front('server').url('/mcp'),
        tls: { caFile: tlsPath('client-ca', 'pem') },
      }),
      optionsWith({ NODE_EXTRA_CA_CERTS: tlsPath('ca', 'pem') }),
    );
    expect(layer(diagnosis, 'tls').status).toBe('pass');
  });

  it('untrusted: the fix names NODE_EXTRA_CA_CERTS and --ca-file', async () => {
    const diagnosis = await diagnose(
      serverFor('secure', { type: 'http', url: front('server').url('/mcp') }),
      optionsWith(),
    );
    expect(diagnosis.verdict).toBe('failed');
    const tls = layer(diagnosis, 'tls');
    expect(tls.status).toBe('fail');
    expect(tls.summary).toMatch(
      /^certificate not trusted: issued by patchbay test CA \(test only\), which is not a trusted CA/,
    );
    expect(tls.evidence).toMatchObject({ authorized: false, issuer: 'patchbay test CA (test only)' });
    expect(tls.fix).toMatch(
      /patchbay add --force -s local --ca-file \/path\/to\/ca\.pem secure https:\/\/127\.0\.0\.1:\d+\/mcp/,
    );
    expect(tls.fix).toMatch(/NODE_EXTRA_CA_CERTS=\/path\/to\/ca\.pem/);
    expect(layer(diagnosis, 'http').summary).toBe('skipped: tls failed');
  });

  it('expired: says when, and who issued it', async () => {
    const diagnosis = await diagnose(
      serverFor('old', {
        type: 'http',
        url: front('expired').url('/mcp'),
        tls: { caFile: tlsPath('ca', 'pem') },
      }),
      optionsWith(),
    );
    const tls = layer(diagnosis, 'tls');
    expect(tls.status).toBe('fail');
    expect(tls.summary).toBe('certificate expired on 2020-12-31 (issuer: patchbay test CA (test only))');
    expect(tls.evidence).toMatchObject({ authorizationError: 'CERT_HAS_EXPIRED', validTo: '2020-12-31' });
    expect(Number(tls.evidence.daysLeft)).toBeLessThan(0);
  });

  it('wrong host: names the certificate is for', async () => {
    const diagnosis = await diagnose(
      serverFor('other', {
        type: 'http',
        url: front('wrong-host').url('/mcp'),
        tls: { caFile: tlsPath('ca', 'pem') },
      }),
      optionsWith(),
    );
    const tls = layer(diagnosis, 'tls');
    expect(tls.summary).toBe(
      'certificate is for wrong.example, not 127.0.0.1 (issuer: patchbay test CA (test only))',
    );
    expect(tls.fix).toMatch(/https:\/\/wrong\.example:\d+\/mcp/);
  });

  it('self-signed', async () => {
    const diagnosis = await diagnose(
      serverFor('self', { type: 'http', url: front('self-signed').url('/mcp') }),
      optionsWith(),
    );
    expect(layer(diagnosis, 'tls').summary).toMatch(/^certificate not trusted: it is self-signed/);
  });

  it('mutual TLS: without a client certificate the TLS layer says one is wanted; with it, all pass', async () => {
    const mtls = await startTlsFront(demoPort, {
      ...tlsPair('server'),
      ca: readFileSync(tlsPath('client-ca', 'pem'), 'utf8'),
      requestCert: true,
    });
    try {
      const url = mtls.url('/mcp');
      const without = await diagnose(
        serverFor('mtls', { type: 'http', url, tls: { caFile: tlsPath('ca', 'pem') } }),
        optionsWith(),
      );
      const tls = layer(without, 'tls');
      expect(tls.status).toBe('fail');
      expect(tls.summary).toMatch(
        /^the server wants a client certificate \(mutual TLS\) and patchbay has none/,
      );
      expect(tls.fix).toMatch(
        /--client-cert \/path\/to\/client\.pem --client-key \/path\/to\/client\.key mtls https:/,
      );

      const withCertificate = await diagnose(
        serverFor('mtls', {
          type: 'http',
          url,
          tls: {
            caFile: tlsPath('ca', 'pem'),
            certFile: tlsPath('client', 'pem'),
            keyFile: tlsPath('client', 'key'),
          },
        }),
        optionsWith(),
      );
      expect(withCertificate.verdict).toBe('ok');
    } finally {
      await mtls.close();
    }
  });

  it.skipIf(!hasOpenssl())(
    'a certificate with less than 14 days left is a warning, not a failure',
    async () => {
      const work = await mkdtemp(join(tmpdir(), 'patchbay-doctor-cert-'));
      let soon: TlsFront | undefined;
      try {
        // Signed by the test CA for 127.0.0.1, valid for 5 days from now.
        const key = join(work, 'soon.key');
        const csr = join(work, 'soon.csr');
        const ext = join(work, 'soon.ext');
        const cert = join(work, 'soon.pem');
        await writeFile(ext, 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
        execFileSync('openssl', [
          'genpkey',
          '-algorithm',
          'EC',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-out',
          key,
        ]);
        execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/CN=patchbay test soon', '-out', csr]);
        execFileSync(
          'openssl',
          [
            'x509',
            '-req',
            '-in',
            csr,
            '-CA',
            tlsPath('ca', 'pem'),
            '-CAkey',
            tlsPath('ca', 'key'),
            '-set_serial',
            '7',
            '-days',
            '5',
            '-extfile',
            ext,
            '-out',
            cert,
          ],
          { stdio: 'ignore' },
        );
        soon = await startTlsFront(demoPort, {
          cert: await readFile(cert, 'utf8'),
          key: await readFile(key, 'utf8'),
        });
        const diagnosis = await diagnose(
          serverFor('soon', { type: 'http', url: soon.url('/mcp'), tls: { caFile: tlsPath('ca', 'pem') } }),
          optionsWith(),
        );
        const tls = layer(diagnosis, 'tls');
        expect(tls.status).toBe('warn');
        expect(tls.summary).toMatch(
          /^certificate expires in [45] days, on \d{4}-\d{2}-\d{2} \(issuer: patchbay test CA \(test only\)\)$/,
        );
        expect(diagnosis.verdict).toBe('ok');
        expect(layer(diagnosis, 'tools').status).toBe('pass');
      } finally {
        await soon?.close();
        await rm(work, { recursive: true, force: true });
      }
    },
  );

  it('https to a plain http port: the server does not speak TLS', async () => {
    const diagnosis = await diagnose(
      serverFor('plain', { type: 'http', url: `https://127.0.0.1:${demoPort}/mcp` }),
      optionsWith(),
    );
    const tls = layer(diagnosis, 'tls');
    expect(tls.status).toBe('fail');
    expect(tls.summary).toMatch(/does not speak TLS on this port/);
  });

  it('a CA file that cannot be read fails TLS with the reason', async () => {
    const diagnosis = await diagnose(
      serverFor('secure', {
        type: 'http',
        url: front('server').url('/mcp'),
        tls: { caFile: tlsPath('not-pem.txt') },
      }),
      optionsWith(),
    );
    expect(layer(diagnosis, 'tls')).toMatchObject({
      status: 'fail',
      summary: expect.stringMatching(/is not PEM/),
    });
  });
});

describe('proxy', () => {
  let proxy: ProxyFixture;
  let gate: GateFixture;
  let tlsGate: GateFixture;
  beforeAll(async () => {
    proxy = await startProxy();
    gate = await startGate(demoPort);
    tlsGate = await startGate(front('server').port);
  });
  afterAll(async () => {
    await Promise.all([proxy.close(), gate.close(), tlsGate.close()]);
  });

  it("plain http through HTTP_PROXY: DNS and TCP are the proxy's, the target's are left to it", async () => {
    const diagnosis = await diagnose(
      serverFor('behind', { type: 'http', url: gate.url('/mcp') }),
      optionsWith({ HTTP_PROXY: proxy.url }),
    );
    expect(diagnosis.verdict).toBe('ok');
    expect(layer(diagnosis, 'proxy')).toMatchObject({
      status: 'pass',
      summary: `through http://127.0.0.1:${proxy.port} (from HTTP_PROXY)`,
      evidence: { variable: 'HTTP_PROXY', mode: 'forward' },
    });
    const dns = diagnosis.findings.filter((finding) => finding.layer === 'dns');
    expect(dns.map((finding) => finding.status)).toEqual(['pass', 'skip']);
    expect(dns[1]!.summary).toBe('127.0.0.1: resolved by the proxy');
    const tcp = diagnosis.findings.filter((finding) => finding.layer === 'tcp');
    expect(tcp.map((finding) => finding.summary)).toEqual([
      `proxy 127.0.0.1:${proxy.port} accepts connections (127.0.0.1)`,
      `127.0.0.1:${gate.port}: connected by the proxy`,
    ]);
    expect(gate.passed).toBeGreaterThan(0);
    expect(gate.dropped).toBe(0);
  });

  it('https through the proxy: TLS is checked inside a CONNECT tunnel', async () => {
    const connectsBefore = proxy.connects.length;
    const diagnosis = await diagnose(
      serverFor('behind', {
        type: 'http',
        url: tlsGate.url('/mcp').replace('http:', 'https:'),
        tls: { caFile: tlsPath('ca', 'pem') },
      }),
      optionsWith({ https_proxy: proxy.url }),
    );
    expect(diagnosis.verdict).toBe('ok');
    expect(layer(diagnosis, 'proxy').evidence).toMatchObject({ variable: 'https_proxy', mode: 'tunnel' });
    const tcp = diagnosis.findings.filter((finding) => finding.layer === 'tcp');
    expect(tcp[1]).toMatchObject({
      status: 'pass',
      summary: `the proxy opened a tunnel to 127.0.0.1:${tlsGate.port}`,
    });
    expect(layer(diagnosis, 'tls').evidence.issuer).toBe('patchbay test CA (test only)');
    expect(proxy.connects.slice(connectsBefore)).toContain(`127.0.0.1:${tlsGate.port}`);
    expect(tlsGate.dropped).toBe(0);
  });

  it('NO_PROXY: direct, and says which variable was passed over', async () => {
    const diagnosis = await diagnose(
      serverFor('local', { type: 'http', url: demo.url }),
      optionsWith({ HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' }),
    );
    expect(layer(diagnosis, 'proxy').summary).toBe(
      'direct: NO_PROXY lists 127.0.0.1, so HTTP_PROXY is not used',
    );
    expect(diagnosis.verdict).toBe('ok');
  });

  it('a proxy that is down fails TCP for the proxy', async () => {
    const diagnosis = await diagnose(
      serverFor('behind', { type: 'http', url: gate.url('/mcp') }),
      optionsWith({ HTTP_PROXY: 'http://127.0.0.1:1' }),
    );
    const tcp = layer(diagnosis, 'tcp');
    expect(tcp).toMatchObject({
      status: 'fail',
      summary: 'nothing listening on proxy 127.0.0.1:1 (connection refused)',
    });
    expect(tcp.fix).toMatch(/HTTPS_PROXY \/ HTTP_PROXY/);
  });
});
