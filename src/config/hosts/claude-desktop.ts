/**
 * Claude Desktop: `claude_desktop_config.json` in the app's data directory, `mcpServers` with
 * local commands only (`command`, `args`, `env`). Remote servers are added in the app as custom
 * Connectors, not in this file. Claude Desktop does not expand `${VAR}` in the file: a server
 * gets the text as written.
 */

import { createObject, getOwn, setOwn } from '../../core/json-source.js';
import { appDataDirectory, checkConverted, ignoredKeyNotes, pathFor, requireObject } from './shared.js';
import type { HostAdapter, HostEnvironment } from './types.js';
import { refusable, refuse, referencedVariables } from './variables.js';

export function claudeDesktopConfigPath(host: HostEnvironment): string {
  return pathFor(host.platform).join(appDataDirectory(host), 'Claude', 'claude_desktop_config.json');
}

const KNOWN_KEYS = ['command', 'args', 'env', 'type'] as const;

export const REMOTE_NOT_SUPPORTED =
  "Claude Desktop's config file takes only local commands (command/args/env); add this remote server in Claude Desktop as a custom Connector instead (Settings → Connectors → Add custom connector)";

export const claudeDesktop: HostAdapter = {
  id: 'claude-desktop',
  displayName: 'Claude Desktop',
  jsonc: false,

  importLocations(host) {
    return [{ scope: 'user', path: claudeDesktopConfigPath(host), serversPath: ['mcpServers'] }];
  },

  exportLocation(scope, host) {
    const location = {
      scope: 'user' as const,
      path: claudeDesktopConfigPath(host),
      serversPath: ['mcpServers'],
    };
    // One file, no projects: a server meant for one project is there in every conversation.
    if (scope === 'user') return location;
    return {
      ...location,
      note: `a ${scope} server goes to Claude Desktop's only file, so Claude Desktop offers it in every conversation, not only for this project`,
    };
  },

  toPatchbay(raw, name, context) {
    return refusable(() => {
      const source = requireObject(raw);
      const type = getOwn(source, 'type');
      if (getOwn(source, 'command') === undefined || (type !== undefined && type !== 'stdio')) {
        refuse(
          'not a local command: Claude Desktop runs only command/args/env entries from this file, so it does not use this one either',
        );
      }
      const out = createObject();
      setOwn(out, 'type', 'stdio');
      for (const key of ['command', 'args', 'env'] as const) {
        const value = getOwn(source, key);
        if (value !== undefined) setOwn(out, key, value);
      }
      checkConverted(out, name, context);
      const notes = ignoredKeyNotes(source, KNOWN_KEYS, 'Claude Desktop');
      const references = referencedVariables(out);
      if (references.length > 0) {
        notes.push(
          `Claude Desktop passed ${references.map((variable) => `\${${variable}}`).join(', ')} to the server as literal text; patchbay expands ${references.length === 1 ? 'it' : 'them'} from your environment`,
        );
      }
      return { raw: out, notes };
    });
  },

  fromPatchbay(entry) {
    return refusable(() => {
      if (entry.transport !== 'stdio') refuse(REMOTE_NOT_SUPPORTED);
      const out = createObject();
      setOwn(out, 'command', entry.command ?? '');
      setOwn(out, 'args', [...(entry.args ?? [])]);
      const env = createObject();
      for (const [key, value] of Object.entries(entry.env ?? {})) setOwn(env, key, value);
      if (Object.keys(env).length > 0) setOwn(out, 'env', env);
      const references = referencedVariables(out);
      if (references.length > 0) {
        refuse(
          `uses ${references.map((variable) => `\${${variable}}`).join(', ')}, and Claude Desktop does not expand variables in its config file: the server would receive the literal text. Add it in Claude Desktop by hand with the value written in, if you accept it stored there`,
        );
      }
      const notes: string[] = [];
      if (entry.timeout !== undefined)
        notes.push(
          `timeout ${entry.timeout} ms was not exported: Claude Desktop's file has no per-server timeout`,
        );
      return { raw: out, notes };
    });
  },
};
