import type { DefineCommand } from '../define.js';
import { jsonOption, noCheckOption, timeoutOption } from '../options.js';

export const policyCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('policy')
    .description('Show the rule in effect for every tool of a server, and which file decided it')
    .argument('[name]', 'only this server (default: every configured server)')
    .addOption(jsonOption('one object per server'))
    .addOption(noCheckOption('only what the policy files say: contact no server, list no tools'))
    .addOption(timeoutOption('per-server timeout'))
    .option(
      '--state <url>',
      "a team gateway's pins and limit counts, in its state store as serve --state (redis://…); default: this machine's",
    )
    .addHelpText(
      'after',
      `
Each tool shows allow, ask or deny and what decided it: a rule and the file it is in (local or
user: patchbay's config.json; project: the team's .patchbay.json), a default, or the tool's
annotations. Between files the strictest wins (deny, ask, allow). Limits show how much of the
current window is used and when it reopens. A tool whose description or schemas changed since it
was first allowed is flagged and asked about until reviewed (patchbay review <name>). Rules that
match no listed tool are pointed out. A server the administrator's policy blocks, or one that is
disabled or not approved, is never contacted. Exit status as list's (patchbay help exit-codes).

Examples:
  $ patchbay policy
  $ patchbay policy sentry
  $ patchbay policy --no-check --json
  $ patchbay policy github --state redis://redis.internal:6379`,
    )
    .action(
      act(async (name: string | undefined, flags) => {
        const { parsePolicyOptions, runPolicy } = await import('./policy.js');
        return runPolicy(parsePolicyOptions(name, flags, io.env), io);
      }),
    );

export const reviewCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('review')
    .description('Show how tools changed since they were pinned (a diff), and accept the changes')
    .argument('<name>', 'server name')
    .option('--accept [tool...]', 'accept the changes shown: all of them, or only the tools named')
    .option(
      '--state <url>',
      "a team gateway's pins, in its state store as serve --state (redis://…); default: this machine's pins",
    )
    .addOption(jsonOption('the changes: old and new definition, summary, diff'))
    .addHelpText(
      'after',
      `
The first time a tool is allowed, its description and schemas are pinned. When a server changes
them, the tool is asked about before each call until the change is accepted here. --accept
accepts only the version shown in the same run: a tool that changed again meanwhile is left
flagged (exit 1). Changes are noticed when patchbay call, patchbay serve or patchbay policy
lists the tools. A team gateway's replicas on Redis keep one set of pins there: review them with
--state and the same URL (a change accepted once is accepted on every replica).

Examples:
  $ patchbay review github
  $ patchbay review github --accept
  $ patchbay review github --accept create_issue --json
  $ patchbay review github --state redis://redis.internal:6379 --accept`,
    )
    .action(
      act(async (name: string, flags) => {
        const { parseReviewOptions, runReview } = await import('./policy.js');
        return runReview(parseReviewOptions(name, flags), io);
      }),
    );
