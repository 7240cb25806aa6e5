/**
 * `${VAR}` and `${VAR:-default}` expansion, with the POSIX meaning of `:-` (the default also
 * applies when VAR is set but empty). A variable that is unset and has no default is an error
 * for that server: the text is never sent with the literal `${VAR}` in it.
 */

import { PatchbayError } from '../errors.js';
import { joinCommandLine, splitCommandLine, type ReferenceReader } from '../core/command-line.js';
import type { ServerEntry } from './entry.js';
import { mapOwnValues } from '../core/json-source.js';
import { splitTemplate, TEMPLATE_REFERENCE, type TemplatePart } from '../core/template.js';

const REFERENCE = TEMPLATE_REFERENCE;
export { splitTemplate, type TemplatePart };

export function hasReferences(text: string): boolean {
  return splitTemplate(text).some((part) => part.variable !== undefined);
}

export class UnsetVariableError extends PatchbayError {
  constructor(
    readonly variable: string,
    readonly field: string,
  ) {
    super(
      'unset-variable',
      `environment variable ${variable} is not set (used in ${field}) and has no default`,
      {
        hint: `Set it (export ${variable}=...) or give a default: \${${variable}:-value}.`,
      },
    );
  }
}

export function expandString(text: string, env: NodeJS.ProcessEnv, field: string): string {
  return splitTemplate(text)
    .map((part) => {
      if (part.literal !== undefined) return part.literal;
      const value = env[part.variable!];
      if (value !== undefined && value !== '') return value;
      if (part.fallback !== undefined) return part.fallback;
      if (value === '') return '';
      throw new UnsetVariableError(part.variable!, field);
    })
    .join('');
}

/**
 * A command line (headersHelper) with its `${VAR}`s expanded: split first, so that each value is
 * one argument or part of one, never re-split or re-parsed however many spaces or quotes it
 * holds; then joined back, quoted, so that splitting the result gives exactly that argv.
 */
export function expandCommandLine(template: string, env: NodeJS.ProcessEnv, field: string): string {
  const reference: ReferenceReader = (text, index) => {
    const match = REFERENCE_AT.exec(text.slice(index));
    return match ? { length: match[0].length, value: expandString(match[0], env, field) } : undefined;
  };
  let argv: string[];
  try {
    argv = splitCommandLine(template, reference);
  } catch (error) {
    if (!(error instanceof PatchbayError) || error instanceof UnsetVariableError) throw error;
    throw new PatchbayError('headers-helper-failed', `${field} is not a valid command: ${error.message}`, {
      hint: error.hint ?? `fix the quoting in the ${field} setting`,
    });
  }
  return joinCommandLine(argv);
}

const REFERENCE_AT = new RegExp(`^${REFERENCE.source}`);

function expandMap(map: Record<string, string> | undefined, env: NodeJS.ProcessEnv, field: string) {
  return map && mapOwnValues(map, (value, key) => expandString(value, env, `${field}.${key}`));
}

/** Expand every field that takes variables: url, headers, command, args, env, headersHelper, tls. */
export function expandEntry(entry: ServerEntry, env: NodeJS.ProcessEnv): ServerEntry {
  const out: ServerEntry = { ...entry };
  if (entry.url !== undefined) out.url = expandString(entry.url, env, 'url');
  if (entry.headers) out.headers = expandMap(entry.headers, env, 'headers');
  if (entry.headersHelper !== undefined)
    out.headersHelper = expandCommandLine(entry.headersHelper, env, 'headersHelper');
  if (entry.command !== undefined) out.command = expandString(entry.command, env, 'command');
  if (entry.args) out.args = entry.args.map((arg, i) => expandString(arg, env, `args[${i}]`));
  if (entry.env) out.env = expandMap(entry.env, env, 'env');
  if (entry.tls) out.tls = expandMap(entry.tls as Record<string, string>, env, 'tls');
  return out;
}
