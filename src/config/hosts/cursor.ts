/**
 * Cursor: `~/.cursor/mcp.json` (every project) and `<project>/.cursor/mcp.json` (that project,
 * which wins a name clash). `mcpServers`; a local server is `command/args/env` (+ `envFile`), a
 * remote one `url` (+ `headers`, `auth` for a static OAuth client), with `type` optional since
 * Cursor infers the transport. Variables: `${env:NAME}`, `${userHome}`, `${workspaceFolder}`,
 * `${workspaceFolderBasename}`, `${pathSeparator}` (`${/}`). Read as JSONC.
 */

import { getOwn } from '../../core/json-source.js';
import { editorEntryToPatchbay } from './editor-entry.js';
import { commonHostEntry, hostHome, pathFor, patchbayOnlySettings, requireObject } from './shared.js';
import type { HostAdapter, HostEnvironment } from './types.js';
import { patchbayToEditor, refusable } from './variables.js';

export function cursorUserPath(host: HostEnvironment): string {
  return pathFor(host.platform).join(hostHome(host), '.cursor', 'mcp.json');
}

export function cursorProjectPath(host: HostEnvironment): string {
  return pathFor(host.platform).join(host.projectRoot, '.cursor', 'mcp.json');
}

export const cursor: HostAdapter = {
  id: 'cursor',
  displayName: 'Cursor',
  jsonc: true,

  importLocations(host) {
    return [
      { scope: 'project', path: cursorProjectPath(host), serversPath: ['mcpServers'] },
      { scope: 'user', path: cursorUserPath(host), serversPath: ['mcpServers'] },
    ];
  },

  exportLocation(scope, host) {
    if (scope === 'project')
      return { scope: 'project', path: cursorProjectPath(host), serversPath: ['mcpServers'] };
    // Cursor has no private per-project file: a server for this project only goes to the
    // project's file, which may be committed, hence the note.
    if (scope === 'local')
      return {
        scope: 'project',
        path: cursorProjectPath(host),
        serversPath: ['mcpServers'],
        note: `a local server goes to this project's .cursor/mcp.json, Cursor's only file for one project; keep it out of version control if the entry holds credentials`,
      };
    return { scope: 'user', path: cursorUserPath(host), serversPath: ['mcpServers'] };
  },

  toPatchbay(raw, name, context) {
    return refusable(() => {
      const source = requireObject(raw);
      const converted = editorEntryToPatchbay(source, name, context, {
        hostName: 'Cursor',
        handledKeys: ['auth'],
      });
      if (getOwn(source, 'auth') !== undefined) {
        converted.notes.push(
          `"auth" (Cursor's OAuth client) was not imported: that client is registered for Cursor's own redirect address. Sign in with \`patchbay login ${name}\`; if the server needs a pre-registered client, set oauth.clientId in patchbay`,
        );
      }
      return converted;
    });
  },

  fromPatchbay(entry) {
    return refusable(() => {
      const notes = patchbayOnlySettings(entry, 'Cursor');
      // Cursor infers stdio and Streamable HTTP from the fields; only legacy SSE is named, so a
      // round trip keeps the transport.
      const raw = commonHostEntry(
        entry,
        (text) => patchbayToEditor(text, 'Cursor', notes),
        entry.transport === 'sse' ? { type: 'sse' } : {},
      );
      return { raw, notes: [...new Set(notes)] };
    });
  },
};
