/**
 * Variable references across dialects. patchbay (like Claude Code) writes `${NAME}` and
 * `${NAME:-default}`; Cursor and VS Code write `${env:NAME}` and have variables of their own
 * (`${userHome}`, `${workspaceFolder}`, VS Code's `${input:id}`). Each reference is converted
 * only when the result means the same thing; otherwise the whole entry is refused with a reason.
 */

import { basename as posixBasename, win32 } from 'node:path';
import type { Scope } from '../entry.js';
import { splitTemplate } from '../expand.js';
import { createObject, isObject, setOwn, type JsonValue } from '../../core/json-source.js';
import type { Conversion } from './types.js';

/** Thrown inside a conversion to give up on the entry; `refusable` turns it into a Conversion. */
export class Refusal extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'Refusal';
  }
}

export function refuse(reason: string): never {
  throw new Refusal(reason);
}

export function refusable(convert: () => Conversion): Conversion {
  try {
    return convert();
  } catch (error) {
    if (error instanceof Refusal) return { reason: error.reason };
    throw error;
  }
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HOST_REFERENCE = /\$\{([^}]*)\}/g;

/** Copy a value, passing every string in it through `convert` (entries nest at most two levels). */
export function mapStrings(value: JsonValue, convert: (text: string) => string): JsonValue {
  if (typeof value === 'string') return convert(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, convert));
  if (isObject(value)) {
    const out = createObject();
    for (const [key, inner] of Object.entries(value)) setOwn(out, key, mapStrings(inner, convert));
    return out;
  }
  return value;
}

export interface EditorVariableOptions {
  /** "Cursor" or "VS Code", for messages. */
  hostName: string;
  platform: NodeJS.Platform;
  projectRoot: string;
  targetScope: Scope;
  /** VS Code's `${input:id}`; absent for hosts without inputs. */
  input?: (id: string) => { text: string; note: string };
}

/**
 * `${env:NAME}` → `${NAME}`, and the editor variables that have a faithful patchbay form:
 *
 * - `${userHome}` → `${HOME}` (`${USERPROFILE}` on Windows), expanded by patchbay at use.
 * - `${workspaceFolder}` / `${workspaceFolderBasename}` → this project's path, but only into the
 *   local scope: that scope is this project's, so the pinned path means what the editor meant.
 *   In the user scope (every project) or a committed `.mcp.json` (everyone's checkout) it would not.
 * - `${pathSeparator}` / `${/}` → the platform's separator.
 */
export function editorToPatchbay(text: string, options: EditorVariableOptions, notes: string[]): string {
  return text.replace(HOST_REFERENCE, (_match, token: string) => {
    if (token.startsWith('env:')) {
      const name = token.slice('env:'.length);
      if (!IDENTIFIER.test(name)) {
        refuse(
          `uses \${env:${name}}, and patchbay variable names are letters, digits and "_" (not starting with a digit)`,
        );
      }
      return `\${${name}}`;
    }
    if (token === 'userHome') {
      const home = options.platform === 'win32' ? 'USERPROFILE' : 'HOME';
      notes.push(`\${userHome} became \${${home}}`);
      return `\${${home}}`;
    }
    if (token === 'workspaceFolder' || token === 'workspaceFolderBasename') {
      if (options.targetScope !== 'local') {
        refuse(
          `uses \${${token}}, which ${options.hostName} sets to the open project; the ${options.targetScope} scope has no single project (import into the local scope with -s local to pin it to ${options.projectRoot})`,
        );
      }
      const value =
        token === 'workspaceFolder'
          ? options.projectRoot
          : projectBasename(options.projectRoot, options.platform);
      notes.push(`\${${token}} became ${value} (this project)`);
      return value;
    }
    if (token === 'pathSeparator' || token === '/') return options.platform === 'win32' ? '\\' : '/';
    if (token.startsWith('input:') && options.input) {
      const { text: replacement, note } = options.input(token.slice('input:'.length));
      notes.push(note);
      return replacement;
    }
    return refuse(`uses \${${token}}, a ${options.hostName} variable patchbay has no equivalent for`);
  });
}

function projectBasename(root: string, platform: NodeJS.Platform): string {
  return platform === 'win32' ? win32.basename(root) : posixBasename(root);
}

/** `${NAME}` → `${env:NAME}`; a `:-default` has no editor equivalent and is dropped with a note. */
export function patchbayToEditor(text: string, hostName: string, notes: string[]): string {
  return splitTemplate(text)
    .map((part) => {
      if (part.literal !== undefined) {
        if (part.literal.includes('${'))
          refuse(`contains "\${" text that ${hostName} would read as one of its own variables`);
        return part.literal;
      }
      if (part.fallback !== undefined) {
        notes.push(
          `the default of \${${part.variable}} was dropped (${hostName} has no defaults): set ${part.variable} before starting ${hostName}`,
        );
      }
      return `\${env:${part.variable}}`;
    })
    .join('');
}

/** VS Code input ids are free text (`github-pat`, `apiKey`); an environment variable name for one. */
export function inputVariableName(id: string): string {
  const snake = id
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toUpperCase();
  if (snake === '') return 'INPUT';
  return /^[0-9]/.test(snake) ? `_${snake}` : snake;
}

/** Whether any string in the value holds a `${NAME}` patchbay would expand. */
export function referencedVariables(value: JsonValue | undefined): string[] {
  const names: string[] = [];
  const visit = (inner: JsonValue | undefined): void => {
    if (typeof inner === 'string') {
      for (const part of splitTemplate(inner)) if (part.variable !== undefined) names.push(part.variable);
    } else if (Array.isArray(inner)) inner.forEach(visit);
    else if (isObject(inner)) Object.values(inner).forEach(visit);
  };
  visit(value);
  return [...new Set(names)];
}
