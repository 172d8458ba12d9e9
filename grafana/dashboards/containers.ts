// Containers: every Docker container of the deployment, from cAdvisor (CPU, memory against its
// limit, network, restarts, uptime), and the health of every scrape target.
import { RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import {
  BarGaugeDisplayMode,
  ReduceDataOptionsBuilder,
  VizOrientation,
} from '@grafana/grafana-foundation-sdk/common';
import { PanelBuilder as BarGaugePanel } from '@grafana/grafana-foundation-sdk/bargauge';
import { PanelBuilder as StateTimelinePanel } from '@grafana/grafana-foundation-sdk/statetimeline';
import { DATASOURCES, dashboard, finish, promql, promTimeSeries } from '../lib.ts';

export const CONTAINERS_UID = 'refresher-containers';

/** Containers with a name: Docker's, not the cgroups of the host's own services. */
const NAMED = 'job="cadvisor", name!=""';

export function containersDashboard() {
  const builder = dashboard(
    'Containers',
    CONTAINERS_UID,
    'Every container (cAdvisor) and every scrape target (Prometheus up).',
  )
    .time({ from: 'now-6h', to: 'now' })
    .withRow(new RowBuilder('Targets'))
    .withPanel(
      new StateTimelinePanel()
        .title('Scrape targets up')
        .description(
          '1 when Prometheus could scrape the target, 0 when not (TargetDown after 2 minutes).',
        )
        .datasource(DATASOURCES.prometheus)
        .withTarget(promql('max by (job) (up)', '{{job}}'))
        .mappings([
          {
            type: 'value',
            options: {
              '0': { text: 'down', color: 'red', index: 0 },
              '1': { text: 'up', color: 'green', index: 1 },
            },
          } as never,
        ])
        .height(8)
        .span(24),
    )
    .withRow(new RowBuilder('Containers'))
    .withPanel(
      promTimeSeries(
        'CPU',
        'percentunit',
        [
          promql(
            `sum by (name) (rate(container_cpu_usage_seconds_total{${NAMED}}[$__rate_interval]))`,
            '{{name}}',
          ),
        ],
        { description: 'Cores used by each container (1 = one core).', min: 0 },
      ),
    )
    .withPanel(
      promTimeSeries(
        'Memory (working set)',
        'bytes',
        [promql(`sum by (name) (container_memory_working_set_bytes{${NAMED}})`, '{{name}}')],
        { description: 'What the kernel counts against the memory limit.', min: 0 },
      ),
    )
    .withPanel(
      new BarGaugePanel()
        .title('Memory against the limit')
        .description('ContainerMemoryNearLimit warns over 90 %: above 100 % the kernel kills it.')
        .datasource(DATASOURCES.prometheus)
        .withTarget(
          promql(
            `sum by (name) (container_memory_working_set_bytes{${NAMED}}) / sum by (name) (container_spec_memory_limit_bytes{${NAMED}} > 0) * 100`,
            '{{name}}',
          ),
        )
        .unit('percent')
        .min(0)
        .max(100)
        .displayMode(BarGaugeDisplayMode.Gradient)
        .orientation(VizOrientation.Horizontal)
        .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
        .height(8)
        .span(12),
    )
    .withPanel(
      promTimeSeries(
        'Network',
        'bps',
        [
          promql(
            `sum by (name) (rate(container_network_receive_bytes_total{${NAMED}}[$__rate_interval])) * 8`,
            'in {{name}}',
          ),
          promql(
            `sum by (name) (rate(container_network_transmit_bytes_total{${NAMED}}[$__rate_interval])) * 8`,
            'out {{name}}',
          ),
        ],
        { min: 0 },
      ),
    )
    .withPanel(
      new BarGaugePanel()
        .title('Restarts in the range')
        .description('Times Docker restarted each container (ContainerRestarting).')
        .datasource(DATASOURCES.prometheus)
        .withTarget(
          promql(
            `sum by (name) (changes(container_start_time_seconds{${NAMED}}[$__range]))`,
            '{{name}}',
          ),
        )
        .unit('none')
        .min(0)
        .displayMode(BarGaugeDisplayMode.Basic)
        .orientation(VizOrientation.Horizontal)
        .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
        .height(8)
        .span(12),
    )
    .withPanel(
      new BarGaugePanel()
        .title('Uptime')
        .datasource(DATASOURCES.prometheus)
        .withTarget(
          promql(`max by (name) (time() - container_start_time_seconds{${NAMED}})`, '{{name}}'),
        )
        .unit('s')
        .displayMode(BarGaugeDisplayMode.Basic)
        .orientation(VizOrientation.Horizontal)
        .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
        .height(8)
        .span(12),
    );
  return finish(builder);
}
