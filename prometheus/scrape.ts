// The scrape configuration (prometheus.yml) as a template: a function of the targets, intervals
// and Alertmanager addresses. templates/prometheus.ts calls it with the deployment's services (one
// job per service of the catalogue that lists a `metrics` port, named after the service), and the
// live test calls it with the same jobs on loopback ports.

export interface ScrapeTarget {
  /** The job label: the service's name in the catalogue (web, worker, node-exporter, …). */
  job: string;
  /** host:port Prometheus scrapes /metrics on. */
  address: string;
}

export interface ScrapeParams {
  targets: ScrapeTarget[];
  /** host:port of each Alertmanager. */
  alertmanagers: string[];
  scrapeIntervalSeconds: number;
  evaluationIntervalSeconds: number;
  /** Added to every alert and series leaving this Prometheus (the deployment's name). */
  externalLabels: Record<string, string>;
  /** Rule files, relative to prometheus.yml's folder (Prometheus resolves them from there). */
  ruleFiles: string[];
}

/**
 * cAdvisor series nobody graphs here, dropped at scrape time: they cost memory and disk for each
 * container and CPU core.
 */
const CADVISOR_DROPPED =
  'container_(tasks_state|memory_failures_total|blkio_device_usage_total|fs_(inodes|io|reads|writes|sector)_.*|cpu_load_average_10s|spec_cpu_.*|file_descriptors|sockets|threads_max|ulimits_soft)';

export function prometheusConfig(params: ScrapeParams): Record<string, unknown> {
  const interval = `${params.scrapeIntervalSeconds}s`;
  return {
    global: {
      scrape_interval: interval,
      // A scrape must finish before the next one starts.
      scrape_timeout: `${Math.max(1, Math.min(10, params.scrapeIntervalSeconds - 1))}s`,
      evaluation_interval: `${params.evaluationIntervalSeconds}s`,
      external_labels: params.externalLabels,
    },
    rule_files: params.ruleFiles,
    alerting: {
      alertmanagers: [{ static_configs: [{ targets: params.alertmanagers }] }],
    },
    scrape_configs: params.targets.map((target) => ({
      job_name: target.job,
      static_configs: [{ targets: [target.address] }],
      ...(target.job === 'cadvisor'
        ? {
            metric_relabel_configs: [
              { source_labels: ['__name__'], regex: CADVISOR_DROPPED, action: 'drop' },
            ],
          }
        : {}),
    })),
  };
}
