/**
 * Protocol revision 2026-07-28 adds `resultType` to every result. Servers of that revision MUST
 * send it, and clients MUST treat a result without it as `complete` (the schema says so, for
 * backward compatibility, and the conformance suite checks it: sep-2322). The SDK (2.4) instead
 * refuses such a result as malformed, which breaks patchbay on servers that leave it out — the C#
 * SDK's among them. This fetch wrapper restores the rule before the SDK reads the answer: on a
 * request sent as 2026-07-28 or later, a JSON-RPC result without `resultType` gets `complete`, in
 * a JSON body and in each event of an SSE stream. Nothing else is changed, and a message that is
 * not JSON passes as it came.
 *
 * The same revision's tasks extension (io.modelcontextprotocol/tasks, SEP-2663) lets a server
 * answer `tools/call` with `resultType: "task"` and a task handle, which the SDK refuses as an
 * unsupported result type before its caller sees the body. A server sends one only to a request
 * that declared the extension, which patchbay does only when it runs a tool as a task
 * (use/tasks.ts). Here such a result becomes a JSON-RPC error carrying the whole handle under
 * TASK_HANDLE_KEY, which the SDK passes on intact (ProtocolError.data): use/tasks.ts takes the
 * handle from it, and any other caller that somehow received one gets a clear error rather than
 * an empty result. (Patchbay speaks 2026-07-28 only over Streamable HTTP, so this is the one seam.)
 */

import type { FetchLike } from './network.js';

const FIRST_REVISION_WITH_RESULT_TYPE = '2026-07-28';

/** Where the rewritten error's `data` carries a `resultType: "task"` result (patchbay's own key). */
export const TASK_HANDLE_KEY = 'dev.patchbay/taskHandle';
/** The rewritten error's code (JSON-RPC's implementation-defined range; never sent on). */
export const TASK_HANDLE_CODE = -32099;

export function completingResults(fetch: FetchLike): FetchLike {
  return async (url, init) => {
    const response = await fetch(url, init);
    const version = new Headers(init?.headers).get('mcp-protocol-version');
    // Revisions are dates, so they compare as strings.
    if (!version || version < FIRST_REVISION_WITH_RESULT_TYPE || !response.ok || !response.body)
      return response;
    const type = (response.headers.get('content-type') ?? '').split(';', 1)[0]!.trim().toLowerCase();
    if (type === 'application/json') {
      const text = await response.text();
      return rebuilt(response, completeJson(text) ?? text);
    }
    if (type === 'text/event-stream') {
      const body = response.body
        .pipeThrough(new TextDecoderStream())
        .pipeThrough(completingEvents())
        .pipeThrough(new TextEncoderStream());
      return rebuilt(response, body);
    }
    return response;
  };
}

function rebuilt(response: Response, body: ConstructorParameters<typeof Response>[0]): Response {
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/**
 * The JSON text with `resultType: 'complete'` added where a result lacks it, and a task handle
 * (`resultType: 'task'`) made into the error that carries it; undefined if unchanged.
 */
export function completeJson(text: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const messages = Array.isArray(parsed) ? parsed : [parsed];
  let changed = false;
  for (const message of messages) {
    if (typeof message !== 'object' || message === null) continue;
    const result = (message as { result?: unknown }).result;
    if (typeof result !== 'object' || result === null || Array.isArray(result)) continue;
    const { resultType } = result as { resultType?: unknown };
    if (resultType === 'task') {
      const carrier = message as Record<string, unknown>;
      delete carrier.result;
      carrier.error = {
        code: TASK_HANDLE_CODE,
        message:
          'The server answered with a task (io.modelcontextprotocol/tasks), which this request did not run as one',
        data: { [TASK_HANDLE_KEY]: result },
      };
      changed = true;
      continue;
    }
    if (resultType !== undefined) continue;
    (result as Record<string, unknown>).resultType = 'complete';
    changed = true;
  }
  return changed ? JSON.stringify(parsed) : undefined;
}

/**
 * An SSE stream, event by event: the `data:` lines of an event are held until the blank line that
 * ends it (so nothing is delayed past its event), then passed on — rewritten as one line when the
 * message needed `resultType`, else exactly as they came. Every other line passes at once.
 */
function completingEvents(): TransformStream<string, string> {
  let partial = '';
  let data: string[] = [];
  const flush = (controller: TransformStreamDefaultController<string>) => {
    if (data.length === 0) return;
    const payload = data.map((line) => line.replace(/^data: ?/, '')).join('\n');
    const completed = completeJson(payload);
    controller.enqueue(
      completed === undefined ? data.map((line) => `${line}\n`).join('') : `data: ${completed}\n`,
    );
    data = [];
  };
  return new TransformStream<string, string>({
    transform(chunk, controller) {
      partial += chunk;
      let newline: number;
      while ((newline = partial.indexOf('\n')) !== -1) {
        const line = partial.slice(0, newline).replace(/\r$/, '');
        partial = partial.slice(newline + 1);
        if (line.startsWith('data:')) {
          data.push(line);
          continue;
        }
        if (line === '') flush(controller);
        controller.enqueue(`${line}\n`);
      }
    },
    flush(controller) {
      flush(controller);
      if (partial) controller.enqueue(partial);
    },
  });
}
