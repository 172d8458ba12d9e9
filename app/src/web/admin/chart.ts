// The data behind a speed test chart, embedded in the page as JSON (never as script: the CSP
// allows no inline script) and drawn by assets/chart.js with uPlot.
import type { SpeedtestListItem } from '../../speedtest/history.ts';
import { html, SafeHtml } from '../html.ts';

export interface ChartOptions {
  /** The id of a test to highlight. */
  mark?: string;
  /** Accessible name of the chart. */
  label: string;
}

/** Oldest first; download/upload in Mbit/s, ping in ms. */
export function speedtestChart(rows: SpeedtestListItem[], options: ChartOptions): SafeHtml {
  const ordered = [...rows].sort(
    (a, b) => new Date(a.startedAt).getTime() - new Date(b.startedAt).getTime(),
  );
  const mbit = (value: number | null) => (value === null ? null : value / 1e6);
  const data = {
    ids: ordered.map((row) => row.id),
    t: ordered.map((row) => new Date(row.startedAt).getTime() / 1000),
    download: ordered.map((row) => mbit(row.downloadBps)),
    upload: ordered.map((row) => mbit(row.uploadBps)),
    ping: ordered.map((row) => row.pingMs),
    mark: options.mark ?? null,
  };
  // `<` escaped so no value can close the script element early.
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  return html`<figure class="chart" aria-label="${options.label}">
    <div class="chart-plot" data-chart="speedtests"></div>
    <script type="application/json" class="chart-data">
      ${new SafeHtml(json)}
    </script>
    ${ordered.length === 0 ? html`<figcaption>No speed tests in this range yet.</figcaption>` : ''}
  </figure>`;
}
