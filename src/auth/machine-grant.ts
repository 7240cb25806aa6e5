/**
 * Logins without a browser: the grants a machine client makes on its own, one implementation
 * used by `login`, by the token source that renews an expired login (a new grant: there is no
 * refresh token), and so by every command and the gateway that connect through it.
 *
 * - `client_credentials` (OAuth 2.1 §4.2, SEP-1046): the client authenticates with its secret
 *   (`client_secret_basic`, `client_secret_post`) or with a JWT signed by its private key
 *   (`private_key_jwt`, RFC 7523 §2.2), and gets a token for itself.
 * - `cross_app_access` (SEP-990, Enterprise-Managed Authorization): the organisation's IdP
 *   exchanges an identity assertion (an ID token) for an ID-JAG (RFC 8693 token exchange,
 *   `requested_token_type` `urn:ietf:params:oauth:token-type:id-jag`), which the MCP server's
 *   authorization server takes as an RFC 7523 JWT bearer grant, from the client authenticated
 *   as above.
 *
 * The token requests themselves are the SDK's (`fetchToken`, `requestJwtAuthorizationGrant`,
 * `createPrivateKeyJwtAuth`); this module decides what to send and explains what failed.
 * Secrets and keys come from the credential store and never appear in a message.
 */

import { createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import type {
  AuthorizationServerMetadata,
  OAuthClientProvider,
  OAuthTokens,
} from '@modelcontextprotocol/client';

import { PatchbayError } from '../errors.js';
import type { ClientAuthMethod, OAuthSettings } from '../config/entry.js';
import { redactSecrets } from '../core/redact.js';

export type MachineGrant = 'client_credentials' | 'cross_app_access';
type ClientSdk = typeof import('@modelcontextprotocol/client');
type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const CLIENT_CREDENTIALS_GRANT = 'client_credentials';

/** The signing algorithms `--client-key` accepts, by key type. */
export const CLIENT_KEY_ALGORITHMS =
  'RS256/PS256 (RSA), ES256/ES384/ES512 (EC P-256/P-384/P-521), EdDSA (Ed25519)';

/**
 * The grant an entry asks for by itself: `oauth.grant`, or cross-app access when an IdP is set.
 * Undefined means "a person in a browser", unless the server offers machine clients nothing else
 * (see `grantForLogin`).
 */
export function configuredMachineGrant(oauth: OAuthSettings | undefined): MachineGrant | undefined {
  if (oauth?.grant === 'client_credentials' || oauth?.grant === 'cross_app_access') return oauth.grant;
  if (oauth?.grant === undefined && oauth?.idpIssuer) return 'cross_app_access';
  return undefined;
}

/**
 * The grant of a login: the configured one; else, for a pre-registered client with a stored
 * secret or key, `client_credentials` when the authorization server offers it and not the
 * authorization code grant (a server for machine clients only: there is no browser step to make).
 */
export function grantForLogin(
  oauth: OAuthSettings | undefined,
  hasClientCredential: boolean,
  metadata: AuthorizationServerMetadata | undefined,
): MachineGrant | undefined {
  const configured = configuredMachineGrant(oauth);
  if (configured || oauth?.grant === 'authorization_code') return configured;
  if (!oauth?.clientId || !hasClientCredential) return undefined;
  const grants = metadata?.grant_types_supported;
  if (
    Array.isArray(grants) &&
    grants.includes(CLIENT_CREDENTIALS_GRANT) &&
    !grants.includes('authorization_code')
  )
    return 'client_credentials';
  return undefined;
}

/** A private key as stored: a private JWK with the algorithm it signs with. */
export interface ClientKey {
  jwk: JsonWebKey;
  alg: string;
}

/** The stored form of a `--client-key`: marks the credential as a key, not a secret. */
const KEY_PREFIX = 'private-jwk:';

export function isStoredClientKey(credential: string): boolean {
  return credential.startsWith(KEY_PREFIX);
}

export function storedClientKey(key: ClientKey): string {
  return `${KEY_PREFIX}${JSON.stringify({ ...key.jwk, alg: key.alg })}`;
}

function clientKeyFromStore(credential: string): ClientKey {
  const jwk = JSON.parse(credential.slice(KEY_PREFIX.length)) as JsonWebKey & { alg: string };
  const { alg, ...rest } = jwk;
  return { jwk: rest, alg };
}

/**
 * `--client-key FILE`: a private key in PEM (PKCS#8, PKCS#1, SEC1) or JWK, read and checked. The
 * algorithm is the JWK's `alg`, else the usual one for the key type (RS256, ES256/384/512, EdDSA).
 */
export async function readClientKeyFile(path: string): Promise<ClientKey> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new PatchbayError(
      'read-failed',
      `could not read --client-key ${path}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return parseClientKey(text, path);
}

export function parseClientKey(text: string, source: string): ClientKey {
  let key: KeyObject;
  let declaredAlg: string | undefined;
  try {
    if (text.trim().startsWith('{')) {
      const jwk = JSON.parse(text) as JsonWebKey & { alg?: string };
      declaredAlg = typeof jwk.alg === 'string' ? jwk.alg : undefined;
      key = createPrivateKey({ key: jwk, format: 'jwk' });
    } else {
      key = createPrivateKey(text);
    }
  } catch (error) {
    throw new PatchbayError(
      'usage',
      `${source} is not an unencrypted private key in PEM or JWK (${(error as Error).message.slice(0, 120)})`,
      {
        hint: 'Give the private key (not the certificate or public key); decrypt an encrypted one first: openssl pkey -in key.pem -out plain-key.pem',
        cause: error,
      },
    );
  }
  const alg = declaredAlg ?? defaultAlgorithm(key);
  if (!alg || !algorithmsFor(key).includes(alg)) {
    throw new PatchbayError(
      'usage',
      `${source} holds a ${key.asymmetricKeyType ?? 'unknown'} key${declaredAlg ? ` with alg ${declaredAlg}` : ''}, which private_key_jwt cannot sign with here`,
      { hint: `Use a key for one of: ${CLIENT_KEY_ALGORITHMS}.` },
    );
  }
  const jwk = key.export({ format: 'jwk' });
  return { jwk, alg };
}

function defaultAlgorithm(key: KeyObject): string | undefined {
  return algorithmsFor(key)[0];
}

function algorithmsFor(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'PS256', 'RS384', 'RS512', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return ['ES256'];
      if (curve === 'secp384r1') return ['ES384'];
      if (curve === 'secp521r1') return ['ES512'];
      return [];
    }
    case 'ed25519':
      return ['EdDSA'];
    default:
      return [];
  }
}

/**
 * How the client authenticates at the token endpoint: the configured method; else, from
 * `token_endpoint_auth_methods_supported`, the first the stored credential can do (a key:
 * private_key_jwt; a secret: client_secret_basic, then client_secret_post). A server that lists
 * no methods gets RFC 8414's default, client_secret_basic (or private_key_jwt for a key).
 */
export function chooseClientAuthMethod(
  configured: ClientAuthMethod | undefined,
  credential: string,
  metadata: AuthorizationServerMetadata,
  name: string,
): ClientAuthMethod {
  const isKey = isStoredClientKey(credential);
  const supported = metadata.token_endpoint_auth_methods_supported;
  const canDo: ClientAuthMethod[] = isKey
    ? ['private_key_jwt']
    : ['client_secret_basic', 'client_secret_post'];
  if (configured) {
    if (!canDo.includes(configured)) {
      throw new PatchbayError(
        'usage',
        `${name} is set to authenticate with ${configured}, but patchbay holds a ${isKey ? 'private key' : 'client secret'} for it`,
        {
          hint: isKey
            ? `patchbay add ${name} <url> --client-id <id> --client-key <file> --force (private_key_jwt)`
            : `patchbay add ${name} <url> --client-id <id> --client-secret --force`,
        },
      );
    }
    return configured;
  }
  if (!Array.isArray(supported) || supported.length === 0) return canDo[0]!;
  const found = canDo.find((method) => supported.includes(method));
  if (found) return found;
  throw new PatchbayError(
    'auth-refused',
    `${metadata.issuer} accepts client authentication by ${supported.map((m) => redactSecrets(String(m), []).slice(0, 40)).join(', ')}, and patchbay holds a ${isKey ? 'private key (private_key_jwt)' : 'client secret (client_secret_basic, client_secret_post)'} for ${name}`,
    {
      hint: supported.includes('private_key_jwt')
        ? `Register a public key with the server's operator, then: patchbay add ${name} <url> --client-id <id> --client-key <private-key-file> --force`
        : `Ask the server's operator for a client secret, then: patchbay add ${name} <url> --client-id <id> --client-secret --force`,
    },
  );
}

/**
 * RFC 6749 §2.3.1 (basic: form-encoded id and secret; post: in the body) or RFC 7523 §2.2
 * (a JWT signed by the client's key, `aud` the issuer, through the SDK's createPrivateKeyJwtAuth).
 */
function clientAuthentication(
  sdk: ClientSdk,
  method: ClientAuthMethod,
  clientId: string,
  credential: string,
  metadata: AuthorizationServerMetadata,
): NonNullable<OAuthClientProvider['addClientAuthentication']> {
  if (method === 'private_key_jwt') {
    const key = clientKeyFromStore(credential);
    const supported = metadata.token_endpoint_auth_signing_alg_values_supported;
    let alg = key.alg;
    if (Array.isArray(supported) && supported.length > 0 && !supported.includes(alg)) {
      const other = key.jwk.kty === 'RSA' ? ['RS256', 'PS256'].find((a) => supported.includes(a)) : undefined;
      if (!other) {
        throw new PatchbayError(
          'auth-refused',
          `${metadata.issuer} accepts client assertions signed with ${supported.join(', ')}, and the client key signs with ${alg}`,
          { hint: `Use a key for one of those algorithms (${CLIENT_KEY_ALGORITHMS}).` },
        );
      }
      alg = other;
    }
    return sdk.createPrivateKeyJwtAuth({
      issuer: clientId,
      subject: clientId,
      privateKey: key.jwk as Record<string, unknown>,
      alg,
      audience: metadata.issuer,
    });
  }
  return (headers, params) => {
    if (method === 'client_secret_basic') {
      const encode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2);
      const pair = `${encode(clientId)}:${encode(credential)}`;
      headers.set('Authorization', `Basic ${Buffer.from(pair).toString('base64')}`);
    } else {
      params.set('client_id', clientId);
      params.set('client_secret', credential);
    }
  };
}

/** Where cross-app access gets its identity assertion. */
export interface IdentityAssertionSource {
  idpIssuer: string;
  idpClientId: string;
  idpClientSecret?: string;
  /** `oauth.idTokenFile` or `login --id-token-file`. */
  idTokenFile?: string;
  /** `oauth.idTokenEnv`. */
  idTokenEnv?: string;
  env: NodeJS.ProcessEnv;
}

export interface MachineGrantRequest {
  sdk: ClientSdk;
  name: string;
  grant: MachineGrant;
  clientId: string;
  /** The stored client secret, or the stored private key (`storedClientKey`). */
  credential: string;
  clientAuthMethod?: ClientAuthMethod;
  metadata: AuthorizationServerMetadata;
  authorizationServerUrl: string | URL;
  /** The RFC 8707 resource indicator: the protected resource metadata's `resource`, else the server URL. */
  resource: string;
  scope?: string;
  identity?: IdentityAssertionSource;
  fetchFn: FetchLike;
}

/** One grant at the token endpoint; the tokens as the server answered (checked by the SDK). */
export async function requestMachineTokens(request: MachineGrantRequest): Promise<OAuthTokens> {
  const { sdk, metadata, name } = request;
  const issuer = metadata.issuer;
  const method = chooseClientAuthMethod(request.clientAuthMethod, request.credential, metadata, name);
  const addClientAuthentication = clientAuthentication(
    sdk,
    method,
    request.clientId,
    request.credential,
    metadata,
  );
  const params = new URLSearchParams();
  if (request.grant === 'client_credentials') {
    params.set('grant_type', CLIENT_CREDENTIALS_GRANT);
  } else {
    params.set('grant_type', JWT_BEARER_GRANT);
    params.set('assertion', await requestIdJag(request));
  }
  if (request.scope) params.set('scope', request.scope);
  const provider: OAuthClientProvider = {
    get redirectUrl() {
      return undefined;
    },
    get clientMetadata() {
      return {
        client_name: 'patchbay',
        redirect_uris: [],
        grant_types: [request.grant === 'client_credentials' ? CLIENT_CREDENTIALS_GRANT : JWT_BEARER_GRANT],
        token_endpoint_auth_method: method,
      };
    },
    clientInformation: () => ({ client_id: request.clientId, issuer }),
    tokens: () => undefined,
    saveTokens: () => undefined,
    redirectToAuthorization: () => undefined,
    saveCodeVerifier: () => undefined,
    codeVerifier: () => '',
    prepareTokenRequest: () => params,
    addClientAuthentication,
  };
  try {
    return await sdk.fetchToken(provider, request.authorizationServerUrl, {
      metadata,
      resource: new URL(request.resource),
      ...(request.scope ? { scope: request.scope } : {}),
      fetchFn: request.fetchFn,
    });
  } catch (error) {
    throw explainTokenFailure(error, request, method);
  }
}

/** RFC 8693 at the IdP: the ID token for an ID-JAG whose audience is the server's authorization server. */
async function requestIdJag(request: MachineGrantRequest): Promise<string> {
  const { sdk, name } = request;
  const identity = request.identity;
  if (!identity) {
    throw new PatchbayError('usage', `${name} uses cross-app access but names no identity provider`, {
      hint: `patchbay add ${name} <url> --client-id <id> --client-secret --idp-issuer <url> --idp-client-id <id> --id-token-file <file> --force`,
    });
  }
  const idToken = await readIdToken(identity, name);
  const tokenEndpoint = await idpTokenEndpoint(sdk, identity.idpIssuer, request.fetchFn, name);
  try {
    const result = await sdk.requestJwtAuthorizationGrant({
      tokenEndpoint,
      audience: request.metadata.issuer,
      resource: request.resource,
      idToken,
      clientId: identity.idpClientId,
      ...(identity.idpClientSecret ? { clientSecret: identity.idpClientSecret } : {}),
      ...(request.scope ? { scope: request.scope } : {}),
      fetchFn: request.fetchFn,
    });
    return result.jwtAuthGrant;
  } catch (error) {
    const secrets = [idToken, identity.idpClientSecret ?? ''];
    throw new PatchbayError(
      'auth-failed',
      `the identity provider ${identity.idpIssuer} did not exchange the ID token for an authorization grant for ${request.metadata.issuer} (RFC 8693): ${messageOf(error, secrets)}`,
      {
        hint: `Get a fresh ID token from ${identity.idpIssuer} into ${identity.idTokenFile ?? (identity.idTokenEnv ? `$${identity.idTokenEnv}` : 'the file --id-token-file names')}, then: patchbay login ${name}`,
        cause: error,
      },
    );
  }
}

/**
 * The IdP's token endpoint, from its RFC 8414 or OpenID discovery document. Only what the token
 * exchange needs is required of it (an IdP's OIDC document may lack fields an MCP authorization
 * server's must have), and that is checked: the issuer it names, and an http(s) token endpoint.
 */
async function idpTokenEndpoint(
  sdk: ClientSdk,
  issuer: string,
  fetchFn: FetchLike,
  name: string,
): Promise<string> {
  const tried: string[] = [];
  for (const { url } of sdk.buildDiscoveryUrls(issuer)) {
    let response: Response;
    try {
      response = await fetchFn(url, { headers: { accept: 'application/json' } });
    } catch (error) {
      tried.push(`${url.href}: ${messageOf(error, [])}`);
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      tried.push(`${url.href}: HTTP ${response.status}`);
      continue;
    }
    const document = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    const endpoint = typeof document?.token_endpoint === 'string' ? URL.parse(document.token_endpoint) : null;
    if (typeof document?.issuer !== 'string' || !sameIssuer(document.issuer, issuer)) {
      tried.push(
        `${url.href}: names the issuer ${redactSecrets(String(document?.issuer), []).slice(0, 100)}`,
      );
      continue;
    }
    if (!endpoint || !/^https?:$/.test(endpoint.protocol)) {
      tried.push(`${url.href}: no http(s) token_endpoint`);
      continue;
    }
    return endpoint.href;
  }
  throw new PatchbayError(
    'auth-failed',
    `could not find the token endpoint of the identity provider ${issuer}: ${tried.join('; ')}`,
    { hint: `Check --idp-issuer (the IdP's issuer URL); then: patchbay login ${name}` },
  );
}

function sameIssuer(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

async function readIdToken(identity: IdentityAssertionSource, name: string): Promise<string> {
  let token: string | undefined;
  let from: string;
  if (identity.idTokenFile) {
    from = identity.idTokenFile;
    token = await readFile(identity.idTokenFile, 'utf8').catch((error: unknown) => {
      throw new PatchbayError(
        'auth-failed',
        `could not read the ID token file ${identity.idTokenFile}: ${(error as Error).message}`,
        {
          hint: `Put the ID token from ${identity.idpIssuer} there, then: patchbay login ${name}`,
          cause: error,
        },
      );
    });
  } else if (identity.idTokenEnv) {
    from = `$${identity.idTokenEnv}`;
    token = identity.env[identity.idTokenEnv];
  } else {
    throw new PatchbayError('usage', `${name} uses cross-app access but says nowhere where the ID token is`, {
      hint: `patchbay login ${name} --id-token-file <file>   (or add … --id-token-env <VAR>)`,
    });
  }
  token = token?.trim();
  if (!token) {
    throw new PatchbayError('auth-failed', `there is no ID token in ${from}`, {
      hint: `Put the ID token from ${identity.idpIssuer} in ${from}, then: patchbay login ${name}`,
    });
  }
  return token;
}

function messageOf(error: unknown, secrets: string[]): string {
  const text = error instanceof Error ? error.message : String(error);
  return redactSecrets(text, secrets.filter(Boolean)).slice(0, 300);
}

/** What the authorization server said, and what to do: a refused client is not fixed by logging in again. */
function explainTokenFailure(
  error: unknown,
  request: MachineGrantRequest,
  method: ClientAuthMethod,
): unknown {
  if (error instanceof PatchbayError) return error;
  const { name, metadata } = request;
  const what =
    request.grant === 'client_credentials' ? 'client credentials grant' : 'JWT bearer grant (the ID-JAG)';
  const secrets = [request.credential];
  const oauth = error as { code?: unknown; message?: unknown };
  const code = typeof oauth.code === 'string' ? oauth.code : undefined;
  const detail = messageOf(error, secrets);
  if (code === 'invalid_client' || code === 'unauthorized_client') {
    const credential = method === 'private_key_jwt' ? 'private key' : 'client secret';
    return new PatchbayError(
      'auth-refused',
      `${metadata.issuer} refused the ${what} of client ${request.clientId} (${code}: ${detail}); it authenticated with ${method}`,
      {
        hint:
          code === 'invalid_client'
            ? `Store the right ${credential}: patchbay add ${name} ${request.resource} --client-id ${request.clientId} ${method === 'private_key_jwt' ? '--client-key <file>' : '--client-secret'} ${request.grant === 'client_credentials' ? '--grant client_credentials --force' : '--force, with the same --idp-* and --id-token-* flags'}`
            : `Ask the server's operator to allow client ${request.clientId} the ${request.grant === 'client_credentials' ? 'client_credentials' : 'JWT bearer'} grant.`,
        cause: error,
      },
    );
  }
  return new PatchbayError(
    'auth-failed',
    `the ${what} at ${metadata.issuer} failed: ${code ? `${code}: ` : ''}${detail}`,
    {
      hint: `patchbay doctor ${name} checks the authorization server step by step.`,
      cause: error,
    },
  );
}
