// Writing what probes find: rounds summed per probe, target and minute in memory and written once
// the minute is over (an upsert that adds, so a minute written in two parts sums up exactly), and
// outages opened and closed as the monitor reports them.
import { QueryTypes } from 'sequelize';
import type { Database } from '../db/index.ts';
import type { RoundResult } from './monitor.ts';

interface MinuteSums {
  probeId: number;
  target: string;
  minute: number;
  sent: number;
  lost: number;
  rttSum: number;
  rttMin: number | null;
  rttMax: number | null;
  jitterSum: number;
  jitterN: number;
}

const MINUTE_MS = 60_000;

export class MinuteBook {
  readonly #open = new Map<string, MinuteSums>();
  /** The last answer per probe and target, for jitter across minute boundaries. */
  readonly #lastRtt = new Map<string, number>();

  add(probeId: number, at: Date, results: RoundResult[]): void {
    const minute = Math.floor(at.getTime() / MINUTE_MS) * MINUTE_MS;
    for (const { target, result } of results) {
      const key = `${probeId}\u0000${target}\u0000${minute}`;
      let sums = this.#open.get(key);
      if (!sums) {
        sums = {
          probeId,
          target,
          minute,
          sent: 0,
          lost: 0,
          rttSum: 0,
          rttMin: null,
          rttMax: null,
          jitterSum: 0,
          jitterN: 0,
        };
        this.#open.set(key, sums);
      }
      sums.sent++;
      const seriesKey = `${probeId}\u0000${target}`;
      if (!result.ok) {
        sums.lost++;
        this.#lastRtt.delete(seriesKey);
        continue;
      }
      sums.rttSum += result.ms;
      sums.rttMin = sums.rttMin === null ? result.ms : Math.min(sums.rttMin, result.ms);
      sums.rttMax = sums.rttMax === null ? result.ms : Math.max(sums.rttMax, result.ms);
      const last = this.#lastRtt.get(seriesKey);
      if (last !== undefined) {
        sums.jitterSum += Math.abs(result.ms - last);
        sums.jitterN++;
      }
      this.#lastRtt.set(seriesKey, result.ms);
    }
  }

  /** Forgets a probe's series (deleted or changed targets). */
  forget(probeId: number): void {
    for (const key of this.#lastRtt.keys())
      if (key.startsWith(`${probeId}\u0000`)) this.#lastRtt.delete(key);
  }

  /**
   * Writes the minutes that are over (all of them with `everything`, on shutdown). A failed
   * write keeps them for the next flush.
   */
  async flush(db: Database, options: { everything?: boolean; now?: number } = {}): Promise<number> {
    const current = Math.floor((options.now ?? Date.now()) / MINUTE_MS) * MINUTE_MS;
    const done = [...this.#open.entries()].filter(
      ([, sums]) => options.everything || sums.minute < current,
    );
    if (!done.length) return 0;
    const rows = done.map(([, sums]) => sums);
    await db.sequelize.query(
      `INSERT INTO probe_minutes AS m (probe_id, target, minute, sent, lost, rtt_sum_ms, rtt_min_ms,
                                       rtt_max_ms, jitter_sum_ms, jitter_n)
       SELECT r.probe_id, r.target, to_timestamp(r.minute / 1000.0), r.sent, r.lost, r.rtt_sum,
              r.rtt_min, r.rtt_max, r.jitter_sum, r.jitter_n
         FROM jsonb_to_recordset($1::jsonb) AS r(probe_id int, target text, minute bigint, sent int,
              lost int, rtt_sum float8, rtt_min float8, rtt_max float8, jitter_sum float8, jitter_n int)
         -- A probe deleted meanwhile takes its minutes with it.
        WHERE EXISTS (SELECT FROM probes p WHERE p.id = r.probe_id)
       ON CONFLICT (probe_id, minute, target) DO UPDATE SET
         sent = m.sent + EXCLUDED.sent,
         lost = m.lost + EXCLUDED.lost,
         rtt_sum_ms = m.rtt_sum_ms + EXCLUDED.rtt_sum_ms,
         rtt_min_ms = LEAST(m.rtt_min_ms, EXCLUDED.rtt_min_ms),
         rtt_max_ms = GREATEST(m.rtt_max_ms, EXCLUDED.rtt_max_ms),
         jitter_sum_ms = m.jitter_sum_ms + EXCLUDED.jitter_sum_ms,
         jitter_n = m.jitter_n + EXCLUDED.jitter_n`,
      {
        bind: [
          JSON.stringify(
            rows.map((r) => ({
              probe_id: r.probeId,
              target: r.target,
              minute: r.minute,
              sent: r.sent,
              lost: r.lost,
              rtt_sum: r.rttSum,
              rtt_min: r.rttMin,
              rtt_max: r.rttMax,
              jitter_sum: r.jitterSum,
              jitter_n: r.jitterN,
            })),
          ),
        ],
      },
    );
    for (const [key] of done) this.#open.delete(key);
    return rows.length;
  }
}

/** Opens an outage; a second open one for the same probe is not made (a unique index says so). */
export async function openOutage(
  db: Database,
  probeId: number,
  since: Date,
  failedRounds: number,
  error: string,
): Promise<void> {
  await db.sequelize.query(
    `INSERT INTO probe_outages (probe_id, started_at, failed_rounds, last_error)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (probe_id) WHERE ended_at IS NULL DO NOTHING`,
    { bind: [probeId, since, failedRounds, error.slice(0, 2_000)] },
  );
}

export async function closeOutage(
  db: Database,
  probeId: number,
  at: Date,
  moreFailedRounds: number,
): Promise<void> {
  await db.sequelize.query(
    `UPDATE probe_outages SET ended_at = GREATEST($2::timestamptz, started_at),
            failed_rounds = failed_rounds + $3
      WHERE probe_id = $1 AND ended_at IS NULL`,
    { bind: [probeId, at, moreFailedRounds] },
  );
}

/** The open outage of every probe that has one: where monitors pick up after a restart. */
export async function openOutages(db: Database): Promise<Map<number, Date>> {
  const rows = await db.sequelize.query<{ probe_id: number; started_at: Date }>(
    'SELECT probe_id, started_at FROM probe_outages WHERE ended_at IS NULL',
    { type: QueryTypes.SELECT },
  );
  return new Map(rows.map((row) => [row.probe_id, row.started_at]));
}
