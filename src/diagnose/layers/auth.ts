/**
 * The auth layer: what a 401/403 asks for, and whether an OAuth login could succeed. It reads
 * the challenge, then the protected-resource metadata (RFC 9728) and the authorization server's
 * metadata (RFC 8414 / OIDC discovery) with the SDK's own discovery functions. Discovery only
 * GETs public documents: nothing is registered, no token is requested, nothing is stored.
 */

import { configuredMachineGrant } from '../../auth/machine-grant.js';
import { describeIssues, rememberingFetch, schemaIssues } from '../../auth/metadata-error.js';
import type { FetchLike, HttpClient } from '../../connect/network.js';
import { splitTemplate } from '../../config/expand.js';
import { isLoopbackHost } from '../../core/loopback.js';
import { failed, passed, type Evidence, type Finding } from '../findings.js';
import { addCommand } from '../fixes.js';
import { clean, displayUrl } from '../text.js';
import type { LayerContext } from './context.js';
import type { HttpOutcome } from './http.js';

export interface AuthOutcome {
  finding: Finding;
  /** A failure that credentials fix (login, a token): the verdict is needs-auth, not failed. */
  needsAuth: boolean;
}

const NO_PRM = 'no protected-resource metadata';
const NO_AS = 'none found at its well-known addresses';

interface Discovered {
  resource?: string;
  authorizationServers?: string[];
  resourceMismatch?: string;
  prmProblem?: string;
  asUrl?: string;
  metadata?: Record<string, unknown>;
  asProblem?: string;
}

export async function checkAuth(
  context: LayerContext,
  http: HttpClient,
  outcome: HttpOutcome,
): Promise<AuthOutcome> {
  const challenge = outcome.challenge;
  if (!challenge) {
    return {
      needsAuth: false,
      finding: passed(
        'auth',
        outcome.sentAuthorization
          ? `the server accepted the Authorization header from ${outcome.authorizationSource === 'headersHelper' ? 'the headersHelper' : 'the entry'}`
          : 'the server did not ask for authorization',
        { required: outcome.sentAuthorization },
      ),
    };
  }

  const sdk = await import('@modelcontextprotocol/client');
  const header = challenge.headers.get('www-authenticate');
  const params = sdk.extractWWWAuthenticateParams(challenge);
  const evidence: Evidence = {
    status: challenge.status,
    scheme: header ? clean(header.split(/[\s,]/, 1)[0] ?? '', 20) : null,
    error: params.error ? clean(params.error, 60) : null,
    errorDescription: params.errorDescription ? clean(params.errorDescription, 160) : null,
    scope: params.scope ? clean(params.scope, 160) : null,
    resourceMetadata: params.resourceMetadataUrl ? displayUrl(params.resourceMetadataUrl) : null,
  };

  const serverUrl = new URL(context.entry.url!);
  const fetchFn: FetchLike = (url, init) => http.fetch(url, { ...init, signal: context.deadline.signal });
  const found = await discover(context, sdk, serverUrl, params.resourceMetadataUrl, fetchFn);
  Object.assign(evidence, describeDiscovery(found, context));

  if (outcome.sentAuthorization) return rejectedHeader(context, outcome, found, evidence);

  if (found.resourceMismatch) {
    return {
      needsAuth: false,
      finding: failed(
        'auth',
        `the protected-resource metadata is for ${found.resourceMismatch}, not this server: patchbay will not log in with it`,
        evidence,
        "Tell the server's operator; check the URL: patchbay get " + context.name,
      ),
    };
  }
  if (found.metadata) return judgeMetadata(context, found, evidence, challenge.status, params.scope);
  const nothingPublished =
    found.resource === undefined &&
    found.prmProblem === NO_PRM &&
    found.asProblem === NO_AS &&
    !params.resourceMetadataUrl;
  if (!nothingPublished) {
    const problems = [
      params.resourceMetadataUrl && found.prmProblem === NO_PRM
        ? `the challenge points at ${displayUrl(params.resourceMetadataUrl)}, but there is no metadata there`
        : found.prmProblem && found.prmProblem !== NO_PRM
          ? found.prmProblem
          : undefined,
      found.asProblem
        ? `authorization-server metadata${found.asUrl ? ` of ${displayUrl(found.asUrl)}` : ''}: ${found.asProblem}`
        : undefined,
    ].filter((problem): problem is string => problem !== undefined);
    return {
      needsAuth: false,
      finding: failed(
        'auth',
        `HTTP ${challenge.status}, and OAuth discovery fails: ${problems.join('; ')}`,
        evidence,
        "The server's OAuth set-up is incomplete: tell its operator",
      ),
    };
  }
  // Neither document: an API-key server, or a 2025-03-26-era one with default endpoints.
  return {
    needsAuth: true,
    finding: failed(
      'auth',
      `HTTP ${challenge.status}: the server wants credentials but publishes no OAuth metadata`,
      evidence,
      `If it takes an API key or token: ${addCommand(context.name, context.scope, context.template, {
        extraFlags: ['-H', `'Authorization: Bearer \${TOKEN}'`],
      })}   otherwise try: patchbay login ${context.name}`,
    ),
  };
}

async function discover(
  context: LayerContext,
  sdk: typeof import('@modelcontextprotocol/client'),
  serverUrl: URL,
  resourceMetadataUrl: URL | undefined,
  plainFetch: FetchLike,
): Promise<Discovered> {
  // The documents read are kept, so a schema error can quote the offending value.
  const reads = rememberingFetch(plainFetch);
  const fetchFn: FetchLike = reads.fetch;
  const found: Discovered = {};
  if (resourceMetadataUrl && !isSafeToFetch(resourceMetadataUrl, serverUrl)) {
    found.prmProblem = `the challenge points at ${displayUrl(resourceMetadataUrl)}, which patchbay will not fetch (not https)`;
  } else {
    try {
      const prm = await context.deadline.race(
        sdk.discoverOAuthProtectedResourceMetadata(
          serverUrl,
          resourceMetadataUrl ? { resourceMetadataUrl } : undefined,
          fetchFn,
        ),
      );
      found.resource = prm.resource;
      found.authorizationServers = prm.authorization_servers ?? [];
      const allowed = sdk.checkResourceAllowed({
        requestedResource: sdk.resourceUrlFromServerUrl(serverUrl),
        configuredResource: prm.resource,
      });
      if (!allowed) found.resourceMismatch = clean(prm.resource, 160);
    } catch (error) {
      found.prmProblem = context.deadline.expired()
        ? 'the protected-resource metadata did not arrive in time'
        : /does not implement/i.test(String(error)) ||
            // A server that answers every path with 401 publishes nothing either.
            (!resourceMetadataUrl && /^HTTP 4\d\d trying to load well-known/.test(errorText(error)))
          ? NO_PRM
          : `the protected-resource metadata is unusable (${await unusable(error, reads, 160)})`;
    }
  }

  const configured = context.entry.oauth?.authServerMetadataUrl;
  const asUrl =
    found.authorizationServers?.[0] ?? (found.resource === undefined ? serverUrl.origin : undefined);
  try {
    if (configured) {
      found.asUrl = configured;
      found.metadata = await fetchMetadataDocument(configured, fetchFn, context);
    } else if (asUrl) {
      found.asUrl = asUrl;
      const parsed = new URL(asUrl);
      if (!isSafeToFetch(parsed, serverUrl)) {
        found.asProblem = `${displayUrl(parsed)} is not https`;
      } else {
        const metadata = await context.deadline.race(
          sdk.discoverAuthorizationServerMetadata(asUrl, { fetchFn }),
        );
        if (metadata) found.metadata = metadata as unknown as Record<string, unknown>;
        else found.asProblem = NO_AS;
      }
    } else {
      found.asProblem = 'the protected-resource metadata names no authorization server';
    }
  } catch (error) {
    found.asProblem = context.deadline.expired()
      ? 'it did not arrive in time'
      : await unusable(error, reads, 200);
  }
  return found;
}

/** The SDK's schema error in words, quoting the offending value; any other error, cleaned. */
async function unusable(
  error: unknown,
  reads: ReturnType<typeof rememberingFetch>,
  max: number,
): Promise<string> {
  const issues = schemaIssues(error);
  if (issues) return clean(describeIssues(issues, (await reads.last())?.json), max);
  return clean(error instanceof Error ? error.message : String(error), max);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Server-supplied URLs are fetched only over https, or plain http to loopback when the server is. */
function isSafeToFetch(url: URL, serverUrl: URL): boolean {
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && isLoopbackHost(url.hostname) && isLoopbackHost(serverUrl.hostname);
}

async function fetchMetadataDocument(
  address: string,
  fetchFn: FetchLike,
  context: LayerContext,
): Promise<Record<string, unknown>> {
  const response = await fetchFn(address, { headers: { Accept: 'application/json' } });
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw new Error(`HTTP ${response.status} from oauth.authServerMetadataUrl ${displayUrl(address)}`);
  }
  const body: unknown = await context.deadline.race(response.json() as Promise<unknown>);
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new Error(`oauth.authServerMetadataUrl ${displayUrl(address)} is not a JSON object`);
  return body as Record<string, unknown>;
}

function describeDiscovery(found: Discovered, context: LayerContext): Evidence {
  const evidence: Evidence = {
    resource: found.resource === undefined ? null : clean(found.resource, 160),
    authorizationServers: found.authorizationServers
      ? clean(found.authorizationServers.join(', '), 300)
      : null,
    protectedResourceMetadata: found.prmProblem ?? (found.resource !== undefined ? 'found' : null),
  };
  const metadata = found.metadata;
  if (!metadata) {
    evidence.authorizationServerMetadata = found.asProblem ?? null;
    return evidence;
  }
  const methods = Array.isArray(metadata.code_challenge_methods_supported)
    ? metadata.code_challenge_methods_supported
    : [];
  evidence.authorizationServerMetadata = 'found';
  evidence.issuer = typeof metadata.issuer === 'string' ? clean(metadata.issuer, 160) : null;
  evidence.authorizationEndpoint = typeof metadata.authorization_endpoint === 'string';
  evidence.tokenEndpoint = typeof metadata.token_endpoint === 'string';
  evidence.pkceS256 = methods.includes('S256');
  evidence.registrationEndpoint = typeof metadata.registration_endpoint === 'string';
  evidence.clientIdMetadataDocument = metadata.client_id_metadata_document_supported === true;
  evidence.clientIdConfigured = context.entry.oauth?.clientId !== undefined;
  if (Array.isArray(metadata.scopes_supported))
    evidence.scopesSupported = clean(metadata.scopes_supported.map(String).join(' '), 200);
  return evidence;
}

function judgeMetadata(
  context: LayerContext,
  found: Discovered,
  evidence: Evidence,
  status: number,
  scope: string | undefined,
): AuthOutcome {
  const issuer = String(evidence.issuer ?? found.asUrl ?? 'the authorization server');
  const broken = (summary: string, fix: string): AuthOutcome => ({
    needsAuth: false,
    finding: failed('auth', summary, evidence, fix),
  });
  const operator = "The server's OAuth set-up is incomplete: tell its operator";
  // A machine client (client credentials, cross-app access) uses the token endpoint only: no
  // browser step, so neither the authorization endpoint nor PKCE is needed.
  const machine = configuredMachineGrant(context.entry.oauth);
  if (machine) {
    if (!evidence.tokenEndpoint) return broken(`${issuer} names no token endpoint`, operator);
    const grant = machine === 'client_credentials' ? 'client credentials' : 'cross-app access';
    return {
      needsAuth: true,
      finding: failed(
        'auth',
        `login required: OAuth with ${issuer} (${grant}, the configured client ID, no browser)`,
        evidence,
        `patchbay login ${context.name}`,
      ),
    };
  }
  if (!evidence.authorizationEndpoint || !evidence.tokenEndpoint)
    return broken(
      `${issuer} names no ${evidence.authorizationEndpoint ? 'token' : 'authorization'} endpoint`,
      operator,
    );
  for (const key of ['authorization_endpoint', 'token_endpoint', 'registration_endpoint'] as const) {
    const value = found.metadata?.[key];
    if (typeof value !== 'string') continue;
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (!url || !isSafeToFetch(url, new URL(context.entry.url!)))
      return broken(`${issuer}'s ${key.replace('_', ' ')} is not an https URL`, operator);
  }
  if (!evidence.pkceS256)
    return broken(`${issuer} does not offer PKCE with S256, which an MCP client must insist on`, operator);
  const ways: string[] = [];
  if (evidence.clientIdConfigured) ways.push('the configured client ID');
  if (evidence.clientIdMetadataDocument) ways.push('client ID metadata document');
  if (evidence.registrationEndpoint) ways.push('dynamic client registration');
  if (ways.length === 0)
    return broken(
      `${issuer} offers no way for patchbay to identify itself (no registration endpoint, no client ID metadata documents)`,
      `Ask the operator for a client ID, then: ${addCommand(context.name, context.scope, context.template, { extraFlags: ['--client-id', "'<client-id>'"] })}`,
    );
  const what =
    status === 403
      ? `the current credentials lack permission${scope ? ` (scope: ${clean(scope, 80)})` : ''}`
      : 'login required';
  return {
    needsAuth: true,
    finding: failed(
      'auth',
      `${what}: OAuth with ${issuer} (PKCE S256, ${ways.join(', ')})`,
      evidence,
      `patchbay login ${context.name}`,
    ),
  };
}

/**
 * A credential the user configured was refused: a failure to fix in the config or the variable
 * (as `list` reports it), not a login — `patchbay login` would not change what is sent.
 */
function rejectedHeader(
  context: LayerContext,
  outcome: HttpOutcome,
  found: Discovered,
  evidence: Evidence,
): AuthOutcome {
  const status = Number(evidence.status);
  const error = evidence.error ? `, ${String(evidence.error)}` : '';
  const oauth = found.metadata !== undefined;
  const alternative = oauth ? ` — or drop the header and log in: patchbay login ${context.name}` : '';
  if (outcome.authorizationSource === 'headersHelper')
    return {
      needsAuth: false,
      finding: failed(
        'auth',
        `the server rejected the Authorization header from the headersHelper (HTTP ${status}${error})`,
        evidence,
        `Check the credentials the headersHelper hands out: ${context.template.headersHelper ?? ''}${alternative}`,
      ),
    };
  const template = Object.entries(context.template.headers ?? {}).find(
    ([name]) => name.toLowerCase() === 'authorization',
  )?.[1];
  const variables = template
    ? splitTemplate(template)
        .map((part) => part.variable)
        .filter((name): name is string => name !== undefined)
    : [];
  const fix =
    variables.length > 0
      ? `Set a valid token: export ${variables.map((name) => `${name}=…`).join(' ')}${alternative}`
      : `Replace the header's value: ${addCommand(context.name, context.scope, context.template, {})}${alternative}`;
  return {
    needsAuth: false,
    finding: failed(
      'auth',
      `the server rejected the configured Authorization header (HTTP ${status}${error})`,
      evidence,
      fix,
    ),
  };
}
