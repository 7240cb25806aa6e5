/**
 * Claude Code: `~/.claude.json` (or `$CLAUDE_CONFIG_DIR/.claude.json`) holds the user scope in
 * its top-level `mcpServers` and the local scope in `projects["<abs path>"].mcpServers`; the
 * project scope is `.mcp.json`, which patchbay reads itself. The entry format is patchbay's own
 * (patchbay adopted it), so entries travel verbatim, unknown keys included.
 */

import { projectConfigPath } from '../../core/paths.js';
import { toJsonValue, type JsonObject } from '../../core/json-source.js';
import { checkConverted, hostHome, pathFor, requireObject } from './shared.js';
import type { HostAdapter, HostEnvironment, HostLocation } from './types.js';
import { refusable } from './variables.js';

export function claudeCodeConfigPath(host: HostEnvironment): string {
  const dir = host.env.CLAUDE_CONFIG_DIR;
  if (dir) return pathFor(host.platform).join(pathFor(host.platform).resolve(host.cwd, dir), '.claude.json');
  return pathFor(host.platform).join(hostHome(host), '.claude.json');
}

export const PROJECT_FILE_REASON =
  "in the project's .mcp.json, which patchbay already reads as its project scope";

export const claudeCode: HostAdapter = {
  id: 'claude-code',
  displayName: 'Claude Code',
  jsonc: false,

  importLocations(host) {
    const file = claudeCodeConfigPath(host);
    // Claude Code keys a local entry by the directory it was started in; patchbay by the project
    // root. Starting `claude` here would use the first; the second is where patchbay keeps them.
    const native = [pathFor(host.platform).resolve(host.cwd), host.projectRoot];
    // On Windows the keys may be written with forward slashes (C:/src/shop); look under both.
    const keys = [
      ...new Set(
        host.platform === 'win32' ? native.flatMap((key) => [key, key.replaceAll('\\', '/')]) : native,
      ),
    ];
    const locations: HostLocation[] = keys.map((key) => ({
      scope: 'local',
      path: file,
      serversPath: ['projects', key, 'mcpServers'],
    }));
    // Claude Code's precedence: local, then project, then user.
    locations.push({
      scope: 'project',
      path: projectConfigPath(host.projectRoot),
      serversPath: ['mcpServers'],
      skipReason: PROJECT_FILE_REASON,
    });
    locations.push({ scope: 'user', path: file, serversPath: ['mcpServers'] });
    return locations;
  },

  exportLocation(scope, host) {
    const file = claudeCodeConfigPath(host);
    if (scope === 'project')
      return {
        reason: "a project entry already lives in the project's .mcp.json, which Claude Code reads itself",
      };
    if (scope === 'local')
      return { scope: 'local', path: file, serversPath: ['projects', host.projectRoot, 'mcpServers'] };
    return { scope: 'user', path: file, serversPath: ['mcpServers'] };
  },

  toPatchbay(raw, name, context) {
    return refusable(() => {
      const copy = toJsonValue(requireObject(raw)) as JsonObject;
      checkConverted(copy, name, context);
      return { raw: copy, notes: [] };
    });
  },

  fromPatchbay(_entry, raw) {
    return { raw: toJsonValue(raw) as JsonObject, notes: [] };
  },
};
