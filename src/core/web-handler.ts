/**
 * node:http in front of a web-standard handler (`(Request) => Promise<Response>`), for the
 * servers patchbay runs: the gateway's HTTP endpoint and the demo server. The SDK's own node
 * adapter lives in `@modelcontextprotocol/node`, which patchbay does not depend on; these are the
 * few lines it needs instead.
 */

import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

/** Listen on host:port, rejecting on the error that prevents it (EADDRINUSE, EACCES …). */
export function listen(server: HttpServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Stop listening and end every connection: close() alone waits for idle keep-alive and open streams. */
export function closeServer(server: HttpServer): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * Serve one node:http exchange with a web-standard handler. The request body is streamed, not
 * buffered (the SDK enforces its own size limit), unless the caller already read it (`body`), and
 * the request's signal aborts when the client goes away so a streaming response is torn down.
 * Settles once the response is written (or abandoned).
 */
export function serveWebHandler(
  req: IncomingMessage,
  res: ServerResponse,
  origin: string,
  handle: (request: Request) => Promise<Response>,
  options: { body?: Uint8Array } = {},
): Promise<void> {
  const aborter = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) aborter.abort();
  });

  let request: Request;
  try {
    const headers = new Headers();
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    }
    const method = req.method ?? 'GET';
    const init: RequestInit & { duplex?: 'half' } = { method, headers, signal: aborter.signal };
    if (options.body !== undefined) {
      init.body = options.body;
    } else if (method !== 'GET' && method !== 'HEAD') {
      init.body = Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>;
      init.duplex = 'half';
    }
    // The URL comes from the listening address, not the client's Host header (validated later).
    request = new Request(`${origin}${req.url ?? '/'}`, init);
  } catch {
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end('Bad request.\n');
    return Promise.resolve();
  }

  return handle(request)
    .then((response) => writeResponse(response, res, aborter.signal))
    .catch(() => {
      if (res.headersSent) res.destroy();
      else res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('Internal error.\n');
    });
}

async function writeResponse(response: Response, res: ServerResponse, signal: AbortSignal): Promise<void> {
  res.statusCode = response.status;
  for (const [name, value] of response.headers) {
    if (name === 'set-cookie') continue;
    res.setHeader(name, value);
  }
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  if (!response.body) {
    res.end();
    return;
  }
  // An SSE stream may stay quiet for a while; the client needs the status line now.
  res.flushHeaders();
  const reader = response.body.getReader();
  const cancel = () => void reader.cancel().catch(() => undefined);
  signal.addEventListener('abort', cancel, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      res.write(value);
    }
    res.end();
  } finally {
    signal.removeEventListener('abort', cancel);
  }
}
