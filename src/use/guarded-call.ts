/**
 * A guarded tool call: the one job `patchbay call`, the console's try-it and the gateway share.
 *
 * 1. find the tool the server lists (`guardedSessionCall`; the gateway routes by its own listing);
 * 2. check the arguments against its input schema (connect/tool-arguments.ts, the one checker);
 * 3. admit it by policy (policy/admission.ts: deny, ask, limits);
 * 4. run it, and write how it ended (ok, tool-error, error) to the audit log, exactly once.
 *
 * What differs per front end is passed in (`Caller`): who asks and how (a terminal, elicitation,
 * the page's second request), where "always" is written, and who the caller is for the audit log.
 * A refusal comes back as a value; each front end says it its own way (an exit status, an HTTP
 * answer, a tool error).
 */

import { rememberToolNames } from '../core/tool-name-cache.js';
import type { Session } from '../connect/session.js';
import { checkToolArguments, type CheckOptions } from '../connect/tool-arguments.js';
import type { EffectiveServer, Registry } from '../config/registry.js';
import { PatchbayError } from '../errors.js';
import { admit, type Admission, type AdmissionRequest, type Approval } from '../policy/admission.js';
import type { CallObserver } from '../policy/audit.js';
import { ToolPolicy } from '../policy/enforce.js';
import { configuredServerKey, type ListedTool } from '../policy/pins.js';
import type { ToolVerdict } from '../policy/rules.js';

/** A tool result as far as this job reads it (isError, the text of its first block). */
export type CallResult = { isError?: boolean; content?: unknown[] } & Record<string, unknown>;

/** The arguments of one call, for a caller's question to its person. */
export interface CallFacts {
  tool: ListedTool;
  args: Record<string, unknown>;
}

/** What differs per front end. */
export interface Caller {
  via: AdmissionRequest['via'];
  /** The host's name, for the audit log. */
  host: string | null;
  /** What the gateway knows of the caller, for the audit log. */
  audit?: AdmissionRequest['audit'];
  logArguments: boolean;
  /**
   * How a tool set to ask is put to the person: a function (its answer; 'later' when the answer
   * comes with another request, as the page's does), or why nobody can be asked and what to do.
   */
  ask:
    | ((verdict: ToolVerdict, call: CallFacts) => Promise<Approval | 'later'>)
    | { unavailable: string; hint: string };
  /** Write the "always allow" rule (and make it take effect). */
  allowAlways: (tool: ListedTool) => Promise<void>;
  onAuditError?: (error: unknown) => void;
  /** Sees each audit entry of the call as it is recorded (the gateway's metrics). */
  observe?: CallObserver | undefined;
}

/** The policy in force for one server. */
export interface Guard {
  policy: ToolPolicy;
  server: string;
  /** The server's key in the pin store. */
  pinKey: string;
  /** The tool was just listed by this caller: pin a first allowed one, flag a changed one. */
  screen?: boolean;
}

export type GuardedOutcome<R> =
  | { kind: 'done'; result: R }
  | Extract<Admission, { kind: 'refused' }>
  | Extract<Admission, { kind: 'later' }>;

/** Admit the call, run it, record how it ended. An error from `run` is recorded, then thrown. */
export async function guardedCall<R extends CallResult>(
  guard: Guard,
  caller: Caller,
  tool: ListedTool,
  args: Record<string, unknown>,
  run: () => Promise<R>,
): Promise<GuardedOutcome<R>> {
  const admission = await admitCall(guard, caller, tool, args);
  if (admission.kind !== 'admitted') return admission;
  let result: R;
  try {
    result = await run();
  } catch (error) {
    await recordFailure(admission, error);
    throw error;
  }
  await recordResult(admission, result);
  return { kind: 'done', result };
}

/**
 * The first half of `guardedCall`, for a caller that runs the call its own way (the gateway's hot
 * path streams the answer through): the policy's decision, refusals already written to the audit
 * log. An admitted call must end in `recordResult` or `recordFailure`, exactly once.
 */
export function admitCall(
  guard: Guard,
  caller: Caller,
  tool: ListedTool,
  args: Record<string, unknown>,
): Promise<Admission> {
  const { ask } = caller;
  return admit({
    ...guard,
    tool,
    args,
    via: caller.via,
    host: caller.host,
    ...(caller.audit ? { audit: caller.audit } : {}),
    logArguments: caller.logArguments,
    ask: typeof ask === 'function' ? (verdict) => ask(verdict, { tool, args }) : ask,
    allowAlways: () => caller.allowAlways(tool),
    ...(caller.onAuditError ? { onAuditError: caller.onAuditError } : {}),
    ...(caller.observe ? { observe: caller.observe } : {}),
  });
}

/** What an admitted call's result was, as the audit log keeps it, measured by the caller. */
export interface ResultSummary {
  isError: boolean;
  /** The first text block of an error result (the audit's `error`). */
  errorText?: string | undefined;
  /** The result's serialized size. */
  bytes: number;
}

/** The second half: how an admitted call ended (a result, a tool error). */
export function recordResult(
  admission: Extract<Admission, { kind: 'admitted' }>,
  result: CallResult,
): Promise<void> {
  return admission.record(
    result.isError ? 'tool-error' : 'ok',
    result,
    result.isError ? firstText(result) : undefined,
  );
}

/** The second half, from a summary (a relay that passed the result's bytes through unparsed). */
export function recordSummary(
  admission: Extract<Admission, { kind: 'admitted' }>,
  summary: ResultSummary,
): Promise<void> {
  return admission.record(
    summary.isError ? 'tool-error' : 'ok',
    undefined,
    summary.isError ? summary.errorText : undefined,
    summary.bytes,
  );
}

/** The second half, for a call that failed (no result: a protocol error, a broken connection). */
export function recordFailure(
  admission: Extract<Admission, { kind: 'admitted' }>,
  error: unknown,
): Promise<void> {
  return admission.record('error', undefined, error instanceof Error ? error.message : String(error));
}

export interface SessionCall {
  toolName: string;
  /** The arguments, or how to build them from the tool found (the CLI types key=value by its schema). */
  args: Record<string, unknown> | ((tool: ListedTool) => Record<string, unknown>);
  /** The argument check's options (connect/tool-arguments.ts), or how to make them for the tool found. */
  check: CheckOptions | ((tool: ListedTool) => CheckOptions);
  /** The next step when the server has no such tool. */
  notFoundHint: string;
  /** A policy file's warning. */
  onWarning: (message: string) => void;
  /** Send the call (default: `tools/call` with the session's request options). */
  send?: (call: { name: string; arguments: Record<string, unknown> }) => Promise<CallResult>;
}

/**
 * A guarded call on an open session of a configured server: the tool found in its listing, the
 * arguments checked, then `guardedCall`. A missing tool or a bad argument is thrown (not-found,
 * usage) before policy is asked: nothing was decided, so nothing is written to the audit log.
 */
export async function guardedSessionCall(
  session: Session,
  opened: { registry: Registry; server: EffectiveServer },
  call: SessionCall,
  caller: Caller,
): Promise<GuardedOutcome<CallResult>> {
  const { registry, server } = opened;
  const { tools } = session.client.getServerCapabilities()?.tools
    ? await session.request((client) => client.listTools(undefined, session.requestOptions()))
    : { tools: [] };
  // For shell completion: remembered in the background, never waited on.
  rememberToolNames(
    registry.context.paths,
    server.name,
    (tools as ListedTool[]).map((listed) => listed.name),
  );
  const tool = (tools as ListedTool[]).find((candidate) => candidate.name === call.toolName);
  if (!tool)
    throw new PatchbayError(
      'not-found',
      `${server.name} has no tool named ${JSON.stringify(call.toolName)}.`,
      {
        hint: call.notFoundHint,
      },
    );
  const args = typeof call.args === 'function' ? call.args(tool) : call.args;
  await checkToolArguments(args, tool, typeof call.check === 'function' ? call.check(tool) : call.check);
  const policy = new ToolPolicy({
    paths: registry.context.paths,
    sources: registry.policy.sources,
    onWarning: call.onWarning,
  });
  const send =
    call.send ??
    ((request) =>
      session.request((client) => client.callTool(request, session.requestOptions())) as Promise<CallResult>);
  return guardedCall(
    { policy, server: server.name, pinKey: configuredServerKey(server), screen: true },
    caller,
    tool,
    args,
    () => send({ name: tool.name, arguments: args }),
  );
}

export function firstText(result: CallResult): string | undefined {
  const block = result.content?.find(
    (item): item is { type: 'text'; text: string } => (item as { type?: string }).type === 'text',
  );
  return block?.text.slice(0, 500);
}
