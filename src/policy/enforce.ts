/**
 * Policy at the moment of use, the same for the gateway and `patchbay call`:
 *
 * - `screen` a server's listing: each tool's verdict; a tool allowed for the first time is pinned,
 *   and one whose definition changed since it was pinned is remembered as changed (moved to ask).
 * - `verdict` of one tool when it is called, from the same rules and what `screen` saw.
 * - `consumeLimits`: count the call against every limit that applies, or say which one refuses it.
 * - The approval question (`approvalQuestion`, `approvalAnswer`) a host's person answers for a tool
 *   set to ask, with the arguments summarised and secrets masked.
 */

import type { PolicySource } from '../config/policy-files.js';
import type { Paths } from '../core/paths.js';
import type { SharedLog } from '../state/store.js';
import { maskJsonSecrets } from './audit.js';
import {
  fileLimitCounter,
  parseLimit,
  type LimitCounter,
  type LimitRefusal,
  type LimitRule,
  type LimitUnavailable,
} from './limits.js';
import { checkServers, checkTools, type ListedTool, type PinStorage } from './pins.js';
import { limitsFor, serverHidden, toolVerdict, type Member, type ToolVerdict } from './rules.js';

export interface ToolPolicyOptions {
  /** Where usage counts and pins are. */
  paths: Paths;
  sources: PolicySource[];
  /** A problem that must not stop the call (a usage file set aside, a pins file unreadable). */
  onWarning?: (message: string) => void;
  /** Where limits are counted; default: the usage file of `paths` (a gateway with --state redis:// counts in Redis). */
  limits?: LimitCounter;
  /** A long-lived process (a gateway): keep the usage file's lock across bursts of calls (limits.ts). */
  holdLimitLock?: boolean;
  /** Where pins are kept; default: the pins file of `paths` (a gateway with --state redis:// keeps them in Redis). */
  pins?: PinStorage;
  /** Where calls are recorded; default: the audit file of `paths` (--state redis://: the audit stream). */
  audit?: Pick<SharedLog, 'write'>;
}

export class ToolPolicy {
  private sources: PolicySource[];
  /** Tools seen changed since pinned, per server key. */
  private readonly changed = new Map<string, Set<string>>();
  private readonly limits: LimitCounter;
  /**
   * What the rules say of one tool for one caller, worked out once: a gateway decides every call
   * of every member with them. Forgotten whenever what they are made of changes (the policy files,
   * a screen's changed definitions); a changed listing brings a new annotations object.
   */
  private readonly decided = new Map<string, Decided>();

  constructor(private readonly options: ToolPolicyOptions) {
    this.sources = options.sources;
    this.limits =
      options.limits ??
      fileLimitCounter({
        paths: options.paths,
        ...(options.onWarning ? { onWarning: options.onWarning } : {}),
        ...(options.holdLimitLock ? { holdLock: true } : {}),
      });
  }

  /** Give back what the limit counter holds (a kept lock): the gateway stops serving. */
  async close(): Promise<void> {
    await this.limits.close?.();
  }

  /** Where this policy counts, pins and records (the audit log is among them). */
  get paths(): Paths {
    return this.options.paths;
  }

  /** The audit stream the calls are recorded in, when not the file of `paths` (audit.ts `sink`). */
  get auditSink(): Pick<SharedLog, 'write'> | undefined {
    return this.options.audit;
  }

  /** The policy files changed (a `permit` in another terminal, an edited .patchbay.json). */
  update(sources: PolicySource[]): void {
    this.sources = sources;
    this.decided.clear();
  }

  /**
   * Verdicts for a listing. Tools allowed (by rules, defaults or annotations) are pinned the
   * first time; a tool whose definition differs from its pin is marked changed.
   */
  async screen(server: string, key: string, tools: ListedTool[]): Promise<Map<string, ToolVerdict>> {
    const [verdicts] = await this.screenAll([{ server, key, tools }]);
    return verdicts!;
  }

  /** `screen` for several servers at once: one pass over the pin store for all of them. */
  async screenAll(
    listings: ReadonlyArray<{ server: string; key: string; tools: ListedTool[] }>,
    member?: Member,
  ): Promise<Array<Map<string, ToolVerdict>>> {
    const plain = listings.map(
      ({ server, tools }) =>
        new Map(tools.map((tool) => [tool.name, toolVerdict(server, facts(tool), this.sources, { member })])),
    );
    const checked = await checkServers(
      listings.map(({ key, tools }, index) => ({
        key,
        tools,
        pinNew: (name: string) => plain[index]!.get(name)?.decision === 'allow',
      })),
      this.pinStore(),
    );
    return listings.map(({ server, key, tools }, index) => {
      const changed = new Set(
        checked[index]!.filter((result) => result.status === 'changed').map((result) => result.name),
      );
      this.changed.set(key, changed);
      this.decided.clear();
      return new Map(
        tools.map((tool) => [
          tool.name,
          changed.has(tool.name)
            ? toolVerdict(server, facts(tool), this.sources, { definitionChanged: true, member })
            : plain[index]!.get(tool.name)!,
        ]),
      );
    });
  }

  /**
   * The verdict for a call, with what the last `screen` of this server saw of the definition. A
   * server hidden from the member denies every tool (as a denied tool, it was never listed).
   */
  verdict(server: string, key: string, tool: ListedTool, member?: Member): ToolVerdict {
    const decided = this.decidedFor(server, tool.name, member);
    const known = decided.verdict;
    // The same pin key and listing (annotations) as when it was worked out.
    if (known && known.key === key && known.annotations === tool.annotations) return known.verdict;
    const verdict = this.freshVerdict(server, key, tool, member);
    decided.verdict = { key, annotations: tool.annotations, verdict };
    return verdict;
  }

  private freshVerdict(server: string, key: string, tool: ListedTool, member?: Member): ToolVerdict {
    const definitionChanged = this.changed.get(key)?.has(tool.name) ?? false;
    const verdict = toolVerdict(server, facts(tool), this.sources, { definitionChanged, member });
    if (verdict.decision !== 'deny' && this.hidden(server, member))
      return {
        ...verdict,
        decision: 'deny',
        because: `${server} is not available to ${memberText(member)}`,
      };
    return verdict;
  }

  /** The server is hidden from this member: nothing of it is listed or served to them. */
  hidden(server: string, member: Member | undefined): boolean {
    return serverHidden(server, this.sources, member);
  }

  /** A tool the person just allowed is pinned as it is now. */
  async pin(key: string, tool: ListedTool): Promise<void> {
    await checkTools(key, [tool], { ...this.pinStore(), pinNew: () => true });
  }

  private pinStore() {
    return { paths: this.options.paths, ...(this.options.pins ? { storage: this.options.pins } : {}) };
  }

  /**
   * Count one call of `tool` against each limit that applies; the refusal if one is reached, or
   * if the counts cannot be reached (fail closed).
   */
  async consumeLimits(
    server: string,
    tool: string,
    member?: Member,
  ): Promise<LimitRefusal | LimitUnavailable | undefined> {
    const decided = this.decidedFor(server, tool, member);
    decided.limits ??= this.limitRules(server, tool, member);
    const rules = decided.limits;
    if (rules.length === 0) return undefined;
    const [result] = await this.limits.consume([{ rules }]);
    return result!.ok ? undefined : result;
  }

  /** The memo of one tool for one caller (`decided`). */
  private decidedFor(server: string, tool: string, member: Member | undefined): Decided {
    const id = `${server}\u0000${tool}\u0000${memberKey(member)}`;
    let decided = this.decided.get(id);
    if (!decided) {
      // Bounded by tools × members; a team of thousands starts over now and then, no more.
      if (this.decided.size >= MAX_DECIDED) this.decided.clear();
      decided = {};
      this.decided.set(id, decided);
    }
    return decided;
  }

  private limitRules(server: string, tool: string, member?: Member): LimitRule[] {
    return limitsFor(server, tool, this.sources, member).map((applied) => ({
      key: applied.key,
      limit: parseLimit(applied.text),
      label:
        (applied.pattern === '*' ? server : `${server} ${applied.pattern}`) +
        (applied.audience ? ` for ${applied.audience}` : '') +
        (applied.perMember ? ` per member (${applied.perMember})` : ''),
      server,
      ...(applied.pattern === '*' ? {} : { tool: applied.pattern }),
      ...(applied.perMember || applied.audience
        ? {
            hint: `Wait until then, or raise the limit: patchbay limit ${server}${
              applied.pattern === '*' ? '' : ` '${applied.pattern}'`
            }${applied.perMember ? ' --per-member' : ''} <N>/${parseLimit(applied.text).unit}${
              applied.audience ? ` (the rule for ${applied.audience})` : ''
            }`,
          }
        : {}),
    }));
  }
}

interface Decided {
  /** With the pin key and the annotations (the tool's listing) it was worked out from. */
  verdict?: { key: string; annotations: unknown; verdict: ToolVerdict };
  limits?: LimitRule[];
}

const MAX_DECIDED = 10_000;

/** Everything of a member that rules read: who they are and their groups. */
function memberKey(member: Member | undefined): string {
  if (!member) return '';
  return JSON.stringify([member.subject ?? null, member.email ?? null, member.groups ?? null]);
}

function memberText(member: Member | undefined): string {
  return member?.email ?? member?.subject ?? 'this caller';
}

function facts(tool: ListedTool) {
  return {
    name: tool.name,
    ...(tool.annotations && typeof tool.annotations === 'object'
      ? { annotations: tool.annotations as Record<string, unknown> }
      : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Asking the person

export type Approval = 'once' | 'always' | 'deny';

/** The form a host shows for a tool set to ask: allow once, always, or deny. */
export function approvalQuestion(server: string, tool: string, args: unknown, verdict: ToolVerdict) {
  return {
    mode: 'form' as const,
    message: `Allow ${server}'s tool ${tool}? (${verdict.because})\nArguments: ${summarizeArguments(args)}`,
    requestedSchema: {
      type: 'object' as const,
      properties: {
        decision: {
          type: 'string' as const,
          title: 'Decision',
          oneOf: [
            { const: 'once', title: 'Allow once' },
            { const: 'always', title: 'Always allow (patchbay permit … allow)' },
            { const: 'deny', title: 'Deny' },
          ],
        },
      },
      required: ['decision'],
    },
  };
}

/** What the host's answer means; anything but a clear allow is a denial. */
export function approvalAnswer(result: unknown): Approval {
  const answer = result as { action?: string; content?: { decision?: unknown } } | undefined;
  if (answer?.action !== 'accept') return 'deny';
  const decision = answer.content?.decision;
  return decision === 'once' || decision === 'always' ? decision : 'deny';
}

/** The arguments as one line of JSON, secrets masked, cut at `max` characters. */
export function summarizeArguments(args: unknown, max = 400): string {
  if (args === undefined || (typeof args === 'object' && args !== null && Object.keys(args).length === 0))
    return '(none)';
  const text = JSON.stringify(maskJsonSecrets(args)) ?? String(args);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
