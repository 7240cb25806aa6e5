/**
 * What the credential store keeps, and the checks every stored record passes before use. A
 * record that fails a check is reported with where it is (file:line:col or keychain entry) and
 * which field is wrong, never with a value: values may be secrets.
 */

import type { StoredOAuthClientInformation } from '@modelcontextprotocol/client';

import { PatchbayError } from '../errors.js';
import type { JsonObject, JsonValue } from '../core/json-source.js';
import { getOwn, isObject } from '../core/json-source.js';
import type { Locate, Section, StoredIn } from './store-vault.js';

export type { Locate, StoredIn } from './store-vault.js';
export { redactSecrets } from '../core/redact.js';

/** Why the last refresh failed. `message` is redacted of tokens before it is stored. */
export interface RefreshError {
  /** Epoch ms. */
  at: number;
  message: string;
}

/**
 * An OAuth token set for one server, under the `serverKey` the caller chooses
 * (`${issuer} ${resource}`). `issuer` and `resource` are repeated inside so a token set can be
 * checked against the server it is about to be sent to.
 */
export interface StoredTokens {
  issuer: string;
  resource: string;
  accessToken: string;
  /** As the token endpoint said, usually `Bearer`. */
  tokenType: string;
  refreshToken?: string;
  /** Epoch ms; absent when the server gave no `expires_in`. */
  expiresAt?: number;
  /** Space-separated, as granted. */
  scope?: string;
  /** The client the tokens were issued to: a refresh must authenticate as that client. */
  clientId?: string;
  /** Epoch ms of the first grant of this login. */
  obtainedAt: number;
  /** Epoch ms of the last successful refresh. */
  lastRefreshAt?: number;
  /** Kept in the index, not with the secret; cleared by the next `saveTokens` that omits it. */
  lastRefreshError?: RefreshError;
  /**
   * A login without a browser (machine-grant.ts): renewed by a new grant of this kind, not by a
   * refresh token. Absent for a person's login (authorization code, device code).
   */
  grant?: 'client_credentials' | 'cross_app_access';
}

/** How patchbay came to have a client: configured, a Client ID Metadata Document URL, or RFC 7591. */
export type ClientKind = 'pre-registered' | 'metadata-document' | 'dynamic';
export const CLIENT_KINDS: readonly ClientKind[] = ['pre-registered', 'metadata-document', 'dynamic'];

/**
 * A client registration at one authorization server (`issuer`). A dynamically registered client
 * is bound to the redirect URIs it was registered with, hence `redirectUri` in its key.
 */
export interface StoredClient {
  issuer: string;
  redirectUri?: string;
  kind: ClientKind;
  clientId: string;
  clientSecret?: string;
  /** Epoch ms. */
  registeredAt: number;
  /** The client information as the SDK returned it, handed back verbatim. */
  information: StoredOAuthClientInformation;
}

/** The non-secret part of a token set: what `patchbay auth status` shows. */
export interface TokenFacts {
  issuer: string;
  resource: string;
  tokenType: string;
  scope?: string;
  expiresAt?: number;
  clientId?: string;
  obtainedAt: number;
  lastRefreshAt?: number;
  lastRefreshError?: RefreshError;
  refreshable: boolean;
}

/** The non-secret part of a client registration. */
export interface ClientFacts {
  issuer: string;
  redirectUri?: string;
  kind: ClientKind;
  clientId: string;
  registeredAt: number;
  hasClientSecret: boolean;
  /** Epoch ms; from RFC 7591 `client_secret_expires_at` (0 there means never, and is left out here). */
  clientSecretExpiresAt?: number;
}

/** A pre-registered client secret (`patchbay add --client-secret`), keyed by server name and URL. */
export interface ClientSecretFacts {
  name: string;
  url: string;
  /** Epoch ms; absent for a secret still in the old credentials file. */
  storedAt?: number;
}

export function tokenFacts(tokens: StoredTokens): TokenFacts {
  return {
    issuer: tokens.issuer,
    resource: tokens.resource,
    tokenType: tokens.tokenType,
    scope: tokens.scope,
    expiresAt: tokens.expiresAt,
    clientId: tokens.clientId,
    obtainedAt: tokens.obtainedAt,
    lastRefreshAt: tokens.lastRefreshAt,
    lastRefreshError: tokens.lastRefreshError,
    // A machine login renews itself with a new grant.
    refreshable: tokens.refreshToken !== undefined || tokens.grant !== undefined,
  };
}

export function clientFacts(client: StoredClient): ClientFacts {
  const expires = client.information.client_secret_expires_at;
  return {
    issuer: client.issuer,
    redirectUri: client.redirectUri,
    kind: client.kind,
    clientId: client.clientId,
    registeredAt: client.registeredAt,
    hasClientSecret: client.clientSecret !== undefined,
    clientSecretExpiresAt: typeof expires === 'number' && expires > 0 ? expires * 1000 : undefined,
  };
}

/** `tokens["https://as https://rs"].expiresAt` */
export function describePath(path: ReadonlyArray<string | number>): string {
  return path
    .map((part, index) =>
      typeof part === 'number'
        ? `[${part}]`
        : /^[A-Za-z_][A-Za-z0-9_]*$/.test(part)
          ? `${index === 0 ? '' : '.'}${part}`
          : `[${JSON.stringify(part)}]`,
    )
    .join('');
}

export function shapeError(
  locate: Locate,
  path: ReadonlyArray<string | number>,
  expected: string,
): PatchbayError {
  return new PatchbayError('config-shape', `${locate(path)}: expected ${expected}.`, {
    hint: STORE_FIX_HINT,
  });
}

/** The fix for a damaged store, used wherever one is reported. */
export const STORE_FIX_HINT =
  'patchbay will not rewrite it. Fix it by hand, or move it aside and log in again (patchbay login <server>).';

/** Typed access to one stored object, failing with the field's place and the type it should have. */
export class RecordReader {
  private constructor(
    private readonly value: JsonObject,
    private readonly locate: Locate,
    private readonly path: ReadonlyArray<string | number>,
  ) {}

  static of(
    value: JsonValue | undefined,
    locate: Locate,
    path: ReadonlyArray<string | number>,
  ): RecordReader {
    if (!isObject(value)) throw shapeError(locate, path, 'an object');
    return new RecordReader(value, locate, path);
  }

  get raw(): JsonObject {
    return this.value;
  }

  private fail(key: string, expected: string): never {
    throw shapeError(this.locate, [...this.path, key], expected);
  }

  string(key: string): string {
    const value = getOwn(this.value, key);
    if (typeof value !== 'string' || value === '') this.fail(key, 'a non-empty string');
    return value;
  }

  optionalString(key: string): string | undefined {
    return getOwn(this.value, key) === undefined ? undefined : this.string(key);
  }

  number(key: string): number {
    const value = getOwn(this.value, key);
    if (typeof value !== 'number' || !Number.isFinite(value)) this.fail(key, 'a number');
    return value;
  }

  optionalNumber(key: string): number | undefined {
    return getOwn(this.value, key) === undefined ? undefined : this.number(key);
  }

  boolean(key: string): boolean {
    const value = getOwn(this.value, key);
    if (typeof value !== 'boolean') this.fail(key, 'true or false');
    return value;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[]): T {
    const value = getOwn(this.value, key);
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.fail(key, `one of ${allowed.map((item) => `"${item}"`).join(', ')}`);
    }
    return value as T;
  }

  child(key: string): RecordReader {
    return RecordReader.of(getOwn(this.value, key), this.locate, [...this.path, key]);
  }

  optionalChild(key: string): RecordReader | undefined {
    return getOwn(this.value, key) === undefined ? undefined : this.child(key);
  }
}

function readRefreshError(record: RecordReader): RefreshError | undefined {
  const error = record.optionalChild('lastRefreshError');
  return error && { at: error.number('at'), message: error.string('message') };
}

/** A token set as kept with the secret (everything but `lastRefreshError`, which the index keeps). */
export function readStoredTokens(record: RecordReader): StoredTokens {
  return {
    issuer: record.string('issuer'),
    resource: record.string('resource'),
    accessToken: record.string('accessToken'),
    tokenType: record.string('tokenType'),
    refreshToken: record.optionalString('refreshToken'),
    expiresAt: record.optionalNumber('expiresAt'),
    scope: record.optionalString('scope'),
    clientId: record.optionalString('clientId'),
    obtainedAt: record.number('obtainedAt'),
    lastRefreshAt: record.optionalNumber('lastRefreshAt'),
    grant: machineGrantOf(record.optionalString('grant')),
  };
}

function machineGrantOf(value: string | undefined): StoredTokens['grant'] {
  return value === 'client_credentials' || value === 'cross_app_access' ? value : undefined;
}

export function readTokenFacts(record: RecordReader): TokenFacts {
  return {
    issuer: record.string('issuer'),
    resource: record.string('resource'),
    tokenType: record.string('tokenType'),
    scope: record.optionalString('scope'),
    expiresAt: record.optionalNumber('expiresAt'),
    clientId: record.optionalString('clientId'),
    obtainedAt: record.number('obtainedAt'),
    lastRefreshAt: record.optionalNumber('lastRefreshAt'),
    lastRefreshError: readRefreshError(record),
    refreshable: record.boolean('refreshable'),
  };
}

export function readStoredClient(record: RecordReader): StoredClient {
  const information = record.child('information');
  information.string('client_id');
  return {
    issuer: record.string('issuer'),
    redirectUri: record.optionalString('redirectUri'),
    kind: record.oneOf('kind', CLIENT_KINDS),
    clientId: record.string('clientId'),
    clientSecret: record.optionalString('clientSecret'),
    registeredAt: record.number('registeredAt'),
    information: information.raw as unknown as StoredOAuthClientInformation,
  };
}

export function readClientFacts(record: RecordReader): ClientFacts {
  return {
    issuer: record.string('issuer'),
    redirectUri: record.optionalString('redirectUri'),
    kind: record.oneOf('kind', CLIENT_KINDS),
    clientId: record.string('clientId'),
    registeredAt: record.number('registeredAt'),
    hasClientSecret: record.boolean('hasClientSecret'),
    clientSecretExpiresAt: record.optionalNumber('clientSecretExpiresAt'),
  };
}

export function readClientSecretFacts(record: RecordReader): ClientSecretFacts {
  return {
    name: record.string('name'),
    url: record.string('url'),
    storedAt: record.optionalNumber('storedAt'),
  };
}

export const STORED_IN: readonly StoredIn[] = ['keychain', 'file'];

/** A client secret as kept with the secret. */
export interface ClientSecretRecord extends ClientSecretFacts {
  secret: string;
}

export function readClientSecretRecord(record: RecordReader): ClientSecretRecord {
  return { ...readClientSecretFacts(record), secret: record.string('secret') };
}

type Check = (record: RecordReader) => unknown;

function checkSections(root: JsonObject, locate: Locate, checks: Record<Section, Check>): void {
  for (const [section, check] of Object.entries(checks) as Array<[Section, Check]>) {
    const entries = getOwn(root, section);
    if (!isObject(entries)) continue;
    for (const [key, entry] of Object.entries(entries)) check(RecordReader.of(entry, locate, [section, key]));
  }
}

/** Every entry of the index is well formed (facts plus where the secret is). */
export function checkIndexRecords(root: JsonObject, locate: Locate): void {
  const withPlace =
    (read: Check): Check =>
    (record) => {
      read(record);
      record.oneOf('storedIn', STORED_IN);
    };
  checkSections(root, locate, {
    tokens: withPlace(readTokenFacts),
    clients: withPlace(readClientFacts),
    clientSecrets: withPlace(readClientSecretFacts),
  });
}

/** Every entry of the secrets file is well formed. */
export function checkSecretRecords(root: JsonObject, locate: Locate): void {
  checkSections(root, locate, {
    tokens: readStoredTokens,
    clients: readStoredClient,
    clientSecrets: readClientSecretRecord,
  });
}
