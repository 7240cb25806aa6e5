/**
 * Pins in a shared state store, for a team gateway's replicas (`serve --state redis://…`) and
 * `patchbay review --state`: one record per server in the namespace `pins`, keyed by the server's
 * pin key, holding what pins.json holds under `servers.<key>` (`{ "tools": { … } }`). The pin
 * logic (pins.ts) is the same for both: a tool pinned on one replica is the pin on all, and a
 * change reviewed once is reviewed everywhere.
 *
 * Writes are decided again under the store's lease `pins`, as the file's are under its lock: of
 * two replicas that see one new tool at once, the second finds it pinned by the first. Reads take
 * no lease. A record that cannot be understood is an error, never a reason to pin afresh.
 */

import { PatchbayError } from '../errors.js';
import { createObject, getOwn, isObject, setOwn, toJsonValue, type JsonObject } from '../core/json-source.js';
import { withLease } from '../state/leases.js';
import type { StateStore } from '../state/store.js';
import { checkServerPins, PinsDocument, type PinDecision, type PinStorage } from './pin-store.js';

export const PINS_NAMESPACE = 'pins';

/** A writer that vanished holds other writers back at most this long (renewed while it writes). */
const PINS_LEASE_MS = 10_000;
const DEFAULT_WAIT_MS = 15_000;

export function storePins(
  state: Pick<StateStore, 'records' | 'leases' | 'bus' | 'description'>,
  options: { waitMs?: number } = {},
): PinStorage {
  const records = state.records<unknown>(PINS_NAMESPACE);

  const read = async (keys?: readonly string[]): Promise<PinsDocument> => {
    const found: Array<[string, unknown]> =
      keys === undefined
        ? await records.entries()
        : await Promise.all(
            keys.map(async (key): Promise<[string, unknown]> => [key, await records.get(key)]),
          );
    const servers = createObject();
    for (const [key, value] of found) {
      if (value === undefined) continue;
      // Prototype-less, as the file's parser gives it: a tool may be called `__proto__`.
      const server = toJsonValue(value);
      checkServerPins(server, [key], (got, path, what, ok) => {
        if (!ok) throw corrupt(state.description, path, what, got === undefined ? 'nothing' : typeof got);
      });
      setOwn(servers, key, server);
    }
    const root = createObject();
    setOwn(root, 'servers', servers);
    return new PinsDocument(root);
  };

  return {
    read,
    async update<T>(keys: readonly string[], decide: PinDecision<T>): Promise<T> {
      // Nothing to write (the usual listing): one read, no lease.
      const snapshot = decide(await read(keys));
      if (!snapshot.dirty) return snapshot.result;
      return withLease(
        state,
        PINS_NAMESPACE,
        { leaseMs: PINS_LEASE_MS, waitMs: options.waitMs ?? DEFAULT_WAIT_MS },
        async () => {
          const document = await read(keys);
          const before = new Map(
            Object.entries(serversOf(document)).map(([key, server]) => [key, JSON.stringify(server)]),
          );
          const decided = decide(document);
          if (decided.dirty)
            for (const [key, server] of Object.entries(serversOf(document)))
              if (JSON.stringify(server) !== before.get(key)) await records.put(key, server);
          return decided.result;
        },
      );
    },
  };
}

function serversOf(document: PinsDocument): JsonObject {
  const servers = getOwn(document.root, 'servers');
  return isObject(servers) ? servers : createObject();
}

function corrupt(where: string, path: string[], what: string, found: string): PatchbayError {
  return new PatchbayError(
    'config-parse',
    `The pins of ${path[0]} in ${where} (${path
      .slice(1)
      .map((part) => JSON.stringify(part))
      .join(' → ')}): expected ${what}, found ${found}.\n` +
      'The pinned tool definitions cannot be read, and patchbay will not re-pin them from nothing.',
    {
      hint: `Fix or delete the record ${PINS_NAMESPACE}:${path[0]} in the store; its tools are then pinned afresh the next time they are allowed.`,
    },
  );
}
