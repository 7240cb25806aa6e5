/**
 * A 2026-07-28 host's request on the wire itself, for tests of what the SDK's client cannot send
 * or read (it has no runtime for the tasks extension: no `resultType: "task"`). Each request
 * carries its per-request envelope in `_meta` and the SEP-2243 routing headers, as the SDK's
 * client sends them; the answer is read from the JSON body or from the SSE stream's response.
 */

/** A JSON object from the wire, read freely by the assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped JSON, checked by the expectations
export type Wire = Record<string, any>;

/** Where the request goes: a gateway's MCP endpoint and the bearer it takes. */
export interface WireTarget {
  url: string;
  bearer: string;
}

/** Send one request; its result, or a thrown Error carrying the JSON-RPC error's code and data. */
export async function modernRequest(
  target: WireTarget,
  request: { id: number; method: string; params: Record<string, unknown>; meta: Record<string, unknown> },
): Promise<Wire> {
  const { id, method, params, meta } = request;
  const name =
    typeof params.name === 'string'
      ? params.name
      : typeof params.taskId === 'string'
        ? params.taskId
        : undefined;
  const response = await fetch(target.url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${target.bearer}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': method,
      ...(name !== undefined ? { 'mcp-name': name } : {}),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: meta } }),
  });
  const text = await response.text();
  const body = (response.headers.get('content-type') ?? '').includes('text/event-stream')
    ? text
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => JSON.parse(line.slice(5)) as Wire)
        .find((message) => 'result' in message || 'error' in message)
    : (JSON.parse(text) as Wire);
  if (!body) throw new Error(`no answer to ${method}: HTTP ${response.status} ${text}`);
  if (body.error) throw Object.assign(new Error(body.error.message), body.error);
  return body.result as Wire;
}
