// The data behind a speed test chart, embedded in the page as JSON (never as script: the CSP
// allows no inline script) and drawn by assets/chart.js with uPlot as charts sharing one time
// axis: download and upload in Mbit/s; ping, jitter and the latency under load in ms; and, when
// the range holds more than one server, download and ping per server (each server a series).
import type { ServerBucket, SpeedtestBucket, SpeedtestListItem } from '../../speedtest/history.ts';
import { html, SafeHtml } from '../html.ts';

/** Averages per time bucket, for a range with more tests than a chart draws one by one. */
export interface BucketedTests {
  buckets: SpeedtestBucket[];
  /** The same buckets per server, for the per-server charts. */
  byServer?: ServerBucket[];
  bucketSeconds: number;
  /** How many tests the buckets hold together. */
  tests: number;
}

export interface ChartOptions {
  /** The id of a test to highlight. */
  mark?: string;
  /** Accessible name of the chart. */
  label: string;
  /** The time range the chart shows (and "Reset zoom" returns to); else the data's own. */
  window?: { from: Date; to: Date };
  /** Shown under the chart when there is data. */
  caption?: SafeHtml | string;
  /** Whether a click on a point opens its test in the portal (not on the public page). */
  links?: boolean;
}

interface ChartData {
  /** Per point the test it is, or null for a bucket's average. */
  ids: Array<string | null>;
  /** Seconds since the epoch, oldest first (uPlot's time unit). */
  t: number[];
  download: Array<number | null>;
  upload: Array<number | null>;
  ping: Array<number | null>;
  jitter: Array<number | null>;
  loadedDown: Array<number | null>;
  loadedUp: Array<number | null>;
  /** Per server (two or more), on a time axis of their own: null with one server. */
  servers: ServerSeries | null;
  mark: string | null;
  /** [from, to] in seconds, or null: the data's first and last point. */
  window: [number, number] | null;
  /** Set when each point is a bucket's average: its width, for a click to list its tests. */
  bucketSeconds: number | null;
  /** Whether a click on a point goes anywhere. */
  links: boolean;
}

interface ServerSeries {
  t: number[];
  names: string[];
  /** Per server, in `names` order, one value per `t` (null: no test of that server then). */
  download: Array<Array<number | null>>;
  ping: Array<Array<number | null>>;
}

const mbit = (value: number | null) => (value === null ? null : value / 1e6);

/** Points (time, server, download, ping) as one series per server over their shared times. */
function perServer(
  points: Array<{ t: number; server: string; download: number | null; ping: number | null }>,
): ServerSeries | null {
  const names = [...new Set(points.map((p) => p.server))].sort();
  if (names.length < 2) return null;
  const t = [...new Set(points.map((p) => p.t))].sort((a, b) => a - b);
  const at = new Map(t.map((time, index) => [time, index]));
  const empty = () => names.map(() => t.map((): number | null => null));
  const download = empty();
  const ping = empty();
  for (const p of points) {
    const s = names.indexOf(p.server);
    download[s]![at.get(p.t)!] = p.download;
    ping[s]![at.get(p.t)!] = p.ping;
  }
  return { t, names, download, ping };
}
const seconds = (date: Date | string) => new Date(date).getTime() / 1000;

function fromRows(rows: SpeedtestListItem[]): Omit<ChartData, 'mark' | 'window' | 'links'> {
  const ordered = [...rows].sort((a, b) => seconds(a.startedAt) - seconds(b.startedAt));
  return {
    ids: ordered.map((row) => row.id),
    t: ordered.map((row) => seconds(row.startedAt)),
    download: ordered.map((row) => mbit(row.downloadBps)),
    upload: ordered.map((row) => mbit(row.uploadBps)),
    ping: ordered.map((row) => row.pingMs),
    jitter: ordered.map((row) => row.jitterMs),
    loadedDown: ordered.map((row) => row.downloadLatencyMs),
    loadedUp: ordered.map((row) => row.uploadLatencyMs),
    servers: perServer(
      ordered.map((row) => ({
        t: seconds(row.startedAt),
        server: row.serverName ?? row.engine,
        download: mbit(row.downloadBps),
        ping: row.pingMs,
      })),
    ),
    bucketSeconds: null,
  };
}

function fromBuckets({
  buckets,
  byServer = [],
  bucketSeconds,
}: BucketedTests): Omit<ChartData, 'mark' | 'window' | 'links'> {
  return {
    ids: buckets.map(() => null),
    t: buckets.map((b) => b.atMs / 1000),
    download: buckets.map((b) => mbit(b.downloadBps)),
    upload: buckets.map((b) => mbit(b.uploadBps)),
    ping: buckets.map((b) => b.pingMs),
    jitter: buckets.map((b) => b.jitterMs),
    loadedDown: buckets.map((b) => b.downloadLatencyMs),
    loadedUp: buckets.map((b) => b.uploadLatencyMs),
    // Each server's average sits in the middle of its bucket.
    servers: perServer(
      byServer.map((b) => ({
        t: b.startMs / 1000 + bucketSeconds / 2,
        server: b.server,
        download: mbit(b.downloadBps),
        ping: b.pingMs,
      })),
    ),
    bucketSeconds,
  };
}

/**
 * Two charts (speeds, latency) over one set of points: the tests themselves, oldest first, or
 * the averages of time buckets. The speeds chart keeps `data-chart="speedtests"`, the hook
 * scripts and tests have always used for "the chart"; both are `[data-pane]`.
 */
export function speedtestChart(
  source: SpeedtestListItem[] | BucketedTests,
  options: ChartOptions,
): SafeHtml {
  const data: ChartData = {
    ...(Array.isArray(source) ? fromRows(source) : fromBuckets(source)),
    mark: options.mark ?? null,
    window: options.window ? [seconds(options.window.from), seconds(options.window.to)] : null,
    links: options.links ?? true,
  };
  // `<` escaped so no value can close the script element early.
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  const empty = data.t.length === 0;
  return html`<figure class="chart" aria-label="${options.label}">
    <div class="chart-tools">
      <button type="button" class="secondary small" data-chart-reset hidden>Reset zoom</button>
    </div>
    <div class="chart-plot" data-chart="speedtests" data-pane="speeds"></div>
    <div class="chart-plot" data-pane="latency"></div>
    ${
      data.servers
        ? html`<div class="chart-plot" data-pane="serverSpeeds"></div>
            <div class="chart-plot" data-pane="serverPing"></div>`
        : ''
    }
    <script type="application/json" class="chart-data">
      ${new SafeHtml(json)}
    </script>
    ${
      empty
        ? html`<figcaption>No speed tests in this range.</figcaption>`
        : options.caption
          ? html`<figcaption>${options.caption}</figcaption>`
          : ''
    }
  </figure>`;
}
