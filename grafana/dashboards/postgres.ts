// PostgreSQL: the database server, from postgres-exporter. Connections against the limit,
// database sizes, transactions, cache hits, row operations, locks and deadlocks.
import { RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { dashboard, finish, promql, promStat, promTimeSeries } from '../lib.ts';

export const POSTGRES_UID = 'refresher-postgresql';

const PG = 'job="postgres-exporter"';
/** Databases that hold data (not the templates). */
const DB = `${PG}, datname!~"template.*"`;

export function postgresDashboard() {
  const builder = dashboard(
    'PostgreSQL',
    POSTGRES_UID,
    'The PostgreSQL server, from postgres-exporter.',
  )
    .time({ from: 'now-6h', to: 'now' })
    .withRow(new RowBuilder('Now'))
    .withPanel(
      promStat('Up', 'none', promql(`pg_up{${PG}}`), {
        description: '1: the exporter can query PostgreSQL.',
      }),
    )
    .withPanel(
      promStat(
        'Connections used',
        'percent',
        promql(
          `sum(pg_stat_activity_count{${PG}}) / (max(pg_settings_max_connections{${PG}}) - max(pg_settings_superuser_reserved_connections{${PG}})) * 100`,
        ),
        {
          decimals: 0,
          description:
            'Of the connections ordinary roles may open (PostgresConnectionsNearLimit over 80 %).',
        },
      ),
    )
    .withPanel(promStat('Largest database', 'bytes', promql(`max(pg_database_size_bytes{${DB}})`)))
    .withPanel(
      promStat(
        'Cache hit ratio',
        'percentunit',
        promql(
          `sum(rate(pg_stat_database_blks_hit{${DB}}[$__rate_interval])) / (sum(rate(pg_stat_database_blks_hit{${DB}}[$__rate_interval])) + sum(rate(pg_stat_database_blks_read{${DB}}[$__rate_interval])))`,
        ),
        {
          decimals: 1,
          description: 'Blocks found in shared buffers; a small database should stay near 100 %.',
        },
      ),
    )
    .withRow(new RowBuilder('Activity'))
    .withPanel(
      promTimeSeries(
        'Connections by state',
        'short',
        [
          promql(`sum by (state) (pg_stat_activity_count{${PG}})`, '{{state}}'),
          promql(`max(pg_settings_max_connections{${PG}})`, 'max_connections'),
        ],
        { min: 0 },
      ),
    )
    .withPanel(
      promTimeSeries(
        'Transactions',
        'ops',
        [
          promql(
            `sum by (datname) (rate(pg_stat_database_xact_commit{${DB}}[$__rate_interval]))`,
            'commit {{datname}}',
          ),
          promql(
            `sum by (datname) (rate(pg_stat_database_xact_rollback{${DB}}[$__rate_interval]))`,
            'rollback {{datname}}',
          ),
        ],
        { min: 0 },
      ),
    )
    .withPanel(
      promTimeSeries(
        'Rows',
        'ops',
        [
          promql(`sum(rate(pg_stat_database_tup_inserted{${DB}}[$__rate_interval]))`, 'inserted'),
          promql(`sum(rate(pg_stat_database_tup_updated{${DB}}[$__rate_interval]))`, 'updated'),
          promql(`sum(rate(pg_stat_database_tup_deleted{${DB}}[$__rate_interval]))`, 'deleted'),
          promql(`sum(rate(pg_stat_database_tup_fetched{${DB}}[$__rate_interval]))`, 'fetched'),
        ],
        { min: 0 },
      ),
    )
    .withPanel(
      promTimeSeries(
        'Database size',
        'bytes',
        [promql(`pg_database_size_bytes{${DB}}`, '{{datname}}')],
        { min: 0 },
      ),
    )
    .withPanel(
      promTimeSeries(
        'Locks by mode',
        'short',
        [promql(`sum by (mode) (pg_locks_count{${PG}})`, '{{mode}}')],
        { min: 0 },
      ),
    )
    .withPanel(
      promTimeSeries(
        'Deadlocks and temporary files',
        'short',
        [
          promql(`sum(increase(pg_stat_database_deadlocks{${DB}}[$__rate_interval]))`, 'deadlocks'),
          promql(
            `sum(increase(pg_stat_database_temp_files{${DB}}[$__rate_interval]))`,
            'temp files',
          ),
        ],
        { description: 'Per interval. Temporary files mean a query outgrew work_mem.', min: 0 },
      ),
    );
  return finish(builder);
}
