/**
 * The console under test: started in-process on 127.0.0.1:0 in a sandboxed home and project, with
 * a small stand-in front end, and spoken to over real sockets with node:http (so that Host, Origin,
 * Cookie and Authorization are exactly what the test says, as a browser or an attacker would send
 * them).
 */

import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { startConsole, type ConsoleServer } from '../../src/console/server.js';
import { createSandbox, type Sandbox } from '../helpers/sandbox.js';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface RawRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** One HTTP exchange with exactly these headers (node:http adds Host only when none is given). */
export function rawRequest(port: number, options: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const headers: Record<string, string> = { host: `127.0.0.1:${port}`, ...options.headers };
    if (options.body !== undefined && headers['content-length'] === undefined)
      headers['content-length'] = String(Buffer.byteLength(options.body));
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path,
        headers,
        setHost: false,
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    // A server may answer (413) before it has read the whole body, then close: the answer counts.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    req.end(options.body);
  });
}

/** The launch token of the URL `patchbay ui` prints (`/#token=…`). */
export function launchToken(url: string): string {
  return new URLSearchParams(new URL(url).hash.slice(1)).get('token')!;
}

/** `POST /api/session { token }` as the console's page sends it (same origin, JSON). */
export function exchangeToken(
  port: number,
  token: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return rawRequest(port, {
    method: 'POST',
    path: '/api/session',
    headers: {
      origin: `http://127.0.0.1:${port}`,
      'sec-fetch-site': 'same-origin',
      'content-type': 'application/json',
      ...headers,
    },
    body: JSON.stringify({ token }),
  });
}

export interface ApiResponse<T = unknown> extends RawResponse {
  json: T;
}

export interface TestConsole {
  sandbox: Sandbox;
  env: NodeJS.ProcessEnv;
  console: ConsoleServer;
  port: number;
  webRoot: string;
  /** `Bearer <session secret>`, from the launch token's exchange, as the page sends it. */
  authorization: string;
  /** Every API response body so far, for "no secret in any response". */
  seen: string[];
  /** A same-origin API call with the session, as the page makes it. */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>>;
  close(): Promise<void>;
}

export async function startTestConsole(
  options: { env?: NodeJS.ProcessEnv; exchange?: boolean; log?: string[] } = {},
): Promise<TestConsole> {
  const sandbox = await createSandbox();
  const env: NodeJS.ProcessEnv = {
    ...sandbox.env,
    PATCHBAY_CREDENTIAL_STORE: 'file',
    PATCHBAY_DATA_DIR: join(sandbox.root, 'data'),
    ...options.env,
  };
  const webRoot = join(sandbox.root, 'web');
  await mkdir(join(webRoot, 'assets'), { recursive: true });
  await writeFile(
    join(webRoot, 'index.html'),
    '<!doctype html><title>console</title><script src="/assets/app.js"></script>',
  );
  await writeFile(join(webRoot, 'assets', 'app.js'), 'console.log("page");');
  await writeFile(join(webRoot, 'assets', 'style.css'), 'body{}');
  await writeFile(join(sandbox.root, 'secret.txt'), 'outside the web root');
  const console = await startConsole({
    port: 0,
    env,
    cwd: sandbox.project,
    version: '0.0.0-test',
    webRoot,
    timeoutMs: 10_000,
    log: (line) => options.log?.push(line),
  });
  const port = console.port;
  let authorization = '';
  if (options.exchange !== false) {
    const exchanged = await exchangeToken(port, launchToken(console.url));
    authorization = `Bearer ${(JSON.parse(exchanged.text) as { session: string }).session}`;
  }
  const seen: string[] = [];
  return {
    sandbox,
    env,
    console,
    port,
    webRoot,
    authorization,
    seen,
    async api<T>(method: string, path: string, body?: unknown) {
      const headers: Record<string, string> = { authorization, 'sec-fetch-site': 'same-origin' };
      if (method !== 'GET') headers.origin = console.origin;
      let payload: string | undefined;
      if (body !== undefined) {
        payload = JSON.stringify(body);
        headers['content-type'] = 'application/json';
      }
      const response = await rawRequest(port, {
        method,
        path,
        headers,
        ...(payload !== undefined ? { body: payload } : {}),
      });
      seen.push(response.text);
      return { ...response, json: (response.text ? JSON.parse(response.text) : undefined) as T };
    },
    async close() {
      await console.close();
      await sandbox.cleanup();
    },
  };
}
