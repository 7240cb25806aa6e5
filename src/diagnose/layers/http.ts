/**
 * The HTTP layer: what the endpoint answers to the request an MCP client sends first. For
 * Streamable HTTP, a POST of `initialize`; for legacy SSE, the GET that opens the event stream.
 * Redirects are reported, not followed. A session the POST opened is ended with DELETE, so the
 * check leaves nothing behind on the server. Header values are never reported, only names.
 */

import { PatchbayError } from '../../errors.js';
import type { HttpClient } from '../../connect/network.js';
import { formatDuration, isDeadline } from '../../core/deadline.js';
import { failed, passed, warned, type Evidence, type Finding } from '../findings.js';
import { addCommand } from '../fixes.js';
import { clean, displayUrl, errorCode } from '../text.js';
import type { LayerContext } from './context.js';
import {
  errorText,
  isObject,
  jsonRpcErrorText,
  mediaType,
  parseJson,
  postInitialize,
  readSseEvent,
  readText,
} from './mcp-wire.js';

const SESSION_END_MS = 2_000;

export interface HttpOutcome {
  finding: Finding;
  /** Set on 401/403: the auth layer reads the challenge from it. */
  challenge?: Response;
  /** An Authorization header went with the request (configured, or from the headersHelper). */
  sentAuthorization: boolean;
  /** Where the Authorization header came from, for the fix when it is rejected. */
  authorizationSource?: 'headers' | 'headersHelper';
  /** Whether the MCP layer still has a chance (the answer was not a dead end). */
  proceed: boolean;
}

interface PreparedHeaders {
  headers: Record<string, string>;
  evidence: Evidence;
  authorizationSource?: 'headers' | 'headersHelper';
}

export async function checkHttp(context: LayerContext, http: HttpClient): Promise<HttpOutcome> {
  const prepared = await prepareHeaders(context);
  if (!('headers' in prepared)) return { finding: prepared, sentAuthorization: false, proceed: false };
  const url = new URL(context.entry.url!);
  const base = {
    sentAuthorization: prepared.authorizationSource !== undefined,
    ...(prepared.authorizationSource ? { authorizationSource: prepared.authorizationSource } : {}),
  };
  try {
    const finding =
      context.entry.transport === 'sse'
        ? await checkSseEndpoint(context, http, url, prepared)
        : await checkStreamableEndpoint(context, http, url, prepared);
    return { ...base, ...finding };
  } catch (error) {
    return { ...base, proceed: false, finding: networkFailure(error, url, context, prepared.evidence) };
  }
}

// ---------------------------------------------------------------------------------------------
// Headers

async function prepareHeaders(context: LayerContext): Promise<PreparedHeaders | Finding> {
  const headers: Record<string, string> = { ...context.entry.headers };
  const names = Object.keys(headers);
  const evidence: Evidence = { headers: names.length > 0 ? names.join(', ') : null };
  let authorizationSource: PreparedHeaders['authorizationSource'] = names.some(isAuthorization)
    ? 'headers'
    : undefined;
  if (context.entry.headersHelper) {
    const { runHeadersHelper } = await import('../../connect/headers-helper.js');
    try {
      const extra = await context.deadline.race(
        runHeadersHelper(context.entry.headersHelper, {
          serverName: context.name,
          url: context.entry.url!,
          cwd: context.cwd,
          env: context.env,
          timeoutMs: Math.min(10_000, context.deadline.remainingMs()),
          signal: context.deadline.signal,
        }),
      );
      Object.assign(headers, extra);
      evidence.headersHelper = Object.keys(extra).join(', ') || '(no headers)';
      if (Object.keys(extra).some(isAuthorization)) authorizationSource = 'headersHelper';
    } catch (error) {
      const why = isDeadline(error)
        ? `did not finish within ${formatDuration(error.budgetMs)}`
        : clean(error instanceof PatchbayError ? error.message : String(error), 300);
      return failed(
        'http',
        `headersHelper failed: ${why}`,
        { ...evidence, headersHelper: 'failed' },
        `Run it by hand to see why: ${context.template.headersHelper ?? context.entry.headersHelper}`,
      );
    }
  }
  return authorizationSource ? { headers, evidence, authorizationSource } : { headers, evidence };
}

function isAuthorization(name: string): boolean {
  return name.toLowerCase() === 'authorization';
}

// ---------------------------------------------------------------------------------------------
// Streamable HTTP: POST initialize

type Answer = Omit<HttpOutcome, 'sentAuthorization' | 'authorizationSource'>;

/** What every answer shows: what was sent, and the status and content type that came back. */
function answerEvidence(prepared: PreparedHeaders, method: 'GET' | 'POST', response: Response): Evidence {
  const contentType = response.headers.get('content-type');
  return {
    ...prepared.evidence,
    method,
    status: response.status,
    contentType: contentType === null ? null : clean(contentType, 100),
  };
}

async function checkStreamableEndpoint(
  context: LayerContext,
  http: HttpClient,
  url: URL,
  prepared: PreparedHeaders,
): Promise<Answer> {
  const response = await postInitialize(http, url, prepared.headers, context.deadline.signal);
  const sessionId = response.headers.get('mcp-session-id');
  const evidence: Evidence = { ...answerEvidence(prepared, 'POST', response), sessionId: sessionId !== null };
  try {
    return await judgeInitializeAnswer(context, http, url, prepared, response, evidence);
  } finally {
    await response.body?.cancel().catch(() => undefined);
    if (sessionId !== null && response.ok) {
      evidence.sessionEnded = await endSession(context, http, url, prepared.headers, sessionId);
    }
  }
}

async function judgeInitializeAnswer(
  context: LayerContext,
  http: HttpClient,
  url: URL,
  prepared: PreparedHeaders,
  response: Response,
  evidence: Evidence,
): Promise<Answer> {
  const { status } = response;
  const where = displayUrl(url);
  const redirect = redirectOf(response, url, evidence);
  if (redirect) return redirect(context);
  if (status === 401 || status === 403)
    return {
      challenge: response,
      proceed: false,
      finding: passed(
        'http',
        `HTTP ${status} from POST ${where}: the server wants ${status === 401 ? 'authorization' : 'other credentials'} (see auth)`,
        evidence,
      ),
    };
  if (status === 404 || status === 405 || status === 400) {
    const sse = await looksLikeSseEndpoint(context, http, url, prepared.headers);
    if (sse) {
      evidence.getContentType = 'text/event-stream';
      return {
        proceed: true,
        finding: warned(
          'http',
          `POST answered HTTP ${status}, but GET opens an event stream: this is a legacy SSE endpoint, not Streamable HTTP`,
          evidence,
          addCommand(context.name, context.scope, context.template, { transport: 'sse' }),
        ),
      };
    }
    if (status === 400) {
      // A JSON-RPC error here may only mean the server wants a newer protocol era; the MCP layer
      // negotiates properly.
      const detail = await jsonRpcErrorText(response, context);
      return {
        proceed: true,
        finding: warned(
          'http',
          `HTTP 400 from POST ${where}: the server rejected the initialize request${detail ? ` (${detail})` : ''}`,
          evidence,
        ),
      };
    }
    return {
      proceed: false,
      finding: failed(
        'http',
        status === 404
          ? `HTTP 404 from POST ${where}: there is no MCP endpoint at this path`
          : `HTTP 405 from POST ${where}: this URL does not take POST, so it is not a Streamable HTTP MCP endpoint`,
        evidence,
        `Check the URL's path (MCP endpoints are often …/mcp, legacy SSE ones …/sse): patchbay get ${context.name}`,
      ),
    };
  }
  if (status >= 500)
    return {
      proceed: false,
      finding: failed(
        'http',
        `HTTP ${status} from POST ${where}: the server failed to handle the request`,
        evidence,
        "A problem on the server's side: check its logs or status page, then run patchbay doctor again",
      ),
    };
  if (status === 429)
    return {
      proceed: false,
      finding: failed(
        'http',
        `HTTP 429 from POST ${where}: rate limited`,
        evidence,
        'Wait a while, then run patchbay doctor again',
      ),
    };
  if (status < 200 || status >= 300)
    return {
      proceed: false,
      finding: failed(
        'http',
        `HTTP ${status} from POST ${where}: not an answer an MCP endpoint gives to initialize`,
        evidence,
        `Check the URL: patchbay get ${context.name}`,
      ),
    };
  return judgeMcpBody(context, response, evidence);
}

async function judgeMcpBody(context: LayerContext, response: Response, evidence: Evidence): Promise<Answer> {
  const where = displayUrl(context.entry.url!);
  const essence = mediaType(response.headers.get('content-type'));
  const wrongContent = (summary: string): Answer => ({
    proceed: false,
    finding: failed(
      'http',
      summary,
      evidence,
      `Check the URL: it must be the server's MCP endpoint (often …/mcp), not a web page or API: patchbay get ${context.name}`,
    ),
  });
  if (essence === 'text/html')
    return wrongContent(
      `HTTP ${response.status} with an HTML page from ${where}, not MCP (a web page or a login wall?)`,
    );
  if (essence !== 'application/json' && essence !== 'text/event-stream')
    return wrongContent(
      essence
        ? `HTTP ${response.status} with ${clean(essence, 60)} from ${where}, not MCP (expected application/json or text/event-stream)`
        : `HTTP ${response.status} without a content type from ${where}, not MCP (expected application/json or text/event-stream)`,
    );
  const text =
    essence === 'application/json'
      ? await readText(response, context)
      : await readSseEvent(response, context, (event) => event.data !== '');
  const message = typeof text === 'string' ? parseJson(text) : parseJson(text?.data ?? '');
  const result = isObject(message) && isObject(message.result) ? message.result : undefined;
  if (!result) {
    if (isObject(message) && isObject(message.error)) {
      evidence.jsonRpcError = typeof message.error.code === 'number' ? message.error.code : null;
      return {
        proceed: true,
        finding: warned(
          'http',
          `HTTP ${response.status} ${essence}, but initialize was answered with an error (${errorText(message.error)})`,
          evidence,
        ),
      };
    }
    return wrongContent(
      `HTTP ${response.status} ${essence} from ${where}, but not a JSON-RPC answer to initialize`,
    );
  }
  const protocolVersion =
    typeof result.protocolVersion === 'string' ? clean(result.protocolVersion, 40) : null;
  evidence.protocolVersion = protocolVersion;
  return {
    proceed: true,
    finding: passed(
      'http',
      `HTTP ${response.status} ${essence}: initialize answered${protocolVersion ? ` (protocol ${protocolVersion})` : ''}${evidence.sessionId ? ', session opened' : ''}`,
      evidence,
    ),
  };
}

/** GET with `Accept: text/event-stream`: does this URL open a legacy SSE stream? */
async function looksLikeSseEndpoint(
  context: LayerContext,
  http: HttpClient,
  url: URL,
  headers: Record<string, string>,
): Promise<boolean> {
  try {
    const response = await http.fetch(url, {
      method: 'GET',
      redirect: 'manual',
      signal: context.deadline.signal,
      headers: { ...headers, Accept: 'text/event-stream' },
    });
    await response.body?.cancel().catch(() => undefined);
    return response.ok && mediaType(response.headers.get('content-type')) === 'text/event-stream';
  } catch {
    return false;
  }
}

async function endSession(
  context: LayerContext,
  http: HttpClient,
  url: URL,
  headers: Record<string, string>,
  sessionId: string,
): Promise<boolean> {
  const signal = AbortSignal.any([context.deadline.signal, AbortSignal.timeout(SESSION_END_MS)]);
  try {
    const response = await http.fetch(url, {
      method: 'DELETE',
      redirect: 'manual',
      signal,
      headers: { ...headers, 'Mcp-Session-Id': sessionId },
    });
    await response.body?.cancel().catch(() => undefined);
    // 405: the server does not let clients end sessions; nothing more to do.
    return response.ok || response.status === 405;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Legacy SSE: GET the stream, wait for the `endpoint` event

async function checkSseEndpoint(
  context: LayerContext,
  http: HttpClient,
  url: URL,
  prepared: PreparedHeaders,
): Promise<Answer> {
  const response = await http.fetch(url, {
    method: 'GET',
    redirect: 'manual',
    signal: context.deadline.signal,
    headers: { ...prepared.headers, Accept: 'text/event-stream' },
  });
  const evidence = answerEvidence(prepared, 'GET', response);
  const where = displayUrl(url);
  try {
    const redirect = redirectOf(response, url, evidence);
    if (redirect) return redirect(context);
    if (response.status === 401 || response.status === 403)
      return {
        challenge: response,
        proceed: false,
        finding: passed(
          'http',
          `HTTP ${response.status} from GET ${where}: the server wants authorization (see auth)`,
          evidence,
        ),
      };
    const essence = mediaType(response.headers.get('content-type'));
    if (response.ok && essence === 'text/event-stream') {
      const event = await readSseEvent(response, context, (candidate) => candidate.event === 'endpoint');
      if (!event)
        return {
          proceed: false,
          finding: failed(
            'http',
            `HTTP 200 event stream from ${where}, but no endpoint event (the first thing a legacy SSE server sends)`,
            evidence,
            `Check the URL: patchbay get ${context.name}`,
          ),
        };
      let endpoint: string;
      try {
        endpoint = displayUrl(new URL(event.data.trim(), url));
      } catch {
        endpoint = 'unparsable';
      }
      evidence.endpoint = endpoint;
      return {
        proceed: true,
        finding: passed(
          'http',
          `HTTP 200 text/event-stream: the stream names ${endpoint} for messages`,
          evidence,
        ),
      };
    }
    // Perhaps the URL is a Streamable HTTP endpoint that the entry calls sse.
    if (await answersInitialize(context, http, url, prepared.headers))
      return {
        proceed: false,
        finding: failed(
          'http',
          `GET ${where} answered HTTP ${response.status}${essence ? ` ${essence}` : ''}, but POST speaks Streamable HTTP: the entry's type should be http`,
          evidence,
          addCommand(context.name, context.scope, context.template, { transport: 'http' }),
        ),
      };
    if (response.status >= 500)
      return {
        proceed: false,
        finding: failed(
          'http',
          `HTTP ${response.status} from GET ${where}: the server failed to handle the request`,
          evidence,
          "A problem on the server's side: check its logs or status page, then run patchbay doctor again",
        ),
      };
    if (response.ok && essence === 'text/html')
      return {
        proceed: false,
        finding: failed(
          'http',
          `HTTP 200 with an HTML page from ${where}, not an event stream (a web page or a login wall?)`,
          evidence,
          `Check the URL: it must be the server's SSE endpoint (often …/sse): patchbay get ${context.name}`,
        ),
      };
    return {
      proceed: false,
      finding: failed(
        'http',
        response.ok
          ? `HTTP ${response.status} with ${essence ? clean(essence, 60) : 'no content type'} from ${where}, not an event stream`
          : `HTTP ${response.status} from GET ${where}: no SSE endpoint at this path`,
        evidence,
        `Check the URL (legacy SSE endpoints are often …/sse): patchbay get ${context.name}`,
      ),
    };
  } finally {
    // Closing the stream ends the legacy session on the server.
    await response.body?.cancel().catch(() => undefined);
  }
}

async function answersInitialize(
  context: LayerContext,
  http: HttpClient,
  url: URL,
  headers: Record<string, string>,
): Promise<boolean> {
  try {
    const response = await postInitialize(http, url, headers, context.deadline.signal);
    const sessionId = response.headers.get('mcp-session-id');
    await response.body?.cancel().catch(() => undefined);
    if (sessionId !== null && response.ok) await endSession(context, http, url, headers, sessionId);
    const essence = mediaType(response.headers.get('content-type'));
    return response.ok && (essence === 'application/json' || essence === 'text/event-stream');
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Shared judgements

function redirectOf(
  response: Response,
  url: URL,
  evidence: Evidence,
): ((context: LayerContext) => Answer) | undefined {
  const { status } = response;
  if (status < 300 || status >= 400 || status === 304) return undefined;
  const location = response.headers.get('location');
  let target: URL | undefined;
  try {
    target = location === null ? undefined : new URL(location, url);
  } catch {
    target = undefined;
  }
  evidence.location = target ? displayUrl(target) : location === null ? null : 'unparsable';
  return (context) => {
    const where = target ? displayUrl(target) : 'nowhere usable';
    const usable = target && (target.protocol === 'https:' || target.protocol === 'http:');
    return {
      proceed: false,
      finding: failed(
        'http',
        `HTTP ${status}: the server redirects ${displayUrl(url)} to ${where}`,
        evidence,
        usable
          ? `If the new address is right, use it: ${addCommand(context.name, context.scope, context.template, { url: displayUrl(target!) })}`
          : `Check the URL: patchbay get ${context.name}`,
      ),
    };
  };
}

function networkFailure(error: unknown, url: URL, context: LayerContext, evidence: Evidence): Finding {
  if (isDeadline(error) || context.deadline.expired())
    return failed(
      'http',
      `no HTTP answer from ${displayUrl(url)} within ${formatDuration(context.deadline.budgetMs)}`,
      evidence,
      `The server accepted the connection but did not answer: check that it is healthy, or give it longer: patchbay doctor ${context.name} --timeout 30`,
    );
  const code = errorCode(error);
  const reason =
    code === 'ECONNRESET' || code === 'UND_ERR_SOCKET'
      ? 'the server closed the connection without answering'
      : code === 'ECONNREFUSED'
        ? 'connection refused'
        : clean(code ?? (error instanceof Error ? error.message : String(error)), 120);
  return failed(
    'http',
    `the request to ${displayUrl(url)} failed: ${reason}`,
    { ...evidence, code: code ?? null },
    `Check that the server is healthy and the URL is right: patchbay get ${context.name}`,
  );
}
