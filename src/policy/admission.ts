/**
 * Whether one call may go ahead: the one decision the gateway, `patchbay call` and the console
 * all make (each only says it in its own way: a tool error, an exit status, an HTTP answer).
 *
 * 1. deny → refused, with the rule and the command that allows it;
 * 2. ask → the person is asked (elicitation, a terminal, the page) — or, where nobody can be
 *    asked, refused with how to allow it; "always" writes an allow rule; an approval pins the
 *    tool as it is now (unless its change is what was asked about);
 * 3. the limits are counted → refused with when the window reopens;
 * 4. admitted: the caller runs the call and records how it ended.
 *
 * Every call decided on is written to the audit log, refused ones included.
 */

import { APPROVE_POLICY_COMMAND } from '../config/policy-files.js';
import {
  recordCall,
  type AuditDecision,
  type AuditEntry,
  type AuditOutcome,
  type AuditVia,
  type CallObserver,
} from './audit.js';
import type { Approval, ToolPolicy } from './enforce.js';
import type { ListedTool } from './pins.js';
import type { ToolVerdict } from './rules.js';

export type { Approval };

export interface AdmissionRequest {
  policy: ToolPolicy;
  server: string;
  /** The server's key in the pin store. */
  pinKey: string;
  tool: ListedTool;
  /**
   * The tool was just listed by this caller (`patchbay call`, the console), not by a gateway
   * listing: screen it first, so a first allowed tool is pinned and a changed one is flagged.
   */
  screen?: boolean;
  args: Record<string, unknown>;
  via: AuditVia;
  /** The host's name (for the audit log). */
  host: string | null;
  /** What the gateway knows of the caller, for the audit log (audit.ts). */
  audit?: Pick<AuditEntry, 'hostClaimed' | 'caller' | 'upstreamCredential'>;
  logArguments: boolean;
  /**
   * How the person is asked about a tool set to ask: a function (its answer; 'later' when the
   * asking happens outside this call, as the console's page does), or why nobody can be asked.
   */
  ask: ((verdict: ToolVerdict) => Promise<Approval | 'later'>) | { unavailable: string; hint: string };
  /** Write the "always allow" rule (and make it take effect). */
  allowAlways: () => Promise<void>;
  onAuditError?: (error: unknown) => void;
  /** Sees each audit entry of this call as it is recorded (the gateway's metrics). */
  observe?: CallObserver | undefined;
}

export type Admission =
  | {
      kind: 'admitted';
      decision: AuditDecision;
      /**
       * Record how the call ended. `resultBytes`: the result's size when the caller measured it
       * already (a relay that passed its bytes through), instead of serializing `result` again.
       */
      record(outcome: AuditOutcome, result?: unknown, error?: string, resultBytes?: number): Promise<void>;
    }
  | { kind: 'refused'; code: 'policy-denied' | 'limit-reached'; message: string; hint: string }
  /** Set to ask, and the answer comes later (the console's page asks, then sends the call again). */
  | { kind: 'later'; because: string };

export async function admit(request: AdmissionRequest): Promise<Admission> {
  const { policy, server, tool } = request;
  const started = Date.now();
  const record = (
    decision: AuditDecision,
    outcome: AuditOutcome,
    result?: unknown,
    error?: string,
    resultBytes?: number,
  ) =>
    recordCall(
      {
        time: new Date(started).toISOString(),
        host: request.host,
        ...request.audit,
        via: request.via,
        server,
        tool: tool.name,
        decision,
        outcome,
        durationMs: Date.now() - started,
        argumentBytes: byteLength(request.args),
        resultBytes: resultBytes ?? (result === undefined ? 0 : byteLength(result)),
        ...(error ? { error } : {}),
        arguments: request.args,
      },
      {
        paths: request.policy.paths,
        sink: request.policy.auditSink,
        logArguments: request.logArguments,
        ...(request.onAuditError ? { onError: request.onAuditError } : {}),
        ...(request.observe ? { observe: request.observe } : {}),
      },
    ).then(() => undefined);
  const refuse = async (
    decision: AuditDecision,
    code: 'policy-denied' | 'limit-reached',
    message: string,
    hint: string,
  ): Promise<Admission> => {
    await record(decision, 'refused', undefined, message);
    return { kind: 'refused', code, message, hint };
  };
  const allowIt = `patchbay permit ${server} ${tool.name} allow`;

  if (request.screen) await policy.screen(server, request.pinKey, [tool]);
  const member = request.audit?.caller ?? undefined;
  const verdict = policy.verdict(server, request.pinKey, tool, member);
  // The project's unapproved policy file would loosen this: approving it is the other way.
  const orApprove = verdict.heldBack
    ? `; or approve ${verdict.heldBack.path}, which would ${verdict.heldBack.decision} it: ${APPROVE_POLICY_COMMAND}`
    : '';
  if (verdict.decision === 'deny')
    return refuse(
      'denied',
      'policy-denied',
      `patchbay's policy denies ${server}'s tool ${tool.name} (${verdict.because}).`,
      `To allow it: ${allowIt}${orApprove}`,
    );
  let decision: AuditDecision = 'allowed';
  if (verdict.decision === 'ask') {
    decision = 'asked';
    if (typeof request.ask !== 'function')
      return refuse(
        'asked',
        'policy-denied',
        `${server}'s tool ${tool.name} needs approval (${verdict.because}), and ${request.ask.unavailable}.`,
        `${request.ask.hint}${verdict.changed ? ` (review the change first: patchbay review ${server})` : ''}${orApprove}`,
      );
    let approval: Approval | 'later';
    try {
      approval = await request.ask(verdict);
    } catch (error) {
      return refuse(
        'asked',
        'policy-denied',
        `The approval of ${server}'s tool ${tool.name} could not be asked: ${error instanceof Error ? error.message : String(error)}.`,
        `To allow it: ${allowIt}`,
      );
    }
    if (approval === 'later') return { kind: 'later', because: verdict.because };
    if (approval === 'deny')
      return refuse(
        'asked',
        'policy-denied',
        `The person declined ${server}'s tool ${tool.name} for this call.`,
        `To allow it from now on: ${allowIt}`,
      );
    // "Always" is a rule for this definition; a changed one is accepted with patchbay review.
    if (approval === 'always' && !verdict.changed) await request.allowAlways();
    if (approval === 'always' || !verdict.changed) await policy.pin(request.pinKey, tool);
  }
  const limited = await policy.consumeLimits(server, tool.name, member);
  if (limited) return refuse('limited', 'limit-reached', limited.message, limited.hint);
  return {
    kind: 'admitted',
    decision,
    record: (outcome, result, error, resultBytes) => record(decision, outcome, result, error, resultBytes),
  };
}

/** The size of a value as JSON, for the audit log (0 when it cannot be serialised). */
export function byteLength(value: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(value) ?? '');
  } catch {
    return 0;
  }
}
