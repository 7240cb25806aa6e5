/**
 * The device authorization grant (RFC 8628), for `patchbay login --device` on a machine without a
 * browser: the user types a short code on another device. The SDK has no device flow, so the two
 * requests are here, each response checked before use; discovery, registration and token
 * storage are the SDK's and the provider's as in every other login.
 */

import type {
  AuthorizationServerMetadata,
  OAuthClientInformationFull,
  StoredOAuthTokens,
} from '@modelcontextprotocol/client';

import { terminalText } from '../core/terminal-text.js';
import { PatchbayError } from '../errors.js';
import { checkAuthorizationUrl } from './browser.js';
import type { HttpClient } from './http-client.js';
import type { PatchbayOAuthProvider } from './oauth-provider.js';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export interface DeviceAuthorization {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  /** Seconds. */
  interval: number;
  expiresIn: number;
}

export interface DeviceLoginSteps {
  /** The configured server's name, for the next command in a refusal. */
  name: string;
  http: HttpClient;
  metadata: AuthorizationServerMetadata;
  issuer: string;
  provider: PatchbayOAuthProvider;
  resource: string;
  scope: string | undefined;
  signal: AbortSignal;
  /** Show the code and the address to the user (and open the complete URI when a browser is set). */
  show(authorization: DeviceAuthorization): void | Promise<void>;
  /** Test hook: the wait between polls, in ms, instead of the server's interval. */
  pollDelayMs?: (seconds: number) => number;
}

/** Step 1 and 2: get a device code for the client, show it, then poll until the user approved. */
export async function deviceLogin(steps: DeviceLoginSteps): Promise<void> {
  const endpoint = deviceAuthorizationEndpoint(steps.metadata, steps.issuer);
  const client = await steps.provider.clientInformation({ issuer: steps.issuer });
  if (!client) throw new PatchbayError('internal', 'no client to ask for a device code');
  const authorization = await requestDeviceCode(endpoint, client, steps);
  await steps.show(authorization);
  steps.provider.beginNewGrant();
  const tokens = await pollForTokens(authorization, client, steps);
  await steps.provider.saveTokens({ ...tokens, issuer: steps.issuer }, { issuer: steps.issuer });
}

/** The server's device authorization endpoint, or a refusal saying it has none. */
export function deviceAuthorizationEndpoint(metadata: AuthorizationServerMetadata, issuer: string): string {
  const endpoint = (metadata as Record<string, unknown>).device_authorization_endpoint;
  if (typeof endpoint !== 'string') {
    throw new PatchbayError(
      'auth-refused',
      `${issuer} does not offer the device authorization grant (no device_authorization_endpoint)`,
      {
        hint: 'Log in without --device; over SSH, use --no-browser and paste the address the browser ends on.',
      },
    );
  }
  return endpoint;
}

async function requestDeviceCode(
  endpoint: string,
  client: OAuthClientInformationFull | { client_id: string; client_secret?: string },
  steps: DeviceLoginSteps,
): Promise<DeviceAuthorization> {
  const body = clientParameters(client);
  if (steps.scope) body.set('scope', steps.scope);
  body.set('resource', steps.resource);
  const answer = await postForm(endpoint, body, client, steps);
  if (!answer.ok) throw oauthError('the device authorization request', answer.status, answer.json);
  const json = answer.json as Record<string, unknown>;
  const text = (key: string) => (typeof json[key] === 'string' ? (json[key] as string) : undefined);
  const deviceCode = text('device_code');
  const userCode = text('user_code');
  const verificationUri = text('verification_uri');
  if (!deviceCode || !userCode || !verificationUri) {
    throw new PatchbayError(
      'auth-failed',
      'the device authorization response lacks device_code, user_code or verification_uri',
    );
  }
  const complete = text('verification_uri_complete');
  return {
    deviceCode,
    userCode: checkedUserCode(userCode, steps.name),
    verificationUri: checkedVerificationUri('verification_uri', verificationUri, steps.name),
    ...(complete
      ? { verificationUriComplete: checkedVerificationUri('verification_uri_complete', complete, steps.name) }
      : {}),
    interval: typeof json.interval === 'number' && json.interval > 0 ? json.interval : 5,
    expiresIn: typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : 600,
  };
}

/**
 * The address the user is told to visit (or that is opened for them) is the authorization
 * server's, so it passes the browser flow's check: https (http only to this computer), no
 * javascript:/file:/data:, nothing a shell or a terminal would act on.
 */
function checkedVerificationUri(field: string, text: string, name: string): string {
  try {
    checkAuthorizationUrl(text);
    return text;
  } catch (error) {
    if (!(error instanceof PatchbayError)) throw error;
    throw new PatchbayError(
      'auth-refused',
      `${field} of the device authorization response: ${error.message}`,
      {
        hint: `This is a fault or an attack on the authorization server's side: do not visit the address by hand; report it to its operator. To log in another way: patchbay login ${name} --no-browser`,
        cause: error,
      },
    );
  }
}

/** RFC 8628 §6.1: a short code a person reads and types; anything a terminal acts on or hides is not one. */
const MAX_USER_CODE_CHARS = 64;

function checkedUserCode(code: string, name: string): string {
  const printable = terminalText(code);
  if (code.trim() === '' || printable !== code || Array.from(code).length > MAX_USER_CODE_CHARS) {
    const shown = terminalText(printable, { max: 40 });
    throw new PatchbayError(
      'auth-refused',
      `the user_code of the device authorization response is not a short printable code ("${shown}"); refusing to show it`,
      {
        hint: `This is a fault or an attack on the authorization server's side; report it to its operator. To log in another way: patchbay login ${name} --no-browser`,
      },
    );
  }
  return code;
}

async function pollForTokens(
  authorization: DeviceAuthorization,
  client: { client_id: string; client_secret?: string },
  steps: DeviceLoginSteps,
): Promise<StoredOAuthTokens> {
  const tokenEndpoint = steps.metadata.token_endpoint;
  let interval = authorization.interval;
  const gaveUpAt = Date.now() + authorization.expiresIn * 1000;
  for (;;) {
    await sleep(steps.pollDelayMs ? steps.pollDelayMs(interval) : interval * 1000, steps.signal);
    if (Date.now() > gaveUpAt) {
      throw new PatchbayError('auth-failed', 'the device code expired before it was approved', {
        hint: 'Run the login again and type the code within the time shown.',
      });
    }
    const body = clientParameters(client);
    body.set('grant_type', DEVICE_CODE_GRANT);
    body.set('device_code', authorization.deviceCode);
    body.set('resource', steps.resource);
    const answer = await postForm(tokenEndpoint, body, client, steps);
    if (answer.ok) return checkTokens(answer.json);
    const error = (answer.json as { error?: unknown } | undefined)?.error;
    if (error === 'authorization_pending') continue;
    if (error === 'slow_down') {
      interval += 5; // RFC 8628 §3.5
      continue;
    }
    throw oauthError('the device code', answer.status, answer.json);
  }
}

function checkTokens(json: unknown): StoredOAuthTokens {
  const tokens = json as Partial<StoredOAuthTokens> | undefined;
  if (!tokens || typeof tokens.access_token !== 'string' || typeof tokens.token_type !== 'string') {
    throw new PatchbayError('auth-failed', 'the token response lacks access_token or token_type');
  }
  return tokens as StoredOAuthTokens;
}

function clientParameters(client: { client_id: string; client_secret?: string }): URLSearchParams {
  const body = new URLSearchParams();
  // A confidential client authenticates with Basic (below); a public one names itself here.
  if (!client.client_secret) body.set('client_id', client.client_id);
  return body;
}

async function postForm(
  url: string,
  body: URLSearchParams,
  client: { client_id: string; client_secret?: string },
  steps: DeviceLoginSteps,
): Promise<{ ok: boolean; status: number; json: unknown }> {
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  if (client.client_secret) {
    const pair = `${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`;
    headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
  }
  const response = await steps.http.fetch(url, { method: 'POST', headers, body, signal: steps.signal });
  let json: unknown;
  try {
    json = await response.json();
  } catch {
    json = undefined;
  }
  return { ok: response.ok, status: response.status, json };
}

function oauthError(what: string, status: number, json: unknown): PatchbayError {
  const error = (json as { error?: unknown } | undefined)?.error;
  const code = typeof error === 'string' && /^[\x20-\x7e]{1,64}$/.test(error) ? error : `HTTP ${status}`;
  if (code === 'access_denied') {
    return new PatchbayError('auth-failed', 'the login was declined on the other device (access_denied)');
  }
  if (code === 'expired_token') {
    return new PatchbayError(
      'auth-failed',
      'the device code expired before it was approved (expired_token)',
      {
        hint: 'Run the login again and type the code within the time shown.',
      },
    );
  }
  return new PatchbayError('auth-failed', `${what} was refused: ${code}`);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
