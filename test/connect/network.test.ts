import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rootCertificates } from 'node:tls';
import { readFileSync } from 'node:fs';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  createHttpClient,
  describeProxy,
  loadTlsMaterial,
  proxyFor,
  type HttpClient,
  type HttpClientOptions,
} from '../../src/connect/network.js';
import { PatchbayError } from '../../src/errors.js';
import { startEverything, type EverythingServer } from '../fixtures/everything.js';
import {
  getFreePort,
  startHangingServer,
  startStatusServer,
  type FaultServer,
} from '../fixtures/fault-servers.js';
import { startGate, startProxy, type GateFixture, type ProxyFixture } from '../fixtures/proxy-server.js';
import { startTlsFront, startTlsStall, tlsPair, tlsPath, type TlsFront } from '../fixtures/tls-servers.js';

const CA_FILE = tlsPath('ca', 'pem');
const CA_PEM = readFileSync(CA_FILE, 'utf8');

/** Every client a test creates, closed in afterAll even when the test failed half-way. */
const clients: HttpClient[] = [];
async function httpClient(options: HttpClientOptions): Promise<HttpClient> {
  const client = await createHttpClient(options);
  clients.push(client);
  return client;
}
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
});

/** Node and undici leave the reason (`code`) on a link of the cause chain, not on the TypeError. */
function causeCodes(error: unknown): string[] {
  const codes: string[] = [];
  for (let link = error; link instanceof Error; link = link.cause) {
    const code = (link as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
  }
  return codes;
}

function causeMessages(error: unknown): string {
  const messages: string[] = [];
  for (let link = error; link instanceof Error; link = link.cause) messages.push(link.message);
  return messages.join(' <- ');
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

/** Connect the SDK's own client and transport over `http.fetch`, list the tools, disconnect. */
async function listToolsVia(http: HttpClient, url: string): Promise<string[]> {
  const client = new Client({ name: 't', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(url), { fetch: http.fetch });
  try {
    await client.connect(transport, { timeout: 10_000 });
    const { tools } = await client.listTools(undefined, { timeout: 10_000 });
    return tools.map((tool) => tool.name);
  } finally {
    await client.close();
  }
}

async function until(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// ---------------------------------------------------------------------------------------------

describe('proxyFor', () => {
  const https = new URL('https://mcp.example.com/mcp');
  const http = new URL('http://mcp.example.com/mcp');

  it('picks the variable by the scheme of the URL', () => {
    const env = { HTTPS_PROXY: 'http://secure:1', HTTP_PROXY: 'http://plain:2' };
    expect(proxyFor(https, env)?.href).toBe('http://secure:1/');
    expect(proxyFor(http, env)?.href).toBe('http://plain:2/');
    expect(proxyFor(http, { HTTPS_PROXY: 'http://secure:1' })).toBeNull();
    expect(proxyFor(https, { HTTP_PROXY: 'http://plain:2' })).toBeNull();
    expect(proxyFor(https, {})).toBeNull();
  });

  it('prefers the lower-case variable, and treats an empty one as unset', () => {
    expect(proxyFor(https, { HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:2' })?.host).toBe(
      'lower:2',
    );
    expect(proxyFor(https, { HTTPS_PROXY: 'http://upper:1', https_proxy: '' })?.host).toBe('upper:1');
    expect(proxyFor(http, { HTTP_PROXY: 'http://upper:1', http_proxy: 'http://lower:2' })?.host).toBe(
      'lower:2',
    );
    expect(proxyFor(https, { HTTPS_PROXY: '' })).toBeNull();
    expect(proxyFor(https, { HTTPS_PROXY: '   ' })).toBeNull();
  });

  it('reads a value without a scheme as http://', () => {
    expect(proxyFor(https, { HTTPS_PROXY: 'proxy.corp:3128' })?.href).toBe('http://proxy.corp:3128/');
    expect(proxyFor(https, { HTTPS_PROXY: 'user:pw@proxy.corp:3128' })?.username).toBe('user');
    expect(proxyFor(https, { HTTPS_PROXY: 'https://proxy.corp' })?.protocol).toBe('https:');
  });

  it('refuses an unusable proxy URL with a usage error naming the variable, never the password', () => {
    for (const [value, why] of [
      ['http://user:s3cret@[bad', 'does not parse'],
      ['socks5://user:s3cret@proxy:1080', 'socks5:'],
      ['ftp://proxy', 'ftp:'],
    ] as const) {
      const error = rejectionSync(() => proxyFor(https, { https_proxy: value }));
      expect(error).toBeInstanceOf(PatchbayError);
      expect((error as PatchbayError).code).toBe('usage');
      expect((error as PatchbayError).message).toContain('https_proxy');
      expect((error as PatchbayError).message).toContain(why);
      expect((error as PatchbayError).message).not.toContain('s3cret');
      expect((error as PatchbayError).hint).toMatch(/https_proxy=|Set https_proxy/);
    }
  });

  const env = (noProxy: string) => ({
    HTTPS_PROXY: 'http://proxy:3128',
    HTTP_PROXY: 'http://proxy:3128',
    NO_PROXY: noProxy,
  });
  const bypassed = (url: string, noProxy: string) => proxyFor(new URL(url), env(noProxy)) === null;

  it('NO_PROXY=* bypasses everything', () => {
    expect(bypassed('https://anything.example/', '*')).toBe(true);
    expect(bypassed('http://10.1.2.3:8080/', 'foo.example, *')).toBe(true);
  });

  it('NO_PROXY names match the host and its subdomains, in every spelling', () => {
    for (const entry of ['example.com', '.example.com', '*.example.com', 'EXAMPLE.com']) {
      expect(bypassed('https://example.com/', entry), entry).toBe(true);
      expect(bypassed('https://a.example.com/', entry), entry).toBe(true);
      expect(bypassed('https://a.b.example.com/', entry), entry).toBe(true);
      expect(bypassed('https://notexample.com/', entry), entry).toBe(false);
      expect(bypassed('https://example.com.evil.test/', entry), entry).toBe(false);
    }
  });

  it('NO_PROXY is a comma- or space-separated list, lower-case variable first', () => {
    expect(bypassed('https://b.test/', 'a.test,b.test')).toBe(true);
    expect(bypassed('https://b.test/', 'a.test b.test')).toBe(true);
    expect(bypassed('https://b.test/', ' a.test ,  b.test ')).toBe(true);
    expect(bypassed('https://c.test/', 'a.test,b.test')).toBe(false);
    const both = { HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: 'a.test', no_proxy: 'b.test' };
    expect(proxyFor(new URL('https://b.test/'), both)).toBeNull();
    expect(proxyFor(new URL('https://a.test/'), both)).not.toBeNull();
  });

  it('NO_PROXY host:port matches that port only (default ports included)', () => {
    expect(bypassed('https://a.test:8443/', 'a.test:8443')).toBe(true);
    expect(bypassed('https://a.test/', 'a.test:8443')).toBe(false);
    expect(bypassed('https://a.test/', 'a.test:443')).toBe(true);
    expect(bypassed('http://a.test/', 'a.test:80')).toBe(true);
    expect(bypassed('http://a.test/', 'a.test:443')).toBe(false);
    expect(bypassed('http://127.0.0.1:9000/', '127.0.0.1:9000')).toBe(true);
    expect(bypassed('http://127.0.0.1:9001/', '127.0.0.1:9000')).toBe(false);
  });

  it('NO_PROXY IP literals match exactly, IPv6 with or without brackets', () => {
    expect(bypassed('http://127.0.0.1:1234/', '127.0.0.1')).toBe(true);
    expect(bypassed('http://127.0.0.2:1234/', '127.0.0.1')).toBe(false);
    // A suffix of an address is not a domain.
    expect(bypassed('http://10.0.0.1/', '0.0.1')).toBe(false);
    expect(bypassed('http://[::1]:1234/', '::1')).toBe(true);
    expect(bypassed('http://[::1]:1234/', '[::1]')).toBe(true);
    expect(bypassed('http://[::1]:1234/', '[::1]:1234')).toBe(true);
    expect(bypassed('http://[::1]:1235/', '[::1]:1234')).toBe(false);
    expect(bypassed('http://[::1]/', '0:0:0:0:0:0:0:1')).toBe(true);
    expect(bypassed('http://[::2]/', '::1')).toBe(false);
  });

  it('NO_PROXY CIDR entries match addresses in the range, not names', () => {
    expect(bypassed('http://10.20.30.40/', '10.0.0.0/8')).toBe(true);
    expect(bypassed('http://11.0.0.1/', '10.0.0.0/8')).toBe(false);
    expect(bypassed('http://127.0.0.1:5000/', '127.0.0.0/8')).toBe(true);
    expect(bypassed('https://192.168.1.200/', '192.168.1.128/25')).toBe(true);
    expect(bypassed('https://192.168.1.100/', '192.168.1.128/25')).toBe(false);
    expect(bypassed('http://[fd00::1]/', 'fd00::/8')).toBe(true);
    expect(bypassed('http://[fe80::1]/', 'fd00::/8')).toBe(false);
    expect(bypassed('http://10.example/', '10.0.0.0/8')).toBe(false);
    // Malformed entries are skipped, the rest still apply.
    expect(bypassed('http://a.test/', '10.0.0.0/99,a.test')).toBe(true);
  });

  it('does not bypass loopback unless NO_PROXY lists it (as curl)', () => {
    expect(bypassed('http://127.0.0.1:1234/', '')).toBe(false);
    expect(bypassed('http://localhost:1234/', '')).toBe(false);
    expect(bypassed('http://localhost:1234/', 'localhost')).toBe(true);
  });
});

function rejectionSync(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('describeProxy', () => {
  it('names the proxy without its password', () => {
    expect(describeProxy(new URL('http://proxy.corp:3128'))).toBe('http://proxy.corp:3128');
    expect(describeProxy(new URL('http://alice:s3cret@proxy.corp:3128/'))).toBe(
      'http://alice:***@proxy.corp:3128',
    );
    expect(describeProxy(new URL('https://alice@proxy.corp'))).toBe('https://alice@proxy.corp');
  });
});

// ---------------------------------------------------------------------------------------------

describe('loadTlsMaterial', () => {
  it('leaves ca unset without a caFile, so Node keeps its default store', async () => {
    expect(await loadTlsMaterial(undefined, {})).toEqual({});
    expect(await loadTlsMaterial({}, { NODE_EXTRA_CA_CERTS: CA_FILE })).toEqual({});
  });

  it('with a caFile, trusts the bundled roots, NODE_EXTRA_CA_CERTS and the caFile', async () => {
    const selfSigned = readFileSync(tlsPath('self-signed', 'pem'), 'utf8');
    const { ca } = await loadTlsMaterial(
      { caFile: tlsPath('self-signed', 'pem') },
      { NODE_EXTRA_CA_CERTS: CA_FILE },
    );
    expect(ca).toBeDefined();
    expect(ca!.slice(0, rootCertificates.length)).toEqual([...rootCertificates]);
    expect(ca).toContain(CA_PEM);
    expect(ca!.at(-1)).toBe(selfSigned);
  });

  it('ignores an unreadable NODE_EXTRA_CA_CERTS, as Node does', async () => {
    const { ca } = await loadTlsMaterial(
      { caFile: CA_FILE },
      { NODE_EXTRA_CA_CERTS: '/nonexistent/extra.pem' },
    );
    expect(ca).toHaveLength(rootCertificates.length + 1);
  });

  it('reads a client certificate and key', async () => {
    const material = await loadTlsMaterial(
      { certFile: tlsPath('client', 'pem'), keyFile: tlsPath('client', 'key') },
      {},
    );
    expect(material.cert).toContain('BEGIN CERTIFICATE');
    expect(material.key).toContain('PRIVATE KEY');
    expect(material.ca).toBeUndefined();
  });

  async function tlsConfigError(promise: Promise<unknown>): Promise<PatchbayError> {
    const error = await rejection(promise);
    expect(error).toBeInstanceOf(PatchbayError);
    expect((error as PatchbayError).code).toBe('tls-config');
    expect((error as PatchbayError).hint).toBeTruthy();
    return error as PatchbayError;
  }

  it('a missing file is a tls-config error naming the path and the setting', async () => {
    const error = await tlsConfigError(loadTlsMaterial({ caFile: '/nonexistent/ca.pem' }, {}));
    expect(error.message).toBe(
      'cannot read the CA file /nonexistent/ca.pem given in tls.caFile: no such file',
    );
    const key = await tlsConfigError(
      loadTlsMaterial({ certFile: tlsPath('client', 'pem'), keyFile: '/nonexistent/key.pem' }, {}),
    );
    expect(key.message).toContain('/nonexistent/key.pem');
    expect(key.message).toContain('tls.keyFile');
  });

  it('a file that is not PEM is a tls-config error naming the path', async () => {
    const notPem = tlsPath('not-pem.txt');
    expect((await tlsConfigError(loadTlsMaterial({ caFile: notPem }, {}))).message).toContain(notPem);
    const cert = await tlsConfigError(
      loadTlsMaterial({ certFile: notPem, keyFile: tlsPath('client', 'key') }, {}),
    );
    expect(cert.message).toContain(`${notPem} given in tls.certFile is not PEM`);
    // A certificate where the key should be.
    const key = await tlsConfigError(
      loadTlsMaterial({ certFile: tlsPath('client', 'pem'), keyFile: tlsPath('client', 'pem') }, {}),
    );
    expect(key.message).toContain('tls.keyFile is not PEM');
  });

  it('a directory, half a client pair, or a key of another certificate are tls-config errors', async () => {
    const dir = tlsPath('ca', 'pem').replace(/ca\.pem$/, '');
    expect((await tlsConfigError(loadTlsMaterial({ caFile: dir }, {}))).message).toContain(
      'it is a directory',
    );
    expect(
      (await tlsConfigError(loadTlsMaterial({ certFile: tlsPath('client', 'pem') }, {}))).message,
    ).toContain('needs both tls.certFile and tls.keyFile');
    expect(
      (
        await tlsConfigError(
          loadTlsMaterial({ certFile: tlsPath('client', 'pem'), keyFile: tlsPath('server', 'key') }, {}),
        )
      ).message,
    ).toContain('the key does not belong to the certificate');
  });
});

// ---------------------------------------------------------------------------------------------

describe('HttpClient through a real proxy', () => {
  let everything: EverythingServer;
  let gate: GateFixture;
  let tlsFront: TlsFront;
  let tlsGate: GateFixture;
  let proxy: ProxyFixture;
  let authProxy: ProxyFixture;
  let plainUrl: string;
  let httpsUrl: string;

  beforeAll(async () => {
    everything = await startEverything('streamableHttp');
    const everythingPort = Number(new URL(everything.url).port);
    // Plain: proxy → gate → server-everything. TLS: proxy → gate → TLS front → server-everything.
    gate = await startGate(everythingPort);
    tlsFront = await startTlsFront(everythingPort, tlsPair('server'));
    tlsGate = await startGate(tlsFront.port);
    proxy = await startProxy();
    authProxy = await startProxy({ auth: { user: 'alice', pass: 'p@ss word' } });
    plainUrl = gate.url('/mcp');
    httpsUrl = `https://127.0.0.1:${tlsGate.port}/mcp`;
  });

  afterAll(async () => {
    await Promise.all([
      proxy?.close(),
      authProxy?.close(),
      gate?.close(),
      tlsGate?.close(),
      tlsFront?.close(),
    ]);
    await everything?.close();
  });

  it('the MCP SDK connects and lists tools through HTTP_PROXY (forwarded plain http)', async () => {
    const http = await httpClient({ env: { HTTP_PROXY: proxy.url } });
    expect(http.proxyFor(new URL(plainUrl))?.href).toBe(`${proxy.url}/`);
    const before = proxy.connects.length;
    expect(await listToolsVia(http, plainUrl)).toContain('echo');
    expect(proxy.connects.slice(before)).toContain(plainUrl);
    expect(gate.passed).toBeGreaterThan(0);
    // Forwarded requests ride the connection to the proxy: its phase is the one reported.
    expect(http.phase(new URL(plainUrl))).toBe('connected');
    await http.close();
  });

  it('the MCP SDK connects and lists tools through HTTPS_PROXY (CONNECT tunnel, private CA)', async () => {
    const http = await httpClient({ env: { https_proxy: proxy.url }, tls: { caFile: CA_FILE } });
    const before = proxy.connects.length;
    expect(await listToolsVia(http, httpsUrl)).toContain('echo');
    expect(proxy.connects.slice(before)).toContain(`127.0.0.1:${tlsGate.port}`);
    expect(http.phase(new URL(httpsUrl))).toBe('connected');
    await http.close();
  });

  it('without a proxy the same request fails at the gate', async () => {
    const http = await httpClient({ env: {} });
    const dropped = gate.dropped;
    const error = await rejection(http.fetch(plainUrl, { method: 'POST', body: '{}' }));
    expect(error).toBeInstanceOf(TypeError);
    expect(gate.dropped).toBe(dropped + 1);
  });

  it('NO_PROXY=127.0.0.1 bypasses the proxy', async () => {
    const http = await httpClient({ env: { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' } });
    expect(http.proxyFor(new URL(plainUrl))).toBeNull();
    const [seen, dropped] = [proxy.connects.length, gate.dropped];
    await rejection(http.fetch(plainUrl, { method: 'POST', body: '{}' }));
    expect(proxy.connects.length).toBe(seen);
    expect(gate.dropped).toBe(dropped + 1);
  });

  it('a proxy that needs Basic auth works with user:password in the URL', async () => {
    const tunnelled = await httpClient({ env: { HTTPS_PROXY: authProxy.url }, tls: { caFile: CA_FILE } });
    expect(await listToolsVia(tunnelled, httpsUrl)).toContain('echo');
    const forwarded = await httpClient({ env: { HTTP_PROXY: authProxy.url } });
    expect(await listToolsVia(forwarded, plainUrl)).toContain('echo');
  });

  it('a proxy that needs Basic auth answers 407 without credentials', async () => {
    const anonymous = new URL(authProxy.url);
    anonymous.username = anonymous.password = '';
    const tunnelled = await httpClient({ env: { HTTPS_PROXY: anonymous.href }, tls: { caFile: CA_FILE } });
    const error = await rejection(tunnelled.fetch(httpsUrl, { method: 'POST', body: '{}' }));
    expect(causeMessages(error)).toMatch(/Proxy response \(407\)/);
    // Forwarded: undici's proxy wrapper turns the 407 into an error as well.
    const forwarded = await httpClient({ env: { HTTP_PROXY: anonymous.href } });
    const forwardedError = await rejection(forwarded.fetch(plainUrl, { method: 'POST', body: '{}' }));
    expect(causeMessages(forwardedError)).toMatch(/407/);
  });

  it('phase through a proxy: the TLS handshake inside the tunnel, or still connecting to the proxy', async () => {
    const stall = await startTlsStall();
    try {
      const http = await httpClient({ env: { HTTPS_PROXY: proxy.url }, connectTimeoutMs: 500 });
      const url = new URL(stall.url('/mcp'));
      const error = await rejection(http.fetch(url));
      expect(causeCodes(error)).toContain('UND_ERR_CONNECT_TIMEOUT');
      expect(http.phase(url)).toBe('tls-handshake');
    } finally {
      await stall.close();
    }
    const deadProxy = `http://127.0.0.1:${await getFreePort()}`;
    const http = await httpClient({ env: { HTTPS_PROXY: deadProxy } });
    const error = await rejection(http.fetch('https://mcp.invalid/mcp'));
    expect(causeCodes(error)).toContain('ECONNREFUSED');
    expect(http.phase(new URL('https://mcp.invalid/mcp'))).toBe('connecting');
  });

  it('bounds a proxy that accepts but never answers CONNECT by connectTimeoutMs', async () => {
    const blackHole = await startHangingServer();
    try {
      const http = await httpClient({
        env: { HTTPS_PROXY: `http://127.0.0.1:${blackHole.port}` },
        connectTimeoutMs: 300,
      });
      const started = Date.now();
      const error = await rejection(http.fetch('https://mcp.invalid/mcp'));
      expect(causeCodes(error)).toContain('UND_ERR_CONNECT_TIMEOUT');
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(http.phase(new URL('https://mcp.invalid/mcp'))).toBe('connecting');
    } finally {
      await blackHole.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('HttpClient TLS', () => {
  let plain: FaultServer;
  const fronts: TlsFront[] = [];
  let good: TlsFront;
  let expired: TlsFront;
  let wrongHost: TlsFront;
  let selfSigned: TlsFront;
  let mutual: TlsFront;

  beforeAll(async () => {
    plain = await startStatusServer(200, { body: 'ok' });
    const front = async (name: Parameters<typeof tlsPair>[0], extra = {}) => {
      const started = await startTlsFront(plain.port, { ...tlsPair(name), ...extra });
      fronts.push(started);
      return started;
    };
    good = await front('server');
    expired = await front('expired');
    wrongHost = await front('wrong-host');
    selfSigned = await front('self-signed');
    mutual = await front('server', {
      ca: readFileSync(tlsPath('client-ca', 'pem'), 'utf8'),
      requestCert: true,
    });
  });

  afterAll(async () => {
    await Promise.all(fronts.map((front) => front.close()));
    await plain?.close();
  });

  it('a server signed by a private CA fails without tls.caFile and works with it', async () => {
    const untrusting = await httpClient({ env: {} });
    const error = await rejection(untrusting.fetch(good.url('/mcp')));
    expect(causeCodes(error)).toContain('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(untrusting.phase(new URL(good.url()))).toBe('tls-handshake');

    const trusting = await httpClient({ env: {}, tls: { caFile: CA_FILE } });
    const response = await trusting.fetch(good.url('/mcp'));
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ok');
    expect(trusting.phase(new URL(good.url()))).toBe('connected');
  });

  it('returns a global Response, with url, so the SDK can test instanceof Response', async () => {
    const http = await httpClient({ env: {}, tls: { caFile: CA_FILE } });
    const response = await http.fetch(good.url('/mcp?x=1'));
    expect(response).toBeInstanceOf(Response);
    expect(response.url).toBe(good.url('/mcp?x=1'));
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(response.redirected).toBe(false);
    await response.text();
  });

  it('names the certificate problem: expired, wrong host, self-signed', async () => {
    const http = await httpClient({ env: {}, tls: { caFile: CA_FILE } });
    expect(causeCodes(await rejection(http.fetch(expired.url('/mcp'))))).toContain('CERT_HAS_EXPIRED');
    expect(causeCodes(await rejection(http.fetch(wrongHost.url('/mcp'))))).toContain(
      'ERR_TLS_CERT_ALTNAME_INVALID',
    );
    expect(causeCodes(await rejection(http.fetch(selfSigned.url('/mcp'))))).toContain(
      'DEPTH_ZERO_SELF_SIGNED_CERT',
    );
  });

  it('mutual TLS: refused without a client certificate, accepted with tls.certFile/keyFile', async () => {
    const anonymous = await httpClient({ env: {}, tls: { caFile: CA_FILE } });
    const error = await rejection(anonymous.fetch(mutual.url('/mcp')));
    expect(causeMessages(error)).toMatch(/certificate required|ECONNRESET|other side closed|socket hang up/i);

    const identified = await httpClient({
      env: {},
      tls: { caFile: CA_FILE, certFile: tlsPath('client', 'pem'), keyFile: tlsPath('client', 'key') },
    });
    const response = await identified.fetch(mutual.url('/mcp'));
    expect(await response.text()).toBe('ok');
  });

  it('createHttpClient fails with tls-config when the TLS files are unusable', async () => {
    const error = await rejection(createHttpClient({ env: {}, tls: { caFile: '/nonexistent/ca.pem' } }));
    expect((error as PatchbayError).code).toBe('tls-config');
  });

  it('createHttpClient fails with usage when a proxy variable is unusable', async () => {
    const error = await rejection(createHttpClient({ env: { HTTPS_PROXY: 'ftp://proxy' } }));
    expect((error as PatchbayError).code).toBe('usage');
  });
});

// ---------------------------------------------------------------------------------------------

describe('HttpClient phase and close', () => {
  it('reports none before any attempt and connecting for a refused port', async () => {
    const http = await httpClient({ env: {} });
    const url = new URL(`http://127.0.0.1:${await getFreePort()}/mcp`);
    expect(http.phase(url)).toBe('none');
    expect(causeCodes(await rejection(http.fetch(url)))).toContain('ECONNREFUSED');
    expect(http.phase(url)).toBe('connecting');
  });

  it('reports connected for a server that accepts and never answers', async () => {
    const hanging = await startHangingServer();
    try {
      const http = await httpClient({ env: {} });
      await rejection(http.fetch(hanging.url, { signal: AbortSignal.timeout(300) }));
      expect(http.phase(new URL(hanging.url))).toBe('connected');
    } finally {
      await hanging.close();
    }
  });

  it('reports tls-handshake for a server that never finishes the handshake, bounded by connectTimeoutMs', async () => {
    const stall = await startTlsStall();
    try {
      const http = await httpClient({ env: {}, connectTimeoutMs: 300 });
      const error = await rejection(http.fetch(stall.url('/mcp')));
      expect(causeCodes(error)).toContain('UND_ERR_CONNECT_TIMEOUT');
      expect(http.phase(new URL(stall.url()))).toBe('tls-handshake');
    } finally {
      await stall.close();
    }
  });

  it('close() closes kept-alive and streaming connections, is idempotent, and ends the client', async () => {
    let server: Server | undefined;
    const front = await startTlsFront(
      await streamingServerPort((started) => (server = started)),
      tlsPair('server'),
    );
    try {
      const http = await httpClient({ env: {}, tls: { caFile: CA_FILE } });
      const kept = await http.fetch(front.url('/done'));
      expect(await kept.text()).toBe('done');
      // An SSE-like response that never ends: close() must not wait for it.
      const streaming = await http.fetch(front.url('/stream'));
      expect(streaming.status).toBe(200);
      expect(front.connections()).toBe(2);

      await Promise.all([http.close(), http.close()]);
      await until(() => front.connections() === 0);
      await expect(http.fetch(front.url('/done'))).rejects.toThrow(/closed/);
    } finally {
      await front.close();
      await new Promise<void>((resolve) => {
        server?.close(() => resolve());
        server?.closeAllConnections();
      });
    }
  });
});

/** An HTTP server: `/stream` sends headers and a first chunk and never ends; anything else answers "done". */
async function streamingServerPort(onStart: (server: Server) => void): Promise<number> {
  const server = createHttpServer((req, res) => {
    if (req.url === '/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': open\n\n');
      return;
    }
    res.end('done');
  });
  onStart(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as AddressInfo).port;
}
