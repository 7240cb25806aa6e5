/**
 * Every HTTP request patchbay makes (MCP traffic, OAuth, discovery, doctor) goes through an
 * HttpClient built here, so proxies and certificates behave the same everywhere.
 *
 * - Proxy: HTTPS_PROXY / HTTP_PROXY / NO_PROXY, upper or lower case (lower wins when both set,
 *   as curl does), credentials from the proxy URL's user-info.
 * - TLS: the system roots plus NODE_EXTRA_CA_CERTS, plus the entry's `tls.caFile`; a client
 *   certificate from `tls.certFile` / `tls.keyFile` (mTLS).
 * - Connection progress per origin, so a timeout can say at which step it happened.
 *
 * Requests go through Node's own `fetch` (never replaced) with a dispatcher from the undici
 * package owned by the client, passed per request. Only the dispatcher modules are loaded: the
 * package's own `fetch` would cost ~90 ms of start-up on every networked command, and its
 * Response is another class than the global one, which the SDK tests with `instanceof`. Node's
 * fetch drives any object with undici's dispatch interface; the tests run the SDK, proxies,
 * tunnels, TLS and mTLS through this pairing. This module is loaded lazily, only when a command
 * touches the network.
 */

import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readFile } from 'node:fs/promises';
import { BlockList, isIP, isIPv4, isIPv6, type Socket } from 'node:net';
import { createSecureContext, rootCertificates } from 'node:tls';

import { createRequire } from 'node:module';

import type {
  Agent as AgentClass,
  buildConnector as BuildConnector,
  Dispatcher,
  errors as UndiciErrors,
  Pool as PoolClass,
  ProxyAgent as ProxyAgentClass,
} from 'undici';

import type { TlsSettings } from '../config/entry.js';
import { PatchbayError } from '../errors.js';

// The dispatcher parts of undici, without the package's index (fetch, WebSocket, cache, ...).
const require = createRequire(import.meta.url);
const Agent = require('undici/lib/dispatcher/agent.js') as typeof AgentClass;
const Pool = require('undici/lib/dispatcher/pool.js') as typeof PoolClass;
const buildConnector = require('undici/lib/core/connect.js') as typeof BuildConnector;
const undiciErrors = require('undici/lib/core/errors.js') as typeof UndiciErrors;
// What undici's index does besides exporting: the request/stream/connect methods on every
// dispatcher. ProxyAgent opens its tunnels with `connect`.
Object.assign(
  (require('undici/lib/dispatcher/dispatcher.js') as { prototype: object }).prototype,
  require('undici/lib/api/index.js') as object,
);
/** Loaded with the first proxied request only. */
const loadProxyAgent = () => require('undici/lib/dispatcher/proxy-agent.js') as typeof ProxyAgentClass;

/** The fetch signature the SDK's transports and auth functions accept. */
export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

export interface HttpClientOptions {
  env: NodeJS.ProcessEnv;
  /** Absolute paths (already expanded and resolved). */
  tls?: TlsSettings;
  /** Bound on TCP connect + TLS handshake for one connection; default 10 s. */
  connectTimeoutMs?: number;
}

/**
 * How far the latest connection attempt to an origin got (via the proxy, when there is one).
 *
 * - Direct: 'connecting' until TCP is up; then 'tls-handshake' (https) until the handshake is
 *   done; then 'connected'.
 * - https target (or any target behind an https proxy), tunnelled through the proxy with CONNECT:
 *   'connecting' covers the TCP connection to the proxy *and* the CONNECT exchange, i.e. until the
 *   proxy has opened the tunnel; then 'tls-handshake' with the origin inside the tunnel; then
 *   'connected'.
 * - http target behind an http proxy, forwarded (the proxy receives the request itself, as curl
 *   does): the phase of the latest connection to the proxy.
 *
 * A failed attempt keeps the phase it reached: a refused port stays 'connecting'.
 */
export type ConnectionPhase = 'none' | 'connecting' | 'tls-handshake' | 'connected';

export interface HttpClient {
  fetch: FetchLike;
  /**
   * The pooled, kept-alive dispatcher `fetch` sends a request for `url` through (the proxy's, when
   * there is one): for a relay that passes bytes through with undici's `request`, not `fetch`.
   */
  dispatcher(url: URL): Dispatcher;
  /** The proxy this client sends a request for `url` through, or null for a direct connection. */
  proxyFor(url: URL): URL | null;
  phase(url: URL): ConnectionPhase;
  /** Closes every socket this client opened. Idempotent. */
  close(): Promise<void>;
}

/** PEM text for Node's TLS options. */
export interface TlsMaterial {
  /** Set only with a caFile; it then replaces Node's default store, so it repeats that store. */
  ca?: string[];
  cert?: string;
  key?: string;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// Proxy selection

/** A parsed NO_PROXY entry. */
type NoProxyRule =
  | { kind: 'domain'; domain: string; port: string | undefined }
  | { kind: 'ip'; address: string; port: string | undefined }
  | { kind: 'cidr'; range: BlockList; family: 'ipv4' | 'ipv6' };

interface ProxySettings {
  https: URL | null;
  http: URL | null;
  /** 'all' for NO_PROXY=*. */
  noProxy: NoProxyRule[] | 'all';
}

/**
 * The proxy for `url` under `env`, or null for a direct connection.
 *
 * Rules (curl's, plus CIDR entries as in Go and Python): https: URLs use https_proxy/HTTPS_PROXY,
 * http: URLs use http_proxy/HTTP_PROXY; the lower-case name wins when both are set, and an empty
 * value counts as unset. NO_PROXY (or no_proxy) is a comma- or space-separated list: `*` bypasses
 * every host; a name matches itself and its subdomains (`example.com`, `.example.com` and
 * `*.example.com` all match `example.com` and `a.example.com`); `host:port` matches that port
 * only; IP literals match exactly (IPv6 with or without brackets); `10.0.0.0/8` matches the range.
 * Loopback is not bypassed unless listed, as in curl: put `localhost,127.0.0.1,::1` in NO_PROXY
 * to keep local servers direct.
 *
 * Unlike curl, upper-case HTTP_PROXY is honoured too; curl skips it because a CGI script can have
 * it set by a request header ("httpoxy"), which does not apply to a CLI.
 *
 * Throws PatchbayError('usage') when the chosen proxy variable does not hold a usable URL.
 */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv): URL | null {
  return selectProxy(url, readProxySettings(env));
}

/** The proxy's origin for messages: credentials shown as `user:***@`, never the password. */
export function describeProxy(proxy: URL): string {
  const user = proxy.username ? `${proxy.username}${proxy.password ? ':***' : ''}@` : '';
  return `${proxy.protocol}//${user}${proxy.host}`;
}

function readProxySettings(env: NodeJS.ProcessEnv): ProxySettings {
  return {
    https: readProxyVariable(env, 'https_proxy', 'HTTPS_PROXY'),
    http: readProxyVariable(env, 'http_proxy', 'HTTP_PROXY'),
    noProxy: parseNoProxy(envValue(env, 'no_proxy', 'NO_PROXY')?.value ?? ''),
  };
}

function selectProxy(url: URL, settings: ProxySettings): URL | null {
  const proxy = url.protocol === 'https:' ? settings.https : url.protocol === 'http:' ? settings.http : null;
  if (!proxy || bypassesProxy(url, settings.noProxy)) return null;
  return proxy;
}

/** The first non-empty one of a lower- and upper-case variable, with the name that held it. */
function envValue(
  env: NodeJS.ProcessEnv,
  lower: string,
  upper: string,
): { name: string; value: string } | undefined {
  for (const name of [lower, upper]) {
    const value = env[name]?.trim();
    if (value) return { name, value };
  }
  return undefined;
}

function readProxyVariable(env: NodeJS.ProcessEnv, lower: string, upper: string): URL | null {
  const found = envValue(env, lower, upper);
  return found ? parseProxyUrl(found.name, found.value) : null;
}

function parseProxyUrl(name: string, value: string): URL {
  // curl's rule: `proxy.corp:3128` means http://proxy.corp:3128.
  const withScheme = /^[a-z][a-z\d+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  const fail = (why: string) =>
    new PatchbayError('usage', `${name} is not a usable proxy URL (${why}): ${maskUserInfo(value)}`, {
      hint: `Set ${name} to a URL like http://proxy.example.com:3128 (with credentials: http://user:password@proxy.example.com:3128), or unset it.`,
    });
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw fail('it does not parse as a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw fail(`patchbay supports http:// and https:// proxies, not ${url.protocol}//`);
  }
  if (!url.hostname) throw fail('it names no host');
  return url;
}

/** Hide the user-info of a URL-ish string (it may hold a proxy password). */
function maskUserInfo(value: string): string {
  return value.replace(/^([a-z][a-z\d+.-]*:\/\/)?[^/]*@/i, '$1***@');
}

function parseNoProxy(value: string): NoProxyRule[] | 'all' {
  const rules: NoProxyRule[] = [];
  for (const entry of value.toLowerCase().split(/[\s,]+/)) {
    if (!entry) continue;
    if (entry === '*') return 'all';
    const rule = parseNoProxyEntry(entry);
    // A malformed entry is skipped, as curl does, rather than failing every request.
    if (rule) rules.push(rule);
  }
  return rules;
}

function parseNoProxyEntry(entry: string): NoProxyRule | undefined {
  if (entry.includes('/')) return parseCidr(entry);
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) {
    const address = normaliseIPv6(bracketed[1]!);
    return address ? { kind: 'ip', address, port: bracketed[2] } : undefined;
  }
  if (isIPv6(entry)) return { kind: 'ip', address: normaliseIPv6(entry)!, port: undefined };
  const withPort = /^(.*):(\d+)$/.exec(entry);
  const host = withPort ? withPort[1]! : entry;
  const port = withPort?.[2];
  if (isIPv4(host)) return { kind: 'ip', address: host, port };
  const domain = host.replace(/^\*?\.+/, '').replace(/\.+$/, '');
  return domain ? { kind: 'domain', domain, port } : undefined;
}

function parseCidr(entry: string): NoProxyRule | undefined {
  const match = /^\[?([^\]/]+)\]?\/(\d{1,3})$/.exec(entry);
  if (!match) return undefined;
  const address = match[1]!;
  const prefix = Number(match[2]);
  const family = isIP(address) === 4 ? 'ipv4' : isIP(address) === 6 ? 'ipv6' : undefined;
  if (!family || prefix > (family === 'ipv4' ? 32 : 128)) return undefined;
  const range = new BlockList();
  range.addSubnet(address, prefix, family);
  return { kind: 'cidr', range, family };
}

/** The form the WHATWG URL parser gives an IPv6 host, without brackets, or undefined. */
function normaliseIPv6(address: string): string | undefined {
  if (!isIPv6(address)) return undefined;
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

function bypassesProxy(url: URL, noProxy: NoProxyRule[] | 'all'): boolean {
  if (noProxy === 'all') return true;
  // URL has already lower-cased the name, normalised IPv4 (127.1 → 127.0.0.1) and compressed IPv6.
  const host = url.hostname.replace(/^\[|\]$/g, '').replace(/\.+$/, '');
  const hostFamily = isIP(host);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return noProxy.some((rule) => {
    switch (rule.kind) {
      case 'cidr':
        return hostFamily === (rule.family === 'ipv4' ? 4 : 6) && rule.range.check(host, rule.family);
      case 'ip':
        return host === rule.address && (rule.port === undefined || rule.port === port);
      case 'domain':
        // Only names have domains: `0.1` must not match 10.0.0.1 as a "suffix".
        return (
          hostFamily === 0 &&
          (host === rule.domain || host.endsWith(`.${rule.domain}`)) &&
          (rule.port === undefined || rule.port === port)
        );
    }
  });
}

// ---------------------------------------------------------------------------------------------
// TLS material

const CERTIFICATE_PEM = /-----BEGIN CERTIFICATE-----/;
const PRIVATE_KEY_PEM = /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/;
const ENCRYPTED_KEY_PEM = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/;

const CA_HINT =
  'Point tls.caFile at a PEM file of CA certificates: patchbay add --ca-file /path/to/ca.pem --force … (a DER file converts with `openssl x509 -inform der -in ca.cer -out ca.pem`).';
const CLIENT_CERT_HINT =
  'Give a PEM client certificate and its unencrypted PEM key: patchbay add --client-cert client.pem --client-key client-key.pem --force …';

/**
 * The PEM material for an entry's `tls` settings, read and checked. Used for every connection to
 * the server and by the doctor's own TLS handshake.
 *
 * With a caFile, `ca` lists Node's bundled roots, the NODE_EXTRA_CA_CERTS file (when set and
 * readable) and the caFile: setting `ca` replaces Node's default store, and that store is where
 * NODE_EXTRA_CA_CERTS lives, so the CA file adds to the trusted set instead of narrowing it.
 * Without a caFile `ca` stays unset and the default store (roots + NODE_EXTRA_CA_CERTS) applies.
 */
export async function loadTlsMaterial(
  tls: TlsSettings | undefined,
  env: NodeJS.ProcessEnv,
): Promise<TlsMaterial> {
  const material: TlsMaterial = {};
  if (!tls) return material;
  if (tls.caFile) {
    const ca = await readPem(
      tls.caFile,
      'caFile',
      'CA file',
      CERTIFICATE_PEM,
      'a CERTIFICATE block',
      CA_HINT,
    );
    checkSecureContext(
      () => createSecureContext({ ca }),
      `the CA file ${tls.caFile} given in tls.caFile`,
      CA_HINT,
    );
    material.ca = [...rootCertificates, ...(await readExtraCaCerts(env)), ca];
  }
  if (tls.certFile || tls.keyFile) {
    if (!tls.certFile || !tls.keyFile) {
      throw new PatchbayError(
        'tls-config',
        `a client certificate needs both tls.certFile and tls.keyFile, but only tls.${tls.certFile ? 'certFile' : 'keyFile'} is set`,
        { hint: CLIENT_CERT_HINT },
      );
    }
    const cert = await readPem(
      tls.certFile,
      'certFile',
      'client certificate',
      CERTIFICATE_PEM,
      'a CERTIFICATE block',
      CLIENT_CERT_HINT,
    );
    const key = await readPem(
      tls.keyFile,
      'keyFile',
      'client key',
      PRIVATE_KEY_PEM,
      'a PRIVATE KEY block',
      CLIENT_CERT_HINT,
    );
    if (ENCRYPTED_KEY_PEM.test(key)) {
      throw new PatchbayError(
        'tls-config',
        `the client key ${tls.keyFile} given in tls.keyFile is encrypted; patchbay needs an unencrypted key`,
        { hint: 'Decrypt a copy readable only by you: openssl pkey -in key.pem -out client-key.pem' },
      );
    }
    checkSecureContext(
      () => createSecureContext({ cert, key }),
      `the client certificate ${tls.certFile} with the key ${tls.keyFile}`,
      CLIENT_CERT_HINT,
    );
    material.cert = cert;
    material.key = key;
  }
  return material;
}

async function readPem(
  path: string,
  setting: keyof TlsSettings,
  what: string,
  marker: RegExp,
  expected: string,
  hint: string,
): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new PatchbayError(
      'tls-config',
      `cannot read the ${what} ${path} given in tls.${setting}: ${describeFsError(error)}`,
      { hint, cause: error },
    );
  }
  if (!marker.test(text)) {
    throw new PatchbayError(
      'tls-config',
      `the ${what} ${path} given in tls.${setting} is not PEM: it holds no ${expected}`,
      { hint },
    );
  }
  return text;
}

/** OpenSSL's verdict on PEM that looked right: bad base64, a key that does not match the cert. */
function checkSecureContext(build: () => unknown, subject: string, hint: string): void {
  try {
    build();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const why =
      code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH'
        ? 'the key does not belong to the certificate'
        : (error as Error).message;
    throw new PatchbayError('tls-config', `cannot use ${subject}: ${why}`, { hint, cause: error });
  }
}

/** Node warns about an unreadable NODE_EXTRA_CA_CERTS at start-up and goes on; so do we. */
async function readExtraCaCerts(env: NodeJS.ProcessEnv): Promise<string[]> {
  const path = env.NODE_EXTRA_CA_CERTS;
  if (!path) return [];
  try {
    const text = await readFile(path, 'utf8');
    return CERTIFICATE_PEM.test(text) ? [text] : [];
  } catch {
    return [];
  }
}

function describeFsError(error: unknown): string {
  switch ((error as { code?: unknown }).code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return (error as Error).message;
  }
}

// ---------------------------------------------------------------------------------------------
// The client

type Connector = BuildConnector.connector;
type ConnectOptions = BuildConnector.Options;
type ConnectCallback = BuildConnector.Callback;

/** Phases by origin (`https://host:port`, as URL.origin spells it). */
type PhaseTable = Map<string, ConnectionPhase>;

/** Every socket this client opened to a proxy, to recognise its tunnels on undici's channel. */
interface ProxyTunnelChannel {
  sockets: WeakSet<Socket>;
  /** Subscribed lazily, with the first proxy dispatcher; unsubscribed by close(). */
  listener?: (message: unknown) => void;
}

/** undici publishes on this channel when a proxy has answered CONNECT with 200. */
const PROXY_CONNECTED_CHANNEL = 'undici:proxy:connected';

export async function createHttpClient(options: HttpClientOptions): Promise<HttpClient> {
  const { env } = options;
  // Read once, so a bad proxy variable fails here, before any request, and every request of the
  // client sees the same settings.
  const settings = readProxySettings(env);
  const material = await loadTlsMaterial(options.tls, env);
  const timeout = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;

  const originPhases: PhaseTable = new Map();
  const proxyPhases: PhaseTable = new Map();
  const tunnels: ProxyTunnelChannel = { sockets: new WeakSet() };
  let direct: AgentClass | undefined;
  const viaProxy = new Map<string, ProxyAgentClass>();
  let closing: Promise<void> | undefined;

  const directAgent = (): AgentClass =>
    (direct ??= new Agent({
      connect: trackSocketConnector(buildConnector({ ...material, timeout }), originPhases),
    }));

  const proxyAgent = (proxy: URL): ProxyAgentClass => {
    let agent = viaProxy.get(proxy.href);
    if (!agent) {
      listenForTunnels(tunnels, originPhases);
      agent = createProxyAgent(proxy, material, timeout, originPhases, proxyPhases, tunnels);
      viaProxy.set(proxy.href, agent);
    }
    return agent;
  };

  const dispatcherFor = (url: URL): Dispatcher => {
    if (closing) throw new PatchbayError('internal', 'this HTTP client was closed; create a new one');
    const proxy = selectProxy(url, settings);
    return proxy ? proxyAgent(proxy) : directAgent();
  };

  const fetch: FetchLike = async (input, init) => {
    const url = new URL(input);
    const dispatcher = dispatcherFor(url);
    // Node's fetch reads `dispatcher`; its types (undici-types) and this package's differ in detail.
    return globalThis.fetch(url, { ...init, dispatcher } as unknown as RequestInit);
  };

  return {
    fetch,
    dispatcher: dispatcherFor,
    proxyFor: (url) => {
      const proxy = selectProxy(url, settings);
      return proxy ? new URL(proxy.href) : null;
    },
    phase: (url) => {
      const proxy = selectProxy(url, settings);
      if (proxy && forwardsThroughProxy(url, proxy)) return proxyPhases.get(proxy.origin) ?? 'none';
      return originPhases.get(url.origin) ?? 'none';
    },
    close: () =>
      (closing ??= (async () => {
        if (tunnels.listener) unsubscribe(PROXY_CONNECTED_CHANNEL, tunnels.listener);
        // destroy, not close: close() waits for open streams (an SSE GET never ends by itself).
        await Promise.all([direct?.destroy(), ...[...viaProxy.values()].map((agent) => agent.destroy())]);
      })()),
  };
}

/**
 * Plain http through an http proxy is forwarded (the proxy gets `GET http://host/path`), as curl
 * does: proxies commonly allow CONNECT to port 443 only. Everything else goes through a CONNECT
 * tunnel, so the proxy never sees an https request or a plain request's path.
 */
function forwardsThroughProxy(url: URL, proxy: URL): boolean {
  return url.protocol === 'http:' && proxy.protocol === 'http:';
}

/**
 * One ProxyAgent per proxy URL. It reads the credentials from the URL's user-info itself (as a
 * Basic Proxy-Authorization header, on CONNECT and on forwarded requests). The factories wrap
 * undici's connectors so that the phase of each step is recorded:
 * - clientFactory: the connection to the proxy that carries CONNECT;
 * - factory, called with a target origin: the whole tunnel (proxy, CONNECT, origin TLS);
 * - factory, called with the proxy's URL: the connection for forwarded plain-http requests.
 */
function createProxyAgent(
  proxy: URL,
  material: TlsMaterial,
  timeout: number,
  originPhases: PhaseTable,
  proxyPhases: PhaseTable,
  tunnels: ProxyTunnelChannel,
): ProxyAgentClass {
  const onProxySocket = (socket: Socket) => tunnels.sockets.add(socket);
  const ProxyAgent = loadProxyAgent();
  return new ProxyAgent({
    uri: proxy.href,
    // false = forward plain http through an http proxy; undici tunnels everything else anyway.
    proxyTunnel: false,
    // The origin gets the entry's CA and client certificate; the proxy gets the CA (harmless, it
    // only adds trust) but never the client certificate, which identifies us to the origin only.
    requestTls: { ...material, timeout },
    proxyTls: { ...(material.ca ? { ca: material.ca } : {}), timeout },
    clientFactory: (origin, opts) =>
      new Pool(origin, {
        ...opts,
        connect: trackSocketConnector(connectorOf(opts), proxyPhases, onProxySocket),
      }),
    factory: (origin, opts) => {
      const isProxy = String(origin) === proxy.href;
      const connect = isProxy
        ? trackSocketConnector(connectorOf(opts), proxyPhases)
        : trackTunnelConnector(connectorOf(opts), originPhases, timeout, proxy);
      return new Pool(origin, { ...opts, connect });
    },
  });
}

function connectorOf(opts: object): Connector {
  const connect = (opts as { connect?: unknown }).connect;
  if (typeof connect !== 'function') throw new Error('undici gave a factory no connect function');
  return connect as Connector;
}

function originOf(options: ConnectOptions): string {
  // undici passes the dispatcher's URL parts: `host` carries the port unless it is the default.
  return `${options.protocol}//${options.host ?? options.hostname}`;
}

/**
 * Wrap a connector that makes one TCP (and TLS) connection, as buildConnector's does, recording
 * its progress from the socket's events. buildConnector returns the socket it creates, though
 * its types say void; without one only the start and the end are recorded.
 */
function trackSocketConnector(
  connect: Connector,
  phases: PhaseTable,
  onSocket?: (socket: Socket) => void,
): Connector {
  return (options, callback) => {
    const origin = originOf(options);
    const tls = options.protocol === 'https:';
    phases.set(origin, 'connecting');
    const socket = (connect as (o: ConnectOptions, cb: ConnectCallback) => unknown)(options, (...args) => {
      if (args[0] === null) phases.set(origin, 'connected');
      callback(...args);
    });
    if (isSocket(socket)) {
      onSocket?.(socket);
      socket.once('connect', () => {
        if (phases.get(origin) === 'connecting') phases.set(origin, tls ? 'tls-handshake' : 'connected');
      });
    }
  };
}

function isSocket(value: unknown): value is Socket {
  return typeof value === 'object' && value !== null && typeof (value as Socket).once === 'function';
}

/**
 * Wrap ProxyAgent's tunnel connector: 'connecting' until the proxy opens the tunnel (seen on
 * undici's proxy channel, see listenForTunnels), then 'tls-handshake' for https, then 'connected'.
 * The steps inside have their own bounds (TCP, TLS) but waiting for the answer to CONNECT has
 * none short of undici's 300 s headers timeout, so the whole tunnel is bounded by `timeout` here.
 */
function trackTunnelConnector(
  connect: Connector,
  phases: PhaseTable,
  timeout: number,
  proxy: URL,
): Connector {
  return (options, callback) => {
    const origin = originOf(options);
    phases.set(origin, 'connecting');
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      callback(
        new undiciErrors.ConnectTimeoutError(
          `Connect Timeout Error (through the proxy ${describeProxy(proxy)} to ${options.host ?? options.hostname}, timeout: ${timeout}ms)`,
        ),
        null,
      );
    }, timeout);
    connect(options, (...args) => {
      if (settled) {
        // Too late: the caller has the timeout error already. Do not leak the socket.
        args[1]?.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      if (args[0] === null) phases.set(origin, 'connected');
      callback(...args);
    });
  };
}

/**
 * undici announces every tunnel a proxy opened, with the socket to the proxy and the CONNECT
 * target (`host:port`). A socket this client opened (see trackSocketConnector's onSocket) marks
 * the https origin behind it as now in its TLS handshake. The channel is process-wide, hence the
 * socket check; a plain-http target's tunnel is 'connected' at once and is left alone here.
 */
function listenForTunnels(tunnels: ProxyTunnelChannel, phases: PhaseTable): void {
  if (tunnels.listener) return;
  tunnels.listener = (message) => {
    const { socket, connectParams } = message as { socket?: Socket; connectParams?: { path?: string } };
    if (!socket || !tunnels.sockets.has(socket) || !connectParams?.path) return;
    let origin: string;
    try {
      origin = new URL(`https://${connectParams.path}`).origin;
    } catch {
      return;
    }
    if (phases.get(origin) === 'connecting') phases.set(origin, 'tls-handshake');
  };
  subscribe(PROXY_CONNECTED_CHANNEL, tunnels.listener);
}
