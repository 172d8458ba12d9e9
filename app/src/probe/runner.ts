// The probes at work in the worker role: one monitor per enabled probe, kept in line with the
// probes table, their minutes written, their outages recorded, and a speed test queued when a
// link comes back. Only one worker probes at a time: each holds a Redis lease (SET NX PX, renewed
// by its holder only); with two workers, the second waits and takes over within a lease's time
// of the first one's end. Probing twice would not be wrong, only twice the traffic and rows.
//
// Why a loop in the worker and not a scheduled task: a task run every 10 seconds is a job, a
// task_results row and a log per run (3 million rows a year); the probe's own rows are minutes.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import type { Database } from '../db/index.ts';
import type { Probe } from '../db/models.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/registry.ts';
import { enqueueTask } from '../queue/periodic-tasks.ts';
import type { Queues } from '../queue/queues.ts';
import { socketSource } from '../speedtest/source.ts';
import { SPEEDTEST_TASK } from '../tasks/speedtest.ts';
import type { TaskRegistry } from '../tasks/registry.ts';
import { checkTarget } from './check.ts';
import { ProbeMonitor, type MonitorEvents, type MonitoredProbe } from './monitor.ts';
import { closeOutage, MinuteBook, openOutage, openOutages } from './store.ts';

export interface ProberDeps {
  config: Pick<Config, 'QUEUE_PREFIX'>;
  log: Logger;
  db: Database;
  redis: Redis;
  queues: Queues;
  registry: TaskRegistry;
  metrics: Metrics;
  /** How often the probes table is read again and minutes are written (default 10 s). */
  refreshMs?: number;
  /** The lease's lifetime (default 30 s); renewed every refresh. */
  leaseMs?: number;
}

export interface RunningProber {
  /** Whether this process holds the lease and probes. */
  readonly active: boolean;
  /** Reads the probes table now (tests; the portal's changes wait for the next refresh). */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

/** Two speed tests for one flapping link are one too many: at most one per probe this often. */
const RECOVERY_SPEEDTEST_EVERY_MS = 15 * 60_000;

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1]) else return 0 end`;

/** What, of a probe row, makes a monitor: a change to any of it starts the probe afresh. */
function identity(probe: Probe): string {
  return JSON.stringify([
    probe.kind,
    probe.targets,
    probe.periodSeconds,
    probe.timeoutMs,
    probe.failuresForOutage,
    probe.sourceAddress,
    probe.family,
  ]);
}

export async function startProber(deps: ProberDeps): Promise<RunningProber> {
  const { db, log, metrics, redis } = deps;
  const refreshMs = deps.refreshMs ?? 10_000;
  const leaseMs = deps.leaseMs ?? 30_000;
  const leaseKey = `${deps.config.QUEUE_PREFIX}:probe-lease`;
  const holder = randomUUID();
  const book = new MinuteBook();
  const monitors = new Map<number, { monitor: ProbeMonitor; identity: string; row: Probe }>();
  const lastRecoveryTest = new Map<number, number>();
  let active = false;
  let closed = false;

  const labels = (probe: MonitoredProbe) => ({ probe: probe.name });
  const events: MonitorEvents = {
    round(probe, at, results) {
      book.add(probe.id, at, results);
      for (const { target, result } of results) {
        metrics.probeRounds.inc({ ...labels(probe), target, result: result.ok ? 'ok' : 'failed' });
        if (result.ok) metrics.probeLatency.set({ ...labels(probe), target }, result.ms / 1000);
      }
    },
    outageStarted(probe, since, failedRounds, error) {
      metrics.probeUp.set(labels(probe), 0);
      log.warn({ probe: probe.name, since, error }, 'probe: outage began');
      openOutage(db, probe.id, since, failedRounds, error).catch((failure: unknown) =>
        log.error({ err: failure, probe: probe.name }, 'probe: could not record the outage'),
      );
    },
    outageEnded(probe, at, moreFailedRounds) {
      metrics.probeUp.set(labels(probe), 1);
      log.info({ probe: probe.name, at }, 'probe: outage ended');
      closeOutage(db, probe.id, at, moreFailedRounds).catch((failure: unknown) =>
        log.error(
          { err: failure, probe: probe.name },
          'probe: could not record the end of the outage',
        ),
      );
      const row = monitors.get(probe.id)?.row;
      if (row?.speedtestOnRecovery) void recoverySpeedtest(probe);
    },
    skipped(probe) {
      log.warn(
        { probe: probe.name },
        'probe: a round was due while the last one still ran; skipped',
      );
    },
  };

  async function recoverySpeedtest(probe: MonitoredProbe): Promise<void> {
    const last = lastRecoveryTest.get(probe.id) ?? 0;
    if (Date.now() - last < RECOVERY_SPEEDTEST_EVERY_MS) return;
    lastRecoveryTest.set(probe.id, Date.now());
    try {
      const jobId = await enqueueTask(db, deps.registry, deps.queues, SPEEDTEST_TASK, {});
      log.info({ probe: probe.name, jobId }, 'probe: link back, speed test queued');
    } catch (error) {
      log.error({ err: error, probe: probe.name }, 'probe: could not queue the speed test');
    }
  }

  async function stopMonitor(id: number): Promise<void> {
    const entry = monitors.get(id);
    if (!entry) return;
    monitors.delete(id);
    await entry.monitor.stop();
    book.forget(id);
    // A probe that stopped here (disabled, deleted, changed, or the lease gone) reports nothing
    // from here: a last "0" would keep ProbeOutage firing for a probe nobody runs.
    const probe = { probe: entry.monitor.probe.name };
    metrics.probeUp.remove(probe);
    for (const target of entry.monitor.probe.targets)
      metrics.probeLatency.remove({ ...probe, target });
  }

  async function stopAll(): Promise<void> {
    await Promise.all([...monitors.keys()].map(stopMonitor));
  }

  /** Makes the running monitors what the probes table says. */
  async function align(): Promise<void> {
    const rows = await db.models.Probe.findAll({ where: { enabled: true } });
    const wanted = new Map(rows.map((row) => [row.id, row]));
    for (const id of [...monitors.keys()]) {
      const row = wanted.get(id);
      if (!row || identity(row) !== monitors.get(id)!.identity) await stopMonitor(id);
      else monitors.get(id)!.row = row; // name, speedtestOnRecovery: no restart needed
    }
    const open = await openOutages(db);
    for (const row of rows) {
      if (monitors.has(row.id)) continue;
      let source;
      try {
        source = socketSource({
          sourceAddress: row.sourceAddress,
          interface: null,
          family: row.family,
        });
      } catch (error) {
        log.error({ probe: row.name, err: error }, 'probe: not started');
        continue;
      }
      const probe: MonitoredProbe = {
        id: row.id,
        name: row.name,
        kind: row.kind,
        targets: row.targets,
        periodSeconds: row.periodSeconds,
        timeoutMs: row.timeoutMs,
        failuresForOutage: row.failuresForOutage,
      };
      const monitor = new ProbeMonitor(probe, events, {
        check: checkTarget,
        source,
        openOutageSince: open.get(row.id) ?? null,
      });
      metrics.probeUp.set(labels(probe), monitor.down ? 0 : 1);
      monitors.set(row.id, { monitor, identity: identity(row), row });
      monitor.start();
    }
  }

  async function holdLease(): Promise<boolean> {
    if (active) {
      return (await redis.eval(RENEW, 1, leaseKey, holder, String(leaseMs))) === 1;
    }
    return (await redis.set(leaseKey, holder, 'PX', leaseMs, 'NX')) === 'OK';
  }

  async function tick(): Promise<void> {
    try {
      const held = await holdLease();
      if (held && !active) log.info('probe: this worker runs the probes');
      if (!held && active) {
        log.warn('probe: lease lost to another worker; stopping the probes here');
        await stopAll();
      }
      active = held;
      if (active) await align();
      await book.flush(db);
    } catch (error) {
      log.error({ err: error }, 'probe: refresh failed; trying again');
    }
  }

  // One refresh at a time: a slow one (a stopping monitor waits for its round) is not overlapped.
  let ticking: Promise<void> | null = null;
  const refresh = () => (ticking ??= tick().finally(() => (ticking = null)));
  await refresh();
  const timer = setInterval(() => void refresh(), refreshMs);
  return {
    get active() {
      return active;
    },
    refresh,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await ticking;
      await stopAll();
      await book
        .flush(db, { everything: true })
        .catch((error: unknown) =>
          log.error({ err: error }, 'probe: the last minutes could not be written'),
        );
      if (active) await redis.eval(RELEASE, 1, leaseKey, holder).catch(() => undefined);
      active = false;
    },
  };
}
