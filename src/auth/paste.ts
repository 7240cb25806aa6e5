/**
 * The pasted redirect: when the browser cannot reach the loopback listener (it runs on another
 * machine, or the page failed to load), the user copies the URL from its address bar and pastes
 * it into the terminal. The login races this against the listener's `result`.
 *
 * The pasted text holds the authorization code, so no message here ever repeats it: a refusal
 * names at most the scheme, host, port and path it saw.
 */

import { createInterface } from 'node:readline';

import { isLoopbackHost } from '../core/loopback.js';
import { terminalText } from '../core/terminal-text.js';
import { PatchbayError } from '../errors.js';
import {
  inspectAuthorizationResponse,
  type AuthorizationExpectation,
  type AuthorizationResponse,
} from './callback.js';

export interface PastedRedirectOptions extends AuthorizationExpectation {
  /** The listener's `redirectUri` (`http://localhost:<port>/callback`). */
  redirectUri: string;
}

export interface WaitForPasteOptions extends PastedRedirectOptions {
  /** Aborting (the login timed out, or the listener answered first) stops reading stdin. */
  signal?: AbortSignal;
  /** Told why a line was not taken, one sentence, for stderr; reading goes on. */
  explain?: (message: string) => void;
}

/** Longer than any redirect URL; longer lines are something else pasted by mistake. */
const MAX_LINE_CHARS = 16 * 1024;

const PASTE_HINT =
  'paste the whole address from the browser, starting with http://localhost, after the login page sent you there';

/**
 * The authorization response in a pasted redirect URL, checked against the login's `state` and
 * issuer. Surrounding whitespace, quotes and angle brackets are dropped; a URL without its
 * `http://` (as some address bars show it) is accepted. The URL must go to the redirect URI's
 * path and port on a loopback host (`localhost`, 127.0.0.1 or [::1]). Throws PatchbayError.
 */
export function parsePastedRedirect(text: string, options: PastedRedirectOptions): AuthorizationResponse {
  const outcome = readPaste(text, options);
  if ('response' in outcome) return outcome.response;
  throw outcome.error;
}

/**
 * Reads lines from `input` until one is a redirect URL with a valid response, and resolves with
 * it. Blank lines are skipped; a line that is not the redirect (or carries another login's
 * `state`) is explained through `explain` and reading goes on; a response the authorization
 * server refused, or one from the wrong issuer, rejects. The end of `input` is not an answer
 * (stdin may be /dev/null while the browser still comes back): the promise then settles only
 * when `signal` aborts, with its reason.
 */
export function waitForPastedRedirect(
  input: NodeJS.ReadableStream,
  options: WaitForPasteOptions,
): Promise<AuthorizationResponse> {
  const { signal, explain } = options;
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input, terminal: false, crlfDelay: Infinity });
    let done = false;
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      signal?.removeEventListener('abort', onAbort);
      lines.off('line', onLine);
      // Gives stdin back, paused. A paused pipe or terminal still holds the event loop open, so
      // it is unref'd too: the command must end when the login does, not when stdin does.
      lines.close();
      input.pause();
      (input as { unref?: () => void }).unref?.();
      settle();
    };
    const onAbort = () => finish(() => reject(signal!.reason as Error));
    const onLine = (line: string) => {
      if (done || line.trim() === '') return;
      if (line.length > MAX_LINE_CHARS) {
        explain?.(`that line is ${line.length} characters long, too long for a redirect URL; ${PASTE_HINT}`);
        return;
      }
      const outcome = readPaste(line, options);
      if ('response' in outcome) finish(() => resolve(outcome.response));
      else if (outcome.final) finish(() => reject(outcome.error));
      else explain?.(`${outcome.error.message}; ${outcome.error.hint ?? PASTE_HINT}`);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    lines.on('line', onLine);
  });
}

type Outcome = { response: AuthorizationResponse } | { error: PatchbayError; final: boolean };

function readPaste(text: string, options: PastedRedirectOptions): Outcome {
  const expected = new URL(options.redirectUri);
  let raw = text.trim();
  // What terminals and chat tools wrap a copied URL in.
  while (raw.length >= 2 && /^["'<`]/.test(raw) && raw.at(-1) === CLOSING[raw[0]!])
    raw = raw.slice(1, -1).trim();
  if (/^(?:localhost|127\.\d+\.\d+\.\d+|\[::1\])(?::\d+)?\//i.test(raw)) raw = `http://${raw}`;

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return retry('that is not a URL');
  }
  // Only the origin is ever repeated: the rest of a pasted URL may hold a code or a token.
  const mismatch =
    url.protocol !== 'http:' ||
    !isLoopbackHost(url.hostname, { localhostSubdomains: false }) ||
    url.port !== expected.port
      ? `it goes to ${url.origin === 'null' ? `a ${terminalText(url.protocol, { max: 40 })} URL` : terminalText(url.origin, { max: 200 })}`
      : url.username !== '' || url.password !== ''
        ? 'it carries a user name or password'
        : url.pathname !== expected.pathname
          ? `its path is not ${expected.pathname}`
          : undefined;
  if (mismatch !== undefined) {
    return retry(
      `that URL is not this login's redirect ${expected.origin}${expected.pathname} (${mismatch})`,
    );
  }
  const params = url.searchParams;
  if (!params.has('code') && !params.has('error')) {
    return retry(
      'that URL has no "code" (nor an "error"): copy the address after the login page sent you there',
    );
  }
  const outcome = inspectAuthorizationResponse(params, options);
  if ('response' in outcome) return outcome;
  // Another login's state is a stale tab: the user can still paste the right one. Anything else
  // (a refusal by the server, the wrong issuer, a malformed response) ends the login.
  return { error: outcome.error, final: outcome.reason !== 'state' };
}

const CLOSING: Record<string, string> = { '"': '"', "'": "'", '<': '>', '`': '`' };

function retry(message: string): Outcome {
  return { error: new PatchbayError('invalid-url', message, { hint: PASTE_HINT }), final: false };
}
