// Probes: what the worker's continuous TCP and HTTP probes found between speed tests, from
// PostgreSQL. probe_minutes holds one row per probe, target and minute with sums (checks sent
// and lost, round trips, jitter), so every figure here is a sum divided by a sum: the average
// latency of any stretch is rtt_sum_ms / (sent - lost), its loss lost / sent, and they stay exact
// over minutes written in two parts. Uptime comes from probe_outages, as the API's summary has it:
// of the part of the range the probe existed in, the share not inside an outage. Filtered by
// probe and target (outages and uptime belong to a probe, not to a target).
import {
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
} from '@grafana/grafana-foundation-sdk/dashboard';
import {
  BarGaugeDisplayMode,
  BigValueColorMode,
  BigValueGraphMode,
  LegendDisplayMode,
  LegendPlacement,
  ReduceDataOptionsBuilder,
  TableSortByFieldStateBuilder,
  VizLegendOptionsBuilder,
  VizOrientation,
} from '@grafana/grafana-foundation-sdk/common';
import { PanelBuilder as BarGaugePanel } from '@grafana/grafana-foundation-sdk/bargauge';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeSeriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';
import {
  DATASOURCES,
  dashboard,
  finish,
  sqlFilter,
  sqlSeries,
  sqlTable,
  sqlVariable,
} from '../lib.ts';

export const PROBES_UID = 'refresher-probes';

/** The minutes in the time range of the selected probes and targets (m: probe_minutes, p: probes). */
const MINUTES = `
  FROM probe_minutes m
  JOIN probes p ON p.id = m.probe_id
 WHERE $__timeFilter(m.minute)
   AND ${sqlFilter('p.id::text', 'probe')}
   AND ${sqlFilter('m.target', 'target')}`;

/**
 * Per selected probe: the part of the range it existed in (a, b) and its seconds inside outages
 * there (down), an open outage counting up to now.
 */
const UPTIME = `
WITH span AS (
  SELECT p.id, p.name,
         greatest($__timeFrom()::timestamptz, p.created_at) AS a,
         least($__timeTo()::timestamptz, now()) AS b
    FROM probes p
   WHERE ${sqlFilter('p.id::text', 'probe')}
), down AS (
  SELECT span.id, span.name, extract(epoch FROM span.b - span.a) AS seconds,
         coalesce(sum(extract(epoch FROM
           least(coalesce(o.ended_at, now()), span.b) - greatest(o.started_at, span.a))), 0) AS down
    FROM span
    LEFT JOIN probe_outages o
      ON o.probe_id = span.id AND o.started_at < span.b AND coalesce(o.ended_at, now()) > span.a
   WHERE span.b > span.a
   GROUP BY span.id, span.name, span.b, span.a
)`;

/** Red under 99 %, yellow under 99.9 %: two nines is seven hours a month without a link. */
const uptimeThresholds = () =>
  new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([
    { value: null, color: 'red' },
    { value: 99, color: 'yellow' },
    { value: 99.9, color: 'green' },
  ]);

function stat(title: string, description: string, sql: string, unit: string) {
  return new StatPanel()
    .title(title)
    .description(description)
    .datasource(DATASOURCES.postgres)
    .withTarget(sqlTable(sql))
    .unit(unit)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .graphMode(BigValueGraphMode.None)
    .height(5)
    .span(6);
}

/** One series per probe and target, from the minutes: exactly time, metric and one value. */
function perTarget(title: string, unit: string, value: string, description: string) {
  return new TimeSeriesPanel()
    .title(title)
    .description(description)
    .datasource(DATASOURCES.postgres)
    .withTarget(
      sqlSeries(`
SELECT $__timeGroupAlias(m.minute, $__interval),
       p.name || ': ' || m.target AS metric,
       ${value} AS "value"${MINUTES}
 GROUP BY 1, 2
 ORDER BY 1, 2`),
    )
    .unit(unit)
    .min(0)
    .pointSize(4)
    .legend(
      new VizLegendOptionsBuilder()
        .displayMode(LegendDisplayMode.Table)
        .placement(LegendPlacement.Bottom)
        .showLegend(true)
        .calcs(['mean', 'max']),
    )
    .height(9)
    .span(12);
}

export function probesDashboard() {
  const builder = dashboard(
    'Probes',
    PROBES_UID,
    'Continuous TCP and HTTP probes of the worker (PostgreSQL): latency and loss per target, uptime and the outages.',
  )
    .withVariable(
      sqlVariable(
        'probe',
        'Probe',
        'SELECT name AS __text, id::text AS __value FROM probes ORDER BY 1',
      ),
    )
    .withVariable(
      sqlVariable(
        'target',
        'Target',
        `SELECT DISTINCT unnest(targets) FROM probes WHERE ${sqlFilter('id::text', 'probe')} ORDER BY 1`,
      ),
    )
    .withRow(new RowBuilder('Over the range'))
    .withPanel(
      stat(
        'Uptime',
        'Of the time the selected probes existed in the range, the share not inside an outage (all of them together).',
        `${UPTIME}
SELECT 100 * (1 - sum(down) / nullif(sum(seconds), 0)) AS "Uptime" FROM down`,
        'percent',
      )
        .decimals(2)
        .thresholds(uptimeThresholds())
        .colorMode(BigValueColorMode.Value),
    )
    .withPanel(
      stat(
        'Outages in the range',
        'Outages of the selected probes that overlap the range; an outage is every target failing the probe’s failures-for-outage rounds in a row.',
        `
SELECT count(*) AS "Outages"
  FROM probe_outages o
 WHERE o.started_at <= $__timeTo() AND coalesce(o.ended_at, now()) >= $__timeFrom()
   AND ${sqlFilter('o.probe_id::text', 'probe')}`,
        'none',
      ),
    )
    .withPanel(
      stat(
        'Loss',
        'Checks that got no answer in time, of those sent in the range (selected probes and targets).',
        `SELECT 100.0 * sum(m.lost) / nullif(sum(m.sent), 0) AS "Loss"${MINUTES}`,
        'percent',
      ).decimals(2),
    )
    .withPanel(
      stat(
        'Latency',
        'Average round trip of the checks answered in the range (TCP connect, or HTTP request to its response).',
        `SELECT sum(m.rtt_sum_ms) / nullif(sum(m.sent - m.lost), 0) AS "Latency"${MINUTES}`,
        'ms',
      ).decimals(1),
    )
    .withRow(new RowBuilder('Latency and loss'))
    .withPanel(
      perTarget(
        'Latency by target',
        'ms',
        'sum(m.rtt_sum_ms) / nullif(sum(m.sent - m.lost), 0)',
        'Average round trip per interval of the answered checks, one series per probe and target.',
      ).span(24),
    )
    .withPanel(
      perTarget(
        'Loss by target',
        'percent',
        '100.0 * sum(m.lost) / sum(m.sent)',
        'Checks without an answer per interval, in percent. A probe calls an outage only when every target fails several rounds in a row; loss on one target is the line or that target stuttering.',
      ),
    )
    .withPanel(
      perTarget(
        'Jitter by target',
        'ms',
        'sum(m.jitter_sum_ms) / nullif(sum(m.jitter_n), 0)',
        'How much one answer’s round trip differs from the previous one, averaged per interval.',
      ),
    )
    .withPanel(
      new BarGaugePanel()
        .title('Uptime by probe')
        .description('Of the time each probe existed in the range, the share not inside an outage.')
        .datasource(DATASOURCES.postgres)
        .withTarget(
          sqlTable(`${UPTIME}
SELECT name AS "Probe", 100 * (1 - down / seconds) AS "Uptime" FROM down ORDER BY name`),
        )
        .unit('percent')
        .decimals(2)
        .min(0)
        .max(100)
        .thresholds(uptimeThresholds())
        .displayMode(BarGaugeDisplayMode.Basic)
        .orientation(VizOrientation.Horizontal)
        // One bar per row, named by the row's text field (the probe).
        .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(true))
        .height(8)
        .span(12),
    )
    .withPanel(
      new TablePanel()
        .title('Targets')
        .description('Every selected target over the range: checks, loss and round trips.')
        .datasource(DATASOURCES.postgres)
        .withTarget(
          sqlTable(`
SELECT p.name AS "Probe",
       m.target AS "Target",
       sum(m.sent) AS "Checks",
       100.0 * sum(m.lost) / sum(m.sent) AS "Loss",
       sum(m.rtt_sum_ms) / nullif(sum(m.sent - m.lost), 0) AS "Latency",
       min(m.rtt_min_ms) AS "Fastest",
       max(m.rtt_max_ms) AS "Slowest"${MINUTES}
 GROUP BY p.name, m.target
 ORDER BY 1, 2`),
        )
        .overrideByName('Loss', [
          { id: 'unit', value: 'percent' },
          { id: 'decimals', value: 2 },
        ])
        .overrideByName('Latency', [
          { id: 'unit', value: 'ms' },
          { id: 'decimals', value: 1 },
        ])
        .overrideByName('Fastest', [{ id: 'unit', value: 'ms' }])
        .overrideByName('Slowest', [{ id: 'unit', value: 'ms' }])
        .height(8)
        .span(12),
    )
    .withRow(new RowBuilder('Outages'))
    .withPanel(
      new TablePanel()
        .title('Outages')
        .description(
          'Outages of the selected probes that overlap the range, newest first (at most 500). An ongoing one has no end and lasts until now.',
        )
        .datasource(DATASOURCES.postgres)
        .withTarget(
          sqlTable(`
SELECT p.name AS "Probe",
       o.started_at AS "Started",
       o.ended_at AS "Ended",
       CASE WHEN o.ended_at IS NULL THEN 'ongoing' ELSE 'over' END AS "State",
       extract(epoch FROM coalesce(o.ended_at, now()) - o.started_at) AS "Duration",
       o.failed_rounds AS "Failed rounds",
       o.last_error AS "Last error"
  FROM probe_outages o
  JOIN probes p ON p.id = o.probe_id
 WHERE o.started_at <= $__timeTo() AND coalesce(o.ended_at, now()) >= $__timeFrom()
   AND ${sqlFilter('p.id::text', 'probe')}
 ORDER BY o.started_at DESC
 LIMIT 500`),
        )
        .sortBy([new TableSortByFieldStateBuilder().displayName('Started').desc(true)])
        .overrideByName('Duration', [{ id: 'unit', value: 's' }])
        .overrideByName('State', [
          {
            id: 'mappings',
            value: [
              {
                type: 'value',
                options: {
                  ongoing: { color: 'red', index: 0 },
                  over: { color: 'green', index: 1 },
                },
              },
            ],
          },
          { id: 'custom.cellOptions', value: { type: 'color-text' } },
        ])
        .height(10)
        .span(24),
    );
  return finish(builder);
}
