import type { DefineCommand } from '../define.js';
import { policyScopeOption } from '../options.js';

export const permitCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('permit')
    .description("Set a tool's permission: allow, ask (approve each call) or deny (unlisted, refused)")
    .argument('<name>', 'server name')
    .argument('<tool-or-glob>', "a tool's name, or a glob such as 'delete_*'")
    .argument('[decision]', 'allow, ask, deny, or default (remove this rule)')
    .addOption(policyScopeOption())
    .option(
      '--group <group>',
      "read-only (tools whose annotations say readOnlyHint) or other: the decision for the whole group, given in place of the tool; any other name, with a tool and a decision: the rule is only for that members' group (repeatable)",
      collect,
    )
    .option(
      '--member <subject-or-email>',
      'the rule is only for this member of a team gateway (repeatable)',
      collect,
    )
    .addHelpText(
      'after',
      `
The most precise rule of each scope applies; between scopes the strictest wins (deny, ask, allow).
A tool no rule names takes its group's decision (--group), else the default; else it is allowed,
or asked about when its annotations say it is destructive.

On a team gateway a rule may name members (--member, by subject or email) or members' groups
(--group with a tool and a decision): it applies only to them. A rule naming the member beats one
naming their group, which beats a rule for everyone; then the most precise tool wins; among equals
deny wins. A member denied '*' of a server (and allowed nothing there) does not see the server.

Examples:
  $ patchbay permit sentry 'delete_*' deny
  $ patchbay permit github create_issue ask -s project
  $ patchbay permit github create_issue default
  $ patchbay permit github --group read-only allow     # every read-only tool
  $ patchbay permit github --group other ask           # every other tool
  $ patchbay permit github '*' deny --group sales       # sales does not see github
  $ patchbay permit github create_issue allow --member alice@example.com`,
    )
    .action(
      act(async (name: string, pattern: string, decision: string | undefined, flags) => {
        const { parsePermitOptions, runPermit } = await import('./permit.js');
        return runPermit(parsePermitOptions(name, pattern, decision, flags), io);
      }),
    );

function switchCommand(command: 'enable' | 'disable', what: string): DefineCommand {
  return (program, { io, act }) =>
    program
      .command(command)
      .description(what)
      .argument('<name>', 'server name')
      .addOption(policyScopeOption())
      .addHelpText(
        'after',
        `\nExamples:\n  $ patchbay ${command} sentry\n  $ patchbay ${command} sentry -s user`,
      )
      .action(
        act(async (name: string, flags) => {
          const { parseEnableOptions, runEnable } = await import('./permit.js');
          return runEnable(parseEnableOptions(name, command === 'enable', flags), io);
        }),
      );
}

export const enableCommand = switchCommand('enable', 'Use a server again that patchbay disable turned off');
export const disableCommand = switchCommand(
  'disable',
  'Turn a server off: not listed, served or contacted, its entry kept',
);

export const limitCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('limit')
    .description("Limit how often a server's tools may be called: N per minute, hour or day")
    .argument('<name>', 'server name')
    .argument('[limit...]', '[tool-or-glob] N/minute|hour|day, or none to remove it')
    .addOption(policyScopeOption())
    .option('--per-member <limit>', 'N/minute|hour|day counted for each member apart (or none)')
    .option('--group <group>', "the limit is only for this members' group (repeatable)", collect)
    .option('--member <subject-or-email>', 'the limit is only for this member (repeatable)', collect)
    .addHelpText(
      'after',
      `
Counts are kept for every patchbay process of this computer together (the gateway and
patchbay call), in fixed windows of a UTC minute, hour or day, and survive restarts. A call
beyond the limit is refused with the time its window reopens.

Examples:
  $ patchbay limit sentry 100/hour             # all of sentry's tools together
  $ patchbay limit github 'create_*' 5/day
  $ patchbay limit github 'create_*' none
  $ patchbay limit github --per-member 20/hour       # each member of a team gateway apart
  $ patchbay limit github 'create_*' 50/day --group eng   # eng's members together`,
    )
    .action(
      act(async (name: string, rest: string[], flags) => {
        const { parseLimitOptions, runLimit } = await import('./permit.js');
        return runLimit(await parseLimitOptions(name, rest, flags), io);
      }),
    );

/** A repeatable option's values, in order. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
