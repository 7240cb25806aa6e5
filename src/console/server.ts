/**
 * `patchbay ui`'s local server: the console page (the built front end) and its JSON API
 * (api-types.ts), on 127.0.0.1 only.
 *
 * Each request passes, in order: the request checks (security.ts: Host, Origin, CSRF, body), then
 * for the API the one-time token exchange on `POST /api/session` or the session secret in
 * `Authorization: Bearer` (session.ts) — or, for a new link, the registration's control secret
 * (registration.ts) — then the API router. The page and its assets hold no
 * secret and are served without a session. Every response gets the security headers, refusals
 * included. No response sets a cookie.
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createContext } from '../config/registry.js';
import { resolvePaths } from '../core/paths.js';
import { PatchbayError } from '../errors.js';
import { closeServer, listen, serveWebHandler } from '../core/web-handler.js';
import type { ConsoleContext } from './context.js';
import type { SessionGrant } from './api-types.js';
import {
  errorResponse,
  failure,
  json,
  MAX_BODY_BYTES,
  objectBody,
  optionalString,
  readJsonBody,
} from './http.js';
import { dispatch, type Route } from './router.js';
import { activityRoutes } from './routes/activity.js';
import { authRoutes, LoginFlows } from './routes/auth.js';
import { detailRoutes } from './routes/detail.js';
import { editRoutes } from './routes/edit.js';
import { serverRoutes } from './routes/servers.js';
import { taskRoutes } from './routes/tasks.js';
import { useRoutes } from './routes/use.js';
import { allowedFor, guardRequest, SECURITY_HEADERS, withSecurityHeaders, type Allowed } from './security.js';
import { isControlRequest, registerConsole } from './registration.js';
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
  /**
   * Register it for the next `patchbay ui` of this project (registration.ts), which then gets a
   * fresh link to it instead of starting another console. `patchbay ui` sets it; tests need not.
   */
  register?: boolean;
}

export interface ConsoleServer {
  /** `http://127.0.0.1:PORT/#token=…`: opens a session, once, in the tab that opens it. */
  url: string;
  /** `http://127.0.0.1:PORT` */
  origin: string;
  port: number;
  /** Another one-time URL to this console (the first may be spent). */
  newUrl(): string;
  close(): Promise<void>;
}

/** Every API route (exported so that a test can try each one). */
export const CONSOLE_ROUTES: readonly Route[] = [
  ...serverRoutes,
  ...editRoutes,
  ...detailRoutes,
  ...useRoutes,
  ...taskRoutes,
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
  const sessions = new ConsoleSessions();
  const logins = new LoginFlows();
  const env = options.env ?? process.env;
  const { RefreshState } = await import('../auth/refresh.js');
  const { EraHints } = await import('../connect/era-hints.js');
  const ctx: ConsoleContext = {
    env,
    paths: resolvePaths(env),
    refreshState: new RefreshState(),
    eraHints: new EraHints(),
    cwd: options.cwd ?? process.cwd(),
    version: options.version,
    origin,
    timeoutMs: options.timeoutMs ?? 10_000,
    log: options.log ?? (() => undefined),
    logins,
  };
  let registration: Awaited<ReturnType<typeof registerConsole>> | undefined;
  if (options.register) {
    try {
      registration = await registerConsole(
        ctx.paths,
        createContext(ctx.env, ctx.cwd, ctx.paths).projectRoot,
        port,
      );
    } catch (error) {
      // Without it, the console works; only the next `patchbay ui` cannot find it.
      ctx.log(`Not registered for the next patchbay ui: ${(error as Error).message}`);
    }
  }
  const handler = consoleHandler({
    ctx,
    sessions,
    allowed: allowedFor(port),
    webRoot: options.webRoot ?? DEFAULT_WEB_ROOT,
    control: registration?.control,
  });
  httpServer.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void readBody(req, MAX_BODY_BYTES).then((body) => {
      if (body === 'too-large') return refuseTooLarge(res);
      return serveWebHandler(req, res, origin, handler, body === undefined ? {} : { body });
    });
  });

  let closing: Promise<void> | undefined;
  return {
    url: `${origin}/#token=${sessions.token}`,
    origin,
    port,
    newUrl: () => `${origin}/#token=${sessions.issueLaunchToken()}`,
    close() {
      closing ??= (async () => {
        await registration?.unregister().catch(() => undefined);
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
  /** The registration's control secret: it may ask for a new launch token (POST /api/launch). */
  control: string | undefined;
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
  { ctx, sessions, allowed, webRoot, control }: HandlerSettings,
): Promise<Response> {
  const url = new URL(request.url);
  const api = url.pathname === '/api' || url.pathname.startsWith('/api/');
  const refused = guardRequest(request, api, allowed);
  if (refused) return refused;
  if (!api) return serveStatic(webRoot, url.pathname, request.method);

  if (url.pathname === '/api/session' && request.method === 'POST') return exchange(request, sessions);
  if (url.pathname === '/api/launch' && request.method === 'POST')
    return launch(request, sessions, ctx.origin, control);
  if (!sessions.isValid(request.headers.get('authorization')))
    return withChallenge(
      failure(
        401,
        'no-session',
        'No console session: every API request needs the session secret in Authorization: Bearer.',
        'Run `patchbay ui` again: it prints a new link to this console (each link works once, in one tab).',
      ),
    );
  return dispatch(CONSOLE_ROUTES, request, url, ctx);
}

/**
 * `POST /api/session` `{ token }` → 201 `{ session }`: the launch token, once, for a session
 * secret. guardRequest has already refused it from another origin or as a form.
 */
async function exchange(request: Request, sessions: ConsoleSessions): Promise<Response> {
  const token = optionalString(objectBody(await readJsonBody(request)), 'token');
  const session = token === undefined ? undefined : sessions.exchange(token);
  if (session === undefined)
    return withChallenge(
      failure(
        401,
        'spent-token',
        'This console link has already been used, or is not from this console.',
        'Run `patchbay ui` again: it prints a new link to this console (each link works once, in one tab).',
      ),
    );
  const grant: SessionGrant = { session };
  return json(201, grant);
}

/**
 * `POST /api/launch` with `Authorization: Bearer <control secret>` → 201 `{ url }`: a new one-time
 * URL, for `patchbay ui` run again while this console is up (registration.ts). A session secret
 * is not a control secret: the page cannot mint links.
 */
function launch(
  request: Request,
  sessions: ConsoleSessions,
  origin: string,
  control: string | undefined,
): Response {
  if (control === undefined || !isControlRequest(request.headers.get('authorization'), control))
    return withChallenge(
      failure(401, 'not-control', 'Only patchbay ui, run again on this machine, may ask for a new link.'),
    );
  return json(201, { url: `${origin}/#token=${sessions.issueLaunchToken()}` });
}

function withChallenge(response: Response): Response {
  response.headers.set('www-authenticate', 'Bearer realm="patchbay console"');
  return response;
}
