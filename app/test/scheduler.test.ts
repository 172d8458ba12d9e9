// The scheduler role against real PostgreSQL (LISTEN/NOTIFY) and Redis (BullMQ job schedulers),
// with a real worker running what it schedules.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Op } from 'sequelize';
import type { PeriodicTask } from '../src/db/models.ts';
import { createMetrics } from '../src/metrics/registry.ts';
import { PeriodicTasks } from '../src/queue/periodic-tasks.ts';
import { jobOptions, Queues } from '../src/queue/queues.ts';
import { createRedis } from '../src/queue/redis.ts';
import { nextRunTimes, scheduleRevision, type PeriodicTaskInput } from '../src/queue/schedule.ts';
import { schedulerId, startScheduler, type RunningScheduler } from '../src/queue/scheduler.ts';
import { jitterOffsetMs, startWorker, type RunningWorker } from '../src/queue/worker.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { testRegistry } from './helpers/tasks.ts';
import { sleep, waitFor } from '../../testing/wait.ts';

describe('scheduler', () => {
  let env: TestEnv;
  let scheduler: RunningScheduler;
  let worker: RunningWorker;
  let queues: Queues;
  let tasks: PeriodicTasks;
  const registry = testRegistry();
  const metrics = createMetrics('all');

  before(async () => {
    // The periodic reconcile is slow on purpose: changes must arrive through NOTIFY.
    env = await createTestEnv({ SCHEDULER_RECONCILE_MS: '60000' });
    // The seeded rows call tasks this test registry does not have; they would only add noise.
    await env.db.models.PeriodicTask.destroy({ where: {} });
    const deps = { config: env.config, log: env.log, db: env.db, registry, metrics };
    worker = await startWorker(deps);
    scheduler = await startScheduler(deps);
    queues = new Queues(createRedis(env.config.REDIS_URL), env.config.QUEUE_PREFIX);
    tasks = new PeriodicTasks(env.db, registry, queues);
  });
  after(async () => {
    await scheduler.close();
    await worker.close();
    await queues.close();
    queues.connection.disconnect();
    await env.cleanup();
  });

  const queue = () => queues.get('default');
  const schedulerIds = async () => (await queue().getJobSchedulers(0, -1)).map((s) => s.key);
  const currentSchedulerId = (row: PeriodicTask) =>
    schedulerId(
      row.id,
      scheduleRevision(row, jobOptions(registry.require(row.task), row.priority)),
    );
  const results = (periodicTaskId: number, status?: string) =>
    env.db.models.TaskResult.findAll({
      where: { periodicTaskId, ...(status ? { status } : {}) },
      order: [['scheduledFor', 'ASC']],
    });
  const create = (
    input: Partial<PeriodicTaskInput> & Pick<PeriodicTaskInput, 'name' | 'schedule'>,
  ) => tasks.create({ task: 'test.echo', ...input });

  test('an interval schedule runs at its interval, every run recorded against its periodic task', async () => {
    const row = await create({
      name: 'every second',
      schedule: { type: 'interval', every: 1, period: 'seconds' },
    });
    const runs = await waitFor(
      async () => {
        const done = await results(row.id, 'succeeded');
        return done.length >= 3 ? done : null;
      },
      { what: 'three runs' },
    );
    const due = runs.map((run) => run.scheduledFor!.getTime());
    assert.deepEqual(
      due.slice(1).map((time, i) => time - due[i]!),
      due.slice(1).map(() => 1000),
    );
    await row.reload();
    assert.ok(row.totalRunCount >= 3);
    await tasks.setEnabled(row.id, false);
  });

  test('a jittered schedule: each run starts at its slot plus its own random offset within the jitter; lateness is measured from that', async () => {
    const row = await create({
      name: 'every 4 s, jitter 3 s',
      schedule: { type: 'interval', every: 4, period: 'seconds' },
      jitterSeconds: 3,
    });
    const runs = await waitFor(
      async () => {
        const done = await results(row.id, 'succeeded');
        return done.length >= 3 ? done : null;
      },
      { what: 'three jittered runs', timeoutMs: 30_000 },
    );
    const slotOf = (run: { jobId: string }) => Number(run.jobId.split(':').at(-1));
    const offsets = runs.map((run) => run.scheduledFor!.getTime() - slotOf(run));
    for (const [i, run] of runs.entries()) {
      assert.ok(
        offsets[i]! >= 0 && offsets[i]! <= 3000,
        `offset ${offsets[i]} ms of run ${run.jobId}: within the 3 s of jitter`,
      );
      assert.equal(offsets[i], jitterOffsetMs(run.jobId, 3), 'the offset drawn for that run');
      assert.equal(run.attempts, 1, 'putting a run off is not an attempt');
      const late = run.startedAt!.getTime() - run.scheduledFor!.getTime();
      assert.ok(late >= 0 && late < 1500, `started ${late} ms after its jittered time`);
    }
    assert.ok(new Set(offsets).size > 1, `offsets differ from run to run: ${offsets}`);
    await tasks.setEnabled(row.id, false);
  });

  test('jitter of a run is not longer than the time between runs', async () => {
    await assert.rejects(
      create({
        name: 'too much jitter',
        schedule: { type: 'interval', every: 1, period: 'minutes' },
        jitterSeconds: 60,
      }),
      (error: Error) =>
        /jitterSeconds: expected less than the time between two runs \(60 s\)/.test(error.message),
    );
    await assert.rejects(
      create({
        name: 'over an hour',
        schedule: { type: 'interval', every: 1, period: 'days' },
        jitterSeconds: 3601,
      }),
      /jitterSeconds: expected at most 3600/,
    );
  });

  test('a change reaches Redis through NOTIFY within a second, and the old schedule is removed', async () => {
    const row = await create({
      name: 'to be changed',
      schedule: { type: 'interval', every: 1, period: 'hours' },
    });
    const before = currentSchedulerId(row);
    await waitFor(async () => (await schedulerIds()).includes(before), {
      timeoutMs: 1000,
      what: 'the new schedule',
    });

    const started = Date.now();
    const changed = await tasks.update(row.id, {
      schedule: { type: 'interval', every: 2, period: 'hours' },
    });
    const after = currentSchedulerId(changed);
    assert.notEqual(after, before);
    await waitFor(
      async () => {
        const ids = await schedulerIds();
        return ids.includes(after) && !ids.includes(before);
      },
      { timeoutMs: 1000, what: 'the changed schedule to replace the old one' },
    );
    assert.ok(Date.now() - started < 1000);
    const scheduled = await queue().getJobScheduler(after);
    assert.equal(scheduled?.every, 2 * 3_600_000);
    await tasks.remove(row.id);
    await waitFor(async () => !(await schedulerIds()).includes(after), {
      timeoutMs: 1000,
      what: 'removal',
    });
  });

  test('disabling stops the runs and enabling brings them back', async () => {
    const row = await create({
      name: 'toggled',
      schedule: { type: 'interval', every: 1, period: 'seconds' },
    });
    await waitFor(async () => (await results(row.id, 'succeeded')).length >= 1, {
      what: 'a first run',
    });
    await tasks.setEnabled(row.id, false);
    await waitFor(
      async () => !(await schedulerIds()).some((id) => id.startsWith(`periodic:${row.id}:`)),
      { timeoutMs: 1000, what: 'the schedule to go' },
    );
    await sleep(300); // a run that was already under way may still finish
    const count = (await results(row.id)).length;
    await sleep(1_500);
    assert.equal((await results(row.id)).length, count, 'no run while disabled');
    await tasks.setEnabled(row.id, true);
    await waitFor(async () => (await results(row.id)).length > count, { what: 'runs to resume' });
    await tasks.setEnabled(row.id, false);
  });

  test('a clocked task runs once at its time and then disables itself', async () => {
    const at = new Date(Date.now() + 700);
    const row = await create({ name: 'clocked', schedule: { type: 'clocked', at } });
    assert.equal(row.oneOff, true);
    const [run] = await waitFor(
      async () => {
        const done = await results(row.id, 'succeeded');
        return done.length ? done : null;
      },
      { what: 'the clocked run' },
    );
    assert.equal(run!.scheduledFor!.getTime(), at.getTime());
    assert.ok(run!.startedAt! >= at);
    await row.reload();
    assert.equal(row.enabled, false);
    assert.equal(row.totalRunCount, 1);
    await sleep(1_000);
    assert.equal((await results(row.id)).length, 1);
    assert.ok(!(await schedulerIds()).some((id) => id.startsWith(`periodic:${row.id}:`)));
  });

  test('a one-off interval task runs once', async () => {
    const row = await create({
      name: 'one-off',
      oneOff: true,
      schedule: { type: 'interval', every: 1, period: 'seconds' },
    });
    await waitFor(async () => (await results(row.id, 'succeeded')).length === 1, {
      what: 'the run',
    });
    await sleep(1_500);
    assert.equal((await results(row.id)).filter((r) => r.status !== 'revoked').length, 1);
    await row.reload();
    assert.equal(row.enabled, false);
  });

  test('start time delays the first run; an expired task is not scheduled', async () => {
    const startTime = new Date(Date.now() + 3_600_000);
    const later = await create({
      name: 'later',
      startTime,
      schedule: { type: 'interval', every: 5, period: 'minutes' },
    });
    const id = currentSchedulerId(later);
    await waitFor(async () => (await schedulerIds()).includes(id), {
      timeoutMs: 1000,
      what: 'the schedule',
    });
    assert.equal((await queue().getJobScheduler(id))?.next, startTime.getTime());
    assert.deepEqual(
      nextRunTimes(later, 2).map((d) => d.getTime()),
      [startTime.getTime(), startTime.getTime() + 300_000],
    );

    const expired = await env.db.models.PeriodicTask.create({
      name: 'expired',
      task: 'test.echo',
      scheduleType: 'interval',
      intervalEvery: 1,
      intervalPeriod: 'seconds',
      expiresAt: new Date(Date.now() - 1000),
    });
    const report = await scheduler.reconcile();
    assert.ok(report.schedules >= 1);
    assert.ok(!(await schedulerIds()).some((s) => s.startsWith(`periodic:${expired.id}:`)));
    await tasks.remove(later.id);
    await tasks.remove(expired.id);
  });

  test('a crontab schedule is handed to BullMQ with its timezone, due when nextRunTimes says', async () => {
    const row = await create({
      name: 'paris mornings',
      schedule: { type: 'crontab', expression: '30 7 * * 1-5', timezone: 'Europe/Paris' },
    });
    const id = currentSchedulerId(row);
    const scheduled = await waitFor(() => queue().getJobScheduler(id), {
      timeoutMs: 1000,
      what: 'the cron schedule',
    });
    assert.equal(scheduled.pattern, '30 7 * * 1-5');
    assert.equal(scheduled.tz, 'Europe/Paris');
    assert.equal(scheduled.next, nextRunTimes(row, 1)[0]!.getTime());
    const hour = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'Europe/Paris',
      hour: '2-digit',
      minute: '2-digit',
    });
    assert.equal(hour.format(new Date(scheduled.next!)), '07:30');
    await tasks.remove(row.id);
  });

  test('run now queues one immediate run, even of a disabled task', async () => {
    const row = await create({
      name: 'manual',
      enabled: false,
      schedule: { type: 'interval', every: 1, period: 'days' },
    });
    const jobId = await tasks.runNow(row.id);
    const run = await waitFor(
      async () => {
        const result = await env.db.models.TaskResult.findOne({ where: { jobId } });
        return result?.status === 'succeeded' ? result : null;
      },
      { what: 'the manual run' },
    );
    assert.equal(run.periodicTaskId, row.id);
    await row.reload();
    assert.equal(row.totalRunCount, 1);
    assert.equal(row.enabled, false);
  });

  test('a job created from an outdated revision is skipped and recorded as revoked', async () => {
    const row = await create({
      name: 'stale',
      schedule: { type: 'interval', every: 1, period: 'days' },
    });
    const job = await queue().add('test.echo', {
      args: [],
      kwargs: {},
      periodicTaskId: row.id,
      revision: 'outdated',
    });
    const result = await waitFor(
      async () => {
        const found = await env.db.models.TaskResult.findOne({ where: { jobId: job.id! } });
        return found?.status === 'revoked' ? found : null;
      },
      { what: 'the stale job to be skipped' },
    );
    assert.match(result.error ?? '', /changed after the job was created/);
    await tasks.remove(row.id);
  });

  test('invalid schedules are refused with the field named and nothing written', async () => {
    const before = await env.db.models.PeriodicTask.count();
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [
        {
          name: 'bad cron',
          task: 'test.echo',
          schedule: { type: 'crontab', expression: '0 25 * * *' },
        },
        /schedule\.expression: hour field "25"/,
      ],
      [
        {
          name: 'zero',
          task: 'test.echo',
          schedule: { type: 'interval', every: 0, period: 'seconds' },
        },
        /schedule\.every: expected a number greater than 0/,
      ],
      [
        {
          name: 'negative',
          task: 'test.echo',
          schedule: { type: 'interval', every: -5, period: 'minutes' },
        },
        /schedule\.every: /,
      ],
      [
        {
          name: 'no task',
          task: 'nope',
          schedule: { type: 'interval', every: 1, period: 'seconds' },
        },
        /task: unknown task "nope"/,
      ],
      [
        {
          name: 'tz',
          task: 'test.echo',
          schedule: { type: 'crontab', expression: '* * * * *', timezone: 'Mars/Olympus' },
        },
        /schedule\.timezone: unknown timezone "Mars\/Olympus"/,
      ],
      [
        {
          name: 'kwargs',
          task: 'test.sleep',
          kwargs: { ms: 'long' },
          schedule: { type: 'interval', every: 1, period: 'seconds' },
        },
        /kwargs\.ms: /,
      ],
    ];
    for (const [input, message] of cases) {
      await assert.rejects(tasks.create(input), (error: Error) => {
        assert.equal(error.name, 'ValidationError');
        assert.match(error.message, message);
        return true;
      });
    }
    const row = await create({
      name: 'kept',
      schedule: { type: 'interval', every: 1, period: 'days' },
    });
    await assert.rejects(
      tasks.update(row.id, { schedule: { type: 'crontab', expression: '61 * * * *' } }),
      /minute field "61"/,
    );
    await assert.rejects(
      create({ name: 'kept', schedule: { type: 'interval', every: 1, period: 'days' } }),
      /name: a periodic task with this name already exists/,
    );
    await row.reload();
    assert.equal(row.scheduleType, 'interval');
    assert.equal(await env.db.models.PeriodicTask.count(), before + 1);
    await tasks.remove(row.id);
  });

  test('a row written around the validation cannot stop the other schedules', async () => {
    // Plain SQL (psql, a migration, Grafana) bypasses the zod checks; BullMQ refuses the crontab.
    const broken = await env.db.models.PeriodicTask.create({
      name: 'broken by hand',
      task: 'test.echo',
      scheduleType: 'crontab',
      crontab: '61 * * * *',
    });
    const healthy = await create({
      name: 'healthy',
      schedule: { type: 'interval', every: 1, period: 'days' },
    });
    const id = currentSchedulerId(healthy);
    await waitFor(async () => (await schedulerIds()).includes(id), {
      timeoutMs: 1000,
      what: 'the healthy schedule',
    });
    const report = await scheduler.reconcile();
    assert.equal(report.failed, 1);
    assert.ok(!(await schedulerIds()).some((s) => s.startsWith(`periodic:${broken.id}:`)));
    await tasks.remove(broken.id);
    await tasks.remove(healthy.id);
    assert.equal((await scheduler.reconcile()).failed, 0);
  });

  test('a clocked row written by SQL without one_off still runs only once', async () => {
    const at = new Date(Date.now() + 300);
    const row = await env.db.models.PeriodicTask.create({
      name: 'clocked by hand',
      task: 'test.echo',
      scheduleType: 'clocked',
      clockedAt: at,
      oneOff: false,
    });
    await waitFor(async () => (await results(row.id, 'succeeded')).length === 1, {
      what: 'the run',
    });
    await row.reload();
    assert.equal(row.enabled, false);
    await tasks.remove(row.id);
  });

  test('two schedulers at once never run a schedule twice', async () => {
    const second = await startScheduler({
      config: env.config,
      log: env.log,
      db: env.db,
      registry,
      metrics,
    });
    try {
      const rows = await Promise.all(
        [1, 1, 2].map((every, i) =>
          create({ name: `pair ${i}`, schedule: { type: 'interval', every, period: 'seconds' } }),
        ),
      );
      // Both schedulers react to each change at the same moment; force a few more races.
      for (let i = 0; i < 3; i++) {
        await Promise.all([scheduler.reconcile(), second.reconcile()]);
        await sleep(700);
      }
      await sleep(1_500);
      const ids = rows.map((row) => row.id);
      await Promise.all(ids.map((id) => tasks.setEnabled(id, false)));
      await sleep(500);
      const runs = await env.db.models.TaskResult.findAll({
        where: { periodicTaskId: { [Op.in]: ids }, status: 'succeeded' },
      });
      assert.ok(runs.length >= 6, `only ${runs.length} runs`);
      const keys = runs.map((run) => `${run.periodicTaskId}@${run.scheduledFor!.getTime()}`);
      assert.equal(new Set(keys).size, keys.length, 'a due instant ran twice');
    } finally {
      await second.close();
    }
  });
});
