// Tasks: what the worker and the scheduler do. Runs by status, failure rate, durations and the
// recent failures with their error come from the task_results table (PostgreSQL, every run is
// there); queue depth, scheduler lateness and duration percentiles from the roles' metrics
// (Prometheus). The task filter applies to the PostgreSQL panels; the metric panels show every
// task by its label.
import { RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import {
  BigValueGraphMode,
  ReduceDataOptionsBuilder,
  StackingConfigBuilder,
  StackingMode,
  GraphDrawStyle,
  TableSortByFieldStateBuilder,
} from '@grafana/grafana-foundation-sdk/common';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeSeriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';
import {
  DATASOURCES,
  dashboard,
  finish,
  promql,
  promStat,
  promTimeSeries,
  sqlFilter,
  sqlSeries,
  sqlTable,
  sqlVariable,
  type DashboardParams,
} from '../lib.ts';

export const TASKS_UID = 'refresher-tasks';

/** Runs queued in the time range, of the selected tasks (r: task_results). */
const RUNS = `
  FROM task_results r
 WHERE $__timeFilter(r.queued_at)
   AND ${sqlFilter('r.task', 'task')}`;

export function tasksDashboard(params: DashboardParams) {
  const builder = dashboard(
    'Tasks',
    TASKS_UID,
    'Task runs (task_results in PostgreSQL) and the queue, worker and scheduler metrics (Prometheus).',
  )
    .withVariable(sqlVariable('task', 'Task', 'SELECT DISTINCT task FROM task_results ORDER BY 1'))
    .withRow(new RowBuilder('Runs'))
    .withPanel(
      new StatPanel()
        .title('Failure rate')
        .description('Failed runs among those that finished (succeeded or failed) in the range.')
        .datasource(DATASOURCES.postgres)
        .withTarget(
          sqlTable(`
SELECT coalesce(100.0 * count(*) FILTER (WHERE r.status = 'failed')
         / nullif(count(*) FILTER (WHERE r.status IN ('succeeded', 'failed')), 0), 0)
         AS "Failure rate"${RUNS}`),
        )
        .unit('percent')
        .decimals(1)
        .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
        .graphMode(BigValueGraphMode.None)
        .height(6)
        .span(4),
    )
    .withPanel(
      new StatPanel()
        .title('Runs')
        .description('Runs queued in the range, by their status now.')
        .datasource(DATASOURCES.postgres)
        .withTarget(
          sqlTable(`
SELECT count(*) FILTER (WHERE r.status = 'succeeded') AS "Succeeded",
       count(*) FILTER (WHERE r.status = 'failed') AS "Failed",
       count(*) FILTER (WHERE r.status IN ('queued', 'started', 'retried')) AS "In progress"${RUNS}`),
        )
        .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
        .graphMode(BigValueGraphMode.None)
        .height(6)
        .span(8),
    )
    .withPanel(
      promStat(
        'Schedules in force',
        'none',
        promql('max(refresher_scheduler_schedules{job="scheduler"})'),
        {
          description:
            'Job schedulers the scheduler keeps in Redis: one per enabled periodic task.',
          span: 4,
        },
      ),
    )
    .withPanel(
      promStat(
        'Attempts failing now',
        'percentunit',
        promql(
          'sum(rate(refresher_task_runs_total{status=~"failed|retried"}[$__rate_interval])) / sum(rate(refresher_task_runs_total[$__rate_interval]))',
        ),
        {
          description:
            'Attempts that failed (for good or to be retried) among all attempts, from the worker’s counters.',
          span: 8,
          decimals: 1,
        },
      ),
    )
    .withPanel(
      new TimeSeriesPanel()
        .title('Runs by status')
        .description('Runs per interval by their status (from task_results).')
        .datasource(DATASOURCES.postgres)
        .withTarget(
          sqlSeries(`
SELECT $__timeGroupAlias(r.queued_at, $__interval),
       r.status AS metric,
       count(*) AS "runs"${RUNS}
 GROUP BY 1, 2
 ORDER BY 1`),
        )
        .drawStyle(GraphDrawStyle.Bars)
        .fillOpacity(60)
        .stacking(new StackingConfigBuilder().mode(StackingMode.Normal))
        .unit('none')
        .height(8)
        .span(12),
    )
    .withPanel(
      new TimeSeriesPanel()
        .title('Average duration by task')
        .description('Average run time of finished runs per interval (from task_results).')
        .datasource(DATASOURCES.postgres)
        .withTarget(
          sqlSeries(`
SELECT $__timeGroupAlias(r.queued_at, $__interval),
       r.task AS metric,
       avg(r.duration_ms) / 1000 AS "duration"${RUNS}
   AND r.status IN ('succeeded', 'failed')
   AND r.duration_ms IS NOT NULL
 GROUP BY 1, 2
 ORDER BY 1`),
        )
        .unit('s')
        .min(0)
        .spanNulls(true)
        .pointSize(5)
        .height(8)
        .span(12),
    )
    .withRow(new RowBuilder('Worker and scheduler'))
    .withPanel(
      promTimeSeries(
        'Attempts by outcome',
        'short',
        [
          promql(
            'sum by (status) (increase(refresher_task_runs_total[$__rate_interval]))',
            '{{status}}',
          ),
        ],
        { description: 'Attempts that ended per interval, from the worker’s counters.', min: 0 },
      ),
    )
    .withPanel(
      promTimeSeries(
        'Attempt duration',
        's',
        [
          promql(
            `histogram_quantile(0.95, sum by (task, le) (rate(refresher_task_duration_seconds_bucket[$__rate_interval])))`,
            'p95 {{task}}',
          ),
          promql(
            `histogram_quantile(0.5, sum by (task, le) (rate(refresher_task_duration_seconds_bucket[$__rate_interval])))`,
            'p50 {{task}}',
          ),
        ],
        { description: 'Percentiles estimated from the worker’s duration histogram.', min: 0 },
      ),
    )
    .withPanel(
      promTimeSeries(
        'Queue depth',
        'short',
        [
          promql(
            'max by (queue, state) (refresher_queue_jobs{state=~"waiting|active|delayed|prioritized"})',
            '{{queue}} {{state}}',
          ),
        ],
        {
          description:
            'Jobs per queue and state, read from Redis at each scrape (worker and scheduler report the same figure).',
          min: 0,
        },
      ),
    )
    .withPanel(
      promTimeSeries(
        'Scheduler lateness',
        's',
        [
          promql(
            `histogram_quantile(0.99, sum by (le) (rate(refresher_scheduler_lateness_seconds_bucket[$__rate_interval])))`,
            'p99',
          ),
          promql(
            `histogram_quantile(0.5, sum by (le) (rate(refresher_scheduler_lateness_seconds_bucket[$__rate_interval])))`,
            'p50',
          ),
        ],
        {
          description:
            'From the instant a scheduled run was due to its handler starting (see docs/task-queue.md).',
          min: 0,
        },
      ),
    )
    .withRow(new RowBuilder('Failures'))
    .withPanel(
      new TablePanel()
        .title('Recent failures')
        .description(
          'The newest 100 failed runs with their error; "Run" opens it in the admin portal.',
        )
        .datasource(DATASOURCES.postgres)
        .withTarget(
          sqlTable(`
SELECT coalesce(r.finished_at, r.queued_at) AS "Time",
       r.id::text AS "Run",
       r.task AS "Task",
       coalesce(p.name, '') AS "Schedule",
       r.attempts AS "Attempts",
       coalesce(r.error, '') AS "Error",
       coalesce(r.worker, '') AS "Worker"
  FROM task_results r
  LEFT JOIN periodic_tasks p ON p.id = r.periodic_task_id
 WHERE $__timeFilter(r.queued_at)
   AND ${sqlFilter('r.task', 'task')}
   AND r.status = 'failed'
 ORDER BY r.queued_at DESC
 LIMIT 100`),
        )
        .sortBy([new TableSortByFieldStateBuilder().displayName('Time').desc(true)])
        .overrideByName('Run', [
          {
            id: 'links',
            value: [
              {
                title: 'Open run ${__value.raw} in the admin portal',
                url: `${params.portalUrl}/admin/task-results/\${__value.raw}`,
                targetBlank: true,
              },
            ],
          },
        ])
        .overrideByName('Error', [{ id: 'custom.width', value: 600 }])
        .height(12)
        .span(24),
    );
  return finish(builder);
}
