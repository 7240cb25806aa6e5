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
 * server a directory and is given only when asked for (`--roots`), and tasks, which patchbay
 * does not run as a client.
 */

import type { Client } from '@modelcontextprotocol/client';

export const CLIENT_CAPABILITIES = {
  elicitation: { form: {}, url: {} },
  sampling: {},
} as const;

/** Declining answers for what CLIENT_CAPABILITIES declares; a front end replaces them with its own. */
export function declineServerRequests(client: Client): void {
  client.setRequestHandler('elicitation/create', async () => ({ action: 'decline' as const }));
  client.setRequestHandler('sampling/createMessage', async () => {
    throw new Error('patchbay runs no language model here; the sampling request was declined');
  });
}
