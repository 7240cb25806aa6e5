/** The hosts patchbay imports from and exports to. */

import { PatchbayError } from '../../errors.js';
import { claudeCode } from './claude-code.js';
import { claudeDesktop } from './claude-desktop.js';
import { cursor } from './cursor.js';
import type { HostAdapter, HostId } from './types.js';
import { vscode } from './vscode.js';

export const HOSTS: Readonly<Record<HostId, HostAdapter>> = {
  'claude-code': claudeCode,
  'claude-desktop': claudeDesktop,
  cursor,
  vscode,
};

export const HOST_IDS = Object.keys(HOSTS) as HostId[];

export function isHostId(text: string): text is HostId {
  return (HOST_IDS as string[]).includes(text);
}

/** The host named by a `--from`/`--to`/`--host` flag, or a usage error listing the valid names. */
export function parseHost(text: string | undefined, flag: '--from' | '--to' | '--host'): HostId {
  const valid = HOST_IDS.join(', ');
  const example = {
    '--from': 'patchbay import --from cursor',
    '--to': 'patchbay export --to vscode',
    '--host': 'patchbay install --host claude-desktop',
  }[flag];
  if (text === undefined || text === '') {
    throw new PatchbayError(
      'usage',
      `Missing ${flag} <host>: which host's configuration to use (${valid}).`,
      { hint: `For example: ${example}` },
    );
  }
  const normalised = text.toLowerCase();
  if (isHostId(normalised)) return normalised;
  throw new PatchbayError('usage', `Unknown host ${JSON.stringify(text)}: expected one of ${valid}.`, {
    hint: `For example: ${example}`,
  });
}

export function getHost(id: HostId): HostAdapter {
  return HOSTS[id];
}

export type { HostAdapter, HostId, HostLocation, HostScope, HostEnvironment, Conversion } from './types.js';
export { claudeCodeConfigPath } from './claude-code.js';
export { claudeDesktopConfigPath } from './claude-desktop.js';
export { cursorProjectPath, cursorUserPath } from './cursor.js';
export { vscodeUserPath, vscodeWorkspacePath } from './vscode.js';
export {
  planImport,
  applyImport,
  type ImportPlan,
  type ImportItem,
  type ImportResult,
} from './import-plan.js';
export {
  planExport,
  applyExport,
  type ExportPlan,
  type ExportItem,
  type ExportResult,
} from './export-plan.js';
