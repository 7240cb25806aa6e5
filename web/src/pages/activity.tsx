import { useMemo, useState } from 'preact/hooks';
import { api } from '../api';
import { CallsChart, WINDOWS, type Since } from '../charts/calls-chart';
import { LatencyChart } from '../charts/latency-chart';
import { DoctorFindings } from '../components/doctor';
import { ErrorNotice, Loading } from '../components/ui';
import { formatBytes, formatMs, formatTime, plural } from '../lib/format';
import { useLoad } from '../lib/use-load';
import { href, navigate } from '../router';
import type { ActivityEntry } from '../types';

const DECISIONS: Array<ActivityEntry['decision']> = ['allowed', 'asked', 'denied', 'limited'];
const OUTCOME_VALUES: Array<ActivityEntry['outcome']> = ['ok', 'tool-error', 'error', 'refused'];
const PAGE = 50;

interface Filters {
  since: Since;
  server: string;
  decision: string;
  outcome: string;
}

function readFilters(query: URLSearchParams): Filters {
  const since = query.get('since');
  return {
    since: since && since in WINDOWS ? (since as Since) : '1d',
    server: query.get('server') ?? '',
    decision: query.get('decision') ?? '',
    outcome: query.get('outcome') ?? '',
  };
}

function writeFilters(filters: Filters): void {
  const query: Record<string, string> = { since: filters.since };
  if (filters.server) query.server = filters.server;
  if (filters.decision) query.decision = filters.decision;
  if (filters.outcome) query.outcome = filters.outcome;
  navigate(href.activity(query));
}

function Select({
  id,
  label,
  value,
  options,
  onChange,
}: {
  id: string;
  label: string;
  value: string;
  options: Array<{ value: string; label: string }>;
  onChange: (value: string) => void;
}) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select
        id={id}
        value={value}
        onChange={(event) => onChange(event.currentTarget.value)}
        data-testid={id}
      >
        {options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
    </div>
  );
}

function ActivityTable({ entries }: { entries: ActivityEntry[] }) {
  const [shown, setShown] = useState(PAGE);
  if (entries.length === 0) return <p class="muted">No calls match.</p>;
  return (
    <>
      <div class="table-scroll" tabIndex={0} role="region" aria-label="Calls (scrolls sideways)">
        <table class="table" data-testid="activity-table">
          <caption class="visually-hidden">Tool calls, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Server</th>
              <th scope="col">Tool</th>
              <th scope="col">Decision</th>
              <th scope="col">Outcome</th>
              <th scope="col" class="num">
                Duration
              </th>
              <th scope="col">Via</th>
              <th scope="col" class="num">
                In / out
              </th>
            </tr>
          </thead>
          <tbody>
            {entries.slice(0, shown).map((entry, index) => (
              <tr key={index} class={`row-${entry.outcome}`}>
                <td class="nowrap">{formatTime(entry.time)}</td>
                <td>{entry.server}</td>
                <td class="mono">{entry.tool}</td>
                <td>
                  <span class={`tag tag-${entry.decision}`}>{entry.decision}</span>
                </td>
                <td>
                  <span class={`tag tag-${entry.outcome}`}>{entry.outcome}</span>
                  {entry.error ? <div class="cell-error">{entry.error}</div> : null}
                </td>
                <td class="num nowrap">{formatMs(entry.durationMs)}</td>
                <td class="nowrap">
                  {entry.via}
                  {entry.host ? <span class="muted"> · {entry.host}</span> : null}
                </td>
                <td class="num nowrap">
                  {formatBytes(entry.argumentBytes)} / {formatBytes(entry.resultBytes)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {entries.length > shown ? (
        <button type="button" class="button" onClick={() => setShown(shown + PAGE)}>
          Show {Math.min(PAGE, entries.length - shown)} more of {entries.length - shown}
        </button>
      ) : null}
    </>
  );
}

export function ActivityPage({ query }: { query: URLSearchParams }) {
  const filters = readFilters(query);
  const update = (patch: Partial<Filters>) => writeFilters({ ...filters, ...patch });
  const servers = useLoad(() => api.servers(false), 'servers');
  const activity = useLoad(
    () => api.activity(filters.since, filters.server || null),
    `${filters.since}|${filters.server}`,
  );
  const [doctorFor, setDoctorFor] = useState<string | null>(null);
  // The moment the data arrived, so buckets line up with what the server counted.
  const now = useMemo(() => Date.now(), [activity.data]);

  const entries = useMemo(() => {
    const all = activity.data?.entries ?? [];
    return all
      .filter(
        (entry) =>
          (!filters.decision || entry.decision === filters.decision) &&
          (!filters.outcome || entry.outcome === filters.outcome),
      )
      .sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
  }, [activity.data, filters.decision, filters.outcome]);

  const serverNames = [...new Set((servers.data ?? []).map((server) => server.name))].sort();
  if (filters.server && !serverNames.includes(filters.server)) serverNames.push(filters.server);
  const counts = {
    errors: entries.filter((entry) => entry.outcome === 'error' || entry.outcome === 'tool-error').length,
    refused: entries.filter((entry) => entry.outcome === 'refused').length,
  };

  return (
    <div class="page page-wide">
      <div class="page-head">
        <div>
          <h1>Activity</h1>
          <p class="lede">
            Every tool call made through the gateway, <span class="mono">patchbay call</span> or this console.
          </p>
        </div>
        <div class="page-actions">
          <button
            type="button"
            class="button"
            onClick={() => void activity.reload()}
            disabled={activity.loading}
            data-testid="activity-refresh"
          >
            {activity.loading ? 'Loading…' : 'Refresh'}
          </button>
        </div>
      </div>

      <form class="filters card" aria-label="Filters" onSubmit={(event) => event.preventDefault()}>
        <Select
          id="filter-since"
          label="Since"
          value={filters.since}
          onChange={(since) => update({ since: since as Since })}
          options={[
            { value: '1h', label: 'Last hour' },
            { value: '1d', label: 'Last day' },
            { value: '1w', label: 'Last week' },
          ]}
        />
        <Select
          id="filter-server"
          label="Server"
          value={filters.server}
          onChange={(server) => {
            setDoctorFor(null);
            update({ server });
          }}
          options={[
            { value: '', label: 'All servers' },
            ...serverNames.map((name) => ({ value: name, label: name })),
          ]}
        />
        <Select
          id="filter-decision"
          label="Decision"
          value={filters.decision}
          onChange={(decision) => update({ decision })}
          options={[
            { value: '', label: 'Any decision' },
            ...DECISIONS.map((value) => ({ value, label: value })),
          ]}
        />
        <Select
          id="filter-outcome"
          label="Outcome"
          value={filters.outcome}
          onChange={(outcome) => update({ outcome })}
          options={[
            { value: '', label: 'Any outcome' },
            ...OUTCOME_VALUES.map((value) => ({ value, label: value })),
          ]}
        />
      </form>

      {filters.server ? (
        <div class="doctor-bar">
          <button
            type="button"
            class="button"
            aria-expanded={doctorFor === filters.server}
            onClick={() => setDoctorFor(doctorFor === filters.server ? null : filters.server)}
            data-testid={`doctor-${filters.server}`}
          >
            {doctorFor === filters.server ? 'Hide doctor' : `Run doctor on ${filters.server}`}
          </button>
          {doctorFor === filters.server ? <DoctorFindings name={filters.server} /> : null}
        </div>
      ) : null}

      <ErrorNotice error={activity.error} testid="activity-error" />
      {activity.loading && !activity.data ? <Loading label="Loading activity…" /> : null}

      {activity.data ? (
        <>
          <p class="summary" role="status">
            <strong>{plural(entries.length, 'call')}</strong>
            {counts.errors ? ` · ${plural(counts.errors, 'error')}` : ''}
            {counts.refused ? ` · ${counts.refused} refused` : ''}
          </p>
          <div class="chart-grid">
            <div class="card">
              <CallsChart entries={entries} since={filters.since} now={now} />
            </div>
            <div class="card">
              <LatencyChart stats={activity.data.stats} showServer={!filters.server} />
            </div>
          </div>
          <h2 class="section-title">Calls</h2>
          <ActivityTable entries={entries} />
        </>
      ) : null}
    </div>
  );
}
