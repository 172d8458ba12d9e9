// Reading back what probes found, for the API, the portal and the status page: a summary over a
// range (uptime from the outages, loss, latency and jitter from the minutes), latency and loss
// per target in time buckets, and the outages themselves.
import { z } from 'zod';
import type { Database } from '../db/index.ts';
import { preparedQuery } from '../db/prepared.ts';

export const probeSummary = z.object({
  from: z.date(),
  to: z.date(),
  /** Of the part of the range the probe existed in, the share not inside an outage. */
  uptimePercent: z.number().nullable(),
  downSeconds: z.number(),
  outages: z.int(),
  sent: z.int(),
  lost: z.int(),
  lossPercent: z.number().nullable(),
  latencyMs: z.number().nullable(),
  jitterMs: z.number().nullable(),
});
export type ProbeSummary = z.input<typeof probeSummary>;

export const probeBucket = z.object({
  target: z.string(),
  /** The bucket's start, Unix milliseconds. */
  atMs: z.number(),
  sent: z.int(),
  lost: z.int(),
  latencyMs: z.number().nullable(),
  minMs: z.number().nullable(),
  maxMs: z.number().nullable(),
});
export type ProbeBucket = z.input<typeof probeBucket>;

export const probeOutage = z.object({
  id: z.string(),
  startedAt: z.date(),
  endedAt: z.date().nullable(),
  durationSeconds: z.number(),
  failedRounds: z.int(),
  lastError: z.string(),
});
export type ProbeOutageItem = z.input<typeof probeOutage>;

/** The narrowest bucket (seconds) that draws [from, to) in at most `points` buckets. */
export function bucketSecondsFor(from: Date, to: Date, points = 500): number {
  const widths = [60, 300, 900, 1_800, 3_600, 10_800, 21_600, 43_200, 86_400, 7 * 86_400];
  const span = (to.getTime() - from.getTime()) / 1000;
  return widths.find((width) => span / width <= points) ?? widths.at(-1)!;
}

export function probeHistory(db: Database) {
  const select = <T extends object>(sql: string, bind: unknown[]) =>
    preparedQuery<T>(db.sequelize, sql, bind);

  return {
    async summary(probeId: number, from: Date, to: Date): Promise<ProbeSummary> {
      const [row] = await select<Record<string, unknown>>(
        `WITH span AS (
           SELECT greatest($2::timestamptz, p.created_at) AS a, least($3::timestamptz, now()) AS b
             FROM probes p WHERE p.id = $1
         ), down AS (
           SELECT count(*)::int AS outages,
                  coalesce(sum(extract(epoch FROM
                    least(coalesce(o.ended_at, now()), span.b) - greatest(o.started_at, span.a))), 0)::float8 AS seconds
             FROM probe_outages o, span
            WHERE o.probe_id = $1 AND o.started_at < span.b AND coalesce(o.ended_at, now()) > span.a
         ), minutes AS (
           SELECT coalesce(sum(sent), 0)::int AS sent, coalesce(sum(lost), 0)::int AS lost,
                  sum(rtt_sum_ms) / nullif(sum(sent - lost), 0) AS latency,
                  sum(jitter_sum_ms) / nullif(sum(jitter_n), 0) AS jitter
             FROM probe_minutes WHERE probe_id = $1 AND minute >= $2 AND minute < $3
         )
         SELECT extract(epoch FROM span.b - span.a)::float8 AS span_seconds, down.outages,
                down.seconds AS down_seconds, minutes.*
           FROM span, down, minutes`,
        [probeId, from, to],
      );
      const spanSeconds = Number(row?.span_seconds ?? 0);
      const downSeconds = Number(row?.down_seconds ?? 0);
      const sent = Number(row?.sent ?? 0);
      const lost = Number(row?.lost ?? 0);
      const n = (value: unknown) => (value === null || value === undefined ? null : Number(value));
      return {
        from,
        to,
        uptimePercent: spanSeconds > 0 ? 100 * Math.max(0, 1 - downSeconds / spanSeconds) : null,
        downSeconds,
        outages: Number(row?.outages ?? 0),
        sent,
        lost,
        lossPercent: sent ? (100 * lost) / sent : null,
        latencyMs: n(row?.latency),
        jitterMs: n(row?.jitter),
      };
    },

    /** Per target and bucket, oldest first. */
    buckets: (probeId: number, from: Date, to: Date, bucketSeconds: number) =>
      select<ProbeBucket>(
        `SELECT target,
                floor(extract(epoch FROM minute) / $4::float8) * $4::float8 * 1000 AS "atMs",
                sum(sent)::int AS sent, sum(lost)::int AS lost,
                sum(rtt_sum_ms) / nullif(sum(sent - lost), 0) AS "latencyMs",
                min(rtt_min_ms) AS "minMs", max(rtt_max_ms) AS "maxMs"
           FROM probe_minutes
          WHERE probe_id = $1 AND minute >= $2 AND minute < $3
          GROUP BY target, 2 ORDER BY 2, target`,
        [probeId, from, to, bucketSeconds],
      ),

    /** Per target over the whole range: checks, losses and latency. */
    targets: (probeId: number, from: Date, to: Date) =>
      select<Omit<ProbeBucket, 'atMs'>>(
        `SELECT target, sum(sent)::int AS sent, sum(lost)::int AS lost,
                sum(rtt_sum_ms) / nullif(sum(sent - lost), 0) AS "latencyMs",
                min(rtt_min_ms) AS "minMs", max(rtt_max_ms) AS "maxMs"
           FROM probe_minutes
          WHERE probe_id = $1 AND minute >= $2 AND minute < $3
          GROUP BY target ORDER BY target`,
        [probeId, from, to],
      ),

    /** Newest first; an open outage's duration runs to now. */
    outages: (probeId: number, from: Date, to: Date, limit = 100) =>
      select<ProbeOutageItem>(
        `SELECT id::text, started_at AS "startedAt", ended_at AS "endedAt",
                extract(epoch FROM coalesce(ended_at, now()) - started_at)::float8 AS "durationSeconds",
                failed_rounds AS "failedRounds", last_error AS "lastError"
           FROM probe_outages
          WHERE probe_id = $1 AND started_at < $3 AND coalesce(ended_at, now()) >= $2
          ORDER BY started_at DESC LIMIT $4`,
        [probeId, from, to, limit],
      ),
  };
}
