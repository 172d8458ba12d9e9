// The typed task registry: every task the worker can run, with its kwargs schema and its defaults
// for retries, backoff, timeout and queue. The scheduler, the API and the worker all validate
// against the same definitions, so an invalid schedule is refused when it is written, not at 3 a.m.
import type { z } from 'zod';
import { QUEUE_NAMES, type QueueName } from '../../../contract/queues.ts';
import { UnknownTaskError, unknownTaskMessage } from '../errors.ts';

export { UnknownTaskError };

/** Queues the worker consumes (contract/queues.ts). `speedtests` runs one job at a time across the cluster. */
export { QUEUE_NAMES, type QueueName };
/** Jobs of a queue running at once across the whole cluster (null: only per-worker limits). */
export const QUEUE_GLOBAL_CONCURRENCY: Record<QueueName, number | null> = {
  default: null,
  // Two speed tests at once would share the link and both measure half of it.
  speedtests: 1,
};

export interface TaskContext {
  jobId: string;
  /** 1 on the first run, 2 on the first retry, … */
  attempt: number;
  periodicTaskId: number | null;
  /** Aborted on timeout, on cancellation and when a shutdown runs out of time: stop promptly. */
  signal: AbortSignal;
  /** Appends a line to the task result's log (also written to the process log). */
  log(message: string, level?: 'info' | 'warn' | 'error'): void;
}

export interface TaskDefinition<Kwargs extends z.ZodType = z.ZodType, Result = unknown> {
  name: string;
  description: string;
  queue: QueueName;
  kwargs: Kwargs;
  /** Total tries, the first included. */
  attempts: number;
  /** First retry delay; doubles on each further retry (exponential backoff). */
  backoffMs: number;
  timeoutMs: number;
  /**
   * Who may schedule or start it: 'admins' for tasks that reach into the system (an HTTP request
   * to any URL the server can reach, deleting history). Default: every signed-in user.
   */
  allowed?: 'everyone' | 'admins';
  /** Keyword arguments only an admin may set (a user's runs take the configured defaults). */
  adminOnlyKwargs?: readonly string[];
  run(kwargs: z.output<Kwargs>, context: TaskContext): Promise<Result>;
}

export function defineTask<Kwargs extends z.ZodType, Result>(
  definition: TaskDefinition<Kwargs, Result>,
): TaskDefinition<Kwargs, Result> {
  return definition;
}

export class TaskRegistry {
  readonly #tasks = new Map<string, TaskDefinition>();

  constructor(definitions: Iterable<TaskDefinition>) {
    for (const definition of definitions) {
      if (this.#tasks.has(definition.name))
        throw new Error(`task ${definition.name} is defined twice`);
      this.#tasks.set(definition.name, definition);
    }
  }

  get(name: string): TaskDefinition | undefined {
    return this.#tasks.get(name);
  }

  require(name: string): TaskDefinition {
    const task = this.#tasks.get(name);
    if (!task) throw new UnknownTaskError(this.unknownTask(name));
    return task;
  }

  /** What to say of a task name that is not here (one wording for the API, portal and worker). */
  unknownTask(name: string): string {
    return unknownTaskMessage(name, this.names());
  }

  names(): string[] {
    return [...this.#tasks.keys()].sort((a, b) =>
      a.localeCompare(b, 'en', { sensitivity: 'base' }),
    );
  }

  list(): TaskDefinition[] {
    return this.names().map((name) => this.require(name));
  }

  /** The queues that have at least one task, so a worker consumes only what can arrive. */
  queues(): QueueName[] {
    return QUEUE_NAMES.filter((queue) => this.list().some((task) => task.queue === queue));
  }
}
