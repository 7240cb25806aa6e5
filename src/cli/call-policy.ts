/**
 * Policy for `patchbay call`, the same rules as the gateway's: a denied tool is refused; one set
 * to ask is asked about on a terminal (yes once, always, no) and refused without one unless
 * `--yes`; then the limits are counted. Every call, refused or not, goes to the audit log.
 */

import { createInterface } from 'node:readline/promises';

import { PatchbayError } from '../errors.js';
import { setToolRule } from '../config/policy-files.js';
import { admit, type Approval } from '../policy/admission.js';
import type { AuditOutcome } from '../policy/audit.js';
import { summarizeArguments, ToolPolicy } from '../policy/enforce.js';
import { configuredServerKey, type ListedTool } from '../policy/pins.js';
import type { ToolVerdict } from '../policy/rules.js';
import { isInteractive, note, type Io } from './io.js';
import { terminalText } from '../core/terminal-text.js';
import { holdTerminal } from './progress.js';
import type { OpenedServer } from './server-session.js';

export interface CallAdmission {
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
  const policy = new ToolPolicy({
    env: io.env,
    sources: registry.policy.sources,
    onWarning: (message) => note(io, message),
  });
  const key = configuredServerKey(server);
  const admission = await admit({
    policy,
    env: io.env,
    server: server.name,
    pinKey: key,
    tool,
    screen: true,
    args,
    via: 'call',
    host: 'patchbay call',
    logArguments: options.logArguments,
    ask: options.yes
      ? async () => 'once'
      : isInteractive(io)
        ? (verdict) => askOnTerminal(server.name, tool.name, args, verdict, io)
        : {
            unavailable: 'there is no terminal to ask on',
            hint: `Run it in a terminal, pass --yes to approve this call, or allow it: patchbay permit ${server.name} ${tool.name} allow`,
          },
    allowAlways: async () => {
      const { path } = await setToolRule(
        'local',
        { userConfigPath: registry.context.userConfigPath, projectRoot: registry.context.projectRoot },
        server.name,
        tool.name,
        'allow',
      );
      note(io, `${server.name} ${tool.name}: allow from now on (local, ${path}).`);
    },
    onAuditError: () => undefined,
  });
  if (admission.kind === 'admitted') return admission;
  if (admission.kind === 'later') throw new Error('internal: a terminal approval cannot come later');
  throw new PatchbayError(admission.code, admission.message, { hint: admission.hint });
}

/** y: once, a: always (a rule is written), anything else: no. */
async function askOnTerminal(
  server: string,
  tool: string,
  args: Record<string, unknown>,
  verdict: ToolVerdict,
  io: Io,
): Promise<Approval> {
  const release = holdTerminal();
  const prompt = createInterface({ input: io.stdin, output: io.stderr, terminal: true });
  try {
    note(io, `Allow ${server}'s tool ${tool}? ${terminalText(verdict.because)}`);
    note(io, `Arguments: ${terminalText(summarizeArguments(args))}`);
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
