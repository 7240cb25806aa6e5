/**
 * Pinned tool definitions: the defence against a "rug pull", where a server the user trusted
 * later changes what a tool tells the model (new instructions in a description, a new parameter,
 * a tool that stops being read-only). The first time a tool is allowed, the parts of it that
 * instruct the model are pinned; a later listing that differs is flagged until the user reviews
 * the change (`patchbay review <name>`) and accepts it.
 *
 * This file is the evaluation: whether each listed tool is as pinned, newly pinned or changed, and
 * what a review accepts. The store is `pin-store.ts`, a tool's pinned view and digest are
 * `pin-view.ts` (their public names are re-exported here), and the reviewer's diff is `pin-diff.ts`
 * (imported from there, so that only `review` loads the diff library).
 *
 * `change` is present only while a tool differs from its pin. The old pin is kept until the user
 * accepts, so a server cannot make its change stick by repeating it. Pins of tools a server no
 * longer lists are kept (a tool that disappears and comes back changed is still a change).
 */

import { readPins, updatePins, type PinsDocument, type PinStoreOptions } from './pin-store.js';
import { pinnedView, viewDigest, type ListedTool, type PinnedView } from './pin-view.js';

export {
  PINNED_FIELDS,
  configuredServerKey,
  pinnedView,
  serverKey,
  serverTarget,
  toolDigest,
  type ListedTool,
  type PinnedField,
  type PinnedView,
} from './pin-view.js';
export type { PinStorage, PinStoreOptions } from './pin-store.js';

export type PinStatus =
  /** Not pinned, and `pinNew` said not to pin it (the tool is not allowed yet). */
  | 'new'
  /** Pinned by this check: the first time it was allowed. */
  | 'pinned'
  /** As pinned. */
  | 'same'
  /** Differs from its pin; the change is recorded and the old pin kept until accepted. */
  | 'changed';

export interface ToolPinResult {
  name: string;
  status: PinStatus;
  /** The digest of the tool as listed now. */
  digest: string;
  /** For 'changed': when this version of the tool was first seen. */
  changedAt?: string;
}

export interface ToolChange {
  name: string;
  pinnedDigest: string;
  pinnedView: PinnedView;
  pinnedAt: string;
  newDigest: string;
  newView: PinnedView;
  changedAt: string;
}

export interface CheckToolsOptions extends PinStoreOptions {
  /** Whether a tool not pinned yet is allowed now, hence pinned. Asked at most once per tool and call. */
  pinNew: (toolName: string) => boolean;
  /** The time recorded for new pins and changes; defaults to the clock. */
  now?: Date;
}

export interface AcceptOptions extends PinStoreOptions {
  now?: Date;
  /**
   * Tool name → the `newDigest` the user was shown. A tool whose change has moved on since (the
   * server changed it again while the user read the diff) is not accepted but reported `stale`,
   * so a review never approves a version nobody saw. Tools not in the map are accepted as they are.
   */
  reviewed?: ReadonlyMap<string, string>;
}

export interface AcceptResult {
  /** Tools re-pinned to their new definitions. */
  accepted: string[];
  /** Tools named that had no change to accept (not pinned, or as pinned). */
  notChanged: string[];
  /** Tools whose recorded change differs from the one reviewed; left flagged. */
  stale: string[];
}

/**
 * Compare each listed tool with its pin, pin the tools not pinned yet that `pinNew` allows, and
 * record changes. The file is written only when something changed, so listing the same tools
 * again costs one read and no lock.
 *
 * A listing that names a tool twice (no honest server does) is judged on its first entry; a
 * later entry that differs from the pin is reported 'changed' but not recorded.
 */
export async function checkTools(
  key: string,
  tools: readonly ListedTool[],
  options: CheckToolsOptions,
): Promise<ToolPinResult[]> {
  const [results] = await checkServers([{ key, tools, pinNew: options.pinNew }], options);
  return results!;
}

/**
 * `checkTools` for several servers at once (a gateway listing every upstream): one read, and at
 * most one locked write for all of them, instead of one per server.
 */
export async function checkServers(
  servers: ReadonlyArray<{
    key: string;
    tools: readonly ListedTool[];
    pinNew: (toolName: string) => boolean;
  }>,
  options: Omit<CheckToolsOptions, 'pinNew'>,
): Promise<ToolPinResult[][]> {
  const changedAt = (options.now ?? new Date()).toISOString();
  const prepared = servers.map(({ key, tools, pinNew }) => {
    const answers = new Map<string, boolean>();
    const allowed = (name: string): boolean => {
      let answer = answers.get(name);
      if (answer === undefined) answers.set(name, (answer = pinNew(name)));
      return answer;
    };
    const listed = tools.map((tool) => {
      const view = pinnedView(tool);
      return { name: tool.name, view, digest: viewDigest(view) };
    });
    return { key, listed, allowed };
  });
  // Decided on a lock-free snapshot first, and again under the lock only when there is something to write.
  return updatePins(
    options,
    (document: PinsDocument) => {
      const decided = prepared.map(({ key, listed, allowed }) =>
        evaluate(document, key, listed, allowed, changedAt),
      );
      return { result: decided.map((one) => one.results), dirty: decided.some((one) => one.dirty) };
    },
    [...new Set(prepared.map(({ key }) => key))],
  );
}

interface ListedView {
  name: string;
  view: PinnedView;
  digest: string;
}

function evaluate(
  document: PinsDocument,
  key: string,
  listed: readonly ListedView[],
  allowed: (name: string) => boolean,
  now: string,
): { results: ToolPinResult[]; dirty: boolean } {
  const results: ToolPinResult[] = [];
  const seen = new Set<string>();
  let dirty = false;
  for (const { name, view, digest } of listed) {
    const pin = document.pin(key, name);
    if (seen.has(name)) {
      const status: PinStatus = !pin ? 'new' : pin.digest === digest ? 'same' : 'changed';
      results.push({ name, status, digest });
      continue;
    }
    seen.add(name);
    if (!pin) {
      if (!allowed(name)) {
        results.push({ name, status: 'new', digest });
        continue;
      }
      document.setPin(key, name, { digest, pinnedAt: now, view });
      dirty = true;
      results.push({ name, status: 'pinned', digest });
    } else if (pin.digest === digest) {
      // Back to what was reviewed: nothing is left to review.
      if (pin.change) {
        document.setPin(key, name, { digest: pin.digest, pinnedAt: pin.pinnedAt, view: pin.view });
        dirty = true;
      }
      results.push({ name, status: 'same', digest });
    } else {
      let since = pin.change?.changedAt;
      if (pin.change?.digest !== digest) {
        since = now;
        document.setPin(key, name, { ...pin, change: { digest, changedAt: now, view } });
        dirty = true;
      }
      results.push({ name, status: 'changed', digest, changedAt: since });
    }
  }
  return { results, dirty };
}

/** The server's tools that differ from their pins, with both definitions. */
export async function changedTools(key: string, options: PinStoreOptions): Promise<ToolChange[]> {
  const document = await readPins(options, [key]);
  const changes: ToolChange[] = [];
  for (const [name, pin] of document.pins(key)) {
    if (!pin.change) continue;
    changes.push({
      name,
      pinnedDigest: pin.digest,
      pinnedView: pin.view,
      pinnedAt: pin.pinnedAt,
      newDigest: pin.change.digest,
      newView: pin.change.view,
      changedAt: pin.change.changedAt,
    });
  }
  return changes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Re-pin changed tools to their new definitions: the review's "accept". */
export async function acceptChanges(
  key: string,
  toolNames: readonly string[] | 'all',
  options: AcceptOptions,
): Promise<AcceptResult> {
  const pinnedAt = (options.now ?? new Date()).toISOString();
  return updatePins(
    options,
    (document: PinsDocument) => {
      const names =
        toolNames === 'all'
          ? [...document.pins(key)].filter(([, pin]) => pin.change).map(([n]) => n)
          : toolNames;
      const result: AcceptResult = { accepted: [], notChanged: [], stale: [] };
      for (const name of new Set(names)) {
        const change = document.pin(key, name)?.change;
        if (!change) {
          result.notChanged.push(name);
          continue;
        }
        const seen = options.reviewed?.get(name);
        if (seen !== undefined && seen !== change.digest) {
          result.stale.push(name);
          continue;
        }
        document.setPin(key, name, { digest: change.digest, pinnedAt, view: change.view });
        result.accepted.push(name);
      }
      return { result, dirty: result.accepted.length > 0 };
    },
    [key],
  );
}
