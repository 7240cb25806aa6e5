/**
 * VS Code: the workspace's `.vscode/mcp.json` and the user profile's `mcp.json` (in the
 * `Code/User` data directory). Top-level `servers` (not `mcpServers`) and `inputs` (values VS
 * Code prompts for, referenced as `${input:id}`). Entries have `type` stdio/http/sse,
 * `command/args/env/envFile` or `url/headers`. JSONC. Only the default profile's file is used.
 */

import { getOwn, isObject, type JsonValue } from '../../core/json-source.js';
import { editorEntryToPatchbay } from './editor-entry.js';
import { appDataDirectory, commonHostEntry, pathFor, patchbayOnlySettings, requireObject } from './shared.js';
import type { HostAdapter, HostEnvironment } from './types.js';
import { inputVariableName, patchbayToEditor, refusable } from './variables.js';

export function vscodeUserPath(host: HostEnvironment): string {
  return pathFor(host.platform).join(appDataDirectory(host), 'Code', 'User', 'mcp.json');
}

export function vscodeWorkspacePath(host: HostEnvironment): string {
  return pathFor(host.platform).join(host.projectRoot, '.vscode', 'mcp.json');
}

function describeInput(root: JsonValue, id: string): string {
  const inputs = isObject(root) ? getOwn(root, 'inputs') : undefined;
  const input = Array.isArray(inputs)
    ? inputs.find((item) => isObject(item) && getOwn(item, 'id') === id)
    : undefined;
  const description = isObject(input) ? getOwn(input, 'description') : undefined;
  return typeof description === 'string' && description !== '' ? ` (${JSON.stringify(description)})` : '';
}

export const vscode: HostAdapter = {
  id: 'vscode',
  displayName: 'VS Code',
  jsonc: true,

  importLocations(host) {
    return [
      { scope: 'project', path: vscodeWorkspacePath(host), serversPath: ['servers'] },
      { scope: 'user', path: vscodeUserPath(host), serversPath: ['servers'] },
    ];
  },

  exportLocation(scope, host) {
    if (scope === 'project')
      return { scope: 'project', path: vscodeWorkspacePath(host), serversPath: ['servers'] };
    // VS Code has no private per-project file: a server for this project only goes to the
    // project's file, which may be committed, hence the note.
    if (scope === 'local')
      return {
        scope: 'project',
        path: vscodeWorkspacePath(host),
        serversPath: ['servers'],
        note: `a local server goes to this project's .vscode/mcp.json, VS Code's only file for one project; keep it out of version control if the entry holds credentials`,
      };
    return { scope: 'user', path: vscodeUserPath(host), serversPath: ['servers'] };
  },

  toPatchbay(raw, name, context) {
    return refusable(() => {
      const source = requireObject(raw);
      const input = (id: string) => {
        const variable = inputVariableName(id);
        return {
          text: `\${${variable}}`,
          note: `set ${variable} in your environment: it replaces \${input:${id}}, which VS Code prompted for${describeInput(context.root, id)}`,
        };
      };
      const converted = editorEntryToPatchbay(source, name, context, {
        hostName: 'VS Code',
        handledKeys: ['cwd', 'dev'],
        input,
      });
      const cwd = getOwn(source, 'cwd');
      if (cwd !== undefined) {
        converted.notes.push(
          `"cwd" ${JSON.stringify(cwd)} was not imported: patchbay has no working directory setting for a command; make relative paths in args absolute if the server needs them`,
        );
      }
      if (getOwn(source, 'dev') !== undefined)
        converted.notes.push('ignored "dev": VS Code\'s watch-and-debug mode for server development');
      return converted;
    });
  },

  fromPatchbay(entry) {
    return refusable(() => {
      const notes = patchbayOnlySettings(entry, 'VS Code');
      const raw = commonHostEntry(entry, (text) => patchbayToEditor(text, 'VS Code', notes), {
        type: entry.transport,
      });
      return { raw, notes: [...new Set(notes)] };
    });
  },
};
