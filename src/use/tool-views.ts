/**
 * A server's tools with the permission in force for each: the decision, the rule (or default,
 * group, annotations) that made it and where that was written, its group, the rules written for
 * it by name, whether its definition changed since it was pinned, and the limits counting its
 * calls. `patchbay policy` and the console's connector page show these; each picks its fields.
 *
 * Looking is not allowing: the tools are compared with their pins and a changed definition is
 * recorded for `patchbay review`, but nothing is pinned.
 *
 * Also here: a server's tools listed with read-only credentials (`listServerTools`), for a look
 * that must request no token.
 */

import type { Paths } from '../core/paths.js';
import type { Decision, PolicyScope, PolicySource, ToolGroup } from '../config/policy-files.js';
import type { StaticState } from '../config/status.js';
import { ConnectError } from '../connect/connect-error.js';
import { limitsApplying, type LimitState } from '../policy/limit-usage.js';
import { checkTools, type ListedTool, type PinStorage, type ToolPinResult } from '../policy/pins.js';
import { toolGroup, toolVerdict, type DecisionSource } from '../policy/rules.js';

export interface ToolPermissionView<L = LimitState> {
  tool: ListedTool;
  name: string;
  annotations: Record<string, unknown> | null;
  decision: Decision;
  because: string;
  source: {
    kind: DecisionSource['kind'];
    scope: PolicyScope | null;
    path: string | null;
    pattern: string | null;
    group: ToolGroup | null;
  };
  group: ToolGroup;
  /** The rules written for this tool by its exact name, per scope. */
  ownRules: Array<{ scope: PolicyScope; decision: Decision }>;
  /** Its definition differs from its pin (in any of its listings). */
  changed: boolean;
  /** When that change was first seen; null when not changed. */
  changedAt: string | null;
  /** A pin exists. */
  pinned: boolean;
  limits: L[];
}

/** One view per tool name (a name listed twice: its first listing). */
export async function toolPermissionViews<L extends { pattern: string; limit: string }>(
  server: string,
  pinKey: string,
  tools: ListedTool[],
  sources: PolicySource[],
  limits: L[],
  paths: Paths,
  /** Where the pins are when not in `paths`' file (a team gateway's store). */
  storage?: PinStorage,
): Promise<Array<ToolPermissionView<L>>> {
  // Compared with the pins without pinning anything (pinNew: never); a tool that differs from its
  // pin is recorded as changed, the pin itself kept, so that `patchbay review` can show it.
  const pins = new Map<string, ToolPinResult>();
  const changed = new Map<string, ToolPinResult>();
  for (const result of await checkTools(pinKey, tools, {
    paths,
    pinNew: () => false,
    ...(storage ? { storage } : {}),
  })) {
    if (!pins.has(result.name)) pins.set(result.name, result);
    if (result.status === 'changed' && !changed.has(result.name)) changed.set(result.name, result);
  }
  const seen = new Set<string>();
  const views: Array<ToolPermissionView<L>> = [];
  for (const tool of tools) {
    if (seen.has(tool.name)) continue;
    seen.add(tool.name);
    const annotations =
      tool.annotations && typeof tool.annotations === 'object'
        ? (tool.annotations as Record<string, unknown>)
        : null;
    const facts = { name: tool.name, ...(annotations ? { annotations } : {}) };
    const change = changed.get(tool.name);
    const pin = pins.get(tool.name);
    const verdict = toolVerdict(server, facts, sources, { definitionChanged: change !== undefined });
    const source = verdict.source;
    views.push({
      tool,
      name: tool.name,
      annotations,
      decision: verdict.decision,
      because: verdict.because,
      source: {
        kind: source.kind,
        scope: 'scope' in source ? source.scope : null,
        path: 'path' in source ? source.path : null,
        pattern: 'pattern' in source ? source.pattern : null,
        group: 'group' in source ? source.group : null,
      },
      group: toolGroup(facts),
      ownRules: sources.flatMap((policy) => {
        const own = policy.doc.servers?.[server]?.tools;
        const decision = own?.[tool.name];
        return decision && Object.hasOwn(own, tool.name) ? [{ scope: policy.scope, decision }] : [];
      }),
      changed: change !== undefined,
      changedAt: change?.changedAt ?? null,
      pinned: pin !== undefined && pin.status !== 'new',
      // The same limit written in two scopes counts once: show it once.
      limits: limitsApplying(tool.name, limits),
    });
  }
  return views;
}

/** What a look at a server's tools gave: its tools, or why there are none. */
export type ToolListing =
  | { ok: true; tools: ListedTool[] }
  | { ok: false; status: 'failed' | 'needs-auth'; reason: string; hint: string | null };

/** A server's tools, with read-only credentials: looking at a server's tools requests no token. */
export async function listServerTools(
  name: string,
  entry: NonNullable<StaticState['resolved']>,
  options: { timeoutMs: number; cwd: string; env: NodeJS.ProcessEnv; paths: Paths; signal?: AbortSignal },
): Promise<ToolListing> {
  const failed = (error: unknown): ToolListing =>
    error instanceof ConnectError
      ? {
          ok: false,
          status: error.status,
          reason: error.reason,
          hint: error.hint ?? (error.status === 'needs-auth' ? `patchbay login ${name}` : null),
        }
      : {
          ok: false,
          status: 'failed',
          reason: error instanceof Error ? error.message : String(error),
          hint: `patchbay doctor ${name} checks it layer by layer.`,
        };
  // The SDK only now, and only when something is to be contacted.
  const { connect } = await import('../connect/session.js');
  let session: Awaited<ReturnType<typeof connect>>;
  try {
    session = await connect(entry, {
      name,
      timeoutMs: options.timeoutMs,
      credentials: 'read-only',
      cwd: options.cwd,
      env: options.env,
      paths: options.paths,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    return failed(error);
  }
  try {
    if (!session.client.getServerCapabilities()?.tools) return { ok: true, tools: [] };
    // Without a cursor the SDK follows every page.
    const { tools } = await session.request((client) =>
      client.listTools(undefined, session.requestOptions()),
    );
    return { ok: true, tools: tools as ListedTool[] };
  } catch (error) {
    await session.settle();
    return failed(session.explain(error, options.timeoutMs));
  } finally {
    await session.close();
  }
}
