// The alert rules, as code: each rule is Prometheus's own format (alert, expr, for, labels,
// annotations) plus two things for the tests: `probe`, the part of the expression that must return
// data on a healthy system (the expression without its threshold), and `needs`, the exporter it
// depends on when that exporter cannot run in tests (cAdvisor). templates/prometheus.ts renders
// the groups into rules/refresher.rules.yml with the floors, the ceilings and the schedule period
// of the deployment; prometheus/tests/*.test.yml are their unit tests (promtool test rules).
//
// Conventions, which Alertmanager's routing and inhibition rely on (prometheus/alertmanager.ts):
// - `severity` is "warning" (look at it today) or "critical" (look now);
// - every alert keeps the `job` label of the target its data comes from, so that a TargetDown of
//   that job inhibits it (a down exporter does not also page for its missing numbers);
// - `summary` is one line naming what and where, with the measured value; `description` says
//   what it means; `runbook` points at docs/runbooks.md.
import { BUFFERBLOAT_GRADE_BOUNDS_MS, BUFFERBLOAT_WORST_GRADE } from '../contract/bufferbloat.ts';

export interface AlertRuleParams {
  /** SpeedtestBelowFloor fires below these (Mbit/s, as the configuration has them). */
  downloadFloorMbps: number;
  uploadFloorMbps: number;
  /** How many tests in a row must be below a floor; 1 (the default): the latest test alone. */
  consecutiveBelowFloor?: number;
  /** The ceilings of the line's quality (CEILINGS); one left out is an alert not rendered. */
  pingCeilingMs?: number;
  jitterCeilingMs?: number;
  packetLossCeilingPercent?: number;
  bufferbloatCeilingMs?: number;
  /** The speed test schedule's period; SpeedtestMissing fires after two of them. */
  speedtestIntervalMinutes: number;
}

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: 'warning' | 'critical' } & Record<string, string>;
  annotations: { summary: string; description: string; runbook: string };
  /** Returns data whenever the exporter behind the rule is up (checked by the live test). */
  probe: string;
  /** An exporter the test machine cannot run: the expression is only parsed there. */
  needs?: 'cadvisor';
}

export interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

const runbook = (alert: string) => `docs/runbooks.md#${alert.toLowerCase()}`;

/** Filesystems that hold data: not memory-backed, not container layers, not pseudo filesystems. */
const DATA_FILESYSTEMS = 'fstype!~"tmpfs|ramfs|devtmpfs|overlay|squashfs|nsfs|fuse.+"';

/** A PromQL number: no exponent notation, no trailing zeros. */
function num(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(6)));
}

/** A PromQL duration of whole seconds, in the largest unit that divides it (75m, 450s). */
function duration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  return seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

/**
 * The bufferbloat grade of `$value` (milliseconds) as a Go template, on the scale the app grades
 * tests with: `lt` needs both sides floats, hence the literal 5.0 rather than 5.
 */
const GRADE_TEMPLATE =
  BUFFERBLOAT_GRADE_BOUNDS_MS.map(
    ([grade, bound], index) =>
      `{{ ${index ? 'else if' : 'if'} lt $value ${Number.isInteger(bound) ? `${bound}.0` : bound} }}${grade}`,
  ).join('') + `{{ else }}${BUFFERBLOAT_WORST_GRADE}{{ end }}`;

type CeilingSetting =
  'pingCeilingMs' | 'jitterCeilingMs' | 'packetLossCeilingPercent' | 'bufferbloatCeilingMs';

/**
 * The ceilings on figures of the latest speed test, by their setting: the gauge in the setting's
 * unit, and how the messages name it. Packet loss has data only from the Ookla engine.
 */
const CEILINGS = {
  pingCeilingMs: {
    alert: 'SpeedtestPingHigh',
    measure: 'refresher_speedtest_last_ping_seconds * 1000',
    figure: 'ping',
    meaning: 'an idle round trip',
    unit: ' ms',
    decimals: 1,
  },
  jitterCeilingMs: {
    alert: 'SpeedtestJitterHigh',
    measure: 'refresher_speedtest_last_jitter_seconds * 1000',
    figure: 'jitter',
    meaning: 'an idle jitter (how much one round trip differs from the next)',
    unit: ' ms',
    decimals: 1,
  },
  packetLossCeilingPercent: {
    alert: 'SpeedtestPacketLossHigh',
    measure: 'refresher_speedtest_last_packet_loss_ratio * 100',
    figure: 'packet loss',
    meaning: 'a packet loss',
    unit: '%',
    decimals: 1,
  },
  bufferbloatCeilingMs: {
    alert: 'SpeedtestBufferbloatHigh',
    measure: 'refresher_speedtest_last_bufferbloat_seconds * 1000',
    figure: 'bufferbloat',
    meaning: 'a rise in latency under load over the idle ping',
    unit: ' ms',
    decimals: 0,
  },
} as const satisfies Record<
  CeilingSetting,
  {
    alert: string;
    measure: string;
    figure: string;
    meaning: string;
    unit: string;
    decimals: number;
  }
>;

export function alertRuleGroups(params: AlertRuleParams): RuleGroup[] {
  const period = params.speedtestIntervalMinutes * 60;
  const stale = 2 * period;
  // A figure of the latest test counts only while the test is recent: an old value is
  // SpeedtestMissing's case.
  const fresh = `(time() - refresher_speedtest_last_timestamp_seconds) < ${stale}`;
  const consecutive = params.consecutiveBelowFloor ?? 1;
  const speed = (direction: 'download' | 'upload', floor: number): AlertRule => {
    const gauge = `refresher_speedtest_last_${direction}_bytes_per_second`;
    const measure = `${gauge} * 8 / 1e6`;
    const common = {
      alert: 'SpeedtestBelowFloor',
      labels: { severity: 'warning' as const, direction },
      probe: measure,
    };
    if (consecutive === 1)
      return {
        ...common,
        expr: `${measure} < ${num(floor)}\nand ${fresh}`,
        annotations: {
          summary: `Speed test ${direction} {{ printf "%.1f" $value }} Mbit/s from {{ $labels.server }} ({{ $labels.engine }}), below the floor of ${num(floor)} Mbit/s`,
          description: `The latest speed test against {{ $labels.server }} measured {{ printf "%.1f" $value }} Mbit/s ${direction}; alerts.${direction}FloorMbps is ${num(floor)}. It resolves when a test measures at least the floor again.`,
          runbook: runbook('SpeedtestBelowFloor'),
        },
      };
    // The last N tests, from gauges that hold each test's figure until the next one: every value
    // the gauge held in the window is below the floor (max_over_time), and at least N tests were
    // current in it (the value held over from before the window, plus N - 1 new start times). On
    // schedule, N - 1 periods hold exactly N tests; the extra half period lets runs come up to
    // half a period late (jitter, a queue) without holding the alert back, at the price of the
    // test held over from before the window counting for the first half period after each test
    // (docs/monitoring.md). Fewer than N tests in a row below the floor never fire it.
    const windowSeconds = ((2 * consecutive - 1) * period) / 2;
    const window = duration(windowSeconds);
    return {
      ...common,
      expr:
        `max_over_time(${gauge}[${window}]) * 8 / 1e6 < ${num(floor)}\n` +
        `and changes(refresher_speedtest_last_timestamp_seconds[${window}]) >= ${consecutive - 1}\n` +
        `and ${fresh}`,
      annotations: {
        summary: `The last ${consecutive} speed tests ${direction} from {{ $labels.server }} ({{ $labels.engine }}) were all below the floor of ${num(floor)} Mbit/s, the best {{ printf "%.1f" $value }} Mbit/s`,
        description: `Every speed test against {{ $labels.server }} in the last ${num(windowSeconds / 60)} minutes, at least ${consecutive} in a row (alerts.consecutiveBelowFloor), measured less than alerts.${direction}FloorMbps (${num(floor)} Mbit/s ${direction}); the best of them {{ printf "%.1f" $value }} Mbit/s. It resolves when a test measures at least the floor again.`,
        runbook: runbook('SpeedtestBelowFloor'),
      },
    };
  };
  const ceilings = (Object.keys(CEILINGS) as CeilingSetting[]).flatMap((setting): AlertRule[] => {
    const value = params[setting];
    if (value === undefined) return [];
    const spec = CEILINGS[setting];
    const shown = `{{ printf "%.${spec.decimals}f" $value }}${spec.unit}`;
    const where = '{{ $labels.server }} ({{ $labels.engine }})';
    const limit = `${num(value)}${spec.unit}`;
    return [
      {
        alert: spec.alert,
        expr: `${spec.measure} > ${num(value)}\nand ${fresh}`,
        labels: { severity: 'warning' },
        annotations: {
          summary:
            spec.alert === 'SpeedtestBufferbloatHigh'
              ? `Bufferbloat grade ${GRADE_TEMPLATE}: latency rose ${shown} under load in the speed test to ${where}, above the ceiling of ${limit}`
              : `Speed test ${spec.figure} ${shown} to ${where}, above the ceiling of ${limit}`,
          description: `The latest speed test against ${where} measured ${spec.meaning} of ${shown}; alerts.${setting} is ${limit}. It resolves when a test measures at most the ceiling again.`,
          runbook: runbook(spec.alert),
        },
        probe: spec.measure,
      },
    ];
  });

  return [
    {
      name: 'refresher.targets',
      rules: [
        {
          alert: 'TargetDown',
          expr: 'up == 0',
          for: '2m',
          labels: { severity: 'critical' },
          annotations: {
            summary: '{{ $labels.job }} ({{ $labels.instance }}) cannot be scraped',
            description:
              'Prometheus has failed to scrape {{ $labels.job }} at {{ $labels.instance }} for 2 minutes: the container is down, restarting or not answering on its metrics port. Alerts computed from its metrics are held back meanwhile.',
            runbook: runbook('TargetDown'),
          },
          probe: 'up',
        },
        {
          alert: 'PostgresDown',
          expr: 'pg_up == 0',
          for: '1m',
          labels: { severity: 'critical' },
          annotations: {
            summary: 'PostgreSQL does not answer the exporter ({{ $labels.instance }})',
            description:
              'postgres-exporter is up but cannot query PostgreSQL: the app cannot store results or read its schedules.',
            runbook: runbook('PostgresDown'),
          },
          probe: 'pg_up',
        },
        {
          alert: 'RedisDown',
          expr: 'redis_up == 0',
          for: '1m',
          labels: { severity: 'critical' },
          annotations: {
            summary: 'Redis does not answer the exporter ({{ $labels.instance }})',
            description:
              'redis-exporter is up but cannot reach Redis: no task is queued, run or scheduled.',
            runbook: runbook('RedisDown'),
          },
          probe: 'redis_up',
        },
      ],
    },
    {
      name: 'refresher.tasks',
      rules: [
        {
          alert: 'TaskFailingRepeatedly',
          // Final failures only (a retried attempt is not one); the worker starts each counter at
          // 0, so the first failure counts too.
          expr: 'sum by (job, task) (increase(refresher_task_runs_total{status="failed"}[1h])) >= 3',
          labels: { severity: 'warning' },
          annotations: {
            summary:
              'Task {{ $labels.task }} failed {{ printf "%.0f" $value }} times in the last hour',
            description:
              'Runs of {{ $labels.task }} keep failing after their retries. The task_results table (admin portal: Task results) has the error and stack of each run.',
            runbook: runbook('TaskFailingRepeatedly'),
          },
          probe: 'sum by (job, task) (increase(refresher_task_runs_total{status="failed"}[1h]))',
        },
        {
          alert: 'SpeedtestMissing',
          expr: `time() - max by (job) (refresher_speedtest_last_timestamp_seconds) > ${stale}`,
          for: '5m',
          // `reason` tells the two SpeedtestMissing rules apart (promtool refuses duplicates).
          labels: { severity: 'warning', reason: 'stale' },
          annotations: {
            summary: `No successful speed test for {{ humanizeDuration $value }} (the schedule runs every ${params.speedtestIntervalMinutes} minutes)`,
            description: `The newest successful speed test is older than two schedule periods (${2 * params.speedtestIntervalMinutes} minutes): tests fail, or are not scheduled.`,
            runbook: runbook('SpeedtestMissing'),
          },
          probe: 'time() - max by (job) (refresher_speedtest_last_timestamp_seconds)',
        },
        {
          // The same alert when no test has ever succeeded (a fresh deployment whose tests fail):
          // then there is no timestamp to compare, only its absence.
          alert: 'SpeedtestMissing',
          expr: 'absent(refresher_speedtest_last_timestamp_seconds{job="worker"})',
          for: `${2 * params.speedtestIntervalMinutes}m`,
          labels: { severity: 'warning', reason: 'none' },
          annotations: {
            summary: `No successful speed test at all for ${2 * params.speedtestIntervalMinutes} minutes`,
            description:
              'The worker has no successful speed test to report, neither run since it started nor stored before.',
            runbook: runbook('SpeedtestMissing'),
          },
          probe: 'count(up{job="worker"})',
        },
        speed('download', params.downloadFloorMbps),
        speed('upload', params.uploadFloorMbps),
      ],
    },
    // The line's quality beyond throughput: only the ceilings the configuration sets.
    ...(ceilings.length ? [{ name: 'refresher.line', rules: ceilings }] : []),
    {
      name: 'refresher.probes',
      rules: [
        {
          alert: 'ProbeOutage',
          // The worker's probe decides what an outage is (every target failed failures_for_outage
          // rounds in a row) and holds the gauge at 0 until a target answers; a `for` here would
          // only add to the wait the probe already has.
          expr: 'refresher_probe_up == 0',
          labels: { severity: 'critical' },
          annotations: {
            summary: 'Probe {{ $labels.probe }} detects an outage',
            description:
              "Every target of the worker's probe {{ $labels.probe }} failed as many rounds in a row as the probe takes to call an outage (its failures for an outage): the link, or everything behind it, is down from here. The Probes dashboard shows the latency before it, the outage and its last error. It resolves with the first round that succeeds again.",
            runbook: runbook('ProbeOutage'),
          },
          probe: 'refresher_probe_up',
        },
      ],
    },
    {
      name: 'refresher.host',
      rules: [
        ...(
          [
            ['warning', 85, '10m'],
            ['critical', 95, '5m'],
          ] as const
        ).map(([severity, percent, wait]): AlertRule => ({
          alert: 'DiskFilling',
          expr: `(1 - node_filesystem_avail_bytes{${DATA_FILESYSTEMS}} / node_filesystem_size_bytes{${DATA_FILESYSTEMS}}) * 100 > ${percent}`,
          for: wait,
          labels: { severity },
          annotations: {
            summary:
              'Filesystem {{ $labels.mountpoint }} is {{ printf "%.0f" $value }}% full' +
              ` (over ${percent}%)`,
            description:
              'Disk space is running out on {{ $labels.mountpoint }} ({{ $labels.device }}). PostgreSQL, Redis (AOF) and Prometheus stop writing when it is full.',
            runbook: runbook('DiskFilling'),
          },
          probe: `(1 - node_filesystem_avail_bytes{${DATA_FILESYSTEMS}} / node_filesystem_size_bytes{${DATA_FILESYSTEMS}}) * 100`,
        })),
        ...(
          [
            ['warning', 10, '10m'],
            ['critical', 5, '5m'],
          ] as const
        ).map(([severity, percent, wait]): AlertRule => ({
          alert: 'MemoryPressure',
          expr: `node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100 < ${percent}`,
          for: wait,
          labels: { severity },
          annotations: {
            summary: `Only {{ printf "%.1f" $value }}% of the VM's memory is available (under ${percent}%)`,
            description:
              'The kernel is close to swapping heavily or killing processes (the OOM killer picks the largest container).',
            runbook: runbook('MemoryPressure'),
          },
          probe: 'node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100',
        })),
      ],
    },
    {
      name: 'refresher.containers',
      rules: [
        {
          alert: 'ContainerRestarting',
          // A restart by Docker's restart policy keeps the container (and its series) and moves
          // its start time; a redeploy makes a new container, which this does not count.
          expr: 'changes(container_start_time_seconds{name!=""}[15m]) > 0',
          labels: { severity: 'warning' },
          annotations: {
            summary:
              'Container {{ $labels.name }} restarted {{ printf "%.0f" $value }} times in 15 minutes',
            description:
              'Docker restarted the container: it exited (a crash, or killed at its memory limit). Its logs say why.',
            runbook: runbook('ContainerRestarting'),
          },
          probe: 'changes(container_start_time_seconds{name!=""}[15m])',
          needs: 'cadvisor',
        },
        {
          alert: 'ContainerMemoryNearLimit',
          expr: 'container_memory_working_set_bytes{name!=""} / (container_spec_memory_limit_bytes{name!=""} > 0) * 100 > 90',
          for: '5m',
          labels: { severity: 'warning' },
          annotations: {
            summary:
              'Container {{ $labels.name }} uses {{ printf "%.0f" $value }}% of its memory limit',
            description:
              'Above its limit the kernel kills the container (and Docker restarts it). Raise memoryLimitMb in templates/catalogue/ or find what grows.',
            runbook: runbook('ContainerMemoryNearLimit'),
          },
          probe:
            'container_memory_working_set_bytes{name!=""} / (container_spec_memory_limit_bytes{name!=""} > 0) * 100',
          needs: 'cadvisor',
        },
      ],
    },
    {
      name: 'refresher.databases',
      rules: [
        {
          alert: 'PostgresConnectionsNearLimit',
          expr: 'sum by (job, instance) (pg_stat_activity_count) / on (job, instance) (max by (job, instance) (pg_settings_max_connections) - max by (job, instance) (pg_settings_superuser_reserved_connections)) * 100 > 80',
          for: '5m',
          labels: { severity: 'warning' },
          annotations: {
            summary: 'PostgreSQL uses {{ printf "%.0f" $value }}% of the connections it allows',
            description:
              'When none is left, new connections are refused: the app roles, Grafana and the exporter fail. The app pools hold at most a few each; something else holds the rest.',
            runbook: runbook('PostgresConnectionsNearLimit'),
          },
          probe:
            'sum by (job, instance) (pg_stat_activity_count) / on (job, instance) (max by (job, instance) (pg_settings_max_connections) - max by (job, instance) (pg_settings_superuser_reserved_connections)) * 100',
        },
        {
          alert: 'RedisMemoryNearLimit',
          // Redis runs with maxmemory and noeviction: at the limit, writes fail and jobs are lost.
          expr: 'redis_memory_used_bytes / (redis_memory_max_bytes > 0) * 100 > 90',
          for: '5m',
          labels: { severity: 'warning' },
          annotations: {
            summary: 'Redis uses {{ printf "%.0f" $value }}% of its maxmemory',
            description:
              'Redis refuses writes at maxmemory (policy noeviction): BullMQ cannot queue or finish jobs. Finished jobs kept in Redis are the usual growth.',
            runbook: runbook('RedisMemoryNearLimit'),
          },
          probe: 'redis_memory_used_bytes / (redis_memory_max_bytes > 0) * 100',
        },
      ],
    },
  ];
}
