// bench:scale — the proof that it scales (issue 18), on the stack of the stack test (forged
// stand-ins, the app image from app/Dockerfile, `npm run stack:up -- --with-swag`), with web ×2
// behind swag, scheduler ×2 and worker ×1, ×2, ×4:
//   npm run bench:scale [-- --jobs 10000] [--schedules 1000] [--seconds 60] [--schedule-workers 2]
//                       [--speedtests 5] [--requests 400]
// Prints progress on stderr and, on its last line:
//   {"bench":"scale","jobs_per_s":{"1":…,"2":…,"4":…},"scale_2":…,"scale_4":…,"duplicates":…,
//    "missed":…,"speedtest_overlaps":…,"session_failures":…, …}
//   jobs_per_s         --jobs system.http_check jobs through BullMQ per worker count, from the
//                      first enqueue until every one has a finished task_results row
//                      (throughput.ts; the counts run 1, 2, 4, 4, 2, 1 with half each: workers.ts)
//   scale_2, scale_4   jobs_per_s at 2 and 4 workers over 1; `runs` has each count's CPU by
//                      service (engine stats API), the machine's busy share and the ceilings the
//                      CPU per job allows, `bounded_by` says what held the ratios back
//   duplicates, missed --schedules interval schedules for --seconds with 2 schedulers and
//                      --schedule-workers workers (schedules.ts: bench:scheduler's definitions)
//   speedtest_overlaps pairs of --speedtests short speed tests whose runs overlapped, with two
//                      workers or more consuming their queue (speedtests.ts)
//   session_failures   of --requests signed-in requests through swag, those not answered as
//                      signed in, whichever web replica took them (session.ts)
// Everything it starts (containers, network, volumes, temp files) goes again, on failure too.
import pg from 'pg';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { count, parseFlags, printResult, round } from '../../app/bench/common.ts';
import { Queues } from '../../app/src/queue/queues.ts';
import { createRedis } from '../../app/src/queue/redis.ts';
import { DATABASE_NAME, DATABASE_USER } from '../../contract/database.ts';
import { DEFAULT_QUEUE_PREFIX } from '../../contract/queues.ts';
import { tempDir } from '../../testing/files.ts';
import { freePort } from '../../testing/ports.ts';
import { renderDeployment } from '../lib/deployment.ts';
import { ensureEngine, run } from '../test/stack/docker.ts';
import { forge } from '../test/stack/forge.ts';
import { StackUnderTest } from '../test/stack/harness.ts';
import {
  renderedComposeFile,
  replicasOverride,
  scale,
  waitHealthy,
  WEB_TWIN,
} from './scale/replicas.ts';
import { measureSchedules } from './scale/schedules.ts';
import { checkSession, signIn } from './scale/session.ts';
import { measureSpeedtests } from './scale/speedtests.ts';
import { boundedBy, workerScaling } from './scale/workers.ts';

const flags = parseFlags(
  'scale',
  z.object({
    jobs: count(100, 1_000_000, 10_000),
    schedules: count(1, 10_000, 1000),
    seconds: count(5, 600, 60),
    speedtests: count(2, 20, 5),
    requests: count(10, 10_000, 400),
    'schedule-workers': count(1, 8, 2),
  }),
);
const WORKERS = [1, 2, 4] as const;
const SCHEDULERS = 2;
const log = (line: string) => console.error(`bench:scale: ${line}`);
const elapsed = (since: number) => round((performance.now() - since) / 1000);
const benchStarted = performance.now();

const engine = await ensureEngine();
const temp = tempDir('refresher-bench-scale-');
const overrideFile = join(temp.path, 'replicas.override.yml');
const stack = new StackUnderTest(temp.path, [overrideFile]);
let db: pg.Client | undefined;
let queues: Queues | undefined;

let tearingDown: Promise<void> | undefined;
function teardown(): Promise<void> {
  tearingDown ??= (async () => {
    // A client of a stack that died retries for ever: give each a few seconds, then go on.
    const briefly = async (work: Promise<unknown> | undefined) => {
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise((resolve) => (timer = setTimeout(resolve, 5000)));
      await Promise.race([work?.catch(() => {}), waited]);
      clearTimeout(timer);
    };
    await briefly(queues?.close());
    queues?.connection.disconnect();
    await briefly(db?.end());
    if (stack.config) {
      log('tearing down');
      await stack.stack('down', '--volumes').catch((error: Error) => log(error.message));
      // What a failed `down` may leave: this project's containers, volumes and network.
      const project = `label=com.docker.compose.project=${stack.config.name}`;
      await run('sh', [
        '-c',
        `docker ps -aq --filter ${project} | xargs -r docker rm -f; docker volume ls -q --filter ${project} | xargs -r docker volume rm; docker network rm ${stack.config.name} 2>/dev/null; true`,
      ]);
    }
    temp.remove();
    await engine.release();
  })();
  return tearingDown;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => void teardown().finally(() => process.exit(130)));

try {
  await forge((line) => log(line));
  await stack.prepare();
  // The override copies the rendered web service, so render first, into the files stack:up
  // renders again (the same configuration and secrets give the same files).
  const [dir, secrets] = ['--dir', '--secrets'].map((flag) => {
    const args = stack.stackArgs();
    return args[args.indexOf(flag) + 1]!;
  });
  await renderDeployment({ configFile: stack.configFile, outDir: dir!, secretsFile: secrets });
  const ports = { postgres: await freePort(), redis: await freePort() };
  writeFileSync(overrideFile, replicasOverride(renderedComposeFile(stack), ports));

  let phase = performance.now();
  await stack.stack('down', '--volumes');
  await stack.stack('up', '--with-swag');
  await scale(stack, { worker: 1, scheduler: SCHEDULERS });
  const webContainers = [
    ...(await waitHealthy(stack, 'web', 1)),
    ...(await waitHealthy(stack, WEB_TWIN, 1)),
  ];
  await waitHealthy(stack, 'scheduler', SCHEDULERS);
  await waitHealthy(stack, 'worker', 1);
  const stackUpS = elapsed(phase);
  log(`stack up with ${webContainers.join(', ')} and ${SCHEDULERS} schedulers in ${stackUpS} s`);

  db = new pg.Client({
    host: '127.0.0.1',
    port: ports.postgres,
    user: DATABASE_USER,
    database: DATABASE_NAME,
    password: stack.secrets.postgresPassword,
  });
  await db.connect();
  queues = new Queues(createRedis(`redis://127.0.0.1:${ports.redis}`), DEFAULT_QUEUE_PREFIX);
  const jobsQueue = queues.get('default');
  const speedtestQueue = queues.get('speedtests');

  // The seeded 30-minute speed test would load the link and the CPU in the middle of a run.
  const paused = await db.query(
    "UPDATE periodic_tasks SET enabled = false WHERE task = 'speedtester.run_speedtest' AND enabled",
  );
  while ((await speedtestQueue.getActiveCount()) > 0)
    await new Promise((resolve) => setTimeout(resolve, 1000));

  phase = performance.now();
  const toWorkers = async (workers: number) => {
    await scale(stack, { worker: workers, scheduler: SCHEDULERS });
    await waitHealthy(stack, 'worker', workers);
  };
  const runs = await workerScaling({
    db,
    queue: jobsQueue,
    project: stack.config.name,
    counts: WORKERS,
    jobs: flags.jobs,
    scaleTo: toWorkers,
    log,
  });
  const jobsPerS = Object.fromEntries(WORKERS.map((n) => [n, runs[n]!.jobs_per_s]));
  const throughputS = elapsed(phase);

  phase = performance.now();
  await toWorkers(flags['schedule-workers']);
  const schedules = await measureSchedules(db, jobsQueue, {
    ...flags,
    project: stack.config.name,
    log,
  });
  const schedulesS = elapsed(phase);
  log(`schedules: ${JSON.stringify(schedules)}`);

  phase = performance.now();
  // Speed tests need two workers at least, or the global limit would have nothing to limit.
  await toWorkers(Math.max(2, flags['schedule-workers']));
  const session = await signIn(stack);
  const speedtests = await measureSpeedtests(stack, session, db, speedtestQueue, flags.speedtests);
  log(`speed tests: ${JSON.stringify(speedtests)}`);
  const sessionCheck = await checkSession(stack, session, webContainers, flags.requests);
  log(`session: ${JSON.stringify(sessionCheck)}`);
  const lastS = elapsed(phase);

  printResult({
    bench: 'scale',
    jobs_per_s: jobsPerS,
    scale_2: round(jobsPerS[2]! / jobsPerS[1]!, 2),
    scale_4: round(jobsPerS[4]! / jobsPerS[1]!, 2),
    duplicates: schedules.duplicates,
    missed: schedules.missed,
    speedtest_overlaps: speedtests.speedtest_overlaps,
    session_failures: sessionCheck.session_failures,
    cpus: cpus().length,
    bounded_by: boundedBy(runs),
    runs,
    schedules: { ...schedules, schedulers: SCHEDULERS, workers: flags['schedule-workers'] },
    speedtests,
    session: sessionCheck,
    replicas: { web: webContainers.length, worker: WORKERS, scheduler: SCHEDULERS },
    seeded_speedtest_schedules_paused: paused.rowCount,
    seconds: {
      stack_up: stackUpS,
      throughput: throughputS,
      schedules: schedulesS,
      speedtests_and_session: lastS,
      total: elapsed(benchStarted),
    },
  });
} finally {
  await teardown();
}
