/**
 * `patchbay ui`'s local server: the console page (the built front end) and its JSON API
 * (api-types.ts), on 127.0.0.1 only.
 *
 * Each request passes, in order: the request checks (security.ts: Host, Origin, CSRF, body), the
 * one-time token exchange on `GET /?token=…` (session.ts), the session cookie, then the API router
 * or the static files. Every response gets the security headers, refusals included.
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { PatchbayError } from '../errors.js';
import { closeServer, listen, serveWebHandler } from '../gateway/web-handler.js';
import type { ConsoleContext } from './context.js';
import { errorResponse, failure, MAX_BODY_BYTES } from './http.js';
import { dispatch, type Route } from './router.js';
import { activityRoutes } from './routes/activity.js';
import { authRoutes, LoginFlows } from './routes/auth.js';
import { detailRoutes } from './routes/detail.js';
import { serverRoutes } from './routes/servers.js';
import { useRoutes } from './routes/use.js';
import { allowedFor, guardRequest, SECURITY_HEADERS, withSecurityHeaders, type Allowed } from './security.js';
import { ConsoleSessions } from './session.js';
import { DEFAULT_WEB_ROOT, serveStatic } from './static.js';

export interface ConsoleOptions {
  /** 0 (the default): any free port. */
  port?: number;
  /** The console binds loopback only; no other address is accepted. */
  host?: '127.0.0.1';
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  version: string;
  /** The built front end; dist/web beside this file by default. */
  webRoot?: string;
  /** Connect timeout for each server (an entry's own timeout wins); 10 s by default. */
  timeoutMs?: number;
  /** What the console has done (a login finished, a server added), for the terminal. */
  log?: (message: string) => void;
}

export interface ConsoleServer {
  /** `http://127.0.0.1:PORT/?token=…`: opens a session, once. */
  url: string;
  /** `http://127.0.0.1:PORT` */
  origin: string;
  port: number;
  close(): Promise<void>;
}

const ROUTES: readonly Route[] = [
  ...serverRoutes,
  ...detailRoutes,
  ...useRoutes,
  ...authRoutes,
  ...activityRoutes,
];

export async function startConsole(options: ConsoleOptions): Promise<ConsoleServer> {
  const host = options.host ?? '127.0.0.1';
  if (host !== '127.0.0.1')
    throw new PatchbayError('usage', 'The console listens on 127.0.0.1 only.', {
      hint: 'Open it from this machine; for another machine, forward the port over SSH.',
    });
  const httpServer = createServer();
  // A request that trickles in is not waited on for long; none of the console's needs to.
  httpServer.requestTimeout = 60_000;
  httpServer.headersTimeout = 10_000;
  try {
    await listen(httpServer, host, options.port ?? 0);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new PatchbayError(
      'usage',
      code === 'EADDRINUSE'
        ? `Port ${options.port} on 127.0.0.1 is already in use.`
        : `Cannot listen on 127.0.0.1 port ${options.port}: ${code ?? (error as Error).message}.`,
      { hint: 'Choose another with --port <n>, or leave it out for any free port.', cause: error },
    );
  }
  const { port } = httpServer.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const sessions = new ConsoleSessions(port);
  const logins = new LoginFlows();
  const ctx: ConsoleContext = {
    env: options.env ?? process.env,
    cwd: options.cwd ?? process.cwd(),
    version: options.version,
    origin,
    timeoutMs: options.timeoutMs ?? 10_000,
    log: options.log ?? (() => undefined),
    logins,
  };
  const handler = consoleHandler({
    ctx,
    sessions,
    allowed: allowedFor(port),
    webRoot: options.webRoot ?? DEFAULT_WEB_ROOT,
  });
  httpServer.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void readBody(req, MAX_BODY_BYTES).then((body) => {
      if (body === 'too-large') return refuseTooLarge(res);
      return serveWebHandler(req, res, origin, handler, body === undefined ? {} : { body });
    });
  });

  let closing: Promise<void> | undefined;
  return {
    url: `${origin}/?token=${sessions.token}`,
    origin,
    port,
    close() {
      closing ??= (async () => {
        await logins.close();
        await closeServer(httpServer);
      })();
      return closing;
    },
  };
}

/**
 * The whole body, read before the request is handled (at most `limit` bytes), so that every
 * request is consumed whatever its answer and the connection stays usable; 'too-large' past the
 * limit, declared or counted.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array | 'too-large' | undefined> {
  if (req.method === 'GET' || req.method === 'HEAD') return Promise.resolve(undefined);
  if (Number(req.headers['content-length'] ?? '0') > limit) return Promise.resolve('too-large');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        resolve('too-large');
      } else chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks)));
    // The client went away mid-body: nothing to answer (a settled promise ignores the rest).
    req.once('error', () => resolve(undefined));
    req.once('close', () => resolve(undefined));
  });
}

/** 413, and the connection closed: the rest of the body is not read. */
function refuseTooLarge(res: ServerResponse): void {
  const body = JSON.stringify({
    error: {
      code: 'too-large',
      message: `The request body is larger than ${MAX_BODY_BYTES / 1024 / 1024} MiB.`,
    },
  });
  res.writeHead(413, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    connection: 'close',
  });
  res.end(body);
}

interface HandlerSettings {
  ctx: ConsoleContext;
  sessions: ConsoleSessions;
  allowed: Allowed;
  webRoot: string;
}

function consoleHandler(settings: HandlerSettings): (request: Request) => Promise<Response> {
  return async (request) => {
    try {
      return withSecurityHeaders(await handle(request, settings));
    } catch (error) {
      return withSecurityHeaders(errorResponse(error));
    }
  };
}

async function handle(
  request: Request,
  { ctx, sessions, allowed, webRoot }: HandlerSettings,
): Promise<Response> {
  const url = new URL(request.url);
  const api = url.pathname === '/api' || url.pathname.startsWith('/api/');
  const refused = guardRequest(request, api, allowed);
  if (refused) return refused;

  const cookie = request.headers.get('cookie');
  const token = url.searchParams.get('token');
  if (!api && url.pathname === '/' && token !== null && request.method === 'GET') {
    const id = sessions.exchange(token);
    if (id) return seeOther('/', sessions.setCookie(id));
    // A spent token in a reloaded tab that already has its session: just drop the token.
    if (sessions.isValid(cookie)) return seeOther('/');
    return page(
      401,
      'This link has already been used, or is not from this console. Open the URL patchbay ui printed.',
    );
  }
  if (!sessions.isValid(cookie)) {
    if (api)
      return failure(
        401,
        'no-session',
        'No console session.',
        'Open the URL that `patchbay ui` printed (it works once).',
      );
    if (arrivedFromElsewhere(request)) return bounce(request);
    return page(401, 'Open the URL patchbay ui printed.');
  }
  if (api) return dispatch(ROUTES, request, url, ctx);
  return serveStatic(webRoot, url.pathname, request.method);
}

function seeOther(location: string, cookie?: string): Response {
  const headers = new Headers({ location });
  if (cookie) headers.append('set-cookie', cookie);
  return new Response(null, { status: 303, headers });
}

function page(status: number, text: string, head = ''): Response {
  const body = `<!doctype html>\n<html><head><meta charset="utf-8">${head}<title>patchbay</title></head><body><p>${text}</p></body></html>\n`;
  return new Response(body, { status, headers: { 'content-type': 'text/html; charset=utf-8' } });
}

/**
 * A page opened from another site (the OAuth callback page sending the browser back) arrives
 * without the SameSite=Strict cookie even when the browser has it. Loading the page again from
 * here makes it a same-site navigation, which carries the cookie. Only a page load is repeated,
 * never anything with an effect, and only once: the second load is same-origin.
 */
function arrivedFromElsewhere(request: Request): boolean {
  const site = request.headers.get('sec-fetch-site');
  return (
    request.method === 'GET' &&
    (site === 'cross-site' || site === 'same-site') &&
    request.headers.get('sec-fetch-mode') === 'navigate'
  );
}

function bounce(request: Request): Response {
  // Only the login-return marker is carried over (encoded), nothing else of the address.
  const login = new URL(request.url).searchParams.get('login');
  const target = login === null ? '/' : `/?login=${encodeURIComponent(login)}`;
  return page(
    200,
    `Returning to patchbay\u2026 <a href="${target}">Continue</a>`,
    `<meta http-equiv="refresh" content="0;url=${target}">`,
  );
}
