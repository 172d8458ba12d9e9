// Migrations against a real PostgreSQL: up, down, up again; concurrent runs; the models agree with
// the migrated schema; the constraints and the NOTIFY trigger do what the scheduler relies on.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { QueryTypes, type Model, type ModelStatic } from 'sequelize';
import { createPgClient, ensureDatabase } from '../src/db/connection.ts';
import { openDatabase, type Database } from '../src/db/index.ts';
import { createMigrator, migrateUp, migrationStatus } from '../src/db/migrator.ts';
import { NOTIFY_CHANNEL } from '../src/queue/scheduler.ts';
import { databaseUrl, dropDatabase, uniqueName } from '../../testing/database.ts';
import { sleep } from '../../testing/wait.ts';

const ALL_MIGRATIONS = [
  '0001-initial-schema',
  '0002-seed-periodic-tasks',
  '0003-seed-speedtest-schedule',
  '0004-speedtest-daily',
  '0005-drop-account-lockout',
  '0006-schedule-jitter',
  '0007-speedtest-latency-under-load',
  '0008-probes',
];

const APP_TABLES = [
  'api_tokens',
  'clients',
  'periodic_tasks',
  'probe_minutes',
  'probe_outages',
  'probes',
  'sessions',
  'speedtest_daily',
  'speedtest_server_pings',
  'speedtest_servers',
  'speedtests',
  'task_results',
  'users',
];

describe('migrations', () => {
  const name = uniqueName('migrations');
  const url = databaseUrl(name);
  let db: Database;

  before(async () => {
    assert.equal(await ensureDatabase(url), true, 'a missing database is created');
    assert.equal(await ensureDatabase(url), false, 'an existing one is left alone');
    db = openDatabase({ DATABASE_URL: url, DATABASE_POOL_MAX: 5 });
  });
  after(async () => {
    await db.close();
    await dropDatabase(name);
  });

  const tables = async () =>
    (
      await db.sequelize.query<{ name: string }>(
        `SELECT table_name AS name FROM information_schema.tables
          WHERE table_schema = 'public' AND table_name <> 'schema_migrations' ORDER BY table_name`,
        { type: QueryTypes.SELECT },
      )
    ).map((row) => row.name);

  test('two processes migrating at once apply each migration exactly once', async () => {
    const [first, second] = await Promise.all([
      migrateUp(db.sequelize, url),
      migrateUp(openDatabase({ DATABASE_URL: url, DATABASE_POOL_MAX: 2 }).sequelize, url),
    ]);
    const applied = [...first, ...second].sort();
    assert.deepEqual(applied, ALL_MIGRATIONS);
    assert.deepEqual(await tables(), APP_TABLES);
  });

  test('every model attribute exists in the migrated table with a compatible type', async () => {
    const compatible: Record<string, string[]> = {
      INTEGER: ['integer'],
      BIGINT: ['bigint'],
      TEXT: ['text'],
      'VARCHAR(2)': ['character'],
      BOOLEAN: ['boolean'],
      JSONB: ['jsonb'],
      'TIMESTAMP WITH TIME ZONE': ['timestamp with time zone'],
      'DOUBLE PRECISION': ['double precision'],
      INET: ['inet'],
      SMALLINT: ['smallint'],
      'TEXT[]': ['ARRAY'],
    };
    for (const model of Object.values(db.models) as Array<ModelStatic<Model>>) {
      const columns = await db.sequelize.query<{ name: string; type: string }>(
        'SELECT column_name AS name, data_type AS type FROM information_schema.columns WHERE table_name = $1',
        { bind: [model.getTableName()], type: QueryTypes.SELECT },
      );
      const byName = new Map(columns.map((c) => [c.name, c.type]));
      for (const [attribute, definition] of Object.entries(model.getAttributes())) {
        const column = definition.field ?? attribute;
        const type = definition.type.toString({});
        assert.ok(
          byName.has(column),
          `${model.getTableName()}.${column} (${model.name}.${attribute}) is missing`,
        );
        assert.ok(
          compatible[type]?.includes(byName.get(column)!),
          `${model.getTableName()}.${column}: model says ${type}, table has ${byName.get(column)}`,
        );
      }
      assert.equal(
        columns.length,
        Object.keys(model.getAttributes()).length,
        `${model.getTableName()} has columns no model attribute maps`,
      );
    }
  });

  test('the seeded schedules are there', async () => {
    const seeded = await db.models.PeriodicTask.findAll({ order: [['name', 'ASC']] });
    assert.deepEqual(
      seeded.map((row) => [row.name, row.task, row.scheduleType, row.enabled]),
      [
        ['Process Speed Test', 'speedtester.run_speedtest', 'interval', true],
        ['Prune old results', 'maintenance.prune_results', 'crontab', true],
        ['Web health check', 'system.http_check', 'interval', true],
      ],
    );
    assert.equal(
      seeded[0]?.intervalEvery,
      30,
      'every 30 minutes unless the deployment says otherwise',
    );
  });

  test('the table refuses a schedule whose fields do not match its type', async () => {
    await assert.rejects(
      db.models.PeriodicTask.create({ name: 'half', task: 'x', scheduleType: 'crontab' }),
      /periodic_tasks_schedule_complete/,
    );
    await assert.rejects(
      db.models.PeriodicTask.create({
        name: 'zero',
        task: 'x',
        scheduleType: 'interval',
        intervalEvery: 0,
        intervalPeriod: 'seconds',
      }),
      /periodic_tasks_interval_every_check/,
    );
  });

  test('schedule changes NOTIFY the scheduler; run bookkeeping does not', async () => {
    const listener = createPgClient(url);
    await listener.connect();
    const received: string[] = [];
    listener.on('notification', (message) => received.push(message.payload ?? ''));
    await listener.query(`LISTEN ${NOTIFY_CHANNEL}`);
    try {
      const row = await db.models.PeriodicTask.create({
        name: 'watched',
        task: 'x',
        scheduleType: 'interval',
        intervalEvery: 5,
        intervalPeriod: 'minutes',
      });
      await row.update({ lastRunAt: new Date(), totalRunCount: 3 });
      await row.update({ intervalEvery: 10 });
      await row.destroy();
      await sleep(200);
      assert.deepEqual(
        received,
        [String(row.id), String(row.id), String(row.id)],
        'insert, schedule change, delete',
      );
    } finally {
      await listener.end();
    }
  });

  test('down reverts every migration, and up applies them again', async () => {
    const migrator = createMigrator(db.sequelize);
    const reverted = await migrator.down({ to: 0 });
    assert.deepEqual(
      reverted.map((m) => m.name),
      [...ALL_MIGRATIONS].reverse(),
    );
    assert.deepEqual(await tables(), []);
    // What `refresher migrate --status` prints (npm run restore compares an archive with it).
    assert.deepEqual(await migrationStatus(db.sequelize), { known: ALL_MIGRATIONS, applied: [] });
    const [functions] = await db.sequelize.query(
      "SELECT 1 FROM pg_proc WHERE proname = 'notify_periodic_task_change'",
    );
    assert.equal(functions.length, 0);
    // A fresh database takes the speed test interval from the environment (the deployment's).
    process.env.SPEEDTEST_INTERVAL_MINUTES = '15';
    try {
      assert.deepEqual(await migrateUp(db.sequelize, url), ALL_MIGRATIONS);
    } finally {
      delete process.env.SPEEDTEST_INTERVAL_MINUTES;
    }
    assert.deepEqual(await tables(), APP_TABLES);
    assert.deepEqual(await migrationStatus(db.sequelize), {
      known: ALL_MIGRATIONS,
      applied: ALL_MIGRATIONS,
    });
    assert.equal(await db.models.PeriodicTask.count(), 3);
    const speedtest = await db.models.PeriodicTask.findOne({
      where: { name: 'Process Speed Test' },
    });
    assert.equal(speedtest?.intervalEvery, 15);
  });
});
