/** The pure decisions of a token refresh (auth/refresh-decisions.ts), without a store or a server. */

import { describe, expect, it } from 'vitest';

import {
  CredentialError,
  checkAuthorizationServers,
  checkMetadataIssuer,
  explainRefreshFailure,
  nextTokenSet,
  planAfterReload,
  planForRequest,
  planForUnauthorized,
  planUnderLock,
  refreshingClient,
  replacedMeanwhile,
} from '../../src/auth/refresh-decisions.js';
import type { StoredTokens } from '../../src/auth/store-records.js';
import { PatchbayError } from '../../src/errors.js';

const t0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const LOGIN = 'patchbay login corp';

function tokens(overrides: Partial<StoredTokens> = {}): StoredTokens {
  return {
    issuer: 'https://as.example.com',
    resource: 'https://mcp.example.com/mcp',
    accessToken: 'at-1',
    tokenType: 'Bearer',
    refreshToken: 'rt-1',
    expiresAt: t0 + HOUR,
    obtainedAt: t0,
    ...overrides,
  };
}

describe('planForRequest and planAfterReload', () => {
  it('sends a fresh token, refreshes a due one, and re-reads when there is no refresh token', () => {
    expect(planForRequest(tokens(), t0, 0)).toBe('use');
    expect(planForRequest(tokens(), t0 + HOUR - 1_000, 0)).toBe('refresh');
    expect(planForRequest(tokens({ refreshToken: undefined }), t0 + HOUR - 1_000, 0)).toBe('reload');
  });

  it('keeps using a due but valid token while a failed early refresh waits, never an expired one', () => {
    const due = t0 + HOUR - 1_000;
    expect(planForRequest(tokens(), due, due + 5_000)).toBe('use');
    expect(planForRequest(tokens(), t0 + HOUR + 1, t0 + 2 * HOUR)).toBe('refresh');
  });

  it('after a re-read: nothing for no or an expired login, the token when it needs no refresh', () => {
    expect(planAfterReload(undefined, t0)).toBe('none');
    expect(planAfterReload(tokens(), t0 + HOUR)).toBe('none');
    expect(planAfterReload(tokens({ refreshToken: undefined }), t0 + HOUR - 1_000)).toBe('use');
    expect(planAfterReload(tokens(), t0)).toBe('use');
    expect(planAfterReload(tokens(), t0 + HOUR - 1_000)).toBe('refresh');
  });
});

describe('a machine login (no refresh token, a new grant renews it)', () => {
  const machine = tokens({ refreshToken: undefined, grant: 'client_credentials' });

  it('is refreshed when due, on a 401, and under the lock, with no refresh token', () => {
    expect(planForRequest(machine, t0 + HOUR - 1_000, 0)).toBe('refresh');
    expect(planAfterReload(machine, t0 + HOUR - 1_000)).toBe('refresh');
    expect(
      planForUnauthorized({ stored: machine, sent: 'at-1', lastAfter401: undefined, now: t0, login: LOGIN }),
    ).toEqual({ action: 'refresh', cause: { kind: 'rejected', rejected: 'at-1' } });
    expect(
      planUnderLock({
        current: { ...machine, expiresAt: t0 - 1 },
        resource: machine.resource,
        cause: { kind: 'expiry', seen: 'at-1' },
        now: t0,
        login: LOGIN,
      }),
    ).toEqual({ action: 'refresh', tokens: { ...machine, expiresAt: t0 - 1 }, refreshToken: undefined });
  });
});

describe('planForUnauthorized', () => {
  const base = { lastAfter401: undefined, now: t0, login: LOGIN };

  it('retries with a newer usable token than the one refused', () => {
    expect(planForUnauthorized({ ...base, stored: tokens({ accessToken: 'at-2' }), sent: 'at-1' })).toEqual({
      action: 'retry',
    });
  });

  it('refreshes the refused token, or the stored one when the request carried none', () => {
    expect(planForUnauthorized({ ...base, stored: tokens(), sent: 'at-1' })).toEqual({
      action: 'refresh',
      cause: { kind: 'rejected', rejected: 'at-1' },
    });
    expect(planForUnauthorized({ ...base, stored: tokens(), sent: undefined, now: t0 + 2 * HOUR })).toEqual({
      action: 'refresh',
      cause: { kind: 'expiry', seen: 'at-1' },
    });
  });

  it('does not refresh again a token obtained for a 401 moments ago', () => {
    const plan = planForUnauthorized({
      ...base,
      stored: tokens(),
      sent: 'at-1',
      lastAfter401: { accessToken: 'at-1', at: t0 - 1_000 },
    });
    expect(plan.action).toBe('fail');
    const { error } = plan as { error: CredentialError };
    expect(error).toMatchObject({ kind: 'needs-login', code: 'needs-auth', httpStatus: 401, hint: LOGIN });
    expect(error.message).toContain('issued moments ago');
    const later = planForUnauthorized({
      ...base,
      stored: tokens(),
      sent: 'at-1',
      lastAfter401: { accessToken: 'at-1', at: t0 - 61_000 },
    });
    expect(later.action).toBe('refresh');
  });

  it('fails for login when there is no refresh token', () => {
    const noRefresh = tokens({ refreshToken: undefined });
    const unsent = planForUnauthorized({ ...base, stored: noRefresh, sent: undefined, now: t0 + 2 * HOUR });
    expect(unsent.action === 'fail' && unsent.error.message).toBe(
      `the access token from the last login expired at ${new Date(t0 + HOUR).toISOString()}, and the authorization server issued no refresh token`,
    );
    const refused = planForUnauthorized({ ...base, stored: noRefresh, sent: 'at-1' });
    expect(refused.action === 'fail' && refused.error.message).toContain('there is no refresh token');
  });
});

describe('planUnderLock and replacedMeanwhile', () => {
  const base = { resource: 'https://mcp.example.com/mcp', now: t0 + HOUR - 1_000, login: LOGIN };
  const expiry = { kind: 'expiry', seen: 'at-1' } as const;

  it('uses a token another process stored meanwhile, and makes no request', () => {
    const current = tokens({ accessToken: 'at-2' });
    expect(planUnderLock({ ...base, current, cause: expiry })).toEqual({ action: 'use', tokens: current });
    expect(replacedMeanwhile(current, { kind: 'rejected', rejected: 'at-1' }, base.now)).toBe(true);
    expect(replacedMeanwhile(tokens(), { kind: 'rejected', rejected: 'at-1' }, base.now)).toBe(false);
    expect(replacedMeanwhile(current, expiry, t0 + 2 * HOUR)).toBe(false);
  });

  it('refreshes with the stored refresh token when the seen token is still the stored one', () => {
    expect(planUnderLock({ ...base, current: tokens(), cause: expiry })).toEqual({
      action: 'refresh',
      tokens: tokens(),
      refreshToken: 'rt-1',
    });
  });

  it('fails for login when the login is gone, was refused before, or cannot be refreshed', () => {
    const gone = planUnderLock({ ...base, current: undefined, cause: expiry });
    expect(gone.action === 'fail' && gone.error.message).toContain('was removed');
    const elsewhere = planUnderLock({
      ...base,
      current: tokens({ resource: 'https://other.example/mcp' }),
      cause: expiry,
    });
    expect(elsewhere.action).toBe('fail');
    const refused = planUnderLock({
      ...base,
      current: tokens({ lastRefreshError: { at: t0 + 1, message: 'as refused it (invalid_grant)' } }),
      cause: expiry,
    });
    expect(refused.action === 'fail' && refused.error.message).toBe(
      'the login has expired or was revoked: as refused it (invalid_grant)',
    );
    const none = planUnderLock({ ...base, current: tokens({ refreshToken: undefined }), cause: expiry });
    expect(none.action === 'fail' && none.error.kind).toBe('needs-login');
  });
});

describe('nextTokenSet', () => {
  it('keeps the refresh token and scope when the answer has none, and clears the refusal', () => {
    const current = tokens({ scope: 'read', lastRefreshError: { at: t0, message: 'old' } });
    const next = nextTokenSet(
      current,
      { access_token: 'at-2', token_type: 'bearer', expires_in: 60 },
      undefined,
      t0 + 5,
    );
    expect(next).toEqual({
      ...current,
      lastRefreshError: undefined,
      accessToken: 'at-2',
      tokenType: 'bearer',
      expiresAt: t0 + 5 + 60_000,
      lastRefreshAt: t0 + 5,
    });
    expect('lastRefreshError' in next).toBe(false);
  });

  it('takes a rotated refresh token, and refuses a token type other than Bearer', () => {
    const answer = { access_token: 'at-2', token_type: 'Bearer', refresh_token: 'rt-2', scope: 'write' };
    expect(nextTokenSet(tokens(), answer, undefined, t0)).toMatchObject({
      refreshToken: 'rt-2',
      scope: 'write',
      expiresAt: undefined,
    });
    expect(() => nextTokenSet(tokens(), { ...answer, token_type: 'DPoP' }, undefined, t0)).toThrow(
      /with a "DPoP" token; patchbay sends Bearer tokens only/,
    );
  });
});

describe('issuer and client checks', () => {
  it('accepts the same issuer up to a final slash, and names a different one for login', () => {
    expect(checkMetadataIssuer('https://as.example.com/', 'https://as.example.com', LOGIN)).toBeUndefined();
    expect(checkMetadataIssuer('https://evil.example', 'https://as.example.com', LOGIN)).toMatchObject({
      kind: 'needs-login',
      hint: LOGIN,
    });
    expect(checkAuthorizationServers(undefined, 'https://as.example.com', LOGIN)).toBeUndefined();
    expect(
      checkAuthorizationServers(['https://as.example.com/'], 'https://as.example.com', LOGIN),
    ).toBeUndefined();
    expect(
      checkAuthorizationServers(['https://new.example'], 'https://as.example.com', LOGIN)?.message,
    ).toContain('no longer names https://as.example.com');
  });

  it('refreshes as the configured client only when the tokens were issued to it', () => {
    expect(refreshingClient('cfg', tokens())).toEqual({ kind: 'configured', clientId: 'cfg' });
    expect(refreshingClient('cfg', tokens({ clientId: 'cfg' }))).toEqual({
      kind: 'configured',
      clientId: 'cfg',
    });
    expect(refreshingClient('cfg', tokens({ clientId: 'dyn' }))).toEqual({
      kind: 'registered',
      clientId: 'dyn',
    });
    expect(refreshingClient(undefined, tokens())).toEqual({ kind: 'registered', clientId: undefined });
  });
});

describe('explainRefreshFailure', () => {
  const base = { current: tokens(), endpoint: new URL('https://as.example.com/token'), login: LOGIN };

  it('is final when the server refused the refresh token, with the refusal to record, redacted', () => {
    const error = explainRefreshFailure({
      ...base,
      error: new Error('x'),
      oauth: { code: 'invalid_grant', message: 'rt-1 is revoked' },
    });
    expect(error).toMatchObject({ kind: 'needs-login', hint: LOGIN });
    expect(error.refusal).toBe(
      'https://as.example.com refused the refresh token (invalid_grant: [redacted] is revoked)',
    );
    expect(error.message).not.toContain('rt-1');
  });

  it('is passing for a transient OAuth error, a timeout, or a network failure', () => {
    const transient = explainRefreshFailure({
      ...base,
      error: new Error('x'),
      oauth: { code: 'server_error', message: '' },
    });
    expect(transient).toMatchObject({ kind: 'failed', refusal: undefined });
    expect(transient.message).toContain('try again later');
    const slow = explainRefreshFailure({ ...base, error: new Error('aborted'), timedOutAfterMs: 15_000 });
    expect(slow.message).toBe('refreshing the access token at https://as.example.com timed out after 15 s');
    const network = explainRefreshFailure({ ...base, error: new TypeError('fetch failed') });
    expect(network).toMatchObject({ kind: 'unreachable', endpoint: base.endpoint });
  });

  it('passes a CredentialError through and keeps the hint of another patchbay error', () => {
    const own = new CredentialError('needs-login', 'gone');
    expect(explainRefreshFailure({ ...base, error: own })).toBe(own);
    const other = explainRefreshFailure({
      ...base,
      error: new PatchbayError('config-parse', 'bad', { hint: 'fix it' }),
    });
    expect(other).toMatchObject({
      kind: 'failed',
      hint: 'fix it',
      message: 'refreshing the access token failed: bad',
    });
  });
});
