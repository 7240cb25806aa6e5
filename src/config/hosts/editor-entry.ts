/**
 * Cursor and VS Code spell an entry almost alike: `command/args/env` or `url/headers`, an
 * optional `type`, `envFile`, and `${env:NAME}`-style variables. This is the shared reading of
 * one such entry into patchbay's form.
 */

import { createObject, getOwn, setOwn, type JsonObject } from '../../core/json-source.js';
import { checkConverted, ignoredKeyNotes } from './shared.js';
import type { ImportContext } from './types.js';
import { editorToPatchbay, mapStrings, refuse } from './variables.js';

export interface EditorDialect {
  hostName: string;
  /** Keys the host documents that are handled by the caller (notes or refusals), not ignored. */
  handledKeys: readonly string[];
  /** `${input:id}` for VS Code. */
  input?: (id: string) => { text: string; note: string };
}

const STDIO_KEYS = ['type', 'command', 'args', 'env', 'envFile'];
const REMOTE_KEYS = ['type', 'url', 'headers'];

function transportOf(source: JsonObject, hostName: string): 'stdio' | 'http' | 'sse' {
  const type = getOwn(source, 'type');
  if (type === undefined) {
    // The editors infer the transport from the fields, as Claude Code does.
    if (getOwn(source, 'command') !== undefined) return 'stdio';
    if (getOwn(source, 'url') !== undefined) return 'http';
    return refuse('expected "command" (a local server) or "url" (a remote one)');
  }
  if (type === 'stdio' || type === 'sse') return type;
  if (type === 'http' || type === 'streamable-http' || type === 'streamableHttp') return 'http';
  return refuse(
    `type ${JSON.stringify(type)} is not one patchbay knows (${hostName} entries are stdio, http or sse)`,
  );
}

export function editorEntryToPatchbay(
  source: JsonObject,
  name: string,
  context: ImportContext,
  dialect: EditorDialect,
): { raw: JsonObject; notes: string[] } {
  const transport = transportOf(source, dialect.hostName);
  if (getOwn(source, 'envFile') !== undefined) {
    // Skipped rather than noted: the variables in that file are often the server's credentials,
    // and a server started without them fails far from the cause.
    refuse(
      `loads variables from envFile ${JSON.stringify(getOwn(source, 'envFile'))}, which patchbay cannot read; put them in "env" as \${NAME} references (and export them in your shell), then import again`,
    );
  }
  const notes: string[] = [];
  const convert = (text: string) =>
    editorToPatchbay(
      text,
      {
        hostName: dialect.hostName,
        platform: context.platform,
        projectRoot: context.projectRoot,
        targetScope: context.targetScope,
        input: dialect.input,
      },
      notes,
    );
  const out = createObject();
  setOwn(out, 'type', transport);
  const keys = transport === 'stdio' ? ['command', 'args', 'env'] : ['url', 'headers'];
  for (const key of keys) {
    const value = getOwn(source, key);
    if (value !== undefined) setOwn(out, key, mapStrings(value, convert));
  }
  checkConverted(out, name, context);
  const known = [...(transport === 'stdio' ? STDIO_KEYS : REMOTE_KEYS), ...dialect.handledKeys];
  notes.push(...ignoredKeyNotes(source, known, dialect.hostName));
  return { raw: out, notes: [...new Set(notes)] };
}
