/**
 * `patchbay __complete <words...>`: what the shell completion scripts (`patchbay completion`)
 * ask on every Tab. The words are the command line after `patchbay`, the last one being the word
 * under the cursor (empty for a new word); the answer is one candidate a line, `value<TAB>what it
 * is`, already filtered by that word.
 *
 * Answered from the program's own structure (commands, flags, choices), the config files (server
 * names, every scope) and the tool-name cache (core/tool-name-cache.ts): never from the network,
 * and without loading the MCP SDK. A failure answers nothing rather than printing an error into
 * the user's prompt.
 */

import type { Command, Option } from 'commander';

import { SCOPES } from '../../config/entry.js';
import { createContext, loadRegistry } from '../../config/registry.js';
import { cachedToolNames } from '../../core/tool-name-cache.js';
import type { Io } from '../io.js';
import { SHELLS } from './completion.js';

type Candidate = readonly [value: string, description: string];

/** Commands whose <name> is a new server's, not one of the configured. */
const NEW_NAME = new Set(['add', 'add-json']);

export async function runComplete(program: Command, words: readonly string[], io: Io): Promise<number> {
  try {
    const current = words.at(-1) ?? '';
    const candidates = await candidatesFor(program, words.slice(0, -1), current, io);
    const seen = new Set<string>();
    for (const [value, description] of candidates) {
      if (!value.startsWith(current) || seen.has(value)) continue;
      seen.add(value);
      io.stdout.write(`${value}\t${oneLine(description)}\n`);
    }
  } catch {
    // Completion never prints an error: the user is typing.
  }
  return 0;
}

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();

const visible = (command: Command) => !(command as unknown as { _hidden?: boolean })._hidden;

async function candidatesFor(
  program: Command,
  before: readonly string[],
  current: string,
  io: Io,
): Promise<Candidate[]> {
  let command = program;
  const operands: string[] = [];
  let pendingOption: Option | undefined;
  for (const word of before) {
    if (pendingOption) {
      pendingOption = undefined;
      continue;
    }
    // After "--" comes a command to run (add): nothing of ours to complete.
    if (word === '--') return [];
    if (word.startsWith('-') && word !== '-') {
      const option = findOption(command, program, word);
      if (option && (option.required || option.optional) && !word.includes('=')) pendingOption = option;
      continue;
    }
    const sub =
      operands.length === 0
        ? command.commands.find(
            (candidate) => candidate.name() === word || candidate.aliases().includes(word),
          )
        : undefined;
    if (sub) command = sub;
    else operands.push(word);
  }

  if (pendingOption) return optionValues(pendingOption, command);
  if (current.startsWith('-')) return flagsOf(command, program);
  const subcommands =
    command.commands.length > 0 && operands.length === 0
      ? command.commands.filter(visible).map((sub): Candidate => [sub.name(), sub.description()])
      : [];
  if (command === program) return subcommands;
  return [...subcommands, ...(await operandValues(program, command, operands, io))];
}

async function operandValues(
  program: Command,
  command: Command,
  operands: readonly string[],
  io: Io,
): Promise<Candidate[]> {
  const args = command.registeredArguments;
  const last = args.at(-1);
  const argument = operands.length < args.length ? args[operands.length] : last?.variadic ? last : undefined;
  if (!argument) return [];
  const kind = argument.name();
  if ((kind === 'name' || kind === 'names') && !NEW_NAME.has(command.name())) return serverNames(io);
  if (kind === 'tool' || kind === 'tool-or-glob') {
    const server = operands[command.registeredArguments.findIndex((arg) => arg.name() === 'name')];
    return server === undefined
      ? []
      : cachedToolNames(io.paths, server).map((tool): Candidate => [tool, `tool of ${server}`]);
  }
  if (kind === 'shell') return SHELLS.map((shell): Candidate => [shell, `${shell} completion script`]);
  if (kind === 'topic')
    return [
      ['config', 'the configuration files and their format'],
      ['exit-codes', 'what each exit status means'],
      ...program.commands.filter(visible).map((sub): Candidate => [sub.name(), sub.description()]),
    ];
  if (kind === 'key' && command.name() === 'set') {
    const { SET_KEY_NAMES } = await import('./set.js');
    return SET_KEY_NAMES.map((key): Candidate => [key, key.endsWith('.') ? `${key}<Name>` : 'setting']);
  }
  if (argument.argChoices) return argument.argChoices.map((choice): Candidate => [choice, '']);
  return [];
}

function findOption(command: Command, program: Command, word: string): Option | undefined {
  const flag = word.includes('=') ? word.slice(0, word.indexOf('=')) : word;
  for (const owner of command === program ? [program] : [command, program])
    for (const option of owner.options as readonly Option[])
      if (option.long === flag || option.short === flag) return option;
  return undefined;
}

function optionValues(option: Option, command: Command): Candidate[] {
  if (option.argChoices) return option.argChoices.map((choice): Candidate => [choice, '']);
  // `keys create --scope` is an OAuth scope the key carries, not a configuration file.
  if (option.long === '--scope' && command.parent?.name() !== 'keys')
    return SCOPES.map((scope): Candidate => [scope, 'scope']);
  return [];
}

function flagsOf(command: Command, program: Command): Candidate[] {
  const flags: Candidate[] = [];
  for (const option of command.options as readonly Option[]) {
    if (option.hidden) continue;
    if (option.long) flags.push([option.long, option.description]);
    if (option.short) flags.push([option.short, option.description]);
  }
  flags.push(['--help', 'show help']);
  if (command === program) flags.push(['--version', 'show the version']);
  return flags;
}

/** Every configured name, from every scope's file (a broken file just gives none). */
async function serverNames(io: Io): Promise<Candidate[]> {
  const registry = await loadRegistry(createContext(io.env, io.cwd));
  const scopes = new Map<string, string[]>();
  for (const entry of registry.entries)
    scopes.set(entry.name, [...(scopes.get(entry.name) ?? []), entry.scope]);
  return [...scopes].map(([name, where]): Candidate => [name, `server (${where.join(', ')})`]);
}
