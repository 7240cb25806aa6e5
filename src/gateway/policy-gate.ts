/**
 * The gateway's side of policy (policy/ decides; this applies it to listings and calls):
 *
 * - a listing leaves denied tools out, and marks each tool with its permission in `_meta`, for the
 *   member asking (rules may name members and groups; a server hidden from a member lists nothing);
 * - a call of a denied tool is refused; one set to ask is put to the host's person (elicitation:
 *   allow once, always, or deny), and a host that cannot ask gets a tool error that says how to
 *   allow it; then the limits are counted; then the call goes upstream;
 * - every call, refused or not, is written to the audit log;
 * - resource reads and prompts are not governed by any rule; `relayed` writes them to the audit
 *   log too, with the decision `not-governed`.
 *
 * A refusal is a tool error (isError), not a protocol error: the model reads why, and what to run.
 */

import type { Tool as Listed } from '@modelcontextprotocol/client';

import type { PolicyScope, PolicySource } from '../config/policy-files.js';
import { setToolRule } from '../config/policy-files.js';
import { maskSecretsInText, recordCall, type AuditCaller, type CallObserver } from '../policy/audit.js';
import { approvalAnswer, approvalQuestion, type ToolPolicy } from '../policy/enforce.js';
import type { ListedTool } from '../policy/pins.js';
import type { Member } from '../policy/rules.js';
import { byteLength, type Admission } from '../policy/admission.js';
import { admitCall, recordFailure, recordResult, type CallResult } from '../use/guarded-call.js';

export interface PolicyGateOptions {
  policy: ToolPolicy;
  /** --log-arguments: the audit log keeps the (masked) arguments. */
  logArguments: boolean;
  /** Where "always allow" is written (the local scope of the project the gateway serves). */
  paths: { userConfigPath: string; projectRoot: string };
  /** The policy documents as the files hold them now (read again after "always" wrote one). */
  reload: () => Promise<PolicySource[]>;
}

export interface GatedCall {
  server: string;
  /** The pin store's key of this server (its name and target). */
  pinKey: string;
  /** The tool as the upstream listed it (only its name when it was never listed). */
  tool: ListedTool;
  args: Record<string, unknown> | undefined;
  /** The host's name as it gave it (unverified), for the audit log. */
  host: string | null;
  /** What the gateway itself knows of the caller, for the audit log. */
  caller: AuditCaller;
  /** Whose login the call goes upstream with (the audit log's `upstreamCredential`). */
  upstreamCredential?: 'shared' | 'member';
  /** Ask the host's person (undefined: the host cannot be asked). */
  ask: ((params: ReturnType<typeof approvalQuestion>) => Promise<unknown>) | undefined;
  run: () => Promise<CallResult>;
}

export type { CallResult };

export type GateDecision =
  | { kind: 'refused'; result: CallResult }
  | { kind: 'admitted'; admission: Extract<Admission, { kind: 'admitted' }> };

const ALWAYS_SCOPE: PolicyScope = 'local';

export const PERMISSION = 'io.patchbay/permission';

/** A tool `mark` found denied: named, but not listed. */
export function isDenied(tool: Listed): boolean {
  return (tool._meta as Record<string, unknown> | undefined)?.[PERMISSION] === 'deny';
}

export class PolicyGate {
  private readonly observers = new Set<CallObserver>();
  /** Every observer, once per entry; undefined while there is none (no work per call then). */
  private observeAll: CallObserver | undefined;

  constructor(private readonly options: PolicyGateOptions) {}

  /** Be told of every audit entry this gate records (tool calls, refusals, reads): the metrics. */
  observe(observer: CallObserver): void {
    this.observers.add(observer);
    const all = [...this.observers];
    this.observeAll = all.length === 1 ? all[0] : (entry) => all.forEach((each) => each(entry));
  }

  get policy(): ToolPolicy {
    return this.options.policy;
  }

  /**
   * An upstream's tools, each marked with its permission in `_meta` (`io.patchbay/permission`);
   * the gateway names them all (so a deny never renames another tool) and lists all but denied.
   */
  async mark(
    listings: ReadonlyArray<{ server: string; pinKey: string; tools: Listed[] }>,
    member?: Member,
  ): Promise<Listed[][]> {
    const verdicts = await this.options.policy.screenAll(
      listings.map(({ server, pinKey, tools }) => ({ server, key: pinKey, tools: tools as ListedTool[] })),
      member,
    );
    return listings.map(({ tools }, index) =>
      tools.map((tool) => {
        const verdict = verdicts[index]!.get(String(tool.name));
        return {
          ...tool,
          _meta: {
            ...(tool._meta as object | undefined),
            [PERMISSION]: verdict?.decision ?? 'deny',
            ...(verdict?.changed ? { 'io.patchbay/definitionChanged': true } : {}),
          },
        };
      }),
    );
  }

  async call(call: GatedCall): Promise<CallResult> {
    const gated = await this.admit(call);
    if (gated.kind === 'refused') return gated.result;
    let result: CallResult;
    try {
      result = await call.run();
    } catch (error) {
      await recordFailure(gated.admission, error);
      throw error;
    }
    await recordResult(gated.admission, result);
    return result;
  }

  /**
   * The decision alone, for a relay that runs the call its own way (hot-path.ts): a refusal is
   * already written to the audit log and comes back as the tool error to answer; an admitted call
   * must be recorded (`recordSummary`, `recordFailure`) exactly once.
   */
  async admit(call: Omit<GatedCall, 'run'>): Promise<GateDecision> {
    const admission = await admitCall(
      {
        policy: this.options.policy,
        server: call.server,
        pinKey: call.pinKey,
      },
      {
        via: 'gateway',
        host: call.host,
        audit: {
          hostClaimed: call.host,
          caller: call.caller,
          upstreamCredential: call.upstreamCredential ?? 'shared',
        },
        logArguments: this.options.logArguments,
        observe: this.observeAll,
        ask: call.ask
          ? async (verdict) =>
              approvalAnswer(
                await call.ask!(approvalQuestion(call.server, call.tool.name, call.args, verdict)),
              )
          : {
              unavailable: 'this host cannot ask (it offers no elicitation)',
              hint: `To allow it: patchbay permit ${call.server} ${call.tool.name} allow`,
            },
        allowAlways: async () => {
          await setToolRule(ALWAYS_SCOPE, this.options.paths, call.server, call.tool.name, 'allow');
          // In effect for the next call already, not only once the file watcher has seen it.
          this.options.policy.update(await this.options.reload());
        },
      },
      call.tool,
      call.args ?? {},
    );
    if (admission.kind === 'refused')
      return { kind: 'refused', result: refusal(`${admission.message} ${admission.hint}`) };
    if (admission.kind === 'later')
      return { kind: 'refused', result: refusal(`${call.server}'s tool ${call.tool.name} needs approval.`) };
    return { kind: 'admitted', admission };
  }

  /** The server is hidden from this member (policy/rules serverHidden): nothing of it is listed or served. */
  hidden(server: string, member: Member | undefined): boolean {
    return this.options.policy.hidden(server, member);
  }

  /** Relay a resource read or prompt, and write it to the audit log (decision `not-governed`). */
  async relayed<T>(read: RelayedRead, run: () => Promise<T>): Promise<T> {
    const finish = this.beginRelayed(read);
    try {
      const result = await run();
      await finish({ bytes: byteLength(result) });
      return result;
    } catch (error) {
      await finish({ error: error instanceof Error ? error.message : String(error) });
      throw error;
    }
  }

  /**
   * The start of `relayed`, for a relay that runs the read its own way (hot-path.ts): the clock
   * starts now, and the function it returns writes the one audit line (the result's serialized
   * size, or the error's message).
   */
  beginRelayed(read: RelayedRead): (end: { bytes: number } | { error: string }) => Promise<boolean> {
    const started = Date.now();
    return (end) =>
      recordCall(
        {
          time: new Date(started).toISOString(),
          host: read.host,
          hostClaimed: read.host,
          via: 'gateway',
          caller: read.caller,
          upstreamCredential: read.upstreamCredential ?? 'shared',
          kind: read.kind,
          server: read.server,
          // A URI can carry a credential in its query (as tool arguments can).
          tool: read.kind === 'resource' ? maskSecretsInText(read.name) : read.name,
          decision: 'not-governed',
          outcome: 'error' in end ? 'error' : 'ok',
          durationMs: Date.now() - started,
          argumentBytes: byteLength(read.args ?? {}),
          resultBytes: 'error' in end ? 0 : end.bytes,
          ...('error' in end && end.error ? { error: end.error } : {}),
          arguments: read.args ?? {},
        },
        {
          paths: this.options.policy.paths,
          sink: this.options.policy.auditSink,
          logArguments: this.options.logArguments,
          observe: this.observeAll,
        },
      );
  }
}

/** A resource read or prompt the gateway relayed (no rule decides on these). */
export interface RelayedRead {
  kind: 'resource' | 'prompt';
  server: string;
  /** The resource's URI, or the prompt's own name. */
  name: string;
  args: Record<string, unknown> | undefined;
  host: string | null;
  caller: AuditCaller;
  upstreamCredential?: 'shared' | 'member';
}

/**
 * A gateway without a policy gate writes no audit log, yet its tool calls are counted as the
 * gate's are: the entry an observer would have seen (decision `not-governed`: no rule decided),
 * handed to it when the call ended. Returns the end of the call.
 */
export function ungatedCall(
  observe: CallObserver,
  call: { server: string; tool: string; host: string | null },
): (end: { isError: boolean } | { error: unknown }) => void {
  const started = Date.now();
  return (end) => {
    try {
      observe({
        time: new Date(started).toISOString(),
        host: call.host,
        via: 'gateway',
        server: call.server,
        tool: call.tool,
        decision: 'not-governed',
        outcome: 'error' in end ? 'error' : end.isError ? 'tool-error' : 'ok',
        durationMs: Date.now() - started,
        argumentBytes: 0,
        resultBytes: 0,
      });
    } catch {
      // Counting never fails a call.
    }
  };
}

function refusal(text: string): CallResult {
  return { isError: true, content: [{ type: 'text', text }] };
}
