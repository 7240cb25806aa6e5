/** `patchbay doctor [name]`: walk each server's layers and say what works, what does not, and the fix. */

import { EXIT } from '../../errors.js';
import { selectServers } from '../../config/registry.js';
import { staticState, type ServerStatus } from '../../config/status.js';
import { validateName } from '../../config/validate.js';
import type { Diagnosis, Finding, FindingStatus } from '../../diagnose/findings.js';
import { timeoutFrom } from '../health.js';
import { paint, printJson, useColor, writeLine, type Io, type Paint } from '../io.js';
import { terminalText } from '../../core/terminal-text.js';
import { hasBrokenFile, loadForCommand } from '../registry-loader.js';
import { healthExitCode } from '../server-view.js';

export interface DoctorOptions {
  /** One server, or every server when absent. */
  name?: string;
  json: boolean;
  /** Per server; an entry's own `timeout` wins. */
  timeoutMs: number;
  /** Renew due or expired logins (default); false with --no-refresh: strictly read-only. */
  refresh: boolean;
}

export function parseDoctorOptions(
  name: string | undefined,
  raw: { json?: boolean; timeout?: string; refresh?: boolean },
  env: NodeJS.ProcessEnv,
): DoctorOptions {
  const timeoutMs = timeoutFrom(raw.timeout, env);
  return {
    ...(name === undefined ? {} : { name: validateName(name) }),
    json: Boolean(raw.json),
    timeoutMs,
    refresh: raw.refresh !== false,
  };
}

export async function runDoctor(options: DoctorOptions, io: Io): Promise<number> {
  const registry = await loadForCommand(io);
  const servers = selectServers(registry, options.name);
  if (servers.length === 0) {
    if (options.json) printJson(io, []);
    writeLine(io.stderr, 'No MCP servers configured.');
    writeLine(
      io.stderr,
      'Add one with: patchbay add <name> <url>   or   patchbay add <name> -- <command> [args...]',
    );
    return hasBrokenFile(registry) ? EXIT.degraded : EXIT.ok;
  }

  const { diagnoseAll } = await import('../../diagnose/doctor.js');
  // Human output streams in config order: a server is printed once every one before it is.
  const done: Array<Diagnosis | undefined> = new Array<Diagnosis | undefined>(servers.length);
  let printed = 0;
  const diagnoses = await diagnoseAll(servers, {
    timeoutMs: options.timeoutMs,
    env: io.env,
    paths: io.paths,
    cwd: io.cwd,
    refresh: options.refresh,
    onResult: (index, diagnosis) => {
      if (options.json) return;
      done[index] = diagnosis;
      while (printed < done.length && done[printed]) printDiagnosis(done[printed++]!, io, printed > 1);
    },
  });

  if (options.json) printJson(io, options.name === undefined ? diagnoses : diagnoses[0]);
  else printSummary(diagnoses, io);
  const statuses = servers.map((server) => staticState(server, io.env).status);
  return exitCode(diagnoses, hasBrokenFile(registry), statuses);
}

/**
 * The same codes as `list` (server-view.ts healthExitCode): 0 all fine, or off on purpose; 4 only
 * logins missing; 5 only approvals pending; 8 not reached, or troubles of different kinds.
 */
export function exitCode(diagnoses: Diagnosis[], brokenFile = false, statuses: ServerStatus[] = []): number {
  if (brokenFile) return EXIT.degraded;
  return healthExitCode(
    diagnoses.map((diagnosis, index) => ({ status: statusOf(diagnosis, statuses[index]) })),
  );
}

/** A diagnosis as a server status; a server not contacted keeps the status its config gives it. */
function statusOf(diagnosis: Diagnosis, configured: ServerStatus | undefined): ServerStatus {
  switch (diagnosis.verdict) {
    case 'ok':
      return 'connected';
    case 'needs-auth':
      return 'needs-auth';
    case 'failed':
      return 'failed';
    case 'skipped':
      // Rejected or blocked is a choice (reported, not a fault); one awaiting approval waits for you.
      if (configured === 'pending-approval' || configured === 'disabled') return configured;
      return diagnosis.findings.some((finding) => finding.status === 'fail') ? 'failed' : 'disabled';
  }
}

const SYMBOL: Record<FindingStatus, string> = { pass: '✔', fail: '✘', warn: '!', skip: '-' };
const VERDICT_TEXT: Record<Diagnosis['verdict'], string> = {
  ok: 'ok',
  'needs-auth': 'needs login',
  failed: 'failed',
  skipped: 'not checked',
};

function colourOf(p: Paint, status: FindingStatus): (text: string) => string {
  return status === 'pass' ? p.green : status === 'fail' ? p.red : status === 'warn' ? p.yellow : p.dim;
}

function printDiagnosis(diagnosis: Diagnosis, io: Io, separate: boolean): void {
  const p = paint(useColor(io, 'stdout'));
  const verdictColour =
    diagnosis.verdict === 'ok'
      ? p.green
      : diagnosis.verdict === 'failed'
        ? p.red
        : diagnosis.verdict === 'needs-auth'
          ? p.yellow
          : p.dim;
  if (separate) writeLine(io.stdout);
  const where = [diagnosis.scope, diagnosis.transport ?? '?', terminalText(diagnosis.target)].join(' · ');
  const warnings = diagnosis.findings.filter((finding) => finding.status === 'warn').length;
  const verdict =
    VERDICT_TEXT[diagnosis.verdict] + (warnings > 0 ? `, ${warnings} warning${warnings > 1 ? 's' : ''}` : '');
  writeLine(io.stdout, `${p.bold(diagnosis.name)}  ${verdictColour(verdict)}  ${p.dim(`(${where})`)}`);
  const width = Math.max(...diagnosis.findings.map((finding) => finding.layer.length));
  for (const finding of diagnosis.findings) printFinding(finding, width, io, p);
}

function printFinding(finding: Finding, width: number, io: Io, p: Paint): void {
  const colour = colourOf(p, finding.status);
  const summary = terminalText(finding.summary);
  writeLine(
    io.stdout,
    `  ${colour(SYMBOL[finding.status])} ${finding.layer.padEnd(width)}  ${finding.status === 'skip' ? p.dim(summary) : summary}`,
  );
  if (finding.fix && finding.status !== 'pass')
    writeLine(io.stdout, `  ${' '.repeat(width + 4)}${p.dim('→')} ${terminalText(finding.fix)}`);
}

function printSummary(diagnoses: Diagnosis[], io: Io): void {
  const counts = new Map<string, number>();
  for (const diagnosis of diagnoses)
    counts.set(VERDICT_TEXT[diagnosis.verdict], (counts.get(VERDICT_TEXT[diagnosis.verdict]) ?? 0) + 1);
  const parts = [...counts].map(([verdict, count]) => `${count} ${verdict}`);
  writeLine(
    io.stderr,
    `\n${diagnoses.length} server${diagnoses.length === 1 ? '' : 's'}: ${parts.join(', ')}`,
  );
}
