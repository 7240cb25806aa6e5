/**
 * `patchbay call` as a caller of the guarded call (use/guarded-call.ts): a tool set to ask is
 * asked about on a terminal (yes once, always, no) and refused without one unless `--yes`;
 * "always" writes an allow rule in the local scope; a refusal is a PatchbayError (its exit status).
 */

import { PatchbayError } from '../errors.js';
import { setToolRule } from '../config/policy-files.js';
import type { Approval } from '../policy/admission.js';
import { summarizeArguments } from '../policy/enforce.js';
import type { ToolVerdict } from '../policy/rules.js';
import type { Caller, GuardedOutcome } from '../use/guarded-call.js';
import { isInteractive, note, type Io } from './io.js';
import { terminalText } from '../core/terminal-text.js';
import { holdTerminal } from './progress.js';
import { askOrCancel, ownTerminal, type QuestionSource } from './questions.js';
import type { OpenedServer } from './server-session.js';

export interface CallPolicyOptions {
  /** --yes: a tool set to ask is approved without asking. */
  yes: boolean;
  /** --log-arguments */
  logArguments: boolean;
  /** Where the approval is asked (default: an interface of its own; the shell lends its). */
  questions?: QuestionSource;
}

export function terminalCaller(
  opened: OpenedServer,
  toolName: string,
  options: CallPolicyOptions,
  io: Io,
): Caller {
  const { registry, server } = opened;
  return {
    via: 'call',
    host: 'patchbay call',
    logArguments: options.logArguments,
    ask: options.yes
      ? async () => 'once'
      : isInteractive(io)
        ? (verdict, { tool, args }) =>
            askOnTerminal(server.name, tool.name, args, verdict, io, options.questions ?? ownTerminal)
        : {
            unavailable: 'there is no terminal to ask on',
            hint: `Run it in a terminal, pass --yes to approve this call, or allow it: patchbay permit ${server.name} ${toolName} allow`,
          },
    allowAlways: async (tool) => {
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
  };
}

/** The result of an admitted call; a refusal as the error `patchbay call` exits with. */
export function resultOrThrow<R>(outcome: GuardedOutcome<R>): R {
  if (outcome.kind === 'done') return outcome.result;
  if (outcome.kind === 'later') throw new Error('internal: a terminal approval cannot come later');
  throw new PatchbayError(outcome.code, outcome.message, { hint: outcome.hint });
}

/** y: once, a: always (a rule is written), anything else: no. */
async function askOnTerminal(
  server: string,
  tool: string,
  args: Record<string, unknown>,
  verdict: ToolVerdict,
  io: Io,
  questions: QuestionSource,
): Promise<Approval> {
  const release = holdTerminal();
  const { prompt, done } = questions(io);
  try {
    note(io, `Allow ${server}'s tool ${tool}? ${terminalText(verdict.because)}`);
    note(io, `Arguments: ${terminalText(summarizeArguments(args))}`);
    const answer = await askOrCancel(
      prompt,
      (signal) => prompt.question('[y] yes, this once  [a] always  [N] no: ', { signal }),
      '',
    );
    const choice = answer.trim().toLowerCase();
    if (choice === 'y' || choice === 'yes') return 'once';
    if (choice === 'a' || choice === 'always') return 'always';
    return 'deny';
  } finally {
    done();
    release();
  }
}
