/**
 * The organisation's OpenID Connect provider, as the gateway's one pre-registered relying party
 * (openid-client): discovery from the deployment's issuer (once, then kept), the authorization
 * request (code flow, PKCE S256, state, nonce), and the code exchange with the ID token checked
 * (issuer, audience, signature, nonce, expiry). Its claims, with the UserInfo endpoint's when the
 * ID token lacks the ones the mapping reads, are what a member is made of.
 */

import * as client from 'openid-client';

import type { ClaimMapping, OwnAuthorizationServer } from '../deployment.js';
import { claimAt } from './members.js';

/** What one sign-in at the IdP must be finished with: kept server-side, bound to the interaction. */
export interface IdpChecks {
  codeVerifier: string;
  nonce: string;
  state: string;
}

export interface OrganisationIdp {
  /** The URL to send the member's browser to, and the checks its return must pass. */
  authorizationUrl(): Promise<{ url: URL; checks: IdpChecks }>;
  /**
   * `returned`: the URL the IdP sent the browser back to (the gateway's return URL with the
   * IdP's query). Throws on an error answer or a failed check.
   */
  finish(returned: URL, checks: IdpChecks): Promise<Record<string, unknown>>;
}

export function organisationIdp(
  settings: OwnAuthorizationServer['idp'],
  claims: ClaimMapping,
  returnUrl: URL,
): OrganisationIdp {
  let configuration: Promise<client.Configuration> | undefined;
  const configured = () => {
    configuration ??= client
      .discovery(
        settings.issuer,
        settings.clientId,
        { redirect_uris: [returnUrl.href], response_types: ['code'] },
        client.ClientSecretBasic(settings.clientSecret),
        // The deployment file allows http only for an IdP on this machine (a test, a local IdP).
        settings.issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {},
      )
      .catch((error: unknown) => {
        // Not kept: the next sign-in tries discovery again.
        configuration = undefined;
        throw error;
      });
    return configuration;
  };
  return {
    async authorizationUrl() {
      const config = await configured();
      const checks: IdpChecks = {
        codeVerifier: client.randomPKCECodeVerifier(),
        nonce: client.randomNonce(),
        state: client.randomState(),
      };
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: returnUrl.href,
        scope: settings.scopes.join(' '),
        code_challenge: await client.calculatePKCECodeChallenge(checks.codeVerifier),
        code_challenge_method: 'S256',
        state: checks.state,
        nonce: checks.nonce,
      });
      return { url, checks };
    },
    async finish(returned, checks) {
      const config = await configured();
      const tokens = await client.authorizationCodeGrant(config, returned, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
      const idClaims = tokens.claims()! as Record<string, unknown>;
      const wanted = [claims.email, claims.groups];
      const missing = wanted.some((path) => claimAt(idClaims, path) === undefined);
      if (!missing || !config.serverMetadata().userinfo_endpoint) return idClaims;
      // Some IdPs put email or groups only in UserInfo (Okta without a groups claim on the ID token).
      const userinfo = await client.fetchUserInfo(config, tokens.access_token, String(idClaims.sub));
      return { ...userinfo, ...idClaims };
    },
  };
}
