// A month of a believable deployment for the docs' screenshots: a 500/50 Mbit/s cable line
// tested every 30 minutes against two LibreSpeed servers and nightly with Ookla, slower in the
// evenings; an ISP outage three days ago that the TCP probe saw and the router's HTTP probe did
// not, with the speed tests that failed during it and the one run when it ended; the health
// checks and prune runs of the seeded schedules; a few users and API tokens.
//
// Every figure comes from a seeded random generator and every time is counted back from the last
// half hour, so two runs draw the same charts (only the dates move on). The records go through
// the app's own code where it has any (storeSpeedtest, createUser, createApiToken) and the test
// builders' defaults otherwise, so they are what a running deployment stores.
import type { CreationAttributes } from 'sequelize';
import type { Database } from '../../src/db/index.ts';
import type { PeriodicTask, TaskResult } from '../../src/db/models.ts';
import { nextRunTimes } from '../../src/queue/schedule.ts';
import { bufferbloat } from '../../src/speedtest/bufferbloat.ts';
import type { SpeedtestResult, SpeedtestServer } from '../../src/speedtest/engine.ts';
import { storeSpeedtest } from '../../src/speedtest/store.ts';
import { SPEEDTEST_TASK } from '../../src/tasks/speedtest.ts';
import { createApiToken } from '../../src/web/auth/tokens.ts';
import { createUser } from '../../src/web/auth/users.ts';
import {
  pingedServer,
  speedtestResult,
  speedtestServer,
  taskResultRow,
} from '../helpers/builders.ts';

export const ADMIN = { username: 'admin', password: 'correct horse battery staple' };

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const DAYS = 30;
const WORKER = 'refresher-vm:1187';

/** What the screenshots open by id. */
export interface Seeded {
  speedtestId: string;
  speedtestScheduleId: number;
  failedRunId: string;
  probeId: number;
}

/** mulberry32: a tiny generator with a fixed seed, so every run seeds the same figures. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A version 4 UUID from the generator: job ids and result links that are the same every run. */
function uuid(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${((parseInt(hex[16]!, 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20)}`; // prettier-ignore
}

const SERVERS = {
  amsterdam: speedtestServer({
    id: 'ams-1',
    name: 'Amsterdam',
    sponsor: 'Example Fiber',
    host: 'speedtest.ams.example.net',
    url: 'https://speedtest.ams.example.net/backend',
    distanceKm: 18.4,
  }),
  frankfurt: speedtestServer({
    id: 'fra-2',
    name: 'Frankfurt',
    sponsor: 'Example Transit',
    host: 'speedtest.fra.example.net',
    url: 'https://speedtest.fra.example.net/backend',
    country: 'Germany',
    countryCode: 'DE',
    lat: 50.1109,
    lon: 8.6821,
    distanceKm: 361.7,
  }),
  /** Ookla's servers are a list of their own: the nightly test pings two of them. */
  utrecht: speedtestServer({
    id: '48712',
    name: 'Utrecht',
    sponsor: 'Example Hosting',
    host: 'speedtest.utr.example.com:8080',
    url: null,
    lat: 52.0907,
    lon: 5.1214,
    distanceKm: 34.1,
  }),
  rotterdam: speedtestServer({
    id: '52365',
    name: 'Rotterdam',
    sponsor: 'Example Telecom',
    host: 'speedtest.rtm.example.com:8080',
    url: null,
    lat: 51.9225,
    lon: 4.4792,
    distanceKm: 57.9,
  }),
} satisfies Record<string, SpeedtestServer>;

const CLIENT = { ip: '203.0.113.57', isp: 'Example Cable', countryCode: 'NL' };

/**
 * Evening load on the ISP's network, 0 to 1: none before 17:00 UTC, most at about 19:30, and
 * some evenings busier than others (weekends, a match on television).
 */
function evening(at: number): number {
  const hour = (at % DAY) / HOUR;
  if (hour < 17 || hour >= 22) return 0;
  const day = Math.floor(at / DAY);
  const busy = 0.55 + 0.45 * Math.abs(Math.sin(day * 2.7));
  return busy * Math.sin((Math.PI * (hour - 17)) / 5);
}

/** One test at `at` against `server`, with the line's figures at that hour. */
function lineTest(
  random: () => number,
  at: number,
  server: SpeedtestServer,
  engine: 'librespeed' | 'ookla',
): SpeedtestResult {
  const load = evening(at);
  const distance = server === SERVERS.frankfurt ? 0.95 : 1;
  const downloadBps = 500e6 * distance * (0.91 + 0.06 * random()) * (1 - 0.45 * load);
  const uploadBps = 50e6 * (0.9 + 0.08 * random()) * (1 - 0.08 * load);
  const pingMs =
    (server === SERVERS.frankfurt ? 15.5 : server === SERVERS.rotterdam ? 11 : 9.5) +
    2 * random() +
    3 * load;
  const other = server === SERVERS.frankfurt ? SERVERS.amsterdam : SERVERS.frankfurt;
  return speedtestResult({
    engine,
    startedAt: new Date(at),
    downloadBps,
    uploadBps,
    pingMs,
    jitterMs: 0.6 + 1.6 * random() + load,
    packetLoss: engine === 'ookla' ? (random() < 0.8 ? 0 : Number((random() * 0.4).toFixed(2))) : null,
    // Cable: the download queue is short, the upload one long (grade B more often than not).
    downloadLatency: { latencyMs: pingMs + 10 + 18 * random() + 12 * load, jitterMs: 2 + 3 * random() },
    uploadLatency: { latencyMs: pingMs + 38 + 45 * random(), jitterMs: 4 + 6 * random() },
    source: { address: '192.168.1.20', interface: null, family: 4 },
    bytesReceived: Math.round((downloadBps * 10) / 8),
    bytesSent: Math.round((uploadBps * 10) / 8),
    durationMs: 21_000 + Math.round(3_000 * random()),
    server,
    pinged:
      engine === 'ookla'
        ? [
            pingedServer({ server, latencyMs: pingMs, chosen: true }),
            pingedServer({ server: SERVERS.utrecht, latencyMs: pingMs + 0.6 + 2 * random() }),
          ]
        : [
            pingedServer({ server, latencyMs: pingMs, chosen: true }),
            pingedServer({ server: other, latencyMs: pingMs + 2 + 4 * random() }),
          ],
    client: CLIENT,
    resultUrl: engine === 'ookla' ? `https://www.speedtest.net/result/c/${uuid(random)}` : null,
  }); // prettier-ignore
}

/** The task result of a speed test run, before its test is stored (storeSpeedtest links them). */
function speedtestRun(
  random: () => number,
  test: SpeedtestResult,
  periodicTaskId: number | null,
  kwargs: Record<string, unknown>,
): CreationAttributes<TaskResult> {
  const at = test.startedAt.getTime();
  const grade = bufferbloat(test)?.grade ?? null;
  const mbps = (bps: number) => Number((bps / 1e6).toFixed(2));
  return taskResultRow({
    jobId: uuid(random),
    queue: 'speedtests',
    task: SPEEDTEST_TASK,
    periodicTaskId,
    status: 'succeeded',
    attempts: 1,
    kwargs,
    worker: WORKER,
    scheduledFor: periodicTaskId ? new Date(at - 800) : null,
    queuedAt: new Date(at - 800),
    startedAt: new Date(at - 200),
    finishedAt: new Date(at + test.durationMs),
    durationMs: test.durationMs + 200,
    result: {
      engine: test.engine,
      server: test.server.name,
      selfTest: false,
      downloadMbps: mbps(test.downloadBps),
      uploadMbps: mbps(test.uploadBps),
      pingMs: Number(test.pingMs.toFixed(2)),
      jitterMs: test.jitterMs === null ? null : Number(test.jitterMs.toFixed(2)),
      downloadLatencyMs: Number(test.downloadLatency!.latencyMs.toFixed(2)),
      uploadLatencyMs: Number(test.uploadLatency!.latencyMs.toFixed(2)),
      bufferbloatGrade: grade,
      sourceAddress: test.source.address,
      family: test.source.family,
      resultUrl: test.resultUrl,
    },
    logs: [
      {
        at: new Date(at + test.durationMs).toISOString(),
        level: 'info',
        message: `${test.server.name}: ${mbps(test.downloadBps)} Mbit/s down, ${mbps(test.uploadBps)} Mbit/s up, ${test.pingMs.toFixed(2)} ms ping`,
      },
    ],
  });
}

export async function seedDeployment(db: Database, now = Date.now()): Promise<Seeded> {
  const { models, sequelize } = db;
  const random = generator(20_26);
  const anchor = Math.floor(now / (30 * MINUTE)) * 30 * MINUTE;
  const today = Math.floor(now / DAY) * DAY;
  const start = anchor - DAYS * DAY;
  // The ISP's outage, three days ago in the afternoon, and a short one at night before that.
  const outage = { from: today - 3 * DAY + 14 * HOUR + 10 * MINUTE, minutes: 42 };
  const blip = { from: today - 12 * DAY + 2 * HOUR + 3 * MINUTE, minutes: 4 };
  const down = (at: number) =>
    [outage, blip].some(({ from, minutes }) => at >= from && at < from + minutes * MINUTE);

  // The schedules: the three a fresh database has, run as they would have, and three of a user's.
  const byName = async (name: string) => {
    const row = await models.PeriodicTask.findOne({ where: { name } });
    if (!row) throw new Error(`the migrations seed a schedule named "${name}"`);
    return row;
  };
  const processSpeedTest = await byName('Process Speed Test');
  const healthCheck = await byName('Web health check');
  const prune = await byName('Prune old results');
  await processSpeedTest.update({
    kwargs: {},
    description:
      'Every 30 minutes with the deployment’s engine and servers (Amsterdam, Frankfurt).',
  });
  const nightly = await models.PeriodicTask.create({
    name: 'Nightly Ookla test',
    task: SPEEDTEST_TASK,
    kwargs: { engine: 'ookla', servers: [SERVERS.rotterdam.id] },
    scheduleType: 'crontab',
    crontab: '15 3 * * *',
    timezone: 'Europe/Amsterdam',
    description: 'A second opinion once a night, against the ISP’s own Ookla server.',
  });
  const statusCheck = await models.PeriodicTask.create({
    name: 'Public status page answers',
    task: 'system.http_check',
    kwargs: { url: 'https://speed.example.org/status', timeoutMs: 5_000 },
    scheduleType: 'interval',
    intervalEvery: 15,
    intervalPeriod: 'minutes',
    enabled: false,
    description: 'Off while the status page is only shared with the household.',
  });
  await models.PeriodicTask.create({
    name: 'After the router firmware update',
    task: SPEEDTEST_TASK,
    kwargs: {},
    scheduleType: 'clocked',
    clockedAt: new Date(today + 2 * DAY + 21 * HOUR),
    oneOff: true,
    description: 'One test the evening the new firmware is in.',
  });
  const createdAt = new Date(start - DAY);
  await sequelize.query('UPDATE periodic_tasks SET created_at = $1', { bind: [createdAt] });

  // Every half hour a LibreSpeed test (Amsterdam, or Frankfurt when it answered the ping faster),
  // except while the line was down; then one more when the probe saw it come back.
  const runs: Array<{ test: SpeedtestResult; row: CreationAttributes<TaskResult> }> = [];
  const failed: CreationAttributes<TaskResult>[] = [];
  for (let at = start + 30 * MINUTE; at <= anchor; at += 30 * MINUTE) {
    if (down(at)) {
      const error =
        'no speed test server answered: Amsterdam (connect ETIMEDOUT 198.51.100.20:443), Frankfurt (connect ETIMEDOUT 198.51.100.40:443)';
      failed.push(
        taskResultRow({
          jobId: uuid(random),
          queue: 'speedtests',
          task: SPEEDTEST_TASK,
          periodicTaskId: processSpeedTest.id,
          status: 'failed',
          attempts: 2,
          worker: WORKER,
          scheduledFor: new Date(at - 800),
          queuedAt: new Date(at - 800),
          startedAt: new Date(at + MINUTE),
          finishedAt: new Date(at + MINUTE + 10_400),
          durationMs: 10_400,
          error,
          stack: `Error: ${error}\n    at chooseServer (/app/refresher.mjs:48211:11)\n    at async LibreSpeedEngine.run (/app/refresher.mjs:48302:20)\n    at async Object.run (/app/refresher.mjs:51977:22)`,
          logs: [
            { at: new Date(at).toISOString(), level: 'warn', message: `attempt 1 failed: ${error}; retrying in 60 s` },
            { at: new Date(at + MINUTE + 10_400).toISOString(), level: 'error', message: error },
          ],
        }), // prettier-ignore
      );
      continue;
    }
    const server = random() < 0.75 ? SERVERS.amsterdam : SERVERS.frankfurt;
    const test = lineTest(random, at + Math.round(random() * 900), server, 'librespeed');
    runs.push({ test, row: speedtestRun(random, test, processSpeedTest.id, {}) });
  }
  const back = outage.from + outage.minutes * MINUTE + 4_000;
  const recovery = lineTest(random, back, SERVERS.amsterdam, 'librespeed');
  runs.push({ test: recovery, row: speedtestRun(random, recovery, null, {}) });
  const nightlyTimes = nextRunTimes(nightly, DAYS + 1, new Date(start)).filter(
    (time) => time.getTime() < now,
  );
  for (const time of nightlyTimes) {
    const test = lineTest(random, time.getTime() + 1_100, SERVERS.rotterdam, 'ookla');
    runs.push({ test, row: speedtestRun(random, test, nightly.id, nightly.kwargs) });
  }
  runs.sort((a, b) => a.test.startedAt.getTime() - b.test.startedAt.getTime());
  await models.TaskResult.bulkCreate([...runs.map(({ row }) => row), ...failed]);
  // One after the other: each test upserts its servers, and two transactions upserting the same
  // two servers in turn would deadlock.
  const ids: string[] = [];
  for (const { test, row } of runs) ids.push(await storeSpeedtest(db, test, { jobId: row.jobId }));
  // A run's result names its test, as the task's own return value does.
  await sequelize.query(
    `UPDATE task_results t SET result = t.result || jsonb_build_object('speedtestId', s.id::text)
       FROM speedtests s WHERE s.task_result_id = t.id`,
  );

  // The deployment's own health check every minute (the last six hours of it: older runs would
  // only be more of the same), once answered by a web role that was restarting.
  const checks: CreationAttributes<TaskResult>[] = [];
  const minute = Math.floor(now / MINUTE) * MINUTE;
  for (let at = minute - 6 * HOUR; at < minute; at += MINUTE) {
    const restarting = at === minute - 137 * MINUTE;
    const latencyMs = Number((2.5 + 4 * random()).toFixed(1));
    const url = 'http://web:3000/healthz';
    const line = restarting
      ? `GET ${url} answered 503, expected 200`
      : `GET ${url} -> 200 in ${latencyMs} ms`;
    checks.push(
      taskResultRow({
        jobId: uuid(random),
        task: 'system.http_check',
        periodicTaskId: healthCheck.id,
        status: restarting ? 'failed' : 'succeeded',
        attempts: restarting ? 3 : 1,
        worker: WORKER,
        scheduledFor: new Date(at),
        queuedAt: new Date(at + 3),
        startedAt: new Date(at + 9),
        finishedAt: new Date(at + 9 + (restarting ? 4_210 : latencyMs)),
        durationMs: restarting ? 4_210 : latencyMs + 1,
        result: restarting ? null : { url, status: 200, ok: true, latencyMs },
        error: restarting ? line : null,
        stack: restarting ? `Error: ${line}\n    at Object.run (/app/refresher.mjs:50412:15)` : null,
        logs: [{ at: new Date(at + 20).toISOString(), level: restarting ? 'error' : 'info', message: line }],
      }), // prettier-ignore
    );
  }
  // The nightly prune (nothing is older than the retention yet).
  const pruneTimes = nextRunTimes(prune, DAYS + 1, new Date(start)).filter(
    (time) => time.getTime() < now,
  );
  for (const time of pruneTimes) {
    const at = time.getTime();
    const cutoff = new Date(at - 365 * DAY).toISOString();
    checks.push(
      taskResultRow({
        jobId: uuid(random),
        task: 'maintenance.prune_results',
        periodicTaskId: prune.id,
        status: 'succeeded',
        attempts: 1,
        worker: WORKER,
        scheduledFor: time,
        queuedAt: new Date(at + 4),
        startedAt: new Date(at + 12),
        finishedAt: new Date(at + 130),
        durationMs: 118,
        result: {
          cutoff,
          retentionDays: 365,
          deleted: { speedtests: 0, task_results: 0, probe_minutes: 0, probe_outages: 0 },
        },
        logs: ['speedtests', 'task_results', 'probe_minutes', 'probe_outages'].map((table) => ({
          at: new Date(at + 100).toISOString(),
          level: 'info' as const,
          message: `deleted 0 rows from ${table} older than ${cutoff}`,
        })),
      }),
    );
  }
  await models.TaskResult.bulkCreate(checks);

  // Each schedule's bookkeeping, as the scheduler keeps it.
  const lastOf = (id: number) =>
    sequelize.query(
      `UPDATE periodic_tasks SET
         last_run_at = (SELECT max(scheduled_for) FROM task_results WHERE periodic_task_id = $1),
         total_run_count = (SELECT count(*) FROM task_results WHERE periodic_task_id = $1)
       WHERE id = $1`,
      { bind: [id] },
    );
  for (const task of [processSpeedTest, healthCheck, prune, nightly] as PeriodicTask[])
    await lastOf(task.id);
  await statusCheck.update({ lastRunAt: new Date(start + 2 * DAY), totalRunCount: 212 });

  // Two probes since the start: TCP to two public resolvers, HTTP to the router. Minutes are
  // made in SQL (about 130,000 rows); their noise is a hash of the minute, as fixed as the rest.
  const internet = await models.Probe.create({
    name: 'Internet (TCP)',
    kind: 'tcp',
    targets: ['1.1.1.1:443', '9.9.9.9:443'],
    periodSeconds: 10,
    timeoutMs: 2_000,
    failuresForOutage: 3,
  });
  const router = await models.Probe.create({
    name: 'Router (HTTP)',
    kind: 'http',
    targets: ['http://192.168.1.1/'],
    periodSeconds: 30,
    timeoutMs: 2_000,
    speedtestOnRecovery: false,
  });
  await sequelize.query('UPDATE probes SET created_at = $1, updated_at = $1', {
    bind: [new Date(start)],
  });
  const minutes = (
    probeId: number,
    target: string,
    sent: number,
    baseMs: number,
    eveningMs: number,
    outages: boolean,
  ) =>
    sequelize.query(
      `WITH m AS (
         SELECT minute,
                (abs(hashtext($2::text || minute::text)) % 10000) / 10000.0 AS noise,
                (abs(hashtext(minute::text || $2::text)) % 10000) / 10000.0 AS chance,
                CASE WHEN extract(hour FROM minute AT TIME ZONE 'UTC') BETWEEN 17 AND 21
                     THEN sin(pi() * (extract(epoch FROM minute)::bigint % 86400 - 61200) / 18000.0)
                     ELSE 0 END AS load,
                $7::boolean AND (
                  (minute >= $8::timestamptz AND minute < $8::timestamptz + make_interval(mins => $9::int)) OR
                  (minute >= $10::timestamptz AND minute < $10::timestamptz + make_interval(mins => $11::int))
                ) AS down
           FROM generate_series($3::timestamptz, $4::timestamptz, interval '1 minute') AS minute
       ), r AS (
         SELECT minute, noise, down,
                CASE WHEN down THEN $5::int WHEN chance < 0.0015 THEN 1 ELSE 0 END AS lost,
                $6::float8 + $12::float8 * load + 1.5 * noise AS rtt
           FROM m
       )
       INSERT INTO probe_minutes
         (probe_id, target, minute, sent, lost, rtt_sum_ms, rtt_min_ms, rtt_max_ms, jitter_sum_ms, jitter_n)
       SELECT $1::int, $2::text, minute, $5::int, lost,
              CASE WHEN down THEN 0 ELSE ($5::int - lost) * rtt END,
              CASE WHEN down THEN NULL ELSE rtt - 0.4 * noise END,
              CASE WHEN down THEN NULL ELSE rtt + 2 + 3 * noise END,
              CASE WHEN down THEN 0 ELSE ($5::int - lost - 1) * (0.3 + noise) END,
              CASE WHEN down THEN 0 ELSE $5::int - lost - 1 END
         FROM r`,
      {
        bind: [
          probeId,
          target,
          new Date(start),
          new Date(minute - MINUTE),
          sent,
          baseMs,
          outages,
          new Date(outage.from),
          outage.minutes,
          new Date(blip.from),
          blip.minutes,
          eveningMs,
        ],
      },
    ); // prettier-ignore
  await minutes(internet.id, '1.1.1.1:443', 6, 8.2, 4, true);
  await minutes(internet.id, '9.9.9.9:443', 6, 10.6, 4, true);
  await minutes(router.id, 'http://192.168.1.1/', 2, 1.1, 0.3, false);
  await models.ProbeOutage.bulkCreate(
    [outage, blip].map(({ from, minutes: length }) => ({
      probeId: internet.id,
      startedAt: new Date(from),
      endedAt: new Date(from + length * MINUTE),
      failedRounds: length * 6,
      lastError:
        'every target failed: 1.1.1.1:443 connect ETIMEDOUT; 9.9.9.9:443 connect ETIMEDOUT',
    })),
  );

  // People: the admin who signs in, a second admin, a user, one who left; two API tokens.
  const admin = await createUser(db, { ...ADMIN, isAdmin: true });
  const grace = await createUser(db, {
    username: 'grace',
    password: ADMIN.password,
    isAdmin: true,
  });
  const ada = await createUser(db, { username: 'ada', password: ADMIN.password });
  const linus = await createUser(db, { username: 'linus', password: ADMIN.password });
  await grace.update({ lastLoginAt: new Date(now - 2 * DAY - 5 * HOUR) });
  await ada.update({ lastLoginAt: new Date(now - 6 * HOUR) });
  await linus.update({ isActive: false, lastLoginAt: new Date(now - 16 * DAY) });
  await admin.update({ lastLoginAt: new Date(now - DAY) });
  await createApiToken(db, admin.id, { name: 'speedtest-now on the laptop' });
  const wall = await createApiToken(db, admin.id, {
    name: 'Home Assistant',
    expiresAt: new Date(today + 90 * DAY),
  });
  await wall.record.update({ lastUsedAt: new Date(now - 4 * MINUTE) });
  await sequelize.query('UPDATE users SET created_at = $1', { bind: [createdAt] });
  await sequelize.query('UPDATE api_tokens SET created_at = $1', {
    bind: [new Date(today - 19 * DAY + 20 * HOUR + 41 * MINUTE)],
  });

  // The newest Ookla test: its page has every field (packet loss, the result's link).
  const latest = ids[runs.map(({ test }) => test.engine).lastIndexOf('ookla')]!;
  const [failedRun] = await models.TaskResult.findAll({
    where: { task: SPEEDTEST_TASK, status: 'failed' },
    order: [['queuedAt', 'DESC']],
    limit: 1,
  });
  return {
    speedtestId: latest,
    speedtestScheduleId: processSpeedTest.id,
    failedRunId: failedRun!.id,
    probeId: internet.id,
  };
}
