/**
 * The limits the policy files set for a server, each with how much of its current window is used
 * (read, never counted): what `patchbay policy` and the console show.
 */

import type { PolicyScope, PolicySource } from '../config/policy-files.js';
import type { Paths } from '../core/paths.js';
import { parseLimit, usage, type LimitCounter, type LimitRule } from './limits.js';
import { globMatches, limitsFor } from './rules.js';

export interface LimitState {
  /** `*`: every tool of the server together. */
  pattern: string;
  /** As written, e.g. `100/hour`. */
  limit: string;
  scope: PolicyScope;
  path: string;
  used: number | null;
  /** ISO time the current window ends. */
  reopensAt: string | null;
  /** Why the limit cannot be used (enforcement then refuses every call it applies to). */
  problem: string | null;
}

export async function limitStates(
  server: string,
  sources: PolicySource[],
  options: {
    paths: Paths;
    onWarning?: (message: string) => void;
    /** Where the counts are; default: the usage file of `paths` (a team gateway's: its store). */
    counter?: LimitCounter;
  },
): Promise<LimitState[]> {
  const written = sources.flatMap((source) =>
    Object.entries(source.doc.servers?.[server]?.limits ?? {}).map(([pattern, text]) => ({
      source,
      pattern,
      text,
    })),
  );
  const parsed = written.map(({ source, pattern, text }) => {
    try {
      const limit = parseLimit(text);
      // The counter key exactly as enforcement builds it (a pattern names itself).
      const applied = limitsFor(server, pattern, [source]).find((candidate) => candidate.pattern === pattern);
      const rule: LimitRule | undefined = applied && {
        key: applied.key,
        limit,
        label: `${server} ${pattern}`,
      };
      return { rule, problem: null };
    } catch (error) {
      return { rule: undefined, problem: error instanceof Error ? error.message : String(error) };
    }
  });
  const rules = parsed.flatMap(({ rule }) => (rule ? [rule] : []));
  const counts =
    rules.length === 0
      ? []
      : options.counter
        ? await options.counter.usage(rules)
        : await usage(rules, {
            paths: options.paths,
            ...(options.onWarning ? { onWarning: options.onWarning } : {}),
          });
  return written.map(({ source, pattern, text }, index) => {
    const { rule, problem } = parsed[index]!;
    const count = rule && counts.find((candidate) => candidate.rule === rule);
    return {
      pattern,
      limit: text,
      scope: source.scope,
      path: source.path,
      used: count ? count.used : null,
      reopensAt: count ? count.reopensAt.toISOString() : null,
      problem,
    };
  });
}

/** The limits that count a tool's calls; the same limit written in two scopes counts once. */
export function limitsApplying<T extends { pattern: string; limit: string }>(tool: string, limits: T[]): T[] {
  const seen = new Set<string>();
  return limits.filter((limit) => {
    if (limit.pattern !== tool && !globMatches(limit.pattern, tool)) return false;
    const id = `${limit.pattern}\u0000${limit.limit.replace(/\s+/g, '')}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}
