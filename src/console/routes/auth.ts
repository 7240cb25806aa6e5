/**
 * Connect / Authenticate from the page, in the same browser: POST …/login starts `patchbay login`'s
 * flow in the background and answers with the (checked) authorization URL instead of opening a
 * browser; the page sends the browser there; the authorization server sends it to the loopback
 * callback, whose page sends it back to the console. GET …/auth then shows the new login, and
 * POST …/logout removes it (and revokes it where the server offers revocation) as `patchbay logout`.
 */

import { PatchbayError } from '../../errors.js';
import { staticState } from '../../config/status.js';
import type { EffectiveServer } from '../../config/registry.js';
import type { LoginStart } from '../api-types.js';
import { loadServer, type ConsoleContext, type Logins } from '../context.js';
import { json, noContent } from '../http.js';
import type { Route } from '../router.js';
import { authView, credentialListing, serverUrls } from '../views.js';

/** How long a login started from the page waits for the browser (as `patchbay login`). */
const LOGIN_TIMEOUT_MS = 5 * 60_000;

export const authRoutes: Route[] = [
  {
    method: 'POST',
    path: '/api/servers/:name/login',
    handler: async ({ ctx, params }) => json(200, await ctx.logins.start(ctx, params.name!)),
  },
  {
    method: 'GET',
    path: '/api/servers/:name/auth',
    handler: async ({ ctx, params }) => {
      const { server } = await loadServer(ctx, params.name!);
      return json(200, authView(server, await credentialListing(ctx.paths), ctx.env));
    },
  },
  {
    method: 'POST',
    path: '/api/servers/:name/logout',
    handler: async ({ ctx, params }) => {
      const { server } = await loadServer(ctx, params.name!);
      await logout(ctx, server);
      return noContent();
    },
  },
];

interface Flow {
  /** The latest authorization URL (a step-up for more scopes asks again). */
  latest: string | undefined;
  /** The first authorization URL, or why the login ended before it had one. */
  firstUrl: Promise<string>;
  /** Settled (never rejected) when the login has ended, however it ended. */
  settled: Promise<void>;
}

/** The logins started from the page, one per server at a time. */
export class LoginFlows implements Logins {
  private readonly flows = new Map<string, Flow>();
  private readonly stopping = new AbortController();

  async start(ctx: ConsoleContext, name: string): Promise<LoginStart> {
    const { server } = await loadServer(ctx, name);
    // A second click while the first login still waits: the same login, the same page.
    let flow = this.flows.get(server.name);
    if (!flow) {
      flow = this.begin(ctx, server);
      this.flows.set(server.name, flow);
    }
    return { authorizationUrl: flow.latest ?? (await flow.firstUrl) };
  }

  private begin(ctx: ConsoleContext, server: EffectiveServer): Flow {
    let gotUrl!: (url: string) => void;
    const urlGiven = new Promise<string>((resolve) => (gotUrl = resolve));
    const flow: Flow = { latest: undefined, firstUrl: urlGiven, settled: Promise.resolve() };
    const done = this.run(ctx, server, (url) => {
      flow.latest = url;
      gotUrl(url);
    }).finally(() => {
      if (this.flows.get(server.name) === flow) this.flows.delete(server.name);
    });
    flow.firstUrl = Promise.race([
      urlGiven,
      done.then(() => {
        throw new PatchbayError('internal', `the login to ${server.name} finished without a browser step`);
      }),
    ]);
    // Whoever waits for the URL hears of a failure; nobody else needs to.
    flow.firstUrl.catch(() => undefined);
    flow.settled = done.then(
      (result) => ctx.log(`Logged in to ${server.name} at ${result.issuer}.`),
      (error: unknown) =>
        ctx.log(
          `The login to ${server.name} did not complete: ${error instanceof Error ? error.message : String(error)}`,
        ),
    );
    return flow;
  }

  private async run(ctx: ConsoleContext, server: EffectiveServer, onUrl: (url: string) => void) {
    const state = staticState(server, ctx.env);
    if (!state.resolved)
      throw new PatchbayError('usage', `Cannot log in to ${server.name}: ${state.reason ?? state.status}.`, {
        ...(state.hint ? { hint: state.hint } : {}),
      });
    const entry = state.resolved;
    const [{ login }, { openCredentialStore }, { createHttpClient }] = await Promise.all([
      import('../../auth/login.js'),
      import('../../auth/store.js'),
      import('../../connect/network.js'),
    ]);
    const store = await openCredentialStore(ctx.env, { paths: ctx.paths });
    const http = await createHttpClient({ env: ctx.env, ...(entry.tls ? { tls: entry.tls } : {}) });
    try {
      return await login({
        http,
        name: server.name,
        entry,
        store,
        env: ctx.env,
        noBrowser: true,
        timeoutMs: LOGIN_TIMEOUT_MS,
        signal: this.stopping.signal,
        openUrl: async (url) => onUrl(url.href),
        // Back to the Connectors page, which waits there until this login has finished.
        returnTo: `${ctx.origin}/?login=${encodeURIComponent(server.name)}`,
        say: (message) => ctx.log(`${server.name}: ${message}`),
      });
    } finally {
      await http.close();
    }
  }

  /** Stop every login still waiting for its browser (the console is closing). */
  async close(): Promise<void> {
    this.stopping.abort(new PatchbayError('auth-failed', 'the console stopped before the login finished'));
    await Promise.all([...this.flows.values()].map((flow) => flow.settled));
  }
}

// ---------------------------------------------------------------------------------------------
// Logout: the tokens removed under the server's lock, then revoked where the server offers it.

async function logout(ctx: ConsoleContext, server: EffectiveServer): Promise<void> {
  const entry = server.winner.entry;
  if (!entry) throw new PatchbayError('usage', `Cannot log out of ${server.name}: its entry is invalid.`);
  if (entry.transport === 'stdio' || entry.url === undefined) return;
  const resolved = staticState(server, ctx.env).resolved ?? entry;
  const { logout: removeAndRevoke } = await import('../../use/logout.js');
  const { outcomes } = await removeAndRevoke({
    // The URL as expanded, and as written (a login stored before a variable was unset).
    resources: serverUrls(entry, ctx.env),
    resource: resolved.url!,
    serverName: server.name,
    entry: resolved,
    env: ctx.env,
    timeoutMs: ctx.timeoutMs,
    say: (message) => ctx.log(`${server.name}: ${message}`),
    onRemoved: () => ctx.log(`Logged out of ${server.name} (tokens removed).`),
  });
  for (const outcome of outcomes)
    if (outcome.status === 'failed')
      ctx.log(`The tokens from ${outcome.issuer} were removed here but not revoked: ${outcome.reason}`);
}
