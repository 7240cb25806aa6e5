import { useId } from 'preact/hooks';
import type { ActivityEntry } from '../types';
import { niceCeiling, useWidth } from './use-width';

export const OUTCOMES: Array<{ outcome: ActivityEntry['outcome']; label: string }> = [
  { outcome: 'ok', label: 'OK' },
  { outcome: 'tool-error', label: 'Tool error' },
  { outcome: 'error', label: 'Error' },
  { outcome: 'refused', label: 'Refused' },
];

export const WINDOWS = {
  '1h': { ms: 3_600_000, buckets: 12, label: 'last hour' },
  '1d': { ms: 86_400_000, buckets: 24, label: 'last day' },
  '1w': { ms: 7 * 86_400_000, buckets: 28, label: 'last week' },
} as const;

export type Since = keyof typeof WINDOWS;

interface Bucket {
  start: number;
  end: number;
  counts: Record<ActivityEntry['outcome'], number>;
  total: number;
}

export function bucketize(entries: ActivityEntry[], since: Since, now: number): Bucket[] {
  const { ms, buckets: count } = WINDOWS[since];
  const size = ms / count;
  const start = now - ms;
  const buckets: Bucket[] = Array.from({ length: count }, (_, index) => ({
    start: start + index * size,
    end: start + (index + 1) * size,
    counts: { ok: 0, 'tool-error': 0, error: 0, refused: 0 },
    total: 0,
  }));
  for (const entry of entries) {
    const time = Date.parse(entry.time);
    if (!Number.isFinite(time) || time < start || time > now) continue;
    const bucket = buckets[Math.min(count - 1, Math.floor((time - start) / size))]!;
    if (entry.outcome in bucket.counts) bucket.counts[entry.outcome]++;
    bucket.total++;
  }
  return buckets;
}

function timeLabel(time: number, since: Since): string {
  const date = new Date(time);
  return since === '1w'
    ? date.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', hour: 'numeric' })
    : date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/** Axis labels count back from now: the start and end of a day would read the same clock time. */
function agoLabel(time: number, now: number, since: Since): string {
  const ms = now - time;
  if (ms < 30_000) return 'now';
  if (since === '1h') return `${Math.round(ms / 60_000)} min ago`;
  if (since === '1d') return `${Math.round(ms / 3_600_000)} h ago`;
  return `${Math.round(ms / 86_400_000)} d ago`;
}

const HEIGHT = 200;
const TOP = 12;
const BOTTOM = 24;
const LEFT = 36;
const RIGHT = 8;

/** Calls per time bucket, stacked by outcome. Drawn by hand: a chart library is not worth its weight here. */
export function CallsChart({ entries, since, now }: { entries: ActivityEntry[]; since: Since; now: number }) {
  const titleId = useId();
  const [ref, width] = useWidth<HTMLDivElement>(640);
  const buckets = bucketize(entries, since, now);
  const max = niceCeiling(Math.max(1, ...buckets.map((bucket) => bucket.total)));
  const plotWidth = width - LEFT - RIGHT;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const slot = plotWidth / buckets.length;
  const barWidth = Math.max(2, slot * 0.7);
  const y = (value: number) => TOP + plotHeight - (value / max) * plotHeight;
  const total = buckets.reduce((sum, bucket) => sum + bucket.total, 0);
  const ticks = [0, Math.floor(buckets.length / 2), buckets.length - 1];

  return (
    <figure class="chart" data-testid="chart-calls">
      <figcaption class="chart-title" id={titleId}>
        Calls over the {WINDOWS[since].label}
      </figcaption>
      <div ref={ref} class="chart-canvas">
        <svg
          width={width}
          height={HEIGHT}
          viewBox={`0 0 ${width} ${HEIGHT}`}
          role="img"
          aria-labelledby={titleId}
          aria-describedby={`${titleId}-desc`}
        >
          <desc id={`${titleId}-desc`}>
            {`${total} calls, at most ${Math.max(...buckets.map((b) => b.total))} in one interval.`}
          </desc>
          {[0, max / 2, max].map((value) => (
            <g key={value}>
              <line class="grid" x1={LEFT} x2={width - RIGHT} y1={y(value)} y2={y(value)} />
              <text class="axis" x={LEFT - 6} y={y(value) + 4} text-anchor="end">
                {Number.isInteger(value) ? value : value.toFixed(1)}
              </text>
            </g>
          ))}
          {buckets.map((bucket, index) => {
            const x = LEFT + index * slot + (slot - barWidth) / 2;
            let base = 0;
            const label = `${timeLabel(bucket.start, since)}–${timeLabel(bucket.end, since)}: ${bucket.total} calls${
              bucket.total
                ? ` (${OUTCOMES.filter(({ outcome }) => bucket.counts[outcome] > 0)
                    .map(({ outcome, label: name }) => `${bucket.counts[outcome]} ${name.toLowerCase()}`)
                    .join(', ')})`
                : ''
            }`;
            return (
              <g key={index}>
                <title>{label}</title>
                {OUTCOMES.map(({ outcome }) => {
                  const count = bucket.counts[outcome];
                  if (count === 0) return null;
                  const top = y(base + count);
                  const height = y(base) - top;
                  base += count;
                  return (
                    <rect
                      key={outcome}
                      class={`bar bar-${outcome}`}
                      x={x}
                      y={top}
                      width={barWidth}
                      height={height}
                      rx={1.5}
                    />
                  );
                })}
              </g>
            );
          })}
          {ticks.map((index) => {
            const bucket = buckets[index];
            if (!bucket) return null;
            const anchor = index === 0 ? 'start' : index === buckets.length - 1 ? 'end' : 'middle';
            const x =
              anchor === 'start' ? LEFT : anchor === 'end' ? width - RIGHT : LEFT + index * slot + slot / 2;
            return (
              <text key={index} class="axis" x={x} y={HEIGHT - 6} text-anchor={anchor}>
                {agoLabel(anchor === 'end' ? bucket.end : bucket.start, now, since)}
              </text>
            );
          })}
        </svg>
      </div>
      <ul class="legend" aria-label="Legend">
        {OUTCOMES.map(({ outcome, label }) => (
          <li key={outcome}>
            <span class={`swatch bar-${outcome}`} aria-hidden="true" />
            {label}
          </li>
        ))}
      </ul>
    </figure>
  );
}
