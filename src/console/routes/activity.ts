/**
 * Activity: the audit log (every call through the gateway, `patchbay call` and the console) with
 * per-tool figures for the charts, and the doctor's layer-by-layer findings for one connector.
 */

import { parseSince, readAudit, summarize, type AuditDecision, type AuditEntry } from '../../policy/audit.js';
import { validateName } from '../../config/validate.js';
import type { ActivityEntry, ActivityView, DoctorView } from '../api-types.js';
import { loadServer } from '../context.js';
import { json } from '../http.js';
import type { Route } from '../router.js';

/** The page gets the most recent entries; the figures count every entry in the period. */
export const MAX_ACTIVITY_ENTRIES = 5_000;

function isToolCall(
  entry: AuditEntry,
): entry is AuditEntry & { decision: Exclude<AuditDecision, 'not-governed'> } {
  return (entry.kind ?? 'tool') === 'tool' && entry.decision !== 'not-governed';
}

export const activityRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/activity',
    handler: async ({ ctx, url }) => {
      const since = url.searchParams.get('since');
      const server = url.searchParams.get('server');
      const { entries: all } = await readAudit({
        paths: ctx.paths,
        ...(since ? { since: parseSince(since) } : {}),
        ...(server ? { server: validateName(server) } : {}),
      });
      // Tool calls only: the page does not show the gateway's resource reads and prompts (yet).
      const entries = all.filter(isToolCall);
      const view: ActivityView = {
        // Arguments are never sent to the page, even when the log keeps them.
        entries: entries.slice(-MAX_ACTIVITY_ENTRIES).map((entry): ActivityEntry => ({
          time: entry.time,
          host: entry.host,
          via: entry.via,
          server: entry.server,
          tool: entry.tool,
          decision: entry.decision,
          outcome: entry.outcome,
          durationMs: entry.durationMs,
          argumentBytes: entry.argumentBytes,
          resultBytes: entry.resultBytes,
          ...(entry.error !== undefined ? { error: entry.error } : {}),
        })),
        stats: summarize(entries),
      };
      return json(200, view);
    },
  },
  {
    method: 'GET',
    path: '/api/servers/:name/doctor',
    handler: async ({ ctx, params }) => {
      const { server } = await loadServer(ctx, params.name!);
      const { diagnose } = await import('../../diagnose/doctor.js');
      const diagnosis = await diagnose(server, {
        timeoutMs: ctx.timeoutMs,
        env: ctx.env,
        paths: ctx.paths,
        cwd: ctx.cwd,
        refreshState: ctx.refreshState,
      });
      const view: DoctorView = {
        verdict: diagnosis.verdict,
        findings: diagnosis.findings.map((finding) => ({
          layer: finding.layer,
          status: finding.status,
          summary: finding.summary,
          fix: finding.fix ?? null,
        })),
      };
      return json(200, view);
    },
  },
];
