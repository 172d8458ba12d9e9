// Speedtester: the speed tests stored in PostgreSQL. Download, upload and ping over time, their
// latest/min/max/average; the line's quality beyond throughput (latency under load beside the idle
// ping, jitter, packet loss, bufferbloat with its grade); the servers compared, one series each; a
// map of every server the tests pinged (by coordinates, coloured by latency), and the results with
// a link to each result page; filtered by engine, server and country.
import {
  FieldColorBuilder,
  FieldColorModeId,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  type Threshold,
} from '@grafana/grafana-foundation-sdk/dashboard';
import {
  BigValueColorMode,
  BigValueGraphMode,
  BigValueTextMode,
  FrameGeometrySourceBuilder,
  GraphThresholdsStyleConfigBuilder,
  GraphThresholdsStyleMode,
  FrameGeometrySourceMode,
  MapLayerOptionsBuilder,
  ReduceDataOptionsBuilder,
  TableSortByFieldStateBuilder,
  VizLegendOptionsBuilder,
  LegendDisplayMode,
  LegendPlacement,
} from '@grafana/grafana-foundation-sdk/common';
import {
  ControlsOptionsBuilder,
  PanelBuilder as GeomapPanel,
  MapViewConfigBuilder,
  TooltipMode,
  TooltipOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/geomap';
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
  type DashboardParams,
} from '../lib.ts';
import {
  BUFFERBLOAT_GRADE_BOUNDS_MS,
  BUFFERBLOAT_WORST_GRADE,
} from '../../contract/bufferbloat.ts';

export const SPEEDTESTER_UID = 'refresher-speedtester';

/** A server without a country is listed (and filtered) as this. */
const UNKNOWN = "'(unknown)'";

/** The tests in the time range that match the three filters (t: speedtests, s: its server). */
const FILTERED = `
  FROM speedtests t
  LEFT JOIN speedtest_servers s ON s.id = t.server_id
 WHERE $__timeFilter(t.started_at)
   AND ${sqlFilter('t.engine', 'engine')}
   AND ${sqlFilter('t.server_id::text', 'server')}
   AND ${sqlFilter(`coalesce(s.country, ${UNKNOWN})`, 'country')}`;

/**
 * A test's bufferbloat in ms, as the app computes it (app/src/speedtest/bufferbloat.ts): the mean
 * of the directions' rise in latency under load over the idle ping, each at least 0; NULL without
 * the ping or without both loaded latencies.
 */
const BUFFERBLOAT = `(CASE WHEN t.ping_ms IS NOT NULL
    AND (t.download_latency_ms IS NOT NULL OR t.upload_latency_ms IS NOT NULL)
  THEN (coalesce(greatest(t.download_latency_ms - t.ping_ms, 0), 0)
      + coalesce(greatest(t.upload_latency_ms - t.ping_ms, 0), 0))
     / ((t.download_latency_ms IS NOT NULL)::int + (t.upload_latency_ms IS NOT NULL)::int)
END)`;

/** The grade of a bufferbloat in ms (SQL), on the scale of contract/bufferbloat.ts. */
const gradeSql = (ms: string) =>
  `CASE WHEN ${ms} IS NULL THEN NULL${BUFFERBLOAT_GRADE_BOUNDS_MS.map(
    ([grade, bound]) => ` WHEN ${ms} < ${bound} THEN '${grade}'`,
  ).join('')} ELSE '${BUFFERBLOAT_WORST_GRADE}' END`;

/** Colours by grade: each grade's lower bound is a threshold step (A+ and A green, F dark red). */
const GRADE_COLOURS = ['green', 'green', 'yellow', 'orange', 'red', 'dark-red'];
const gradeThresholds = () =>
  new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([
    { value: null, color: GRADE_COLOURS[0]! },
    ...BUFFERBLOAT_GRADE_BOUNDS_MS.map(([, bound], index): Threshold => ({
      value: bound,
      color: GRADE_COLOURS[index + 1]!,
    })),
  ]);

/** One figure of every test, for the stat panels (Grafana reduces it to latest/min/max/mean). */
const figure = (expression: string, name: string) =>
  sqlSeries(`
SELECT t.started_at AS "time", ${expression} AS "${name}"${FILTERED}
   AND ${expression} IS NOT NULL
 ORDER BY 1`);

function stat(
  title: string,
  unit: string,
  expression: string,
  name: string,
  options: { span?: number; description?: string } = {},
) {
  return new StatPanel()
    .title(title)
    .description(
      `${options.description ?? ''}Latest, lowest, highest and average over the time range and filters.`,
    )
    .datasource(DATASOURCES.postgres)
    .withTarget(figure(expression, name))
    .unit(unit)
    .decimals(1)
    .reduceOptions(
      new ReduceDataOptionsBuilder().calcs(['lastNotNull', 'min', 'max', 'mean']).values(false),
    )
    .graphMode(BigValueGraphMode.None)
    .textMode(BigValueTextMode.ValueAndName)
    .height(5)
    .span(options.span ?? 6);
}

/** A time series of averages per interval of the filtered tests, with a table legend. */
function series(title: string, unit: string, select: string, description: string) {
  return new TimeSeriesPanel()
    .title(title)
    .description(description)
    .datasource(DATASOURCES.postgres)
    .withTarget(
      sqlSeries(`
SELECT $__timeGroupAlias(t.started_at, $__interval),
       ${select.trim()}${FILTERED}
 GROUP BY 1
 ORDER BY 1`),
    )
    .unit(unit)
    .min(0)
    .spanNulls(true)
    .pointSize(5)
    .legend(
      new VizLegendOptionsBuilder()
        .displayMode(LegendDisplayMode.Table)
        .placement(LegendPlacement.Bottom)
        .showLegend(true)
        .calcs(['lastNotNull', 'min', 'max', 'mean']),
    )
    .height(9)
    .span(12);
}

/**
 * One series per server (its name and engine, as the Server filter lists them): exactly the
 * columns time, metric and one value, which Grafana's SQL datasources name by `metric` alone.
 */
function perServer(title: string, unit: string, expression: string) {
  return new TimeSeriesPanel()
    .title(title)
    .description(
      'Average per interval of each server’s tests, one series per server (matching the filters): several servers compared on one axis.',
    )
    .datasource(DATASOURCES.postgres)
    .withTarget(
      sqlSeries(`
SELECT $__timeGroupAlias(t.started_at, $__interval),
       coalesce(s.name || ' (' || s.engine || ')', ${UNKNOWN}) AS metric,
       avg(${expression}) AS "value"${FILTERED}
 GROUP BY 1, 2
 ORDER BY 1, 2`),
    )
    .unit(unit)
    .min(0)
    .spanNulls(true)
    .pointSize(5)
    .legend(
      new VizLegendOptionsBuilder()
        .displayMode(LegendDisplayMode.Table)
        .placement(LegendPlacement.Bottom)
        .showLegend(true)
        .calcs(['lastNotNull', 'mean']),
    )
    .height(10)
    .span(8);
}

export function speedtesterDashboard(params: DashboardParams) {
  const builder = dashboard(
    'Speedtester',
    SPEEDTESTER_UID,
    'Speed tests stored by the worker (PostgreSQL): throughput, latency, the servers pinged and every result.',
  )
    .time({ from: 'now-7d', to: 'now' })
    .withVariable(
      sqlVariable('engine', 'Engine', 'SELECT DISTINCT engine FROM speedtests ORDER BY 1'),
    )
    .withVariable(
      sqlVariable(
        'server',
        'Server',
        `
SELECT DISTINCT s.name || ' (' || s.engine || ')' AS __text, s.id::text AS __value
  FROM speedtest_servers s
  JOIN speedtests t ON t.server_id = s.id
 WHERE ${sqlFilter('s.engine', 'engine')}
 ORDER BY 1`,
      ),
    )
    .withVariable(
      sqlVariable(
        'country',
        'Country',
        `
SELECT DISTINCT coalesce(s.country, ${UNKNOWN})
  FROM speedtest_servers s
  JOIN speedtests t ON t.server_id = s.id
 WHERE ${sqlFilter('s.engine', 'engine')}
 ORDER BY 1`,
      ),
    )
    .withRow(new RowBuilder('Throughput and latency'))
    .withPanel(stat('Download', 'Mbits', 't.download_bps / 1e6', 'Download'))
    .withPanel(stat('Upload', 'Mbits', 't.upload_bps / 1e6', 'Upload'))
    .withPanel(stat('Ping', 'ms', 't.ping_ms', 'Ping'))
    .withPanel(
      new StatPanel()
        .title('Tests')
        .description('Speed tests stored in the time range (matching the filters).')
        .datasource(DATASOURCES.postgres)
        .withTarget(sqlTable(`SELECT count(*) AS "Tests"${FILTERED}`))
        .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
        .graphMode(BigValueGraphMode.None)
        .height(5)
        .span(6),
    )
    .withPanel(
      stat('Jitter', 'ms', 't.jitter_ms', 'Jitter', {
        span: 8,
        description: 'How much one idle round trip differs from the next. ',
      }),
    )
    .withPanel(
      stat('Packet loss', 'percent', 't.packet_loss', 'Packet loss', {
        span: 8,
        description: 'Of the packets sent during a test (only the Ookla engine measures it). ',
      }),
    )
    .withPanel(
      stat('Bufferbloat', 'ms', BUFFERBLOAT, 'Bufferbloat', {
        span: 8,
        description:
          'How much latency rose under load over the idle ping, coloured by grade (A+ under 5 ms, A 30, B 60, C 200, D 400, F beyond). ',
      })
        .thresholds(gradeThresholds())
        .colorMode(BigValueColorMode.Value),
    )
    .withPanel(
      series(
        'Download and upload',
        'Mbits',
        `avg(t.download_bps) / 1e6 AS "Download",
       avg(t.upload_bps) / 1e6 AS "Upload"`,
        'Average per interval of the tests matching the filters.',
      ),
    )
    .withPanel(
      series(
        'Latency: idle and under load',
        'ms',
        `avg(t.ping_ms) AS "Idle (ping)",
       avg(t.download_latency_ms) AS "While downloading",
       avg(t.upload_latency_ms) AS "While uploading"`,
        'The idle ping beside the median latency measured while the download and while the upload filled the link. The gap between them is bufferbloat: queues in the router or modem that fill under load.',
      ),
    )
    .withPanel(
      series(
        'Jitter',
        'ms',
        `avg(t.jitter_ms) AS "Idle",
       avg(t.download_jitter_ms) AS "While downloading",
       avg(t.upload_jitter_ms) AS "While uploading"`,
        'How much one round trip differs from the next, idle and under load. Calls and games feel it before throughput suffers.',
      ),
    )
    .withPanel(
      series(
        'Packet loss',
        'percent',
        'avg(t.packet_loss) AS "Packet loss"',
        'Packets lost during a test, in percent. Only the Ookla engine measures it; librespeed tests leave no point.',
      ),
    )
    .withPanel(
      series(
        'Bufferbloat',
        'ms',
        `avg(${BUFFERBLOAT}) AS "Bufferbloat"`,
        'How much latency rose under load over the idle ping (the mean of download and upload). The bands are the grades: A+ under 5 ms, A under 30, B under 60, C under 200, D under 400, F beyond; worse than B is worth fixing (SQM on the router: fq_codel or cake).',
      )
        .thresholds(gradeThresholds())
        .thresholdsStyle(
          new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.DashedAndArea),
        )
        .span(24),
    )
    .withRow(new RowBuilder('Servers compared'))
    .withPanel(perServer('Download by server', 'Mbits', 't.download_bps / 1e6'))
    .withPanel(perServer('Upload by server', 'Mbits', 't.upload_bps / 1e6'))
    .withPanel(perServer('Ping by server', 'ms', 't.ping_ms'))
    .withRow(new RowBuilder('Servers'))
    .withPanel(
      new GeomapPanel()
        .title('Pinged servers')
        .description(
          'Every server a test probed before choosing one, at its coordinates: colour is the average latency, size the number of probes.',
        )
        .datasource(DATASOURCES.postgres)
        .withTarget(
          sqlTable(`
SELECT ps.name AS "Server",
       coalesce(ps.sponsor, '') AS "Sponsor",
       coalesce(ps.country, ${UNKNOWN}) AS "Country",
       ps.lat AS "Latitude",
       ps.lon AS "Longitude",
       avg(p.latency_ms) AS "Latency",
       count(*) AS "Probes",
       count(*) FILTER (WHERE p.chosen) AS "Chosen"
  FROM speedtest_server_pings p
  JOIN speedtest_servers ps ON ps.id = p.server_id
  JOIN speedtests t ON t.id = p.speedtest_id
  LEFT JOIN speedtest_servers s ON s.id = t.server_id
 WHERE $__timeFilter(t.started_at)
   AND ${sqlFilter('t.engine', 'engine')}
   AND ${sqlFilter('t.server_id::text', 'server')}
   AND ${sqlFilter(`coalesce(ps.country, ${UNKNOWN})`, 'country')}
   AND ps.lat IS NOT NULL AND ps.lon IS NOT NULL
 GROUP BY ps.id
 ORDER BY "Latency"`),
        )
        .view(new MapViewConfigBuilder().id('fit').allLayers(true).padding(20).lastOnly(false))
        .controls(
          new ControlsOptionsBuilder().showZoom(true).mouseWheelZoom(true).showAttribution(true),
        )
        .basemap(new MapLayerOptionsBuilder().type('default').name('Basemap'))
        .layers([
          new MapLayerOptionsBuilder()
            .type('markers')
            .name('Pinged servers')
            .tooltip(true)
            .location(
              new FrameGeometrySourceBuilder()
                .mode(FrameGeometrySourceMode.Coords)
                .latitude('Latitude')
                .longitude('Longitude'),
            )
            .config({
              showLegend: true,
              style: {
                color: { field: 'Latency', fixed: 'dark-green' },
                size: { field: 'Probes', fixed: 5, min: 4, max: 16 },
                opacity: 0.7,
                symbol: { mode: 'fixed', fixed: 'img/icons/marker/circle.svg' },
                text: { mode: 'field', field: 'Server', fixed: '' },
                textConfig: { fontSize: 11, offsetX: 0, offsetY: -12, textAlign: 'center' },
              },
            }),
        ])
        .tooltip(new TooltipOptionsBuilder().mode(TooltipMode.Details))
        .unit('ms')
        .colorScheme(new FieldColorBuilder().mode(FieldColorModeId.ContinuousGrYlRd))
        .overrideByName('Probes', [{ id: 'unit', value: 'none' }])
        .overrideByName('Chosen', [{ id: 'unit', value: 'none' }])
        .height(12)
        .span(24),
    )
    .withRow(new RowBuilder('Results'))
    .withPanel(
      new TablePanel()
        .title('Results')
        .description(
          'The newest 500 tests matching the filters. "Result" opens the engine’s own result page (Ookla’s share URL), "Test" the admin portal’s page.',
        )
        .datasource(DATASOURCES.postgres)
        .withTarget(
          sqlTable(`
SELECT t.started_at AS "Time",
       t.id::text AS "Test",
       t.engine AS "Engine",
       s.name AS "Server",
       coalesce(s.country, ${UNKNOWN}) AS "Country",
       t.download_bps / 1e6 AS "Download",
       t.upload_bps / 1e6 AS "Upload",
       t.ping_ms AS "Ping",
       t.jitter_ms AS "Jitter",
       t.packet_loss AS "Packet loss",
       t.download_latency_ms AS "Loaded latency down",
       t.upload_latency_ms AS "Loaded latency up",
       ${BUFFERBLOAT} AS "Bufferbloat",
       ${gradeSql(BUFFERBLOAT)} AS "Grade",
       t.result_url AS "Result"${FILTERED}
 ORDER BY t.started_at DESC
 LIMIT 500`),
        )
        .sortBy([new TableSortByFieldStateBuilder().displayName('Time').desc(true)])
        .filterable(true)
        .overrideByName('Download', [
          { id: 'unit', value: 'Mbits' },
          { id: 'decimals', value: 1 },
        ])
        .overrideByName('Upload', [
          { id: 'unit', value: 'Mbits' },
          { id: 'decimals', value: 1 },
        ])
        .overrideByName('Ping', [{ id: 'unit', value: 'ms' }])
        .overrideByName('Jitter', [{ id: 'unit', value: 'ms' }])
        .overrideByName('Packet loss', [{ id: 'unit', value: 'percent' }])
        .overrideByName('Loaded latency down', [{ id: 'unit', value: 'ms' }])
        .overrideByName('Loaded latency up', [{ id: 'unit', value: 'ms' }])
        .overrideByName('Bufferbloat', [
          { id: 'unit', value: 'ms' },
          { id: 'decimals', value: 0 },
        ])
        .overrideByName('Test', [
          {
            id: 'links',
            value: [
              {
                title: 'Open test ${__value.raw} in the admin portal',
                url: `${params.portalUrl}/admin/speedtests/\${__value.raw}`,
                targetBlank: true,
              },
            ],
          },
        ])
        .overrideByName('Result', [
          {
            id: 'links',
            value: [{ title: 'Open the result page', url: '${__value.raw}', targetBlank: true }],
          },
        ])
        .height(14)
        .span(24),
    );
  return finish(builder);
}
