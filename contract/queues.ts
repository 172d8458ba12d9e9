// The BullMQ queues. The worker consumes them, the scheduler fills them, the metrics and the
// dashboards label by them, and the catalogue sets the prefix every key starts with.
export const QUEUE_NAMES = ['default', 'speedtests'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

/** Prefix of every BullMQ key (QUEUE_PREFIX), so several deployments can share one Redis. */
export const DEFAULT_QUEUE_PREFIX = 'refresher';
