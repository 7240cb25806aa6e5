/**
 * Policy for `patchbay call`, the same rules as the gateway's: a denied tool is refused; one set
 * to ask is asked about on a terminal (yes once, always, no) and refused without one unless
 * `--yes`; then the limits are counted. Every call, refused or not, goes to the audit log.
 */

import { createInterface } from 'node:readline/promises';

import { PatchbayError } from '../errors.js';
import { editServerPolicy } from '../config/policy-files.js';
import type { AuditDecision, AuditOutcome } from '../policy/audit.js';
import { summarizeArguments, ToolPolicy } from '../policy/enforce.js';
import { serverKey, serverTarget, type ListedTool } from '../policy/pins.js';
import type { ToolVerdict } from '../policy/rules.js';
import { isInteractive, note, sanitizeForTerminal, type Io } from './io.js';
import { holdTerminal } from './progress.js';
import type { OpenedServer } from './server-session.js';

export interface CallAdmission {
  decision: AuditDecision;
  /** Write the call's line in the audit log (once it is known how it ended). */
  record(outcome: AuditOutcome, result?: unknown, error?: string): Promise<void>;
}

export interface CallPolicyOptions {
  /** --yes: a tool set to ask is approved without asking. */
  yes: boolean;
  /** --log-arguments */
  logArguments: boolean;
}

export async function admitCall(
  opened: OpenedServer,
  tool: ListedTool,
  args: Record<string, unknown>,
  options: CallPolicyOptions,
  io: Io,
): Promise<CallAdmission> {
  const { registry, server } = opened;
  const started = Date.now();
  const policy = new ToolPolicy({
    env: io.env,
    sources: registry.policy.sources,
    onWarning: (message) => note(io, message),
  });
  const key = serverKey(server.name, server.winner.entry ? serverTarget(server.winner.entry) : '');
  const verdict = (await policy.screen(server.name, key, [tool])).get(tool.name)!;
  const record = async (decision: AuditDecision, outcome: AuditOutcome, result?: unknown, error?: string) => {
    const { recordCall } = await import('../policy/audit.js');
    await recordCall(
      {
        time: new Date(started).toISOString(),
        host: 'patchbay call',
        via: 'call',
        server: server.name,
        tool: tool.name,
        decision,
        outcome,
        durationMs: Date.now() - started,
        argumentBytes: Buffer.byteLength(JSON.stringify(args)),
        resultBytes: result === undefined ? 0 : Buffer.byteLength(JSON.stringify(result) ?? ''),
        ...(error ? { error } : {}),
        arguments: args,
      },
      { env: io.env, logArguments: options.logArguments, onError: () => undefined },
    );
  };
  const allowIt = `patchbay permit ${server.name} ${tool.name} allow`;

  if (verdict.decision === 'deny') {
    const message = `patchbay's policy denies ${server.name}'s tool ${tool.name} (${verdict.because}).`;
    await record('denied', 'refused', undefined, message);
    throw new PatchbayError('policy-denied', message, { hint: `To allow it: ${allowIt}` });
  }
  let decision: AuditDecision = 'allowed';
  if (verdict.decision === 'ask') {
    decision = 'asked';
    const approval = options.yes ? 'once' : await askOnTerminal(server.name, tool.name, args, verdict, io);
    if (approval === 'no-terminal' || approval === 'deny') {
      const message =
        approval === 'deny'
          ? `Declined ${server.name}'s tool ${tool.name}.`
          : `${server.name}'s tool ${tool.name} needs approval (${verdict.because}), and there is no terminal to ask on.`;
      await record('asked', 'refused', undefined, message);
      throw new PatchbayError('policy-denied', message, {
        hint:
          approval === 'deny'
            ? `To allow it from now on: ${allowIt}`
            : `Run it in a terminal, pass --yes to approve this call, or allow it: ${allowIt}${verdict.changed ? ` (after: patchbay review ${server.name})` : ''}`,
      });
    }
    if (approval === 'always' && !verdict.changed) {
      const { path } = await editServerPolicy(
        'local',
        { userConfigPath: registry.context.userConfigPath, projectRoot: registry.context.projectRoot },
        server.name,
        (policy) => {
          const tools = (policy['tools'] ??= {}) as Record<string, string>;
          tools[tool.name] = 'allow';
          return true;
        },
      );
      note(io, `${server.name} ${tool.name}: allow from now on (local, ${path}).`);
    }
    if (approval === 'always' || !verdict.changed) await policy.pin(key, tool);
  }
  const limited = await policy.consumeLimits(server.name, tool.name);
  if (limited) {
    await record('limited', 'refused', undefined, limited.message);
    throw new PatchbayError('limit-reached', limited.message, { hint: limited.hint });
  }
  return { decision, record: (outcome, result, error) => record(decision, outcome, result, error) };
}

/** y: once, a: always (a rule is written), anything else: no. */
async function askOnTerminal(
  server: string,
  tool: string,
  args: Record<string, unknown>,
  verdict: ToolVerdict,
  io: Io,
): Promise<'once' | 'always' | 'deny' | 'no-terminal'> {
  if (!isInteractive(io)) return 'no-terminal';
  const release = holdTerminal();
  const prompt = createInterface({ input: io.stdin, output: io.stderr, terminal: true });
  try {
    note(io, `Allow ${server}'s tool ${tool}? ${sanitizeForTerminal(verdict.because)}`);
    note(io, `Arguments: ${sanitizeForTerminal(summarizeArguments(args))}`);
    const answer = await Promise.race([
      prompt.question('[y] yes, this once  [a] always  [N] no: '),
      new Promise<string>((resolve) => prompt.once('SIGINT', () => resolve(''))),
      new Promise<string>((resolve) => prompt.once('close', () => resolve(''))),
    ]);
    const choice = answer.trim().toLowerCase();
    if (choice === 'y' || choice === 'yes') return 'once';
    if (choice === 'a' || choice === 'always') return 'always';
    return 'deny';
  } finally {
    prompt.close();
    release();
  }
}
