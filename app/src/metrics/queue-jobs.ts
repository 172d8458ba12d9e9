// Queue depth by state, read from Redis when Prometheus scrapes (not on a timer), so the figure is
// as fresh as the scrape and costs nothing between scrapes.
import { Gauge, type Registry } from 'prom-client';
import type { Queues } from '../queue/queues.ts';

const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed'] as const;

export function registerQueueJobs(registry: Registry, queues: Queues): void {
  new Gauge({
    name: 'refresher_queue_jobs',
    help: 'Jobs in each queue, by state, read from Redis at scrape time.',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      // While Redis is away the gauge is absent for this scrape; the other metrics (task counts
      // above all) must still be served, so a failure here is not the scrape's failure.
      try {
        for (const queue of queues.all()) {
          const counts = await queue.getJobCounts(...STATES);
          for (const state of STATES) this.set({ queue: queue.name, state }, counts[state] ?? 0);
        }
      } catch {
        this.reset();
      }
    },
  });
}
