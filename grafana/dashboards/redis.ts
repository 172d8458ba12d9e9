// Redis: the BullMQ queues' server, from redis-exporter. Memory against maxmemory (noeviction:
// at the limit writes fail), clients, commands, keys, network and persistence.
import { RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { dashboard, finish, promql, promStat, promTimeSeries } from '../lib.ts';

export const REDIS_UID = 'refresher-redis';

const R = 'job="redis-exporter"';

export function redisDashboard() {
  const builder = dashboard(
    'Redis',
    REDIS_UID,
    'The Redis server of the queues, from redis-exporter.',
  )
    .time({ from: 'now-6h', to: 'now' })
    .withRow(new RowBuilder('Now'))
    .withPanel(
      promStat('Up', 'none', promql(`redis_up{${R}}`), {
        description: '1: the exporter reaches Redis.',
      }),
    )
    .withPanel(
      promStat(
        'Memory of maxmemory',
        'percent',
        promql(`redis_memory_used_bytes{${R}} / (redis_memory_max_bytes{${R}} > 0) * 100`),
        { decimals: 1, description: 'RedisMemoryNearLimit warns over 90 %; at 100 % writes fail.' },
      ),
    )
    .withPanel(promStat('Keys', 'short', promql(`sum(redis_db_keys{${R}})`)))
    .withPanel(promStat('Clients', 'short', promql(`redis_connected_clients{${R}}`)))
    .withRow(new RowBuilder('Activity'))
    .withPanel(
      promTimeSeries(
        'Memory',
        'bytes',
        [
          promql(`redis_memory_used_bytes{${R}}`, 'used'),
          promql(`redis_memory_max_bytes{${R}} > 0`, 'maxmemory'),
          promql(`redis_memory_used_rss_bytes{${R}}`, 'resident (RSS)'),
        ],
        { min: 0 },
      ),
    )
    .withPanel(
      promTimeSeries(
        'Commands',
        'ops',
        [
          promql(`sum(rate(redis_commands_processed_total{${R}}[$__rate_interval]))`, 'all'),
          promql(
            `topk(5, sum by (cmd) (rate(redis_commands_total{${R}}[$__rate_interval])))`,
            '{{cmd}}',
          ),
        ],
        { min: 0 },
      ),
    )
    .withPanel(
      promTimeSeries(
        'Clients',
        'short',
        [
          promql(`redis_connected_clients{${R}}`, 'connected'),
          promql(`redis_blocked_clients{${R}}`, 'blocked (BullMQ waits for jobs)'),
        ],
        { min: 0 },
      ),
    )
    .withPanel(
      promTimeSeries('Keys', 'short', [promql(`sum by (db) (redis_db_keys{${R}}) > 0`, '{{db}}')], {
        min: 0,
      }),
    )
    .withPanel(
      promTimeSeries(
        'Network',
        'Bps',
        [
          promql(`rate(redis_net_input_bytes_total{${R}}[$__rate_interval])`, 'in'),
          promql(`rate(redis_net_output_bytes_total{${R}}[$__rate_interval])`, 'out'),
        ],
        { min: 0 },
      ),
    )
    .withPanel(
      promTimeSeries(
        'Hits and misses',
        'ops',
        [
          promql(`rate(redis_keyspace_hits_total{${R}}[$__rate_interval])`, 'hits'),
          promql(`rate(redis_keyspace_misses_total{${R}}[$__rate_interval])`, 'misses'),
        ],
        { min: 0 },
      ),
    );
  return finish(builder);
}
