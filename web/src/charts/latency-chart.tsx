import { useId } from 'preact/hooks';
import { formatMs } from '../lib/format';
import type { ActivityView } from '../types';
import { niceCeiling, useWidth } from './use-width';

const TOP = 4;
const MAX_ROWS = 15;

/** p50 and p95 latency per tool, slowest first: a bar per tool, p50 drawn over p95. */
export function LatencyChart({ stats, showServer }: { stats: ActivityView['stats']; showServer: boolean }) {
  const titleId = useId();
  const [ref, width] = useWidth<HTMLDivElement>(640);
  const rows = stats
    .filter((stat) => stat.p50Ms !== null || stat.p95Ms !== null)
    .sort((a, b) => (b.p95Ms ?? b.p50Ms ?? 0) - (a.p95Ms ?? a.p50Ms ?? 0))
    .slice(0, MAX_ROWS);
  const max = niceCeiling(Math.max(1, ...rows.map((row) => row.p95Ms ?? row.p50Ms ?? 0)));
  // Narrow screens put the numbers under the name instead of beside it.
  const compact = width < 480;
  const rowHeight = compact ? 54 : 40;
  const barY = compact ? 34 : 18;
  const height = TOP + rows.length * rowHeight;
  const scale = (ms: number | null) => (ms === null ? 0 : Math.max(2, (ms / max) * width));

  return (
    <figure class="chart" data-testid="chart-latency">
      <figcaption class="chart-title" id={titleId}>
        Latency per tool
      </figcaption>
      {rows.length === 0 ? (
        <p class="muted">No completed calls to measure.</p>
      ) : (
        <div ref={ref} class="chart-canvas">
          <svg
            width={width}
            height={height}
            viewBox={`0 0 ${width} ${height}`}
            role="img"
            aria-labelledby={titleId}
          >
            {rows.map((stat, index) => {
              const top = TOP + index * rowHeight;
              const name = showServer ? `${stat.server} · ${stat.tool}` : stat.tool;
              const values = `p50 ${formatMs(stat.p50Ms)} · p95 ${formatMs(stat.p95Ms)}`;
              return (
                <g key={`${stat.server}/${stat.tool}`}>
                  <title>{`${name}: ${values}, ${stat.calls} calls`}</title>
                  <text class="label" x={0} y={top + 12}>
                    {name}
                  </text>
                  <text
                    class="axis"
                    x={compact ? 0 : width}
                    y={top + (compact ? 28 : 12)}
                    text-anchor={compact ? 'start' : 'end'}
                  >
                    {values}
                  </text>
                  <rect class="track" x={0} y={top + barY} width={width} height={12} rx={3} />
                  <rect
                    class="bar bar-p95"
                    x={0}
                    y={top + barY}
                    width={scale(stat.p95Ms)}
                    height={12}
                    rx={3}
                  />
                  <rect
                    class="bar bar-p50"
                    x={0}
                    y={top + barY}
                    width={scale(stat.p50Ms)}
                    height={12}
                    rx={3}
                  />
                </g>
              );
            })}
          </svg>
        </div>
      )}
      <ul class="legend" aria-label="Legend">
        <li>
          <span class="swatch bar-p50" aria-hidden="true" />
          p50 (median)
        </li>
        <li>
          <span class="swatch bar-p95" aria-hidden="true" />
          p95
        </li>
        <li class="muted">scale: 0 – {formatMs(max)}</li>
      </ul>
    </figure>
  );
}
