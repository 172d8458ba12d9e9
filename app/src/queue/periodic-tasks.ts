// Writing periodic tasks and starting runs. Every write is validated against the task registry
// before it reaches the database; the table's trigger then tells the scheduler role.
import { randomUUID } from 'node:crypto';
import { col, fn, UniqueConstraintError } from 'sequelize';
import type { Database } from '../db/index.ts';
import { NotFoundError } from '../errors.ts';
import { assertMayRun, assertScheduleAllowed, type Actor } from '../tasks/permissions.ts';
import type { PeriodicTask } from '../db/models.ts';
import type { QueueName, TaskRegistry } from '../tasks/registry.ts';
import { WorkerSources } from '../speedtest/worker-sources.ts';
import { issuesOf, parseOrThrow, ValidationError } from '../validation.ts';
import { jobOptions, type Queues } from './queues.ts';
import { periodicTaskFields, periodicTaskSchema, rowToSpec, specToColumns } from './schedule.ts';

/** Every schedule by name, as people sort: "backup" before "Speed test" before "weekly". */
export function periodicTasksByName(
  db: Database,
  attributes?: Array<keyof PeriodicTask & string>,
): Promise<PeriodicTask[]> {
  return db.models.PeriodicTask.findAll({
    ...(attributes ? { attributes } : {}),
    order: [
      [fn('lower', col('name')), 'ASC'],
      ['name', 'ASC'],
    ],
  });
}

/**
 * The schedules, read and written with the task registry's checks. Each write takes the signed-in
 * user who asks (tasks/permissions.ts decides what a non-admin may do); without one, it acts for
 * the system.
 */
export class PeriodicTasks {
  readonly #db: Database;
  readonly #registry: TaskRegistry;
  readonly #queues: Queues;
  readonly #sources: WorkerSources;

  constructor(db: Database, registry: TaskRegistry, queues: Queues) {
    this.#db = db;
    this.#registry = registry;
    this.#queues = queues;
    this.#sources = new WorkerSources(queues.connection, queues.prefix);
  }

  /** A source address or interface in the kwargs must be one a worker's host has. */
  async #checkSources(kwargs: Record<string, unknown>): Promise<void> {
    const issues = await this.#sources.issues(kwargs, ['kwargs']);
    if (issues.length) throw new ValidationError(issues);
  }

  async create(input: unknown, actor?: Actor): Promise<PeriodicTask> {
    const spec = parseOrThrow(periodicTaskSchema(this.#registry), input);
    assertMayRun(this.#registry, actor, spec.task, spec.kwargs);
    assertScheduleAllowed(actor, spec.schedule);
    await this.#checkSources(spec.kwargs);
    return this.#saving(() => this.#db.models.PeriodicTask.create(specToColumns(spec)));
  }

  /** Applies a partial change; the result is validated as a whole, as if it were created anew. */
  async update(id: number, patch: unknown, actor?: Actor): Promise<PeriodicTask> {
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
      throw new ValidationError([{ path: '', message: 'expected an object of fields to change' }]);
    }
    const unknownKeys = Object.keys(patch).filter((key) => !(key in periodicTaskFields.shape));
    if (unknownKeys.length) {
      throw new ValidationError(
        unknownKeys.map((key) => ({ path: key, message: 'unknown field' })),
      );
    }
    const row = await this.get(id);
    assertMayRun(this.#registry, actor, row.task);
    const spec = parseOrThrow(periodicTaskSchema(this.#registry), { ...rowToSpec(row), ...patch });
    // What the user changes is checked; what an admin set before stays (a user may still pause
    // an admin's frequent schedule, or rename it).
    if ('task' in patch || 'kwargs' in patch)
      assertMayRun(this.#registry, actor, spec.task, spec.kwargs);
    if ('schedule' in patch) assertScheduleAllowed(actor, spec.schedule);
    if ('kwargs' in patch) await this.#checkSources(spec.kwargs);
    return this.#saving(() => row.update({ ...specToColumns(spec), updatedAt: new Date() }));
  }

  async setEnabled(id: number, enabled: boolean, actor?: Actor): Promise<PeriodicTask> {
    return this.update(id, { enabled }, actor);
  }

  async remove(id: number, actor?: Actor): Promise<void> {
    if (actor) assertMayRun(this.#registry, actor, (await this.get(id)).task);
    const deleted = await this.#db.models.PeriodicTask.destroy({ where: { id } });
    if (!deleted) throw new NotFoundError(`periodic task ${id} does not exist`);
  }

  async list(): Promise<PeriodicTask[]> {
    return periodicTasksByName(this.#db);
  }

  async get(id: number): Promise<PeriodicTask> {
    const row = await this.#db.models.PeriodicTask.findByPk(id);
    if (!row) throw new NotFoundError(`periodic task ${id} does not exist`);
    return row;
  }

  /** Queues one immediate run of the periodic task, whatever its schedule or enabled flag say. */
  async runNow(id: number, actor?: Actor): Promise<string> {
    const row = await this.get(id);
    assertMayRun(this.#registry, actor, row.task);
    return enqueueTask(this.#db, this.#registry, this.#queues, row.task, row.kwargs, {
      periodicTaskId: row.id,
      priority: row.priority,
      queue: row.queue,
      args: row.args,
    });
  }

  async #saving(write: () => Promise<PeriodicTask>): Promise<PeriodicTask> {
    try {
      return await write();
    } catch (error) {
      if (error instanceof UniqueConstraintError) {
        throw new ValidationError([
          { path: 'name', message: 'a periodic task with this name already exists' },
        ]);
      }
      throw error;
    }
  }
}

/**
 * Queues one run of a task. Its task_results row is written first (status queued), so a run is
 * visible from the moment it is accepted; if Redis refuses the job the row is removed again.
 */
export async function enqueueTask(
  db: Database,
  registry: TaskRegistry,
  queues: Queues,
  name: string,
  kwargs: Record<string, unknown> = {},
  options: {
    periodicTaskId?: number;
    priority?: number | null;
    queue?: QueueName | null;
    args?: unknown[];
  } = {},
): Promise<string> {
  const task = registry.get(name);
  if (!task) {
    throw new ValidationError([
      {
        path: 'task',
        message: registry.unknownTask(name),
      },
    ]);
  }
  const parsed = task.kwargs.safeParse(kwargs);
  if (!parsed.success) throw new ValidationError(issuesOf(parsed.error, ['kwargs']));

  const jobId = randomUUID();
  const args = options.args ?? [];
  const queue = options.queue ?? task.queue;
  const row = await db.models.TaskResult.create({
    jobId,
    queue,
    task: task.name,
    periodicTaskId: options.periodicTaskId ?? null,
    status: 'queued',
    args,
    kwargs,
  });
  try {
    await queues
      .get(queue)
      .add(
        task.name,
        { args, kwargs, periodicTaskId: options.periodicTaskId },
        { ...jobOptions(task, options.priority), jobId },
      );
  } catch (error) {
    await row.destroy();
    throw error;
  }
  return jobId;
}
