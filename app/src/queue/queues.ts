// Queue handles and job options. Every job carries its task's retry policy, so a job in Redis is
// self-describing: the queue board shows what will happen to it.
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { QUEUE_NAMES, type QueueName, type TaskDefinition } from '../tasks/registry.ts';

export interface JobData {
  args: unknown[];
  kwargs: Record<string, unknown>;
  /** Set on jobs created from a periodic task (by its scheduler or by "run now"). */
  periodicTaskId?: number;
  /** The schedule revision that created the job; workers skip jobs of a stale revision. */
  revision?: string;
  /** A scheduled run starts up to this many seconds after its slot (its periodic task's jitter). */
  jitterSeconds?: number;
  /** Set once the worker has put the run off to its jittered time (epoch ms): its slot now. */
  jitteredTo?: number;
  /** Whether that took a start of its own (the job went back to the delayed set). */
  jitterDelayed?: boolean;
}

/** PostgreSQL keeps every run; Redis only needs recent jobs for the queue board. */
const KEEP_COMPLETED = { age: 24 * 3600, count: 1_000 };
const KEEP_FAILED = { age: 7 * 24 * 3600, count: 5_000 };

export function jobOptions(task: TaskDefinition, priority?: number | null): JobsOptions {
  return {
    attempts: task.attempts,
    backoff: { type: 'exponential', delay: task.backoffMs },
    removeOnComplete: KEEP_COMPLETED,
    removeOnFail: KEEP_FAILED,
    ...(priority ? { priority } : {}),
  };
}

export class Queues {
  readonly #queues = new Map<QueueName, Queue<JobData>>();
  readonly connection: Redis;
  readonly prefix: string;
  readonly #log: Logger | undefined;

  constructor(connection: Redis, prefix: string, log?: Logger) {
    this.connection = connection;
    this.prefix = prefix;
    this.#log = log;
  }

  get(name: QueueName): Queue<JobData> {
    let queue = this.#queues.get(name);
    if (!queue) {
      queue = new Queue<JobData>(name, { connection: this.connection, prefix: this.prefix });
      // Without a listener BullMQ prints every reconnect attempt; the connection logs outages once.
      queue.on('error', (error) =>
        this.#log?.debug({ err: error.message, queue: name }, 'queue error'),
      );
      this.#queues.set(name, queue);
    }
    return queue;
  }

  all(): Array<Queue<JobData>> {
    return QUEUE_NAMES.map((name) => this.get(name));
  }

  async close(): Promise<void> {
    await Promise.all([...this.#queues.values()].map((queue) => queue.close()));
    this.#queues.clear();
  }
}
