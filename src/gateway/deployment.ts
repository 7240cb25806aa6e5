/**
 * `patchbay serve --config FILE`: everything a team deployment sets, in one reviewed JSONC file —
 * where it listens and is reached, TLS, which proxies are trusted, how members sign in (static
 * token, API keys, an OAuth issuer that speaks the MCP authorization spec, or the gateway's own
 * authorization server in front of the organisation's OpenID Connect provider), how the IdP's
 * claims map to members and groups, where the member vault's key comes from, the project
 * directory whose `.mcp.json` and team policy it serves, how it logs, and where its traces go.
 *
 * Secrets are never written in the file: a secret field holds a `${VAR}` reference, expanded from
 * the environment at start. A wrong field is reported with its file:line:col; nothing is guessed.
 *
 * Example:
 *
 *     {
 *       "listen": "0.0.0.0:8443",
 *       "publicUrl": "https://mcp.example.com",
 *       "tls": { "cert": "/etc/patchbay/tls.crt", "key": "/etc/patchbay/tls.key" },
 *       "project": "/srv/patchbay",
 *       "auth": {
 *         "apiKeys": true,
 *         "authorizationServer": {
 *           "idp": { "issuer": "https://login.example.com", "clientId": "patchbay",
 *                    "clientSecret": "${IDP_CLIENT_SECRET}" },
 *           "claims": { "groups": "groups" }
 *         }
 *       },
 *       "vault": { "key": "env:PATCHBAY_VAULT_KEY" },
 *       "state": "rediss://:${REDIS_PASSWORD}@redis.internal:6380",
 *       "logs": "json",
 *       "telemetry": { "otlp": "https://otel-collector.internal:4318" }
 *     }
 */

import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';

import { z } from 'zod';

import { expandString } from '../config/expand.js';
import { parseDuration } from '../core/duration.js';
import { parseJsonSource, type ParsedJson } from '../core/json-source.js';
import { PatchbayError } from '../errors.js';
import { parseRedisUrl } from '../state/redis-url.js';
import { DEFAULT_DRAIN_MS } from './drain.js';
import { TrustedProxies } from './proxies.js';

/** How the IdP's (or an access token's) claims name a member. Dotted paths reach nested claims. */
export interface ClaimMapping {
  /** Default `sub`. */
  subject: string;
  /** Default `email`. */
  email: string;
  /** Default `groups`; a string or an array of strings in the token. */
  groups: string;
  /**
   * An IdP's group value (an Entra object id, an Okta group name) → the group name policy files
   * use. Values not listed keep their own name.
   */
  groupNames: Record<string, string>;
}

/** Mode 1: an issuer that already supports the MCP authorization spec; the gateway only points to it. */
export interface ExternalIssuer {
  issuer: URL;
  /** Scopes every request needs (advertised in the protected-resource metadata). */
  scopes: string[];
  /** Opaque tokens are checked here (RFC 7662); JWTs are checked locally against the issuer's keys. */
  introspection?: { endpoint?: URL; clientId: string; clientSecret: string };
  claims: ClaimMapping;
}

/** Mode 2: the gateway's own authorization server, signing members in at the organisation's IdP. */
export interface OwnAuthorizationServer {
  /** The gateway's one client there; its redirect URI to register: `<publicUrl>/oauth/signed-in`. */
  idp: { issuer: URL; clientId: string; clientSecret: string; scopes: string[] };
  scopes: string[];
  claims: ClaimMapping;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /**
   * Open dynamic client registration (RFC 7591), bounded (DEFAULT_REGISTRATION when unset);
   * client ID metadata documents are not.
   */
  registration?: RegistrationBounds;
}

/** How much open registration the gateway's own authorization server takes. */
export interface RegistrationBounds {
  /**
   * Registrations per client address (a token bucket: this many at once, refilled at this rate);
   * the address is the trusted proxy's client behind one, an IPv6 client's /64.
   */
  rate: { count: number; perMs: number };
  /** Registered clients kept at most; the next registration is refused until the operator raises it. */
  maxClients: number;
}

/**
 * 10 a minute per address: enough for an office behind one address registering its hosts, slow for
 * a script filling the store. 10,000 clients: hosts register once per install, so room for a large
 * team many times over, and a bound on the store.
 */
export const DEFAULT_REGISTRATION: RegistrationBounds = {
  rate: { count: 10, perMs: 60_000 },
  maxClients: 10_000,
};

/** Where the vault's encryption key comes from: never the file itself, never beside the data. */
export type KeySource = { from: 'env'; name: string } | { from: 'file'; path: string };

export interface Deployment {
  /** The file read (for messages). */
  file: string;
  listen?: { host: string; port: number };
  /** The URL hosts add, without `/mcp`; the resource its tokens are bound to is `<publicUrl>/mcp`. */
  publicUrl?: URL;
  tls?: { cert: string; key: string };
  /** Addresses (or CIDR ranges) whose `X-Forwarded-*` headers are believed. */
  trustedProxies: string[];
  /** The directory whose `.mcp.json` and team policy file are served (default: where serve starts). */
  project?: string;
  /** Only these configured servers (all when unset). */
  servers?: string[];
  auth: {
    /** The single-user static token (gateway-token file); default on unless OAuth or API keys are on. */
    staticToken: boolean;
    apiKeys: boolean;
    oauth?: ExternalIssuer;
    authorizationServer?: OwnAuthorizationServer;
  };
  vault?: { key: KeySource };
  /**
   * Where the gateway's state lives: a Redis URL (`redis://…`, `rediss://…`, `redis+sentinel://…`,
   * `redis+cluster://…`; state/open.ts) for replicas; unset:
   * files on this machine. A password in it is given as ${VAR}, like every secret.
   */
  state?: string;
  /** The shared audit stream (Redis) keeps about this many lines; unset: the store's default. */
  auditMaxLines?: number;
  logs: 'text' | 'json';
  /** SIGTERM: in-flight calls get this long to finish before the gateway exits. */
  drainMs: number;
  /** `/metrics` answers anyone who reaches it; unset (`protected`): the same credential as /mcp. */
  metrics?: 'public';
  /**
   * OpenTelemetry trace export: the collector's OTLP/HTTP base URL (spans go to `<otlp>/v1/traces`).
   * The standard OTEL_EXPORTER_OTLP_* environment overrides it (gateway/telemetry.ts).
   */
  telemetry?: { otlp: URL };
}

const scopeList = z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope token')).min(1);

const claimsSchema = z
  .strictObject({
    subject: z.string().min(1).optional(),
    email: z.string().min(1).optional(),
    groups: z.string().min(1).optional(),
    groupNames: z.record(z.string(), z.string().min(1)).optional(),
  })
  .optional();

const httpsOrLoopbackUrl = z.string().min(1);

const schema = z.strictObject({
  $schema: z.string().optional(),
  listen: z.string().min(1).optional(),
  publicUrl: httpsOrLoopbackUrl.optional(),
  tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
  trustedProxies: z.array(z.string().min(1)).optional(),
  project: z.string().min(1).optional(),
  servers: z.array(z.string().min(1)).optional(),
  auth: z
    .strictObject({
      staticToken: z.boolean().optional(),
      apiKeys: z.boolean().optional(),
      oauth: z
        .strictObject({
          issuer: httpsOrLoopbackUrl,
          scopes: scopeList.optional(),
          introspection: z
            .strictObject({
              endpoint: httpsOrLoopbackUrl.optional(),
              clientId: z.string().min(1),
              clientSecret: z.string().min(1),
            })
            .optional(),
          claims: claimsSchema,
        })
        .optional(),
      authorizationServer: z
        .strictObject({
          idp: z.strictObject({
            issuer: httpsOrLoopbackUrl,
            clientId: z.string().min(1),
            clientSecret: z.string().min(1),
            scopes: scopeList.optional(),
          }),
          scopes: scopeList.optional(),
          claims: claimsSchema,
          accessTokenTtl: z.string().optional(),
          refreshTokenTtl: z.string().optional(),
          registration: z
            .strictObject({
              rate: z.string().min(1).optional(),
              maxClients: z.number().int().min(1).optional(),
            })
            .optional(),
        })
        .optional(),
    })
    .optional(),
  vault: z.strictObject({ key: z.string().min(1) }).optional(),
  state: z.string().min(1).optional(),
  audit: z.strictObject({ maxLines: z.number().int().min(1000) }).optional(),
  logs: z.enum(['text', 'json']).optional(),
  drainTimeout: z.string().optional(),
  metrics: z.enum(['protected', 'public']).optional(),
  telemetry: z.strictObject({ otlp: z.string().min(1) }).optional(),
});

type Raw = z.infer<typeof schema>;

/** Read and check a deployment file; `env` expands the `${VAR}` of secret fields. */
export async function loadDeployment(path: string, env: NodeJS.ProcessEnv, cwd: string): Promise<Deployment> {
  const file = resolve(cwd, path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new PatchbayError(
      'not-found',
      `Could not read the deployment file ${file}: ${(error as Error).message}.`,
      {
        hint: 'Check the path given to patchbay serve --config.',
      },
    );
  }
  return parseDeployment(text, file, env);
}

export function parseDeployment(text: string, file: string, env: NodeJS.ProcessEnv): Deployment {
  const parsed = parseJsonSource(text, { jsonc: true, fileLabel: file });
  const result = schema.safeParse(parsed.value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    // An unknown field is pointed at itself, not at the object around it.
    const path = [
      ...(issue.path as Array<string | number>),
      ...(issue.code === 'unrecognized_keys' ? issue.keys.slice(0, 1) : []),
    ];
    throw fieldError(parsed, file, path, issue.message);
  }
  return build(result.data, parsed, file, env);
}

function build(raw: Raw, parsed: ParsedJson, file: string, env: NodeJS.ProcessEnv): Deployment {
  const at = (path: Array<string | number>, message: string) => fieldError(parsed, file, path, message);
  const url = (text: string, path: Array<string | number>) => checkedUrl(text, path, at);
  const secret = (text: string, path: Array<string | number>) => {
    if (!/^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(text.trim()))
      throw at(path, 'a secret is given as a ${VAR} reference, never written in the file');
    try {
      return expandString(text, env, path.join('.'));
    } catch (error) {
      // Unset: said with the place in the file, like every other mistake in it.
      throw at(path, (error as Error).message);
    }
  };
  const duration = (text: string | undefined, path: Array<string | number>, fallback: number) => {
    if (text === undefined) return fallback;
    try {
      return parseDuration(text, path.join('.'));
    } catch (error) {
      throw at(path, (error as Error).message);
    }
  };
  const auth = raw.auth ?? {};
  if (auth.oauth && auth.authorizationServer)
    throw at(
      ['auth'],
      'set either oauth (an issuer that supports the MCP spec) or authorizationServer (the gateway signs members in), not both',
    );
  const deployment: Deployment = {
    file,
    trustedProxies: raw.trustedProxies ?? [],
    auth: {
      staticToken: auth.staticToken ?? !(auth.apiKeys || auth.oauth || auth.authorizationServer),
      apiKeys: auth.apiKeys ?? false,
    },
    logs: raw.logs ?? 'text',
    drainMs: duration(raw.drainTimeout, ['drainTimeout'], DEFAULT_DRAIN_MS),
    ...(raw.metrics === 'public' ? { metrics: 'public' as const } : {}),
  };
  for (const [index, entry] of (raw.trustedProxies ?? []).entries()) {
    try {
      new TrustedProxies([entry]);
    } catch {
      throw at(['trustedProxies', index], `${JSON.stringify(entry)} is not an IP address or CIDR range`);
    }
  }
  if (raw.listen) deployment.listen = listenAddress(raw.listen, (message) => at(['listen'], message));
  if (raw.publicUrl) {
    const publicUrl = url(raw.publicUrl, ['publicUrl']);
    if (publicUrl.pathname !== '/' || publicUrl.search || publicUrl.hash)
      throw at(['publicUrl'], "the gateway's base URL, without a path (its MCP endpoint is <publicUrl>/mcp)");
    deployment.publicUrl = publicUrl;
  }
  if (raw.tls)
    deployment.tls = { cert: resolve(file, '..', raw.tls.cert), key: resolve(file, '..', raw.tls.key) };
  if (raw.project)
    deployment.project = isAbsolute(raw.project) ? raw.project : resolve(file, '..', raw.project);
  if (raw.servers) deployment.servers = raw.servers;
  if (auth.oauth) {
    const { introspection } = auth.oauth;
    deployment.auth.oauth = {
      issuer: url(auth.oauth.issuer, ['auth', 'oauth', 'issuer']),
      scopes: auth.oauth.scopes ?? DEFAULT_SCOPES,
      claims: claims(auth.oauth.claims),
      ...(introspection
        ? {
            introspection: {
              ...(introspection.endpoint
                ? { endpoint: url(introspection.endpoint, ['auth', 'oauth', 'introspection', 'endpoint']) }
                : {}),
              clientId: introspection.clientId,
              clientSecret: secret(introspection.clientSecret, [
                'auth',
                'oauth',
                'introspection',
                'clientSecret',
              ]),
            },
          }
        : {}),
    };
  }
  if (auth.authorizationServer) {
    const own = auth.authorizationServer;
    const base = ['auth', 'authorizationServer'];
    deployment.auth.authorizationServer = {
      idp: {
        issuer: url(own.idp.issuer, [...base, 'idp', 'issuer']),
        clientId: own.idp.clientId,
        clientSecret: secret(own.idp.clientSecret, [...base, 'idp', 'clientSecret']),
        scopes: own.idp.scopes ?? ['openid', 'email', 'profile'],
      },
      scopes: own.scopes ?? DEFAULT_SCOPES,
      claims: claims(own.claims),
      accessTokenTtlSeconds: duration(own.accessTokenTtl, [...base, 'accessTokenTtl'], 3_600_000) / 1000,
      refreshTokenTtlSeconds:
        duration(own.refreshTokenTtl, [...base, 'refreshTokenTtl'], 720 * 3_600_000) / 1000,
      registration: {
        rate:
          own.registration?.rate === undefined
            ? DEFAULT_REGISTRATION.rate
            : registrationRate(own.registration.rate, (message) =>
                at([...base, 'registration', 'rate'], message),
              ),
        maxClients: own.registration?.maxClients ?? DEFAULT_REGISTRATION.maxClients,
      },
    };
  }
  if (raw.vault)
    deployment.vault = { key: keySource(raw.vault.key, (message) => at(['vault', 'key'], message)) };
  if (raw.state) deployment.state = stateUrl(raw.state, env, (message) => at(['state'], message));
  if (raw.audit) deployment.auditMaxLines = raw.audit.maxLines;
  // Spans name members (their subject): https, or http only to a collector on this machine.
  if (raw.telemetry) deployment.telemetry = { otlp: url(raw.telemetry.otlp, ['telemetry', 'otlp']) };
  return deployment;
}

export const DEFAULT_SCOPES = ['mcp'];
export { DEFAULT_DRAIN_MS };

function claims(raw: z.infer<typeof claimsSchema>): ClaimMapping {
  return {
    subject: raw?.subject ?? 'sub',
    email: raw?.email ?? 'email',
    groups: raw?.groups ?? 'groups',
    groupNames: raw?.groupNames ?? {},
  };
}

/**
 * `files`, or a Redis URL whose password (if any) is a ${VAR} reference expanded from the
 * environment; the expanded URL is never part of a message.
 */
function stateUrl(
  text: string,
  env: NodeJS.ProcessEnv,
  error: (message: string) => Error,
): string | undefined {
  let expanded: string;
  try {
    expanded = expandString(text, env, 'state');
  } catch (cause) {
    throw error((cause as Error).message);
  }
  if (text.trim() === 'files') return undefined;
  let password: string | undefined;
  try {
    const target = parseRedisUrl(expanded);
    password = target.kind === 'server' ? new URL(target.url).password : target.password;
  } catch {
    throw error(
      '"files", or a Redis URL: redis://host:6379, rediss://host:6380 (TLS), redis+sentinel://host:26379/<master-name> or redis+cluster://host:7000,host:7001',
    );
  }
  if (password && !/\$\{[A-Za-z_][A-Za-z0-9_]*\}/.test(text))
    throw error(
      'a password is given as a ${VAR} reference, never written in the file (redis://:${REDIS_PASSWORD}@host:6379)',
    );
  return expanded;
}

const RATE_UNIT_MS: Record<string, number> = {
  second: 1_000,
  s: 1_000,
  minute: 60_000,
  min: 60_000,
  m: 60_000,
  hour: 3_600_000,
  h: 3_600_000,
  day: 86_400_000,
  d: 86_400_000,
};

/** `10/minute`, as `patchbay limit` writes a rate (and `/second`, for a test's short window). */
function registrationRate(text: string, error: (message: string) => Error): { count: number; perMs: number } {
  const match = /^\s*(\d{1,9})\s*\/\s*([a-z]+)\s*$/i.exec(text);
  const count = Number(match?.[1]);
  const unit = match?.[2]?.toLowerCase();
  if (!match || !(count >= 1) || unit === undefined || !Object.hasOwn(RATE_UNIT_MS, unit))
    throw error('registrations per client address, as <N>/<second|minute|hour|day>, e.g. 10/minute');
  return { count, perMs: RATE_UNIT_MS[unit]! };
}

function keySource(text: string, error: (message: string) => Error): KeySource {
  const match = /^(env|file):(.+)$/.exec(text);
  if (!match) throw error('env:NAME (an environment variable) or file:/path (a file only the gateway reads)');
  return match[1] === 'env' ? { from: 'env', name: match[2]! } : { from: 'file', path: match[2]! };
}

function listenAddress(text: string, error: (message: string) => Error): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$|^(\d{1,5})$/.exec(text);
  const port = Number(match?.[3] ?? match?.[4]);
  if (!match || !(port >= 0 && port <= 65_535)) throw error('[host:]port, e.g. 0.0.0.0:8443 or 7431');
  return { host: match[1] ?? match[2] ?? '127.0.0.1', port };
}

/** https, or http to this machine (a test or a local IdP). */
function checkedUrl(
  text: string,
  path: Array<string | number>,
  at: (path: Array<string | number>, message: string) => Error,
): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw at(path, `not a URL: ${text}`);
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    throw at(path, 'must be https (http only to this machine)');
  return url;
}

function fieldError(
  parsed: ParsedJson,
  file: string,
  path: Array<string | number>,
  message: string,
): PatchbayError {
  const position = parsed.positionOf(path) ?? parsed.positionOf(path.slice(0, -1));
  const where = position ? `${file}:${position.line}:${position.column}` : file;
  return new PatchbayError('config-shape', `${where}: ${path.join('.') || '(top level)'}: ${message}.`, {
    hint: `Fix ${file} and start patchbay serve --config again.`,
  });
}
