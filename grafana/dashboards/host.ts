// Host: the VM itself, from node-exporter. CPU, load, memory, swap, disk space and I/O, network.
import { RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { dashboard, finish, promql, promStat, promTimeSeries } from '../lib.ts';

export const HOST_UID = 'refresher-host';

/** Filesystems that hold data (the same filter as the DiskFilling alert). */
const FS = 'job="node-exporter", fstype!~"tmpfs|ramfs|devtmpfs|overlay|squashfs|nsfs|fuse.+"';
/** Physical and virtual interfaces of the VM, not Docker's bridges and veth pairs. */
const NET = 'job="node-exporter", device!~"lo|veth.+|docker.+|br-.+"';

export function hostDashboard() {
  const builder = dashboard(
    'Host',
    HOST_UID,
    'The VM, from node-exporter: CPU, memory, disks and network.',
  )
    .time({ from: 'now-6h', to: 'now' })
    .withRow(new RowBuilder('Now'))
    .withPanel(
      promStat(
        'CPU busy',
        'percent',
        promql(
          '100 * (1 - avg(rate(node_cpu_seconds_total{job="node-exporter", mode="idle"}[$__rate_interval])))',
        ),
        { decimals: 1 },
      ),
    )
    .withPanel(
      promStat(
        'Memory available',
        'percent',
        promql(
          'node_memory_MemAvailable_bytes{job="node-exporter"} / node_memory_MemTotal_bytes{job="node-exporter"} * 100',
        ),
        { decimals: 1, description: 'MemoryPressure warns under 10 %.' },
      ),
    )
    .withPanel(
      promStat(
        'Fullest filesystem',
        'percent',
        promql(
          `max((1 - node_filesystem_avail_bytes{${FS}} / node_filesystem_size_bytes{${FS}}) * 100)`,
        ),
        { decimals: 1, description: 'DiskFilling warns over 85 %.' },
      ),
    )
    .withPanel(
      promStat('Uptime', 's', promql('time() - node_boot_time_seconds{job="node-exporter"}'), {
        decimals: 0,
      }),
    )
    .withRow(new RowBuilder('CPU and memory'))
    .withPanel(
      promTimeSeries(
        'CPU by mode',
        'percentunit',
        [
          promql(
            'sum by (mode) (rate(node_cpu_seconds_total{job="node-exporter", mode!="idle"}[$__rate_interval])) / scalar(count(count by (cpu) (node_cpu_seconds_total{job="node-exporter"})))',
            '{{mode}}',
          ),
        ],
        { description: 'Share of all cores, by what they were doing (idle left out).', min: 0 },
      ),
    )
    .withPanel(
      promTimeSeries(
        'Load',
        'short',
        [
          promql('node_load1{job="node-exporter"}', '1 min'),
          promql('node_load5{job="node-exporter"}', '5 min'),
          promql('node_load15{job="node-exporter"}', '15 min'),
          promql('count(count by (cpu) (node_cpu_seconds_total{job="node-exporter"}))', 'cores'),
        ],
        {
          description: 'Runnable (and uninterruptible) tasks; above the core count, work waits.',
          min: 0,
        },
      ),
    )
    .withPanel(
      promTimeSeries(
        'Memory',
        'bytes',
        [
          promql(
            'node_memory_MemTotal_bytes{job="node-exporter"} - node_memory_MemAvailable_bytes{job="node-exporter"}',
            'used',
          ),
          promql('node_memory_MemAvailable_bytes{job="node-exporter"}', 'available'),
          promql(
            'node_memory_SwapTotal_bytes{job="node-exporter"} - node_memory_SwapFree_bytes{job="node-exporter"}',
            'swap used',
          ),
        ],
        { min: 0 },
      ),
    )
    .withPanel(
      promTimeSeries(
        'Filesystems used',
        'percent',
        [
          promql(
            `(1 - node_filesystem_avail_bytes{${FS}} / node_filesystem_size_bytes{${FS}}) * 100`,
            '{{mountpoint}}',
          ),
        ],
        { min: 0, max: 100 },
      ),
    )
    .withRow(new RowBuilder('I/O'))
    .withPanel(
      promTimeSeries(
        'Disk I/O',
        'Bps',
        [
          promql(
            'sum by (device) (rate(node_disk_read_bytes_total{job="node-exporter"}[$__rate_interval]))',
            'read {{device}}',
          ),
          promql(
            'sum by (device) (rate(node_disk_written_bytes_total{job="node-exporter"}[$__rate_interval]))',
            'written {{device}}',
          ),
        ],
        { min: 0 },
      ),
    )
    .withPanel(
      promTimeSeries(
        'Network',
        'bps',
        [
          promql(
            `sum by (device) (rate(node_network_receive_bytes_total{${NET}}[$__rate_interval])) * 8`,
            'in {{device}}',
          ),
          promql(
            `sum by (device) (rate(node_network_transmit_bytes_total{${NET}}[$__rate_interval])) * 8`,
            'out {{device}}',
          ),
        ],
        { description: 'Including the speed tests’ own traffic.', min: 0 },
      ),
    );
  return finish(builder);
}
