// What every dashboard shares: the provisioned datasources, a query builder for the PostgreSQL
// datasource (the Foundation SDK ships builders for Prometheus but none for the SQL datasources,
// so this one follows its documented pattern for a custom query type), the filter clause for
// multi-value variables, and `finish()`, which turns a DashboardBuilder into the JSON Grafana's
// file provisioning loads.
import {
  AnnotationQueryBuilder,
  DashboardBuilder,
  DashboardCursorSync,
  QueryVariableBuilder,
  VariableRefresh,
  VariableSort,
  type Dashboard,
  type DataSourceRef,
} from '@grafana/grafana-foundation-sdk/dashboard';
import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog';
import {
  BigValueGraphMode,
  LegendDisplayMode,
  LegendPlacement,
  ReduceDataOptionsBuilder,
  VizLegendOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/common';
import { DataqueryBuilder as PromQueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeSeriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';

/** The datasources grafana/provisioning.ts provisions, by uid (dashboards refer to these). */
export const DATASOURCES = {
  postgres: { type: 'grafana-postgresql-datasource', uid: 'refresher-postgres' },
  prometheus: { type: 'prometheus', uid: 'refresher-prometheus' },
} as const satisfies Record<string, Required<DataSourceRef>>;

/** What the dashboards need to know about the deployment. */
export interface DashboardParams {
  /** The admin portal's base URL (https://speed.example.com), for links from tables. */
  portalUrl: string;
}

/** A query of Grafana's PostgreSQL datasource, as its code editor saves it. */
export interface SqlQuery {
  refId: string;
  datasource: DataSourceRef;
  rawSql: string;
  /** time_series: a "time" column and numeric columns (a "metric" text column names series). */
  format: 'time_series' | 'table';
  rawQuery: true;
  editorMode: 'code';
  _implementsDataqueryVariant(): void;
}

export class SqlQueryBuilder implements Builder<Dataquery> {
  private readonly internal: SqlQuery;
  constructor(rawSql: string, format: SqlQuery['format'] = 'table') {
    this.internal = {
      refId: '',
      datasource: DATASOURCES.postgres,
      rawSql: rawSql.trim(),
      format,
      rawQuery: true,
      editorMode: 'code',
      _implementsDataqueryVariant() {},
    };
  }
  refId(refId: string): this {
    this.internal.refId = refId;
    return this;
  }
  build(): SqlQuery {
    return this.internal;
  }
}

/** A time-series SQL query. */
export const sqlSeries = (rawSql: string) => new SqlQueryBuilder(rawSql, 'time_series');
/** A table SQL query. */
export const sqlTable = (rawSql: string) => new SqlQueryBuilder(rawSql, 'table');

/** A PromQL query with a legend ("{{label}}" templates). */
export function promql(expr: string, legend?: string): PromQueryBuilder {
  const query = new PromQueryBuilder().expr(expr.trim()).datasource(DATASOURCES.prometheus).range();
  return legend === undefined ? query : query.legendFormat(legend);
}

/**
 * Multi-value variables with "All": Grafana puts a custom all value in the query as it is, and
 * the selected values as a quoted list ('a','b'). With ALL as the all value, this clause is true
 * for "All" and filters otherwise; and an empty option list cannot produce `IN ()`.
 */
export const ALL = "'__all'";
export function sqlFilter(column: string, variable: string): string {
  return `(${ALL} IN ($${variable}) OR ${column} IN ($${variable}))`;
}

/** A multi-value, "All"-able variable whose options come from a PostgreSQL query. */
export function sqlVariable(name: string, label: string, query: string): QueryVariableBuilder {
  return new QueryVariableBuilder(name)
    .label(label)
    .datasource(DATASOURCES.postgres)
    .query(query.trim())
    .multi(true)
    .includeAll(true)
    .allValue(ALL)
    .current({ text: 'All', value: '$__all' })
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalCaseInsensitiveAsc);
}

/** The dashboard settings every dashboard here starts from. */
export function dashboard(title: string, uid: string, description: string): DashboardBuilder {
  return new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['refresher'])
    .timezone('browser')
    .refresh('1m')
    .time({ from: 'now-24h', to: 'now' })
    .tooltip(DashboardCursorSync.Crosshair)
    .readonly()
    .annotation(
      // Grafana's own annotations (and alert state changes), as every saved dashboard has.
      new AnnotationQueryBuilder()
        .name('Annotations & Alerts')
        .builtIn(1)
        .datasource({ type: 'grafana', uid: '-- Grafana --' })
        .enable(true)
        .hide(true)
        .iconColor('rgba(0, 211, 255, 1)')
        .type('dashboard'),
    );
}

interface BuiltPanel {
  id?: number;
  type: string;
  targets?: { refId?: string }[];
  panels?: BuiltPanel[];
}

/**
 * The JSON for file provisioning: the SDK's dashboard with panel ids (1, 2, … in layout order)
 * and query refIds (A, B, …) filled in where the code left them out, `templating.list` and
 * `annotations.list` always present, and no `id` (Grafana
 * assigns its own database id; a provisioned file is matched by uid).
 */
export function finish(builder: DashboardBuilder): Dashboard {
  const built = builder.build() as Dashboard & { id?: number | null };
  delete built.id;
  let next = 1;
  const visit = (panels: BuiltPanel[] | undefined) => {
    for (const panel of panels ?? []) {
      panel.id = next++;
      panel.targets?.forEach((target, index) => {
        if (!target.refId) target.refId = String.fromCharCode(65 + index);
      });
      visit(panel.panels);
    }
  };
  visit(built.panels as BuiltPanel[]);
  // Grafana's dashboard page reads both lists without a default.
  const lists = built as unknown as Record<'templating' | 'annotations', { list?: unknown[] }>;
  for (const key of ['templating', 'annotations'] as const)
    lists[key] = { ...lists[key], list: lists[key]?.list ?? [] };
  return JSON.parse(JSON.stringify(built)) as Dashboard;
}

/** A time series panel of PromQL queries: the common case of the exporter dashboards. */
export function promTimeSeries(
  title: string,
  unit: string,
  queries: PromQueryBuilder[],
  options: {
    description?: string;
    span?: number;
    height?: number;
    min?: number;
    max?: number;
  } = {},
): TimeSeriesPanel {
  const panel = new TimeSeriesPanel()
    .title(title)
    .datasource(DATASOURCES.prometheus)
    .unit(unit)
    .span(options.span ?? 12)
    .height(options.height ?? 8)
    .fillOpacity(10)
    .legend(
      new VizLegendOptionsBuilder()
        .displayMode(LegendDisplayMode.List)
        .placement(LegendPlacement.Bottom)
        .showLegend(true),
    );
  if (options.description) panel.description(options.description);
  if (options.min !== undefined) panel.min(options.min);
  if (options.max !== undefined) panel.max(options.max);
  for (const query of queries) panel.withTarget(query);
  return panel;
}

/** A stat panel of one PromQL query: its latest value. */
export function promStat(
  title: string,
  unit: string,
  query: PromQueryBuilder,
  options: { description?: string; span?: number; decimals?: number } = {},
): StatPanel {
  const panel = new StatPanel()
    .title(title)
    .datasource(DATASOURCES.prometheus)
    .withTarget(query)
    .unit(unit)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .graphMode(BigValueGraphMode.Area)
    .height(4)
    .span(options.span ?? 6);
  if (options.description) panel.description(options.description);
  if (options.decimals !== undefined) panel.decimals(options.decimals);
  return panel;
}
