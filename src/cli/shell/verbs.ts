/**
 * The shell's verbs, one table: each its usage, what it does, how it runs on the open session and
 * how Tab completes its words. The verbs that a one-shot command also does (tools, tool, call,
 * tasks, task, read, prompt, resources, prompts, complete) run that command's own job on the session and print
 * with its own printer; only the session is kept.
 *
 * Adding a verb is adding a row.
 */

import { parseArgs, type ParseArgsConfig } from 'node:util';

import { parseDuration } from '../../core/duration.js';
import { LOG_LEVELS } from '../../core/log-levels.js';
import { terminalText } from '../../core/terminal-text.js';
import { EXIT, PatchbayError } from '../../errors.js';
import { note, writeLine } from '../io.js';
import type { ShellContext } from './context.js';

export interface Verb {
  name: string;
  /** Its words after the verb, as help shows them. */
  usage: string;
  summary: string;
  /** Runs it; an exit status (0 ok), or ExitShell to end the shell. */
  run(ctx: ShellContext, args: string[]): Promise<number | ExitShell>;
  /** What Tab offers for the word being typed (`current`), after the words `before` it. */
  complete?(ctx: ShellContext, before: string[], current: string): Promise<string[]>;
}

/** `exit [status]`: the shell ends, with this status (else what its commands earned it). */
export class ExitShell {
  constructor(readonly code: number | undefined) {}
}

function usageError(verb: Verb, message: string): PatchbayError {
  return new PatchbayError('usage', message, { hint: `Usage: ${verb.name} ${verb.usage}` });
}

/** The verb's flags and operands (node:util parseArgs, strict): an unknown flag is a usage error. */
function flagsOf<T extends NonNullable<ParseArgsConfig['options']>>(
  verb: Verb,
  args: string[],
  options: T,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
    return {
      values: parsed.values as Record<string, string | boolean | string[] | undefined>,
      positionals: parsed.positionals,
    };
  } catch (error) {
    throw usageError(verb, error instanceof Error ? error.message.split('\n', 1)[0]! : String(error));
  }
}

function operands(verb: Verb, given: string[], min: number, max: number): string[] {
  if (given.length < min)
    throw usageError(
      verb,
      `${verb.name}: ${min - given.length} more word${min - given.length === 1 ? '' : 's'} expected.`,
    );
  if (given.length > max) throw usageError(verb, `${verb.name}: unexpected ${JSON.stringify(given[max])}.`);
  return given;
}

/** key=value words already on the line, by key. */
function givenPairs(words: string[]): Record<string, string> {
  const pairs: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const word of words) {
    const equals = word.indexOf('=');
    if (equals > 0) pairs[word.slice(0, equals)] = word.slice(equals + 1);
  }
  return pairs;
}

const toolNames = async (ctx: ShellContext) => (await ctx.names.toolList()).map((tool) => tool.name);
const promptNames = async (ctx: ShellContext) => (await ctx.names.promptList()).map((prompt) => prompt.name);
const resourceUris = async (ctx: ShellContext) => [
  ...(await ctx.names.resourceCatalog()).resources.map((resource) => resource.uri),
  ...ctx.names.links,
];

/** The server's completions for a prompt argument typed as `name=prefix`, as `name=value` words. */
async function promptArgumentValues(
  ctx: ShellContext,
  prompt: string,
  current: string,
  before: string[],
): Promise<string[]> {
  const equals = current.indexOf('=');
  const argument = current.slice(0, equals);
  const context = givenPairs(before);
  delete context[argument];
  const { completeArgument } = await import('../../use/complete.js');
  const { values } = await completeArgument(ctx.session, {
    ref: { type: 'prompt', name: prompt },
    argument: { name: argument, value: current.slice(equals + 1) },
    context,
  });
  return values.map((value) => `${argument}=${value}`);
}

const tools: Verb = {
  name: 'tools',
  usage: '',
  summary: "list the server's tools",
  async run(ctx, args) {
    operands(tools, flagsOf(tools, args, {}).positionals, 0, 0);
    const list = await (
      await import('../commands/tools.js')
    ).toolsOnSession(ctx.session, ctx.options.name, ctx.io);
    ctx.names.set('tools', list);
    if (ctx.options.json) return (ctx.result('tools', list), EXIT.ok);
    return (await import('../commands/tools.js')).printTools(
      list,
      { name: ctx.options.name, json: false },
      ctx.io,
    );
  },
};

const tool: Verb = {
  name: 'tool',
  usage: '<tool>',
  summary: "one tool's description and schemas",
  async run(ctx, args) {
    const [name] = operands(tool, flagsOf(tool, args, {}).positionals, 1, 1);
    const { findTool, printTool } = await import('../commands/tools.js');
    const found = findTool(await ctx.names.toolList(), { name: ctx.options.name, tool: name! });
    if (ctx.options.json) return (ctx.result('tool', found), EXIT.ok);
    return printTool(found, { json: false }, ctx.io);
  },
  complete: async (ctx, before) => (before.length === 0 ? toolNames(ctx) : []),
};

const callFlags = {
  args: { type: 'string' },
  output: { type: 'string', short: 'o' },
  yes: { type: 'boolean', short: 'y' },
  'allow-unknown-args': { type: 'boolean' },
} as const;

const call: Verb = {
  name: 'call',
  usage: '<tool> [key=value ...] [--args JSON] [-o DIR] [-y] [--allow-unknown-args]',
  summary: 'call a tool (arguments typed by its schema, policy applies)',
  async run(ctx, args) {
    const { values, positionals } = flagsOf(call, args, callFlags);
    const [toolName, ...pairs] = operands(call, positionals, 1, Infinity);
    if (values.args === '-')
      throw usageError(call, 'The shell reads commands from stdin: give --args the JSON itself.');
    const { parseCallOptions, parseArgsJson, callOnSession, printCallOutcome, Interrupted } =
      await import('../commands/call.js');
    const options = {
      ...parseCallOptions(
        ctx.options.name,
        toolName!,
        pairs,
        {
          ...(typeof values.args === 'string' ? { args: values.args } : {}),
          json: ctx.options.json,
          ...(typeof values.output === 'string' ? { output: values.output } : {}),
          yes: values.yes === true || ctx.options.yes,
          logArguments: ctx.options.logArguments,
          allowUnknownArgs: values['allow-unknown-args'] === true,
          roots: ctx.options.requests.roots,
          acceptDefaults: ctx.options.requests.acceptDefaults,
        },
        ctx.io.env,
      ),
      ...(ctx.questions ? { questions: ctx.questions } : {}),
    };
    const base = options.args === undefined ? {} : parseArgsJson(options.args);
    const outcome = await callOnSession(ctx.session, ctx.opened, options, base, ctx.io);
    if (!(outcome instanceof Interrupted))
      for (const block of outcome.content ?? [])
        if (block.type === 'resource_link' && typeof block.uri === 'string') ctx.names.links.add(block.uri);
    if (ctx.options.json && !(outcome instanceof Interrupted)) {
      ctx.result('call', outcome);
      return outcome.isError ? EXIT.error : EXIT.ok;
    }
    return printCallOutcome(outcome, options, ctx.io);
  },
  async complete(ctx, before, current) {
    if (current.startsWith('-')) return Object.keys(callFlags).map((flag) => `--${flag}`);
    const last = before.at(-1);
    if (last === '--args' || last === '-o' || last === '--output') return [];
    const positionals = before.filter((word) => !word.startsWith('-'));
    if (positionals.length === 0) return toolNames(ctx);
    const found = (await ctx.names.toolList()).find((candidate) => candidate.name === positionals[0]);
    const properties = (
      found?.inputSchema as { properties?: Record<string, { enum?: unknown[] }> } | undefined
    )?.properties;
    if (!properties) return [];
    const equals = current.indexOf('=');
    if (equals > 0) {
      const choices = properties[current.slice(0, equals)]?.enum ?? [];
      return choices.map(
        (choice) =>
          `${current.slice(0, equals)}=${typeof choice === 'string' ? choice : JSON.stringify(choice)}`,
      );
    }
    const given = givenPairs(positionals);
    return Object.keys(properties)
      .filter((key) => !Object.hasOwn(given, key))
      .map((key) => `${key}=`);
  },
};

const tasks: Verb = {
  name: 'tasks',
  usage: '',
  summary: "list the server's tasks (tools run in the background)",
  async run(ctx, args) {
    operands(tasks, flagsOf(tasks, args, {}).positionals, 0, 0);
    const { tasksOnSession, printTasks } = await import('../commands/tasks.js');
    const list = await tasksOnSession(ctx.session);
    if (ctx.options.json) return (ctx.result('tasks', list), EXIT.ok);
    return printTasks(list, { name: ctx.options.name, json: false }, ctx.io);
  },
};

const taskFlags = {
  result: { type: 'boolean' },
  cancel: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
} as const;

const task: Verb = {
  name: 'task',
  usage: '<id> [--result [-o DIR] | --cancel]',
  summary: 'show a task; --result waits for its result, --cancel cancels it',
  async run(ctx, args) {
    const { values, positionals } = flagsOf(task, args, taskFlags);
    const [taskId] = operands(task, positionals, 1, 1);
    if (values.result && values.cancel)
      throw usageError(task, '--result and --cancel cannot be used together.');
    const { taskOnSession, printTaskOutcome } = await import('../commands/tasks.js');
    const options = {
      name: ctx.options.name,
      taskId: taskId!,
      action: values.result ? ('result' as const) : values.cancel ? ('cancel' as const) : ('show' as const),
      json: false,
      outputDir: typeof values.output === 'string' ? values.output : undefined,
    };
    const outcome = await taskOnSession(ctx.session, options, ctx.io);
    if (ctx.options.json && outcome.kind !== 'stopped') {
      ctx.result('task', outcome.kind === 'result' ? outcome.result : outcome.task);
      return outcome.kind === 'result' && outcome.result.isError ? EXIT.error : EXIT.ok;
    }
    return printTaskOutcome(outcome, options, ctx.io);
  },
  async complete(ctx, before, current) {
    if (current.startsWith('-')) return Object.keys(taskFlags).map((flag) => `--${flag}`);
    if (before.some((word) => !word.startsWith('-'))) return [];
    // The ids of the tasks the server lists now (a server without tasks offers none).
    const { tasksOnSession } = await import('../commands/tasks.js');
    return (await tasksOnSession(ctx.session).catch(() => [])).map((each) => each.taskId);
  },
};

const resources: Verb = {
  name: 'resources',
  usage: '',
  summary: "list the server's resources and resource templates",
  async run(ctx, args) {
    operands(resources, flagsOf(resources, args, {}).positionals, 0, 0);
    const { resourcesOnSession, printResources } = await import('../commands/catalog.js');
    const catalog = await resourcesOnSession(ctx.session);
    ctx.names.set('resources', catalog);
    if (ctx.options.json) return (ctx.result('resources', catalog), EXIT.ok);
    return printResources(catalog, { name: ctx.options.name, json: false }, ctx.io);
  },
};

const read: Verb = {
  name: 'read',
  usage: '<uri> [-o FILE]',
  summary: 'read a resource (a link a call returned too: the session is the same)',
  async run(ctx, args) {
    const { values, positionals } = flagsOf(read, args, { output: { type: 'string', short: 'o' } });
    const [uri] = operands(read, positionals, 1, 1);
    const { readOnSession, printContents } = await import('../commands/read.js');
    const contents = await readOnSession(ctx.session, uri!);
    if (ctx.options.json) return (ctx.result('read', contents), EXIT.ok);
    const output = typeof values.output === 'string' ? values.output : undefined;
    return printContents(contents, { name: ctx.options.name, uri: uri!, output, json: false }, ctx.io);
  },
  complete: async (ctx, before, current) =>
    current.startsWith('-')
      ? ['--output']
      : before.filter((word) => !word.startsWith('-')).length === 0
        ? resourceUris(ctx)
        : [],
};

const prompts: Verb = {
  name: 'prompts',
  usage: '',
  summary: "list the server's prompts",
  async run(ctx, args) {
    operands(prompts, flagsOf(prompts, args, {}).positionals, 0, 0);
    const { promptsOnSession, printPrompts } = await import('../commands/catalog.js');
    const list = await promptsOnSession(ctx.session);
    ctx.names.set('prompts', list);
    if (ctx.options.json) return (ctx.result('prompts', list), EXIT.ok);
    return printPrompts(list, { name: ctx.options.name, json: false }, ctx.io);
  },
};

const prompt: Verb = {
  name: 'prompt',
  usage: '<prompt> [key=value ...]',
  summary: "get a prompt's messages (Tab completes argument values from the server)",
  async run(ctx, args) {
    const [name, ...pairs] = operands(prompt, flagsOf(prompt, args, {}).positionals, 1, Infinity);
    const { parsePromptOptions, promptOnSession, printPrompt } = await import('../commands/prompt.js');
    const options = parsePromptOptions(
      ctx.options.name,
      name!,
      pairs,
      { json: ctx.options.json },
      ctx.io.env,
    );
    const got = await promptOnSession(ctx.session, options);
    if (ctx.options.json)
      return (
        ctx.result('prompt', { description: got.description ?? null, messages: got.messages }),
        EXIT.ok
      );
    return printPrompt(got, options, ctx.io);
  },
  async complete(ctx, before, current) {
    if (before.length === 0) return promptNames(ctx);
    if (current.indexOf('=') > 0) return promptArgumentValues(ctx, before[0]!, current, before.slice(1));
    const declared = (await ctx.names.promptList()).find((candidate) => candidate.name === before[0]);
    const given = givenPairs(before.slice(1));
    return (declared?.arguments ?? [])
      .filter((argument) => !Object.hasOwn(given, argument.name))
      .map((argument) => `${argument.name}=`);
  },
};

const subscribe: Verb = {
  name: 'subscribe',
  usage: '[uri]',
  summary: 'be told when a resource changes (without a URI: what is subscribed)',
  async run(ctx, args) {
    const [uri] = operands(subscribe, flagsOf(subscribe, args, {}).positionals, 0, 1);
    if (uri === undefined) {
      const list = [...ctx.subscriptions.keys()];
      if (ctx.options.json) return (ctx.result('subscribe', { subscriptions: list }), EXIT.ok);
      for (const subscribed of list) writeLine(ctx.io.stdout, terminalText(subscribed));
      if (list.length === 0) note(ctx.io, 'No subscriptions.');
      return EXIT.ok;
    }
    if (!ctx.session.client.getServerCapabilities()?.resources?.subscribe)
      throw new PatchbayError(
        'unsupported',
        `${ctx.options.name} offers no resource subscriptions (its resources capability has no subscribe).`,
      );
    if (!ctx.subscriptions.has(uri)) {
      const { session } = ctx;
      if (session.era === 'modern') {
        // 2026-07-28: updates come on a subscriptions/listen stream of their own.
        const stream = await session.request((client) =>
          client.listen({ resourceSubscriptions: [uri] }, session.requestOptions()),
        );
        ctx.subscriptions.set(uri, () => stream.close());
      } else {
        await session.request((client) => client.subscribeResource({ uri }, session.requestOptions()));
        ctx.subscriptions.set(uri, async () => {
          await session.request((client) => client.unsubscribeResource({ uri }, session.requestOptions()));
        });
      }
    }
    if (ctx.options.json) return (ctx.result('subscribe', { subscribed: uri }), EXIT.ok);
    note(ctx.io, `Subscribed to ${uri}: its updates are shown as they arrive.`);
    return EXIT.ok;
  },
  complete: async (ctx, before) => (before.length === 0 ? resourceUris(ctx) : []),
};

const unsubscribe: Verb = {
  name: 'unsubscribe',
  usage: '<uri>',
  summary: 'stop the updates of a resource',
  async run(ctx, args) {
    const [uri] = operands(unsubscribe, flagsOf(unsubscribe, args, {}).positionals, 1, 1);
    const end = ctx.subscriptions.get(uri!);
    if (!end)
      throw new PatchbayError('not-found', `Not subscribed to ${uri}.`, {
        hint: '`subscribe` lists the subscriptions.',
      });
    await end();
    ctx.subscriptions.delete(uri!);
    if (ctx.options.json) return (ctx.result('unsubscribe', { unsubscribed: uri }), EXIT.ok);
    note(ctx.io, `Unsubscribed from ${uri}.`);
    return EXIT.ok;
  },
  complete: async (ctx, before) => (before.length === 0 ? [...ctx.subscriptions.keys()] : []),
};

const complete: Verb = {
  name: 'complete',
  usage: 'prompt|resource <ref> <argument> [prefix] [-c key=value ...]',
  summary: "the server's completions for a prompt argument or template variable",
  async run(ctx, args) {
    const { values, positionals } = flagsOf(complete, args, {
      context: { type: 'string', short: 'c', multiple: true },
    });
    const [kind, ref, argument, prefix] = operands(complete, positionals, 3, 4);
    const { parseServerCompleteOptions, printCompletions } = await import('../commands/server-complete.js');
    const { completeArgument, noCompletionsError } = await import('../../use/complete.js');
    const options = parseServerCompleteOptions(
      ctx.options.name,
      kind!,
      ref!,
      argument!,
      prefix,
      { ...(Array.isArray(values.context) ? { context: values.context } : {}) },
      ctx.io.env,
    );
    const completions = await completeArgument(ctx.session, options.query, {
      check: true,
      server: ctx.options.name,
    });
    if (!completions.supported) throw noCompletionsError(ctx.options.name);
    if (ctx.options.json) {
      const { values: found, total, hasMore } = completions;
      ctx.result('complete', { values: found, ...(total !== undefined ? { total } : {}), hasMore });
      return EXIT.ok;
    }
    return printCompletions(completions, false, ctx.io);
  },
  async complete(ctx, before, current) {
    const words = before.filter((word) => !word.startsWith('-'));
    if (words.length === 0) return ['prompt', 'resource'];
    const kind = words[0];
    if (words.length === 1)
      return kind === 'prompt'
        ? promptNames(ctx)
        : (await ctx.names.resourceCatalog()).templates.map((template) => template.uriTemplate);
    if (words.length === 2) {
      if (kind === 'prompt')
        return (
          (await ctx.names.promptList()).find((candidate) => candidate.name === words[1])?.arguments ?? []
        ).map((argument) => argument.name);
      const { templateVariables } = await import('../../use/complete.js');
      return templateVariables(words[1]!);
    }
    if (words.length === 3) {
      const { completeArgument } = await import('../../use/complete.js');
      const { values } = await completeArgument(ctx.session, {
        ref: kind === 'prompt' ? { type: 'prompt', name: words[1]! } : { type: 'template', uri: words[1]! },
        argument: { name: words[2]!, value: current },
      });
      return values;
    }
    return [];
  },
};

const logLevel: Verb = {
  name: 'log-level',
  usage: `<${LOG_LEVELS.join('|')}>`,
  summary: "which of the server's log messages are sent (logging/setLevel)",
  async run(ctx, args) {
    const [level] = operands(logLevel, flagsOf(logLevel, args, {}).positionals, 1, 1);
    await setLogLevel(ctx, level!);
    if (ctx.options.json) return (ctx.result('log-level', { level }), EXIT.ok);
    note(ctx.io, `Log messages from ${level} up are shown.`);
    return EXIT.ok;
  },
  complete: async (_ctx, before) => (before.length === 0 ? [...LOG_LEVELS] : []),
};

/** logging/setLevel, when the server declares logging. */
export async function setLogLevel(
  ctx: Pick<ShellContext, 'session' | 'options'>,
  level: string,
): Promise<void> {
  if (!LOG_LEVELS.includes(level))
    throw new PatchbayError('usage', `Unknown log level ${JSON.stringify(level)}.`, {
      hint: `One of: ${LOG_LEVELS.join(', ')}`,
    });
  const { session } = ctx;
  if (!session.client.getServerCapabilities()?.logging)
    throw new PatchbayError(
      'unsupported',
      `${ctx.options.name} sends no log messages (it does not declare logging).`,
    );
  await session.request((client) =>
    client.setLoggingLevel(level as Parameters<typeof client.setLoggingLevel>[0], session.requestOptions()),
  );
}

const wait: Verb = {
  name: 'wait',
  usage: '<duration>',
  summary: 'do nothing for a while, showing what the server sends (scripts: e.g. wait 6s)',
  async run(ctx, args) {
    const [text] = operands(wait, flagsOf(wait, args, {}).positionals, 1, 1);
    const ms = parseDuration(text!, 'wait');
    const interrupt = ctx.io.interrupt;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        interrupt?.removeEventListener('abort', done);
        resolve();
      }
      interrupt?.addEventListener('abort', done, { once: true });
    });
    if (interrupt?.aborted) return EXIT.interrupted;
    if (ctx.options.json) ctx.result('wait', { ms });
    return EXIT.ok;
  },
};

const help: Verb = {
  name: 'help',
  usage: '[verb]',
  summary: 'this list, or one verb',
  async run(ctx, args) {
    const [name] = operands(help, flagsOf(help, args, {}).positionals, 0, 1);
    const shown = name === undefined ? VERBS : VERBS.filter((verb) => verb.name === name);
    if (shown.length === 0) throw unknownVerb(name!);
    if (ctx.options.json)
      return (
        ctx.result(
          'help',
          shown.map(({ name, usage, summary }) => ({ name, usage, summary })),
        ),
        EXIT.ok
      );
    const width = Math.max(...shown.map((verb) => `${verb.name} ${verb.usage}`.trim().length));
    for (const verb of shown)
      writeLine(ctx.io.stdout, `${`${verb.name} ${verb.usage}`.trim().padEnd(width)}  ${verb.summary}`);
    return EXIT.ok;
  },
  complete: async (_ctx, before) => (before.length === 0 ? VERBS.map((verb) => verb.name) : []),
};

const exit: Verb = {
  name: 'exit',
  usage: '[status]',
  summary: 'leave the shell (also: quit, Ctrl-D)',
  async run(_ctx, args) {
    const [status] = operands(exit, flagsOf(exit, args, {}).positionals, 0, 1);
    if (status === undefined) return new ExitShell(undefined);
    const code = Number(status);
    if (!Number.isInteger(code) || code < 0 || code > 255)
      throw usageError(exit, `Not an exit status: ${JSON.stringify(status)}.`);
    return new ExitShell(code);
  },
};

/** Every verb, in the order help lists them. */
export const VERBS: Verb[] = [
  tools,
  tool,
  call,
  tasks,
  task,
  resources,
  read,
  subscribe,
  unsubscribe,
  prompts,
  prompt,
  complete,
  logLevel,
  wait,
  help,
  exit,
];

const ALIASES: Record<string, string> = { quit: 'exit', '?': 'help' };

export function findVerb(name: string): Verb {
  const wanted = ALIASES[name] ?? name;
  const verb = VERBS.find((candidate) => candidate.name === wanted);
  if (!verb) throw unknownVerb(name);
  return verb;
}

function unknownVerb(name: string): PatchbayError {
  const near = VERBS.find((verb) => verb.name.startsWith(name.slice(0, 3)));
  return new PatchbayError('usage', `Unknown command ${JSON.stringify(name)}.`, {
    hint: near ? `Did you mean ${near.name}? (help lists them)` : '`help` lists the commands.',
  });
}
