// Prometheus metrics (prom-client). Each process has one registry, served on METRICS_PORT, never
// on the public port. Names follow Prometheus conventions: refresher_ prefix, base units (seconds),
// _total on counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics(role: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry, prefix: 'refresher_' });

  return {
    registry,
    taskRuns: new Counter({
      name: 'refresher_task_runs_total',
      help: 'Task attempts that ended, by task and final status of the attempt.',
      labelNames: ['task', 'status'] as const,
      registers: [registry],
    }),
    taskDuration: new Histogram({
      name: 'refresher_task_duration_seconds',
      help: 'Duration of task attempts, by task.',
      labelNames: ['task'] as const,
      buckets: [0.005, 0.025, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300],
      registers: [registry],
    }),
    taskLateness: new Histogram({
      name: 'refresher_scheduler_lateness_seconds',
      help: 'Time from the instant a scheduled run was due to its handler starting.',
      labelNames: ['task'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
      registers: [registry],
    }),
    schedules: new Gauge({
      name: 'refresher_scheduler_schedules',
      help: 'Enabled periodic tasks the scheduler keeps in force.',
      registers: [registry],
    }),
    reconciles: new Counter({
      name: 'refresher_scheduler_reconciles_total',
      help: 'Reconciles of the schedules in Redis with the periodic tasks in PostgreSQL, by trigger.',
      labelNames: ['trigger'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
