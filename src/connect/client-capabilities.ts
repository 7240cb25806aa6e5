/**
 * What every patchbay client tells a server it can do, declared in one place for every path —
 * checks (list, get, policy, doctor, the console), use (tools, call, read, prompt) and the
 * gateway — because servers decide what to offer from it: server-everything lists its
 * elicitation and sampling tools only to a client that declares those, so a check that declared
 * less than a call saw 13 tools where the call saw 16, and a policy rule on one of the other
 * three matched nothing in `policy`.
 *
 * Declared: elicitation (form and URL) and sampling. Each front end answers them its own way
 * (a terminal asks, the gateway forwards to its host); the defaults here decline, which is what
 * a check or the console does (neither can ask anyone). Not declared: roots, which shows the
 * server a directory and is given only when asked for (`--roots`).
 *
 * Tasks: a 2025-11-25 server needs no client capability to run a tool as a task (the client asks
 * for one per call, with `params.task`). On 2026-07-28 they are the extension
 * io.modelcontextprotocol/tasks (SEP-2663), and a server that sees it declared decides by itself
 * to answer a task-supporting tool's call with a task. Declared for the whole session, every
 * plain call of such a tool could come back as a task — the gateway's calls to its upstreams
 * included, which relay results, not tasks. So it is declared per request (SEP-2575 lets a
 * request carry its own client capabilities), on the requests of a call patchbay runs as a task
 * and on the tasks/* requests that follow it: tasksExtensionMeta below.
 */

import type { Client } from '@modelcontextprotocol/client';

export const CLIENT_CAPABILITIES = {
  elicitation: { form: {}, url: {} },
  sampling: {},
} as const;

export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';

/** The 2026-07-28 request `_meta` key of the client's capabilities (SEP-2575). */
const CLIENT_CAPABILITIES_META_KEY = 'io.modelcontextprotocol/clientCapabilities';

/**
 * `_meta` for a 2026-07-28 request that declares the tasks extension: the client's own
 * capabilities (what it declared, front ends' additions included) with the extension added. The
 * SDK puts a request's own `_meta` keys over its envelope, so this replaces the session's
 * capabilities for that one request. The SDK keeps what a client declared in a field it does not
 * publish; when it cannot be read, CLIENT_CAPABILITIES is what every patchbay client declares.
 */
export function tasksExtensionMeta(client: Client): Record<string, unknown> {
  const declared = (client as unknown as { _capabilities?: unknown })._capabilities;
  const base = (typeof declared === 'object' && declared !== null ? declared : CLIENT_CAPABILITIES) as {
    extensions?: Record<string, unknown>;
  };
  return {
    [CLIENT_CAPABILITIES_META_KEY]: {
      ...base,
      extensions: { ...base.extensions, [TASKS_EXTENSION]: {} },
    },
  };
}

/** Declining answers for what CLIENT_CAPABILITIES declares; a front end replaces them with its own. */
export function declineServerRequests(client: Client): void {
  client.setRequestHandler('elicitation/create', async () => ({ action: 'decline' as const }));
  client.setRequestHandler('sampling/createMessage', async () => {
    throw new Error('patchbay runs no language model here; the sampling request was declined');
  });
}
