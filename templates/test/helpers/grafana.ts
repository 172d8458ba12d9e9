// What Grafana does to a dashboard's queries before they reach a datasource, for the tests that
// run those queries against real servers: the queries of every panel (and of every template
// variable), and the expansion of template variables and of the PostgreSQL datasource's macros,
// following Grafana's own rules:
// - a multi-value or "All"-able variable becomes a quoted, comma-separated list ('a','b'); with a
//   custom all value, "All" becomes that value as it is (sqlDatasource.interpolateVariable and
//   templateSrv in Grafana's frontend);
// - $__timeFilter(col) becomes `col BETWEEN '<from>' AND '<to>'`, $__timeGroupAlias(col, 5m)
//   becomes `floor(extract(epoch from col)/300)*300 AS "time"`, $__time(col) `col AS "time"`
//   (pkg/tsdb/grafana-postgresql-datasource/macros.go);
// - $__interval, $__rate_interval and $__range are durations Grafana computes from the time range
//   and the datasource's scrape interval; the tests pass the values they want.

export interface PanelQuery {
  dashboard: string;
  panel: string;
  panelType: string;
  datasource: 'postgres' | 'prometheus';
  /** PromQL, or the raw SQL with its macros. */
  text: string;
  format?: 'time_series' | 'table';
  /** The panel itself, for the shape checks (overrides, geomap layers, sort). */
  panelJson: Record<string, unknown>;
}

export interface VariableQuery {
  dashboard: string;
  name: string;
  sql: string;
  allValue?: string;
}

interface JsonPanel {
  type: string;
  title?: string;
  datasource?: { uid?: string };
  targets?: { expr?: string; rawSql?: string; format?: string; datasource?: { uid?: string } }[];
  panels?: JsonPanel[];
}

/** Every query of every panel, with the datasource it goes to. */
export function panelQueries(
  dashboards: Record<string, { title?: string; panels?: unknown[] }>,
  uids: { postgres: string; prometheus: string },
): PanelQuery[] {
  const found: PanelQuery[] = [];
  const visit = (dashboard: string, panels: JsonPanel[] | undefined) => {
    for (const panel of panels ?? []) {
      for (const target of panel.targets ?? []) {
        const uid = target.datasource?.uid ?? panel.datasource?.uid;
        const datasource =
          uid === uids.postgres ? 'postgres' : uid === uids.prometheus ? 'prometheus' : undefined;
        if (!datasource) throw new Error(`${dashboard}/${panel.title}: unknown datasource ${uid}`);
        const text = datasource === 'postgres' ? target.rawSql : target.expr;
        if (!text) throw new Error(`${dashboard}/${panel.title}: a query without text`);
        found.push({
          dashboard,
          panel: panel.title ?? '(untitled)',
          panelType: panel.type,
          datasource,
          text,
          format: target.format as PanelQuery['format'],
          panelJson: panel as unknown as Record<string, unknown>,
        });
      }
      visit(dashboard, panel.panels);
    }
  };
  for (const [name, dashboard] of Object.entries(dashboards))
    visit(dashboard.title ?? name, dashboard.panels as JsonPanel[]);
  return found;
}

/** The SQL-backed template variables of the dashboards. */
export function variableQueries(
  dashboards: Record<string, { title?: string; templating?: { list?: unknown[] } }>,
  postgresUid: string,
): VariableQuery[] {
  const found: VariableQuery[] = [];
  for (const [name, dashboard] of Object.entries(dashboards))
    for (const variable of (dashboard.templating?.list ?? []) as {
      type: string;
      name: string;
      query?: string;
      allValue?: string;
      datasource?: { uid?: string };
    }[]) {
      if (variable.type !== 'query') continue;
      if (variable.datasource?.uid !== postgresUid || typeof variable.query !== 'string')
        throw new Error(`${name}: variable ${variable.name} is not a PostgreSQL query`);
      found.push({
        dashboard: dashboard.title ?? name,
        name: variable.name,
        sql: variable.query,
        allValue: variable.allValue,
      });
    }
  return found;
}

/** A variable's selection: "All" (the custom all value) or a list of values. */
export type Selection = { all: true; allValue: string } | { all: false; values: string[] };

const quoteLiteral = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** Grafana's interpolation of one SQL variable (multi-value or "All"-able). */
function formatSqlVariable(selection: Selection): string {
  if (selection.all) return selection.allValue;
  return selection.values.map(quoteLiteral).join(',');
}

/** Seconds in a Grafana interval such as 30s, 5m, 1h, 1d. */
export function intervalSeconds(interval: string): number {
  const match = /^(\d+)(ms|s|m|h|d|w)$/.exec(interval.trim().replace(/^'|'$/g, ''));
  if (!match) throw new Error(`not an interval: ${interval}`);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[match[2]!]!;
  return Number(match[1]) * unit;
}

/** Splits a macro's arguments at top-level commas. */
function macroArguments(text: string): string[] {
  const args: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === ',' && depth === 0) {
      args.push(current.trim());
      current = '';
      continue;
    }
    if (char === '(') depth++;
    if (char === ')') depth--;
    current += char;
  }
  if (current.trim()) args.push(current.trim());
  return args;
}

/** Replaces every `$__name(...)` with `expand(args)`, parentheses in arguments allowed. */
function replaceMacro(sql: string, name: string, expand: (args: string[]) => string): string {
  let out = '';
  let rest = sql;
  const token = `$__${name}(`;
  for (;;) {
    const at = rest.indexOf(token);
    if (at < 0) return out + rest;
    out += rest.slice(0, at);
    let depth = 1;
    let end = at + token.length;
    for (; end < rest.length && depth > 0; end++) {
      if (rest[end] === '(') depth++;
      if (rest[end] === ')') depth--;
    }
    if (depth !== 0) throw new Error(`unbalanced ${token} in ${sql}`);
    out += expand(macroArguments(rest.slice(at + token.length, end - 1)));
    rest = rest.slice(end);
  }
}

export interface SqlContext {
  from: Date;
  to: Date;
  /** What $__interval becomes (Grafana: the range divided by the panel's width in points). */
  interval: string;
  variables: Record<string, Selection>;
}

/** The SQL as Grafana's PostgreSQL datasource would run it. */
export function expandSql(sql: string, context: SqlContext): string {
  let text = sql.replace(/\$__interval_ms\b/g, String(intervalSeconds(context.interval) * 1000));
  text = text.replace(/\$__interval\b/g, context.interval);
  for (const [name, selection] of Object.entries(context.variables)) {
    const value = formatSqlVariable(selection);
    text = text.replace(new RegExp(`\\$\\{${name}\\}|\\$${name}\\b`, 'g'), () => value);
  }
  const from = `'${context.from.toISOString()}'`;
  const to = `'${context.to.toISOString()}'`;
  text = replaceMacro(text, 'timeFilter', ([column]) => `${column} BETWEEN ${from} AND ${to}`);
  text = replaceMacro(text, 'timeFrom', () => from);
  text = replaceMacro(text, 'timeTo', () => to);
  text = replaceMacro(text, 'time', ([column]) => `${column} AS "time"`);
  const group = ([column, interval]: string[]) => {
    const seconds = intervalSeconds(interval ?? '');
    return `floor(extract(epoch from ${column})/${seconds})*${seconds}`;
  };
  text = replaceMacro(text, 'timeGroupAlias', (args) => `${group(args)} AS "time"`);
  text = replaceMacro(text, 'timeGroup', group);
  const left = /\$[A-Za-z_{]/.exec(text);
  if (left) throw new Error(`unexpanded ${text.slice(left.index, left.index + 30)} in:\n${text}`);
  return text;
}

/** PromQL as Grafana's Prometheus datasource sends it. */
export function expandPromql(
  expr: string,
  values: { interval: string; rateInterval: string; range: string },
): string {
  const text = expr
    .replace(/\$__rate_interval\b/g, values.rateInterval)
    .replace(/\$__interval\b/g, values.interval)
    .replace(/\$__range\b/g, values.range);
  const left = /\$[A-Za-z_{]/.exec(text);
  if (left) throw new Error(`unexpanded ${text.slice(left.index, left.index + 30)} in ${text}`);
  return text;
}

/** The field names a panel's configuration refers to, which its query must return. */
export function fieldsPanelNeeds(panel: Record<string, unknown>): string[] {
  const names = new Set<string>();
  const fieldConfig = panel.fieldConfig as
    { overrides?: { matcher?: { id?: string; options?: unknown } }[] } | undefined;
  for (const override of fieldConfig?.overrides ?? [])
    if (override.matcher?.id === 'byName' && typeof override.matcher.options === 'string')
      names.add(override.matcher.options);
  const options = panel.options as
    | {
        layers?: {
          location?: { latitude?: string; longitude?: string };
          config?: { style?: Record<string, { field?: string }> };
        }[];
        sortBy?: { displayName?: string }[];
      }
    | undefined;
  for (const layer of options?.layers ?? []) {
    if (layer.location?.latitude) names.add(layer.location.latitude);
    if (layer.location?.longitude) names.add(layer.location.longitude);
    for (const dimension of Object.values(layer.config?.style ?? {}))
      if (dimension && typeof dimension.field === 'string' && dimension.field)
        names.add(dimension.field);
  }
  for (const sort of options?.sortBy ?? []) if (sort.displayName) names.add(sort.displayName);
  return [...names];
}
