/**
 * The page's console session (src/console/session.ts has the whole story). `patchbay ui` prints
 * `/#token=…`; a fragment is never sent to a server. Before anything renders, the token is taken
 * out of the address (so it is in no history entry, bookmark or screenshot), then exchanged once
 * for a session secret, kept in sessionStorage: this origin's (scheme, host and port) and this
 * tab's only, and still there after a reload or a trip to an authorization server and back.
 * api.ts sends it as `Authorization: Bearer` on every call. No cookie: the browser would send one
 * to every port of 127.0.0.1.
 */

import type { ApiError as ApiErrorBody, SessionGrant } from '../../src/console/api-types';

const STORAGE_KEY = 'patchbay-console-session';

export const NO_SESSION =
  'This tab has no console session. Run `patchbay ui` again: it prints a new link to this console (each link works once, in one tab).';

export interface SessionState {
  /** The secret for `Authorization: Bearer`, when this tab has one. */
  secret: string | undefined;
  /** Why there is none, from the exchange (a spent or foreign link), for the banner. */
  problem: string | undefined;
}

/** Where the secret lives when sessionStorage is refused (then a reload loses the session). */
let inMemory: string | undefined;

function stored(): string | undefined {
  try {
    return sessionStorage.getItem(STORAGE_KEY) ?? inMemory;
  } catch {
    return inMemory;
  }
}

function store(secret: string): void {
  inMemory = secret;
  try {
    sessionStorage.setItem(STORAGE_KEY, secret);
  } catch {
    // Storage refused (a privacy setting): the session lasts as long as this page.
  }
}

const LAUNCH_FRAGMENT = /^#token=([A-Za-z0-9_-]+)$/;

/** The launch token of `#token=…`, removed from the address; undefined when there is none. */
function takeLaunchToken(): string | undefined {
  const token = LAUNCH_FRAGMENT.exec(location.hash)?.[1];
  if (token !== undefined) history.replaceState(null, '', `${location.pathname}${location.search}`);
  return token;
}

async function exchange(token: string): Promise<SessionGrant | ApiErrorBody> {
  try {
    const response = await fetch('./api/session', {
      method: 'POST',
      credentials: 'omit',
      cache: 'no-store',
      headers: { accept: 'application/json', 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    const body = (await response.json().catch(() => undefined)) as
      Partial<SessionGrant & { error: ApiErrorBody }> | undefined;
    if (response.status === 201 && typeof body?.session === 'string') return { session: body.session };
    return body?.error ?? { code: `http-${response.status}`, message: NO_SESSION };
  } catch (error) {
    return {
      code: 'unreachable',
      message: `Could not reach patchbay: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}

/**
 * Called once, before the first render (the router reads the address). A new link wins over a
 * stored session (the console may have been started again on the same port); a spent link
 * opened in a tab that already has its session keeps that session.
 */
export function openSession(): Promise<SessionState> {
  // A link pasted into a tab that already shows this console changes only the fragment, which
  // loads nothing: load the page, so that its token is taken as on a first visit. (Registered
  // before the router's listener, which therefore never sees the token.)
  addEventListener('hashchange', () => {
    if (LAUNCH_FRAGMENT.test(location.hash)) location.reload();
  });
  const token = takeLaunchToken();
  if (token === undefined) return Promise.resolve({ secret: stored(), problem: undefined });
  return exchange(token).then((answer) => {
    if ('session' in answer) {
      store(answer.session);
      return { secret: answer.session, problem: undefined };
    }
    const secret = stored();
    const problem = answer.hint ? `${answer.message} ${answer.hint}` : answer.message;
    return { secret, problem: secret === undefined ? problem : undefined };
  });
}
