/**
 * The login interaction of the gateway's own authorization server: instead of a form, the
 * member's browser goes to the organisation's IdP and comes back; the gateway checks the answer,
 * maps its claims to a member and finishes the interaction (login, then consent for the scopes
 * the deployment allows — the gateway is a first-party server, so there is no consent page).
 *
 * The IdP's `state` is bound to the interaction and to the browser that started it: a record in
 * the state store (single use, ten minutes) and a cookie holding a secret whose hash the record
 * keeps. A return from the IdP that was already used, that expired, or that arrives in another
 * browser (another member's code pasted into this one) is refused with a page saying so. After the
 * IdP, the browser goes back to the interaction's own URL, where oidc-provider's interaction
 * cookie must name the same interaction before the login is finished.
 *
 *     <prefix>/interaction/<uid>           login → the IdP; consent → granted
 *     <prefix>/signed-in?code&state&iss     the IdP's return (the redirect URI registered there)
 *     <prefix>/interaction/<uid>/login      the login finished for that interaction
 *
 * The same IdP sign-in also opens a member's browser session on the gateway's own pages
 * (browser-sessions.ts): `toIdpForBrowser` stores the state with the page to go back to instead
 * of an interaction, and the return (same URL, so operators register one redirect URI) gives the
 * browser its session cookie and sends it back there. A host's sign-in in a browser whose gateway
 * session names another member ends that session.
 */

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import type Provider from 'oidc-provider';
import type { Interaction } from 'oidc-provider';

import type { RecordStore, StateStore } from '../../state/store.js';
import type { ClaimMapping } from '../deployment.js';
import { cookieOf, sameSecret as sameHash, sha256, type BrowserSessions } from './browser-sessions.js';
import type { IdpChecks, OrganisationIdp } from './idp.js';
import { memberFromClaims, type Members } from './members.js';
import { page } from './pages.js';

const SIGN_IN_TTL_MS = 10 * 60_000;
const LOGIN_TTL_MS = 60_000;
const BINDING_COOKIE = 'patchbay_sign_in';

interface PendingSignIn {
  /** The oidc-provider interaction this sign-in finishes (a host's sign-in)… */
  uid?: string;
  /** …or the gateway page a browser session goes back to (a path of this gateway). */
  returnTo?: string;
  checks: IdpChecks;
  /** sha256 of the secret in the browser's cookie. */
  binding: string;
}

export interface SignInContext {
  provider: Provider;
  idp: OrganisationIdp;
  members: Members;
  claims: ClaimMapping;
  state: StateStore;
  /** The IdP's return URL, as registered there. */
  returnUrl: URL;
  /** The path the authorization server is mounted at, e.g. `/oauth`. */
  prefix: string;
  /** The gateway's resource (its `/mcp` URL) and the scopes the deployment allows on it. */
  resource: string;
  scopes: string[];
  /** Members' browser sessions on the gateway's own pages. */
  sessions?: BrowserSessions;
}

export class SignIn {
  private readonly pending: RecordStore<PendingSignIn>;
  private readonly logins: RecordStore<{ accountId: string }>;

  constructor(private readonly context: SignInContext) {
    this.pending = context.state.records<PendingSignIn>('as-sign-ins', { secret: true });
    this.logins = context.state.records<{ accountId: string }>('as-logins', { secret: true });
  }

  /** Serves `path` (under the prefix) when it is one of the sign-in routes; false otherwise. */
  async serve(path: string, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const inner = path.slice(this.context.prefix.length);
    if (inner === '/signed-in') return this.returned(req, res).then(() => true);
    const match = /^\/interaction\/([\w-]{1,64})(\/login)?$/.exec(inner);
    if (!match) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      page(res, 405, 'Method not allowed', 'This page is only opened by a browser following a redirect.');
      return true;
    }
    const details = await this.interaction(req, res, match[1]!);
    if (!details) return true;
    if (match[2]) await this.finishLogin(details, req, res);
    else await this.interact(details, req, res);
    return true;
  }

  /** The interaction this browser is in, if it is `uid`; otherwise the page says why not. */
  private async interaction(
    req: IncomingMessage,
    res: ServerResponse,
    uid: string,
  ): Promise<Interaction | undefined> {
    let details: Interaction;
    try {
      details = await this.context.provider.interactionDetails(req, res);
    } catch {
      page(res, 400, 'Sign-in expired', EXPIRED);
      return undefined;
    }
    if (details.uid !== uid) {
      page(res, 400, 'Sign-in refused', 'This sign-in belongs to another browser session. ' + START_AGAIN);
      return undefined;
    }
    return details;
  }

  private async interact(details: Interaction, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { provider } = this.context;
    if (details.prompt.name === 'login') return this.toIdp({ uid: details.uid }, res);
    if (details.prompt.name === 'consent') {
      const accountId = details.session?.accountId;
      const clientId = details.params.client_id;
      if (!accountId || typeof clientId !== 'string') return page(res, 400, 'Sign-in refused', EXPIRED);
      const grant =
        (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ??
        new provider.Grant({ accountId, clientId });
      const missing = details.prompt.details;
      if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        if (resource !== this.context.resource) continue;
        const allowed = scopes.filter((scope) => this.context.scopes.includes(scope));
        if (allowed.length) grant.addResourceScope(resource, allowed.join(' '));
      }
      const grantId = await grant.save();
      return provider.interactionFinished(
        req,
        res,
        { consent: { grantId } },
        { mergeWithLastSubmission: true },
      );
    }
    page(
      res,
      400,
      'Sign-in refused',
      `The authorization server asked for "${details.prompt.name}", which this gateway does not handle.`,
    );
  }

  /**
   * A browser without a gateway session, on one of the gateway's own pages: off to the IdP, back
   * with a session, then to `returnTo` (a path of this gateway, checked here). When this browser
   * already signed in here for a host (oidc-provider's session names a member), that sign-in
   * identifies it: no second trip to the IdP.
   */
  async toIdpForBrowser(req: IncomingMessage, res: ServerResponse, returnTo: string): Promise<void> {
    if (!/^\/(?!\/)[\w\-/]{0,200}$/.test(returnTo))
      return page(res, 400, 'Sign-in refused', 'That is not a page of this gateway.');
    const known = await this.providerSession(req, res);
    const member = known?.accountId ? await this.context.members.get(known.accountId) : undefined;
    if (member && this.context.sessions) {
      const cookie = await this.context.sessions.create(req, member);
      res.writeHead(303, { location: returnTo, 'set-cookie': cookie, 'cache-control': 'no-store' });
      res.end();
      return;
    }
    return this.toIdp({ returnTo }, res);
  }

  /** Signs this browser out of the gateway: its browser session and its session here. */
  async signOutBrowser(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const cookies = [];
    if (this.context.sessions) cookies.push(await this.context.sessions.end(req));
    const known = await this.providerSession(req, res);
    if (known?.accountId) await known.destroy();
    res.setHeader('set-cookie', cookies);
  }

  /** oidc-provider's session of this browser (its signed cookie), if it can be read. */
  private async providerSession(req: IncomingMessage, res: ServerResponse) {
    try {
      return await this.context.provider.Session.get({ req, res });
    } catch {
      return undefined;
    }
  }

  /** Off to the organisation's IdP, with the state bound to this interaction (or page) and this browser. */
  private async toIdp(target: { uid: string } | { returnTo: string }, res: ServerResponse): Promise<void> {
    let started: Awaited<ReturnType<OrganisationIdp['authorizationUrl']>>;
    try {
      started = await this.context.idp.authorizationUrl();
    } catch (error) {
      return page(
        res,
        502,
        'Identity provider unreachable',
        `The gateway could not read the identity provider's configuration: ${messageOf(error)}. Ask the gateway's operator to check auth.authorizationServer.idp.issuer.`,
      );
    }
    const secret = randomBytes(32).toString('base64url');
    await this.pending.put(
      started.checks.state,
      {
        ...('returnTo' in target ? { returnTo: target.returnTo } : { uid: target.uid }),
        checks: started.checks,
        binding: sha256(secret),
      },
      { ttlMs: SIGN_IN_TTL_MS },
    );
    res.writeHead(303, {
      location: started.url.href,
      'set-cookie': this.bindingCookie(secret, SIGN_IN_TTL_MS / 1000),
      'cache-control': 'no-store',
    });
    res.end();
  }

  /** The IdP's return: checked, exchanged, mapped to a member; then back to the interaction. */
  private async returned(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    const state = query.get('state');
    const pending = state ? await this.pending.get(state) : undefined;
    if (!state || !pending)
      return page(
        res,
        400,
        'Sign-in refused',
        'This return from the identity provider was already used, has expired, or was never started here. ' +
          START_AGAIN,
      );
    const secret = cookieOf(req, BINDING_COOKIE);
    if (!secret || !sameHash(sha256(secret), pending.binding))
      return page(
        res,
        400,
        'Sign-in refused',
        'This return from the identity provider belongs to a sign-in started in another browser. ' +
          START_AGAIN,
      );
    // Single use: of two deliveries of one return, one goes on.
    if (!(await this.pending.take(state)))
      return page(
        res,
        400,
        'Sign-in refused',
        'This return from the identity provider was already used. ' + START_AGAIN,
      );
    const cookies = [this.bindingCookie('', 0)];
    res.setHeader('set-cookie', cookies);
    const error = query.get('error');
    if (error)
      return page(
        res,
        403,
        'Sign-in refused by the identity provider',
        `${error}${query.get('error_description') ? `: ${query.get('error_description')}` : ''}. ${START_AGAIN}`,
      );
    // The URL the IdP redirected to, as registered there: behind a proxy, req.url's origin is not it.
    const returned = new URL(this.context.returnUrl);
    returned.search = query.toString();
    let claims: Record<string, unknown>;
    try {
      claims = await this.context.idp.finish(returned, pending.checks);
    } catch (cause) {
      return page(
        res,
        400,
        'Sign-in refused',
        `The identity provider's answer did not check out: ${messageOf(cause)}. ${START_AGAIN}`,
      );
    }
    const member = memberFromClaims(claims, this.context.claims);
    if ('error' in member)
      return page(
        res,
        403,
        'Sign-in refused',
        `${member.error}. Ask the gateway's operator to check auth.authorizationServer.claims.`,
      );
    await this.context.members.put(member);
    const { sessions } = this.context;
    if (pending.returnTo !== undefined && sessions) {
      cookies.push(await sessions.create(req, member));
      res.writeHead(303, { location: pending.returnTo, 'set-cookie': cookies, 'cache-control': 'no-store' });
      res.end();
      return;
    }
    if (pending.uid === undefined) return page(res, 400, 'Sign-in expired', EXPIRED);
    // This browser is someone else now: its gateway session for the former member ends.
    const ended = await sessions?.signedInAs(req, member.subject);
    if (ended) res.setHeader('set-cookie', [...cookies, ended]);
    await this.logins.put(pending.uid, { accountId: member.subject }, { ttlMs: LOGIN_TTL_MS });
    res.writeHead(303, {
      location: `${this.context.prefix}/interaction/${pending.uid}/login`,
      'cache-control': 'no-store',
    });
    res.end();
  }

  private async finishLogin(details: Interaction, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const login = await this.logins.take(details.uid);
    if (!login || details.prompt.name !== 'login') return page(res, 400, 'Sign-in expired', EXPIRED);
    await this.context.provider.interactionFinished(
      req,
      res,
      { login: { accountId: login.accountId } },
      { mergeWithLastSubmission: false },
    );
  }

  private bindingCookie(value: string, maxAgeSeconds: number): string {
    const secure = this.context.returnUrl.protocol === 'https:' ? '; Secure' : '';
    return `${BINDING_COOKIE}=${value}; Path=${this.context.returnUrl.pathname}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secure}`;
  }
}

const START_AGAIN = 'Start again from your MCP client (connect or sign in once more).';
const EXPIRED = `This sign-in has expired or was opened outside the browser that started it. ${START_AGAIN}`;

function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\.$/, '');
}
