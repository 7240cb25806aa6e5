/** `patchbay add-json <name> <json|->`: an entry in Claude Code's JSON form, kept as written. */

import { PatchbayError } from '../../errors.js';
import { entryFromRaw, formatProblem, type Scope, type ServerEntry } from '../../config/entry.js';
import { hasReferences } from '../../config/expand.js';
import { isObject, parseJsonSource, type JsonObject } from '../../core/json-source.js';
import { validateName, validateUrl } from '../../config/validate.js';
import { literalSecretWarnings, parseScope, runAdd } from './add.js';
import type { Io } from '../io.js';

export interface AddJsonOptions {
  name: string;
  scope: Scope;
  json: string;
  force: boolean;
}

export function parseAddJsonOptions(
  name: string,
  json: string,
  flags: { scope?: string; force?: boolean },
): AddJsonOptions {
  return { name: validateName(name), scope: parseScope(flags.scope), json, force: Boolean(flags.force) };
}

async function readStdin(io: Io): Promise<string> {
  if (io.stdin.isTTY) {
    throw new PatchbayError(
      'usage',
      'add-json reads the entry from standard input ("-"), but standard input is a terminal.',
      {
        hint: `Pipe it in: echo '{"type":"http","url":"https://…"}' | patchbay add-json <name> -`,
      },
    );
  }
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Parse and check the JSON; the raw object is what gets written, unknown keys included. */
export function checkEntryJson(
  text: string,
  label: string,
): { raw: JsonObject; entry: ServerEntry; warnings: string[] } {
  let parsed;
  try {
    parsed = parseJsonSource(text, { fileLabel: label });
  } catch (error) {
    if (error instanceof PatchbayError) {
      throw new PatchbayError('invalid-json', `Invalid JSON: ${error.message}`, {
        hint: 'Quote the JSON in single quotes in the shell, or pass "-" and pipe it in.',
      });
    }
    throw error;
  }
  const { entry, problems } = entryFromRaw(parsed.value);
  if (!entry || !isObject(parsed.value)) {
    throw new PatchbayError(
      'invalid-entry',
      problems.map((problem) => formatProblem(label, [], problem, parsed.positionOf)).join('\n'),
      {
        hint: 'Example: {"type":"http","url":"https://mcp.example.com/mcp","headers":{"Authorization":"Bearer ${TOKEN}"}}',
      },
    );
  }
  const warnings: string[] = [];
  if (entry.url !== undefined && !hasReferences(entry.url)) warnings.push(...validateUrl(entry.url).warnings);
  return { raw: parsed.value, entry, warnings };
}

export async function runAddJson(options: AddJsonOptions, io: Io): Promise<number> {
  const text = options.json === '-' ? await readStdin(io) : options.json;
  const { raw, entry, warnings } = checkEntryJson(text, options.json === '-' ? '<stdin>' : '<json>');
  if (options.scope === 'project') warnings.push(...literalSecretWarnings(entry));
  return runAdd(
    {
      name: options.name,
      scope: options.scope,
      entry,
      force: options.force,
      wantsClientSecret: false,
      warnings,
    },
    io,
    raw,
  );
}
