/** Build registry entries for diagnose() without a config file, and read findings by layer. */

import { entryFromRaw, type Scope } from '../../src/config/entry.js';
import type { JsonValue } from '../../src/core/json-source.js';
import { resolvePaths } from '../../src/core/paths.js';
import type { EffectiveServer, ProjectChoice } from '../../src/config/registry.js';
import type { DiagnoseOptions } from '../../src/diagnose/doctor.js';
import type { Diagnosis, Finding, Layer } from '../../src/diagnose/findings.js';

export const CONFIG_PATH = '/nonexistent/patchbay-doctor-test/config.json';

export function serverFor(
  name: string,
  raw: Record<string, unknown>,
  options: { scope?: Scope; projectChoice?: ProjectChoice } = {},
): EffectiveServer {
  const { entry, problems } = entryFromRaw(raw as JsonValue);
  const scope = options.scope ?? 'local';
  const server: EffectiveServer = {
    name,
    winner: {
      name,
      scope,
      path: CONFIG_PATH,
      raw: raw as JsonValue,
      ...(entry ? { entry } : {}),
      problems: problems.map((problem) => `${problem.path.join('.')}: ${problem.message}`),
      ...(options.projectChoice ? { projectChoice: options.projectChoice } : {}),
    },
    shadowed: [],
  };
  if (options.projectChoice) server.projectChoice = options.projectChoice;
  return server;
}

export function optionsWith(env: NodeJS.ProcessEnv = {}, timeoutMs = 5_000): DiagnoseOptions {
  const full = { PATH: process.env.PATH, ...env };
  return { timeoutMs, env: full, paths: resolvePaths(full), cwd: process.cwd() };
}

/** The (first) finding of a layer; fails the test when there is none. */
export function layer(diagnosis: Diagnosis, name: Layer): Finding {
  const found = diagnosis.findings.find((finding) => finding.layer === name);
  if (!found)
    throw new Error(`no ${name} finding in ${JSON.stringify(diagnosis.findings.map((f) => f.layer))}`);
  return found;
}

export function statuses(diagnosis: Diagnosis): string[] {
  return diagnosis.findings.map((finding) => `${finding.layer}:${finding.status}`);
}
