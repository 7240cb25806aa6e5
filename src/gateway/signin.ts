/**
 * Each member's own upstream login on a team gateway: a call to a `perMember` upstream goes with
 * the calling member's login from the member vault; a member without one is sent to sign in, the
 * way the MCP spec intends, and the gateway's sign-in page runs the upstream's OAuth flow
 * (patchbay's own client: auth/routed-login.ts) and keeps the tokens for that member.
 *
 * No login yet, by what the host can do:
 * - it declared URL-mode elicitation (2025-11-25 `elicitation.url`; a 2026-07-28 host in its
 *   request's capabilities): an `elicitation/create` with mode `url` (as `input_required` for a
 *   2026-07-28 host), the sign-in link, and an elicitationId. Once the member accepts, the call
 *   waits for the sign-in (bounded by the link's life and the host's cancellation), then goes on
 *   with the member's new session; a 2025 host is sent `notifications/elicitation/complete`;
 * - a 2025 host without it: the call is answered with URLElicitationRequiredError (-32042), the
 *   link in its message and in its data; the host's retry after the sign-in succeeds;
 * - a 2026-07-28 host without it (the SDK refuses -32042 on that era): a tool error with the link.
 *
 * Threat model of the links (a member can never complete, see or use another's):
 * - A link is `/signin/<id>`: 128 random bits, stored (state store `signin-links`, secret) with the
 *   member, the upstream and the request it was made for, valid LINK_TTL_MS, used once (`take`).
 *   It is handed only to the member's own host, over the member's authenticated connection.
 * - Opening it needs the member's own credential: the same bearer the host sends to `/mcp`
 *   (checked by the gateway's authenticator), or a browser session of the gateway's own sign-in
 *   when the deployment has one (`browser`). The person completing the flow must be the member
 *   who started it (the spec's URL-mode elicitation security considerations: otherwise a leaked
 *   link lets someone bind their own upstream account to the victim's member), so the browser is
 *   identified, never trusted: a request that authenticates as another member is refused without
 *   using the link up (it stays valid for its owner).
 * - Browser sessions (authorization-server/browser-sessions.ts), when the deployment runs the
 *   gateway's own authorization server (auth.authorizationServer): a browser arriving without a
 *   bearer and without a session (a host opened the link in the system browser) is sent through
 *   the organisation IdP's sign-in, the one the member's host went through (same client, same
 *   redirect URI, single-use state bound to the browser by a cookie), gets a gateway session
 *   cookie (HttpOnly, SameSite=Lax, Secure on https, 8 h) naming the member the IdP named, and
 *   comes back to the page it asked for, which then checks that member as it checks a bearer's.
 *   A browser that signed in at the gateway's authorization server for a host already is known
 *   from that sign-in (no second IdP round trip).
 *   `/me/links` offers "Sign out" (ends the session); a host's sign-in in the same browser as
 *   another member ends it too. Every POST is refused when its Origin is another site's, and a
 *   POST made with a browser session must carry that session's CSRF token.
 * - LIMITATION: with an external issuer only (auth.oauth, mode 1) or API keys only, the gateway
 *   has no way to identify a browser (the issuer's clients are the hosts; the gateway is no client
 *   of it), so the link works only for a request carrying the member's bearer; an ordinary browser
 *   is told so on the page. Turning on auth.authorizationServer gives browsers a sign-in.
 * - The OAuth flow then runs with a new `state` (its own record, `signin-pending`, single use,
 *   bound to the member and the upstream, the PKCE verifier in it, sealed with the vault key
 *   (AES-256-GCM, bound to the record and its member: one that does not open counts as expired),
 *   so that a copy of the state store does not hold a usable verifier); the callback needs the same
 *   member again, checks `state` and `iss` as `patchbay login` does, and stores the tokens under the
 *   member the link was made for, never under whoever the browser is.
 * - The tokens never leave the gateway: the page shows only "done"; `/me/links` shows facts.
 * - Pages are `no-store`, `no-referrer` (the link never leaks in a Referer), framed by nobody.
 */

import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { ProtocolError, ProtocolErrorCode, UrlElicitationRequiredError } from '@modelcontextprotocol/server';

import { inspectAuthorizationResponse } from '../auth/callback.js';
import { linkView, type MemberVault, type Sealed } from '../auth/member-vault.js';
import type { PendingLogin } from '../auth/routed-login.js';
import type { Paths } from '../core/paths.js';
import { PatchbayError } from '../errors.js';
import type { RecordStore, StateStore } from '../state/store.js';
import { callerOf, hostCapabilities, type CallScope } from './caller.js';
import { bearerOf, type Authenticator, type GatewayRoute, type Identity } from './inbound.js';
import { isModernRequest } from './input-relay.js';
import { MemberSessions } from './member-sessions.js';
import type { Upstream } from './upstream.js';

/** A sign-in link lives this long (and a call waits at most this long for its sign-in). */
export const LINK_TTL_MS = 10 * 60_000;
export const SIGNIN_PATH = '/signin/';
export const CALLBACK_PATH = '/signin/callback';
export const LINKS_PATH = '/me/links';

interface LinkRecord {
  member: string;
  server: string;
  /** The request it was made for: its method and id, and the host session (hashed) it came in. */
  request: { method: string; id: string | number; session?: string };
  elicitationId: string;
  createdAt: number;
}

/** A sign-in on its way to the upstream's authorization server, under its OAuth `state`. */
interface PendingRecord {
  member: string;
  server: string;
  linkId: string;
  /** The PendingLogin (its PKCE verifier), sealed with the vault key for this record (pendingContext). */
  sealed: Sealed;
}

/** What a pending sign-in's sealed value is bound to: its record, and whose it is. */
export function pendingContext(
  state: string,
  record: Pick<PendingRecord, 'member' | 'server' | 'linkId'>,
): string {
  return ['signin-pending', state, record.member, record.server, record.linkId]
    .map((part) => encodeURIComponent(part))
    .join(' ');
}

export interface MemberLoginsOptions {
  vault: MemberVault;
  state: StateStore;
  env: NodeJS.ProcessEnv;
  paths?: Paths;
  /** The served upstream of this name (its entry runs the OAuth flow). */
  entryOf?: (server: string) => Upstream | undefined;
  /** A member session of the template's server with the member's login (gateway.ts makes it). */
  openSession(template: Upstream, member: string): Upstream;
  /** How long a call waits for its sign-in (default LINK_TTL_MS). */
  waitMs?: number;
  maxSessions?: number;
  sessionIdleMs?: number;
}

/** What the page routes need to know who is asking. */
export interface MemberPagesOptions {
  /** The gateway's authenticator: a request with the member's bearer is that member. */
  authenticator: Authenticator;
  /** Browser sessions of the gateway's own sign-in, when the deployment has one. */
  browser?: BrowserSessionsHook;
  /** The gateway's base URL as members reach it (links are made under it). */
  base: URL;
}

/** Who a browser is, on the gateway's own pages (authorization-server/browser-sessions.ts). */
export interface BrowserSessionsHook {
  /** The member this browser's gateway session names, and the session's CSRF token. */
  find(req: IncomingMessage): Promise<{ identity: Identity; csrf: string } | undefined>;
  /** Sends the browser to sign in, back to `returnTo` (a path of this gateway) with a session. */
  signIn(req: IncomingMessage, res: ServerResponse, returnTo: string): Promise<void>;
  /** Ends this browser's session: sets the header that clears its cookie. */
  signOut(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/** Who asks for a page: by a bearer, or by a browser session (whose POSTs need its CSRF token). */
interface Asker {
  member: string | undefined;
  /** Set when the member comes from a browser session. */
  csrf?: string;
  /** A bearer was sent (accepted or not): no browser sign-in is offered. */
  bearer: boolean;
}

/** How the relay asks the host of a call (elicitation, in the host's era). */
export interface HostQuestions {
  ask(params: Record<string, unknown>): Promise<unknown>;
}

export class MemberLogins {
  readonly sessions: MemberSessions;
  readonly vault: MemberVault;
  private readonly links: RecordStore<LinkRecord>;
  private readonly pending: RecordStore<PendingRecord>;
  private readonly waiters = new Map<string, Set<() => void>>();
  private base: URL | undefined;
  private browser: BrowserSessionsHook | undefined;
  private closed = false;

  constructor(private readonly options: MemberLoginsOptions) {
    this.vault = options.vault;
    this.links = options.state.records<LinkRecord>('signin-links', { secret: true });
    this.pending = options.state.records<PendingRecord>('signin-pending', { secret: true });
    this.sessions = new MemberSessions({
      open: options.openSession,
      ...(options.maxSessions ? { max: options.maxSessions } : {}),
      ...(options.sessionIdleMs ? { idleMs: options.sessionIdleMs } : {}),
    });
  }

  /**
   * The session a call of `template` by this scope's member goes through: the member's own,
   * after a sign-in if they have no login yet.
   */
  async sessionFor(
    template: Upstream,
    scope: CallScope,
    purpose: string,
    host: HostQuestions,
  ): Promise<Upstream> {
    const member = callerOf(scope).subject;
    if (member === null)
      throw new PatchbayError(
        'needs-auth',
        `${template.name} is called with each member's own login, and this request names no member`,
        {
          hint: 'Connect to the gateway with your own credential (an API key or an OAuth sign-in), not the shared token.',
        },
      );
    if (await this.vault.has(member, template.name)) return this.sessions.get(template, member);
    // Removed elsewhere (patchbay vault revoke, another replica's links page): its session goes too.
    await this.sessions.drop(member, template.name);
    const caller = callerOf(scope);
    const link = await this.createLink(member, template.name, {
      method: `${scope.ctx.mcpReq.method} ${purpose}`,
      id: scope.ctx.mcpReq.id,
      ...(caller.session ? { session: caller.session } : {}),
    });
    const message = `${template.name} acts as you: sign in to it once with your own account. patchbay keeps the login for you (encrypted, never sent to this app).`;
    const caps = hostCapabilities(scope)?.elicitation as { url?: unknown } | undefined;
    if (caps && typeof caps === 'object' && caps.url !== undefined) {
      const answer = (await host.ask({
        mode: 'url',
        message,
        url: link.url,
        elicitationId: link.elicitationId,
      })) as { action?: string } | undefined;
      if (answer?.action !== 'accept')
        throw new PatchbayError(
          'needs-auth',
          `the sign-in to ${template.name} was ${answer?.action === 'decline' ? 'declined' : 'cancelled'}`,
          {
            hint: `Call it again to get a new sign-in link, or sign in at ${link.url} and call again.`,
          },
        );
      const cancelled = scope.call ? scope.call.signal : scope.ctx.mcpReq.signal;
      await this.waitForSignIn(link.id, member, template.name, cancelled);
      // 2025-11-25: the host hears that this elicitation is done (a stateless request has no stream: nothing to tell).
      if (!isModernRequest(scope.ctx))
        await Promise.resolve()
          .then(() => scope.server.createElicitationCompletionNotifier(link.elicitationId)())
          .catch(() => undefined);
      return this.sessions.get(template, member);
    }
    const text = `${template.name} needs your own sign-in: open ${link.url} , sign in, then call again.`;
    if (isModernRequest(scope.ctx)) throw new PatchbayError('needs-auth', text, { hint: `Open ${link.url}` });
    throw new UrlElicitationRequiredError(
      [{ mode: 'url', message, url: link.url, elicitationId: link.elicitationId }],
      text,
    );
  }

  /** The member's login to `template`'s server was refused upstream: it is removed, to sign in again. */
  async loginFailed(template: Upstream, scope: CallScope): Promise<void> {
    const member = callerOf(scope).subject;
    if (member !== null) await this.revoke(member, template.name);
  }

  /** Remove a member's links (one server, or all) and close their sessions; how many were removed. */
  async revoke(member: string, server?: string): Promise<number> {
    const removed = await this.vault.revoke(member, server);
    await this.sessions.drop(member, server);
    return removed;
  }

  /** The sign-in page, its OAuth callback, and the members' links page. */
  routes(pages: MemberPagesOptions): GatewayRoute[] {
    this.base = pages.base;
    this.browser = pages.browser;
    const who = async (req: IncomingMessage): Promise<Asker> => {
      const bearer = bearerOf(req);
      if (bearer !== undefined) {
        const answer = await pages.authenticator.authenticate(bearer, req);
        return { member: answer.ok ? (answer.identity.subject ?? undefined) : undefined, bearer: true };
      }
      const session = await pages.browser?.find(req);
      return session
        ? { member: session.identity.subject ?? undefined, csrf: session.csrf, bearer: false }
        : { member: undefined, bearer: false };
    };
    return [
      {
        path: SIGNIN_PATH,
        handle: async (req, res) => {
          const asker = await who(req);
          const path = (req.url ?? '/').split('?', 1)[0]!;
          if (path === CALLBACK_PATH) return this.callback(req, res, asker.member);
          return this.start(path.slice(SIGNIN_PATH.length), req, res, asker);
        },
      },
      {
        path: LINKS_PATH,
        handle: async (req, res) => this.linksPage(req, res, await who(req)),
      },
    ];
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const wake of [...this.waiters.values()].flatMap((set) => [...set])) wake();
    await this.sessions.close();
  }

  // ----- links --------------------------------------------------------------------------------

  private async createLink(member: string, server: string, request: LinkRecord['request']) {
    if (!this.base)
      throw new PatchbayError('internal', 'the sign-in pages are not served (no public URL known yet)');
    const id = randomBytes(16).toString('base64url');
    const elicitationId = randomBytes(16).toString('base64url');
    await this.links.put(
      id,
      { member, server, request, elicitationId, createdAt: Date.now() },
      { ttlMs: LINK_TTL_MS },
    );
    return { id, elicitationId, url: new URL(`${SIGNIN_PATH.slice(1)}${id}`, this.base).href };
  }

  /** Until the member has a login to the server (in this process: at once; else by looking). */
  private async waitForSignIn(
    linkId: string,
    member: string,
    server: string,
    cancelled: AbortSignal,
  ): Promise<void> {
    const deadline = Date.now() + (this.options.waitMs ?? LINK_TTL_MS);
    for (;;) {
      if (await this.vault.has(member, server)) return;
      if (this.closed) throw new PatchbayError('connect-failed', 'the gateway is closing');
      if (cancelled.aborted)
        throw cancelled.reason instanceof Error ? cancelled.reason : new Error('cancelled');
      const left = deadline - Date.now();
      if (left <= 0)
        throw new PatchbayError('needs-auth', `the sign-in to ${server} was not finished in time`, {
          hint: 'Call it again for a new sign-in link.',
        });
      // Woken by this process's callback; a sign-in finished by another replica is seen within a second.
      await new Promise<void>((resolve) => {
        let set = this.waiters.get(linkId);
        if (!set) this.waiters.set(linkId, (set = new Set()));
        const done = () => {
          clearTimeout(timer);
          cancelled.removeEventListener('abort', done);
          set.delete(done);
          if (set.size === 0) this.waiters.delete(linkId);
          resolve();
        };
        const timer = setTimeout(done, Math.min(1_000, left));
        cancelled.addEventListener('abort', done, { once: true });
        set.add(done);
      });
    }
  }

  // ----- pages --------------------------------------------------------------------------------

  /** GET /signin/<id>: the member who owns the link starts the upstream's OAuth flow. */
  private async start(id: string, req: IncomingMessage, res: ServerResponse, asker: Asker) {
    const { member } = asker;
    if (req.method !== 'GET') return page(res, 405, 'Not allowed', 'Open the sign-in link in a browser.');
    if (!/^[A-Za-z0-9_-]{22}$/.test(id))
      return page(res, 404, 'No such link', 'This is not a sign-in link of this gateway.');
    if (member === undefined) {
      // A browser: identified at the organisation's IdP first, then back here (the link is not used yet).
      if (this.browser && !asker.bearer) return this.browser.signIn(req, res, `${SIGNIN_PATH}${id}`);
      return page(res, 401, 'Sign in to the gateway first', this.noBrowserSignIn(asker));
    }
    const link = await this.links.get(id);
    if (!link)
      return page(
        res,
        410,
        'Link used or expired',
        'This sign-in link was already used or has expired. Call the tool again for a new one.',
      );
    // Another member's link: refused, and left for its owner.
    if (link.member !== member)
      return page(
        res,
        403,
        'Not your link',
        'This sign-in link was made for another member. Call the tool yourself for your own.' +
          (asker.csrf
            ? ` This browser is signed in to the gateway as ${member}: if that is not you, sign out on ${LINKS_PATH} and open the link again.`
            : ''),
      );
    const taken = await this.links.take(id);
    if (!taken || taken.member !== member)
      return page(
        res,
        410,
        'Link used or expired',
        'This sign-in link was already used. Call the tool again for a new one.',
      );
    const template = this.options.entryOf?.(taken.server);
    if (!template?.entry?.url)
      return page(res, 404, 'Server gone', `${taken.server} is no longer served by this gateway.`);
    try {
      const { beginRoutedLogin } = await import('../auth/routed-login.js');
      const { authorizationUrl, pending } = await beginRoutedLogin({
        ...(await this.loginRequest(taken.server, member, template.entry)),
      });
      const facts = { member, server: taken.server, linkId: id };
      const sealed = this.vault.sealFor(pendingContext(pending.state, facts), JSON.stringify(pending));
      await this.pending.put(pending.state, { ...facts, sealed }, { ttlMs: LINK_TTL_MS });
      res.writeHead(302, { location: authorizationUrl.href, ...PAGE_HEADERS });
      res.end();
    } catch (error) {
      return page(res, 502, 'Sign-in could not start', describe(error));
    }
  }

  /** GET /signin/callback: the authorization server sends the browser back with a code. */
  private async callback(req: IncomingMessage, res: ServerResponse, member: string | undefined) {
    const params = new URL(req.url ?? '/', 'http://gateway').searchParams;
    const state = params.get('state') ?? '';
    if (member === undefined)
      return page(
        res,
        401,
        'Sign in to the gateway first',
        'The sign-in must be finished by the member who started it.',
      );
    const found = state ? await this.pending.get(state) : undefined;
    if (!found)
      return page(
        res,
        410,
        'Sign-in used or expired',
        'This sign-in was already finished or has expired. Call the tool again.',
      );
    if (found.member !== member)
      return page(res, 403, 'Not your sign-in', 'This sign-in was started by another member.');
    const pending = await this.pending.take(state);
    if (!pending) return page(res, 410, 'Sign-in used or expired', 'This sign-in was already finished.');
    // One that does not open (another vault key, a record changed or moved, an older gateway's
    // unsealed one) is as good as expired: the member starts again from the tool.
    const login = this.openPending(state, pending);
    if (!login)
      return page(
        res,
        410,
        'Sign-in used or expired',
        'This sign-in can no longer be finished. Call the tool again for a new link.',
      );
    const metadata = login.discovery.authorizationServerMetadata as
      { authorization_response_iss_parameter_supported?: boolean } | undefined;
    const checked = inspectAuthorizationResponse(params, {
      state: login.state,
      expectedIssuer: login.issuer,
      requireIssuer: metadata?.authorization_response_iss_parameter_supported === true,
    });
    if ('error' in checked) return page(res, 400, 'Sign-in refused', checked.error.message);
    const template = this.options.entryOf?.(pending.server);
    if (!template?.entry?.url)
      return page(res, 404, 'Server gone', `${pending.server} is no longer served by this gateway.`);
    try {
      const { finishRoutedLogin } = await import('../auth/routed-login.js');
      await finishRoutedLogin(
        await this.loginRequest(pending.server, member, template.entry),
        login,
        checked.response,
      );
    } catch (error) {
      return page(res, 502, 'Sign-in failed', describe(error));
    }
    for (const wake of [...(this.waiters.get(pending.linkId) ?? [])]) wake();
    return page(
      res,
      200,
      'Signed in',
      `You are signed in to ${pending.server} with your own account. Go back to your app: it can go on now.`,
    );
  }

  /** GET /me/links: the member's logins; POST (form `remove=<server>`): remove one. */
  private async linksPage(req: IncomingMessage, res: ServerResponse, asker: Asker) {
    const { member } = asker;
    if (member === undefined) {
      if (this.browser && !asker.bearer && (req.method === 'GET' || req.method === 'HEAD'))
        return this.browser.signIn(req, res, LINKS_PATH);
      return page(
        res,
        401,
        'Sign in to the gateway first',
        `Your links are shown to you, signed in to this gateway. ${this.noBrowserSignIn(asker)}`,
      );
    }
    if (req.method === 'POST') {
      // Never on another site's behalf: its Origin, when the browser sends one, must be this gateway's.
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== this.base?.origin)
        return page(res, 403, 'Refused', 'This form was sent from another site.');
      const form = new URLSearchParams(await readSmallBody(req));
      // A browser session's cookie goes with any request: its forms carry the session's own token.
      if (asker.csrf !== undefined && !sameToken(form.get('csrf') ?? '', asker.csrf))
        return page(
          res,
          403,
          'Refused',
          'This form is stale or was not sent from your links page. Open the page again.',
        );
      if (form.get('signout') !== null) {
        if (asker.csrf !== undefined) await this.browser?.signOut(req, res);
        return page(res, 200, 'Signed out', 'This browser is no longer signed in to the gateway.');
      }
      const server = form.get('remove');
      if (server) await this.revoke(member, server);
      res.writeHead(303, { location: LINKS_PATH, ...PAGE_HEADERS });
      res.end();
      return;
    }
    if (req.method !== 'GET')
      return page(res, 405, 'Not allowed', 'GET to see your links, POST to remove one.');
    const links = await this.vault.links({ member });
    if (/application\/json/.test(req.headers.accept ?? '')) {
      res.writeHead(200, { 'content-type': 'application/json', ...PAGE_HEADERS });
      res.end(JSON.stringify({ member, links: links.map(linkView) }));
      return;
    }
    const csrf = asker.csrf ? `<input type="hidden" name="csrf" value="${escapeHtml(asker.csrf)}">` : '';
    const rows = links
      .map(
        (link) =>
          `<tr><td>${escapeHtml(link.server)}</td><td>${escapeHtml(link.issuer)}</td><td>${new Date(link.obtainedAt).toISOString()}</td>` +
          `<td><form method="post" action="${LINKS_PATH}">${csrf}<input type="hidden" name="remove" value="${escapeHtml(link.server)}"><button>Remove</button></form></td></tr>`,
      )
      .join('');
    const signOut = asker.csrf
      ? `<form method="post" action="${LINKS_PATH}">${csrf}<input type="hidden" name="signout" value="1"><button>Sign out of the gateway in this browser</button></form>`
      : '';
    const body = links.length
      ? `<table><tr><th>Server</th><th>Signed in at</th><th>Since</th><th></th></tr>${rows}</table>`
      : '<p>You have no links: servers that act as you will ask you to sign in when you first use them.</p>';
    // same-origin, not no-referrer: its forms' POSTs then carry this page's Origin (checked), not `null`.
    return html(res, 200, 'Your links', `<p>Signed in as ${escapeHtml(member)}.</p>${body}${signOut}`, {
      'referrer-policy': 'same-origin',
    });
  }

  /** What a person without a credential on the page can do. */
  private noBrowserSignIn(asker: Asker): string {
    if (asker.bearer) return 'The credential sent with this request was refused.';
    if (this.browser)
      return 'Your sign-in to the gateway in this browser has ended. Call the tool again for a new link.';
    return (
      'This gateway cannot recognise you in a browser: it knows members by API keys or by access tokens ' +
      "from the organisation's identity provider, which a browser does not send. Open this link from a " +
      "client that sends your gateway credential, or ask the gateway's operator to turn on the gateway's " +
      'own sign-in (auth.authorizationServer), which signs browsers in too.'
    );
  }

  /** The pending sign-in's login, when its sealed value opens as this record's and names this state. */
  private openPending(state: string, record: PendingRecord): PendingLogin | undefined {
    const text = this.vault.openFor(pendingContext(state, record), record.sealed);
    if (text === undefined) return undefined;
    try {
      const login = JSON.parse(text) as PendingLogin;
      return login.state === state ? login : undefined;
    } catch {
      return undefined;
    }
  }

  private async loginRequest(
    server: string,
    member: string,
    entry: import('../config/entry.js').ServerEntry,
  ) {
    const { createHttpClient } = await import('../connect/network.js');
    const http = await createHttpClient({ env: this.options.env, ...(entry.tls ? { tls: entry.tls } : {}) });
    return {
      http,
      name: server,
      entry,
      store: this.vault.forMember(member, server),
      env: this.options.env,
      redirectUrl: new URL(CALLBACK_PATH.slice(1), this.base).href,
    };
  }
}

const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
} as const;

function page(res: ServerResponse, status: number, title: string, text: string): void {
  html(res, status, title, `<p>${escapeHtml(text)}</p>`);
}

function html(
  res: ServerResponse,
  status: number,
  title: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy':
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    ...PAGE_HEADERS,
    ...headers,
  });
  res.end(
    `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(title)} · patchbay</title>` +
      `<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}td,th{padding:.3rem .6rem;text-align:left}</style>` +
      `</head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`,
  );
}

function sameToken(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function describe(error: unknown): string {
  if (error instanceof PatchbayError) return `${error.message}${error.hint ? ` (${error.hint})` : ''}`;
  return 'An unexpected error; the gateway logged it.';
}

async function readSmallBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) {
    text += (chunk as Buffer).toString('utf8');
    if (text.length > 4096) throw new ProtocolError(ProtocolErrorCode.InvalidRequest, 'body too large');
  }
  return text;
}
