// Reading back stored speed tests: the list, one test with its pinged servers, the summary over a
// range, servers and clients. The REST API and the admin portal both read through here.
// Plain SQL: these are read paths over what may be millions of rows, and each query is written
// for the index it uses (started_at, or server/engine then started_at). They run as prepared
// statements (db/prepared.ts), so every value, the page size included, is a bound parameter.
import { z } from 'zod';
import { boundedDate, int4Id } from '../validation.ts';
import type { Database } from '../db/index.ts';
import { preparedQuery } from '../db/prepared.ts';
import { ENGINE_NAMES } from './index.ts';
import { BUFFERBLOAT_GRADES, bufferbloat } from './bufferbloat.ts';

export const speedtestFilters = {
  from: boundedDate().optional(),
  to: boundedDate().optional(),
  engine: z.enum(ENGINE_NAMES).optional(),
  serverId: int4Id().optional(),
  country: z
    .string()
    .regex(/^[A-Za-z]{2}$/, 'expected a two-letter country code')
    .transform((c) => c.toUpperCase())
    .optional(),
  /** Tests run over IPv4 or over IPv6 (query strings: "4" or "6"). */
  family: z
    .union([z.literal(4), z.literal(6), z.enum(['4', '6'])], { error: 'expected 4 or 6' })
    .transform((f) => Number(f) as 4 | 6)
    .optional(),
  /** Tests run from this local address. */
  source: z.union([z.ipv4(), z.ipv6()], { error: 'expected an IPv4 or IPv6 address' }).optional(),
};
export type SpeedtestFilters = {
  [K in keyof typeof speedtestFilters]?: z.output<(typeof speedtestFilters)[K]>;
};

/** A statement's bind values: `add` keeps a value and returns its placeholder ($1, $2, …). */
function params() {
  const values: unknown[] = [];
  return {
    values,
    add(value: unknown): string {
      values.push(value);
      return `$${values.length}`;
    },
  };
}
type Params = ReturnType<typeof params>;

/** Conditions on engine, server and country; both speedtests and speedtest_daily, as `t`. */
function subject(f: SpeedtestFilters, p: Params): string[] {
  const clauses: string[] = [];
  if (f.engine) clauses.push(`t.engine = ${p.add(f.engine)}`);
  if (f.serverId) clauses.push(`t.server_id = ${p.add(f.serverId)}`);
  // The country's servers, looked up once per query (an InitPlan) from the small servers table;
  // each row then checks its server_id against that short list. (As `IN (SELECT …)`, PostgreSQL
  // joined the servers to every row it scanned: 0.22 -> 0.14 ms for a filtered page.)
  if (f.country) {
    clauses.push(
      `t.server_id = ANY (ARRAY(SELECT id FROM speedtest_servers WHERE country_code = ${p.add(f.country)}))`,
    );
  }
  // Only in speedtests: speedtest_daily is not kept per family or source (see bySource).
  if (f.family) clauses.push(`t.ip_family = ${p.add(f.family)}`);
  if (f.source) clauses.push(`t.source_address = ${p.add(f.source)}::inet`);
  return clauses;
}

/** Filters speedtest_daily cannot answer: a summary reads the tests themselves. */
const bySource = (f: SpeedtestFilters) => f.family !== undefined || f.source !== undefined;

/** Speed tests from `from` (inclusive) to `to` (exclusive). */
function during(from: Date | undefined, to: Date | undefined, p: Params): string[] {
  return [
    ...(from ? [`t.started_at >= ${p.add(from)}`] : []),
    ...(to ? [`t.started_at < ${p.add(to)}`] : []),
  ];
}

const whereOf = (clauses: string[]) => (clauses.length ? `WHERE ${clauses.join(' AND ')}` : '');

/** WHERE clause for the filters (and a cursor). */
function where(f: SpeedtestFilters, p: Params, cursor: { at: string; id: string } | null = null) {
  const clauses = [...during(f.from, f.to, p), ...subject(f, p)];
  if (cursor) {
    clauses.push(
      `(t.started_at, t.id) < (${p.add(cursor.at)}::timestamptz, ${p.add(cursor.id)}::bigint)`,
    );
  }
  return whereOf(clauses);
}

const DAY_MS = 86_400_000;

/**
 * The whole UTC days inside [from, to): from the first midnight at or after `from` to the last
 * midnight at or before `to` (open where the range is); null when no whole day fits.
 */
function wholeDays(from?: Date, to?: Date): { first?: Date; end?: Date } | null {
  const first = from && new Date(Math.ceil(from.getTime() / DAY_MS) * DAY_MS);
  const end = to && new Date(Math.floor(to.getTime() / DAY_MS) * DAY_MS);
  return first && end && first >= end ? null : { first, end };
}

const LIST_COLUMNS = `t.id, t.started_at AS "startedAt", t.engine, t.download_bps AS "downloadBps",
  t.upload_bps AS "uploadBps", t.ping_ms AS "pingMs", t.jitter_ms AS "jitterMs",
  t.packet_loss AS "packetLoss", t.download_latency_ms AS "downloadLatencyMs",
  t.download_jitter_ms AS "downloadJitterMs", t.upload_latency_ms AS "uploadLatencyMs",
  t.upload_jitter_ms AS "uploadJitterMs", host(t.source_address) AS "sourceAddress",
  t.source_interface AS "sourceInterface", t.ip_family AS "ipFamily",
  t.result_url AS "resultUrl", t.self_test AS "selfTest",
  t.server_id AS "serverId", s.name AS "serverName", s.country_code AS "countryCode"`;

type ListRow = Omit<SpeedtestListItem, 'bufferbloat'>;

/** Adds the bufferbloat grade, which is read from the latencies, not stored. */
function withGrade<T extends ListRow>(row: T): T & Pick<SpeedtestListItem, 'bufferbloat'> {
  const latency = (latencyMs: number | null) =>
    latencyMs === null ? null : { latencyMs, jitterMs: null };
  return {
    ...row,
    bufferbloat: bufferbloat({
      pingMs: row.pingMs,
      downloadLatency: latency(row.downloadLatencyMs),
      uploadLatency: latency(row.uploadLatencyMs),
    }),
  };
}

export const speedtestListItem = z.object({
  id: z.string(),
  startedAt: z.date(),
  engine: z.string(),
  downloadBps: z.number().nullable(),
  uploadBps: z.number().nullable(),
  pingMs: z.number().nullable(),
  jitterMs: z.number().nullable(),
  packetLoss: z.number().nullable(),
  downloadLatencyMs: z.number().nullable().describe('Median latency while downloading'),
  downloadJitterMs: z.number().nullable(),
  uploadLatencyMs: z.number().nullable().describe('Median latency while uploading'),
  uploadJitterMs: z.number().nullable(),
  bufferbloat: z
    .object({
      increaseMs: z.number().describe('Mean increase of the loaded latencies over the idle ping'),
      grade: z.enum(BUFFERBLOAT_GRADES).describe("DSLReports' scale: A+ < 5 ms … F ≥ 400 ms"),
    })
    .nullable(),
  sourceAddress: z.string().nullable().describe('The local address the test ran from'),
  sourceInterface: z.string().nullable(),
  ipFamily: z.union([z.literal(4), z.literal(6)]).nullable(),
  resultUrl: z.string().nullable(),
  selfTest: z.boolean(),
  serverId: z.int().nullable(),
  serverName: z.string().nullable(),
  countryCode: z.string().nullable(),
});
export type SpeedtestListItem = z.input<typeof speedtestListItem>;

const stats = z.object({
  min: z.number().nullable(),
  max: z.number().nullable(),
  avg: z.number().nullable(),
});

export const speedtestSummary = z.object({
  count: z.int(),
  latest: speedtestListItem.nullable(),
  downloadBps: stats,
  uploadBps: stats,
  pingMs: stats,
});
export type SpeedtestSummary = z.input<typeof speedtestSummary>;

export const speedtestDetail = speedtestListItem.extend({
  bytesReceived: z.string().nullable(),
  bytesSent: z.string().nullable(),
  durationMs: z.number().nullable(),
  client: z
    .object({ ip: z.string(), isp: z.string(), countryCode: z.string().nullable() })
    .nullable(),
  pinged: z.array(
    z.object({
      serverId: z.int(),
      name: z.string(),
      sponsor: z.string().nullable(),
      countryCode: z.string().nullable(),
      lat: z.number().nullable(),
      lon: z.number().nullable(),
      latencyMs: z.number().nullable(),
      distanceKm: z.number().nullable(),
      chosen: z.boolean(),
    }),
  ),
});
export type SpeedtestDetail = z.input<typeof speedtestDetail>;

/** The average of the tests in one time bucket (see `buckets`). */
export interface SpeedtestBucket {
  /** The bucket's tests' average start time, in milliseconds since the epoch. */
  atMs: number;
  tests: number;
  downloadBps: number | null;
  uploadBps: number | null;
  pingMs: number | null;
  jitterMs: number | null;
  downloadLatencyMs: number | null;
  uploadLatencyMs: number | null;
}

/** One server's averages in one time bucket (see `serverBuckets`). */
export interface ServerBucket {
  server: string;
  /** The bucket's start, Unix milliseconds. */
  startMs: number;
  downloadBps: number | null;
  pingMs: number | null;
}

export interface Page<T> {
  items: T[];
  /** The last row of this page, when there is a next one: where the next page starts. */
  after: { at: Date; id: string } | null;
}

export type SpeedtestHistory = ReturnType<typeof speedtestHistory>;

/** Rows matching the filters, newest first: the one query behind list, CSV and latest. */
function newestSql(
  f: SpeedtestFilters,
  p: Params,
  limit: number,
  after: { at: string; id: string } | null,
): string {
  return `SELECT ${LIST_COLUMNS} FROM speedtests t LEFT JOIN speedtest_servers s ON s.id = t.server_id
    ${where(f, p, after)} ORDER BY t.started_at DESC, t.id DESC LIMIT ${p.add(limit)}`;
}

export function speedtestHistory(db: Database) {
  const select = <T extends object>(sql: string, bind: unknown[]) =>
    preparedQuery<T>(db.sequelize, sql, bind);
  const newest = (f: SpeedtestFilters, limit: number, after: { at: string; id: string } | null) => {
    const p = params();
    return select<ListRow>(newestSql(f, p, limit, after), p.values).then((rows) =>
      rows.map(withGrade),
    );
  };

  return {
    /** One page, newest first, starting strictly after `after`. */
    async page(
      f: SpeedtestFilters,
      limit: number,
      after: { at: string; id: string } | null = null,
    ): Promise<Page<SpeedtestListItem>> {
      const rows = await newest(f, limit + 1, after);
      const items = rows.slice(0, limit);
      const last = items.at(-1);
      return {
        items,
        after: rows.length > limit && last ? { at: last.startedAt, id: last.id } : null,
      };
    },

    /** Up to `limit` rows for an export. */
    all: (f: SpeedtestFilters, limit: number) => newest(f, limit, null),

    /**
     * Count, minimum, maximum and average over the filters, and the newest row, in one query.
     * Whole days come from speedtest_daily (one row per day, engine and server, kept exact by
     * triggers; see migration 0004), the partial days at the edges of the range from speedtests.
     */
    async summary(f: SpeedtestFilters): Promise<SpeedtestSummary> {
      const p = params();
      const parts: string[] = [];
      const fromRows = (from?: Date, to?: Date) =>
        parts.push(`SELECT count(*) AS tests,
            count(t.download_bps) AS download_n, coalesce(sum(t.download_bps), 0) AS download_sum,
            min(t.download_bps) AS download_min, max(t.download_bps) AS download_max,
            count(t.upload_bps) AS upload_n, coalesce(sum(t.upload_bps), 0) AS upload_sum,
            min(t.upload_bps) AS upload_min, max(t.upload_bps) AS upload_max,
            count(t.ping_ms) AS ping_n, coalesce(sum(t.ping_ms), 0) AS ping_sum,
            min(t.ping_ms) AS ping_min, max(t.ping_ms) AS ping_max
          FROM speedtests t ${whereOf([...during(from, to, p), ...subject(f, p)])}`);
      const days = bySource(f) ? null : wholeDays(f.from, f.to);
      if (!days) {
        fromRows(f.from, f.to);
      } else {
        if (days.first && f.from! < days.first) fromRows(f.from, days.first);
        const dayOf = (at: Date) => `(${p.add(at)}::timestamptz AT TIME ZONE 'UTC')::date`;
        parts.push(`SELECT tests, download_n, download_sum, download_min, download_max,
            upload_n, upload_sum, upload_min, upload_max, ping_n, ping_sum, ping_min, ping_max
          FROM speedtest_daily t ${whereOf([
            ...(days.first ? [`t.day >= ${dayOf(days.first)}`] : []),
            ...(days.end ? [`t.day < ${dayOf(days.end)}`] : []),
            ...subject(f, p),
          ])}`);
        if (days.end && days.end < f.to!) fromRows(days.end, f.to);
      }
      const [row] = await select<Record<string, unknown>>(
        `SELECT a.*, latest.* FROM (
           SELECT coalesce(sum(tests), 0)::int AS count,
                  min(download_min) AS dmin, max(download_max) AS dmax,
                  sum(download_sum) / nullif(sum(download_n), 0) AS davg,
                  min(upload_min) AS umin, max(upload_max) AS umax,
                  sum(upload_sum) / nullif(sum(upload_n), 0) AS uavg,
                  min(ping_min) AS pmin, max(ping_max) AS pmax,
                  sum(ping_sum) / nullif(sum(ping_n), 0) AS pavg
             FROM (${parts.join(' UNION ALL ')}) AS parts
         ) AS a LEFT JOIN (${newestSql(f, p, 1, null)}) AS latest ON true`,
        p.values,
      );
      const { count, dmin, dmax, davg, umin, umax, uavg, pmin, pmax, pavg, ...latest } = row!;
      const n = (value: unknown) => (value === null ? null : Number(value));
      return {
        count: Number(count),
        latest: latest.id === null ? null : withGrade(latest as ListRow),
        downloadBps: { min: n(dmin), max: n(dmax), avg: n(davg) },
        uploadBps: { min: n(umin), max: n(umax), avg: n(uavg) },
        pingMs: { min: n(pmin), max: n(pmax), avg: n(pavg) },
      };
    },

    /**
     * Averages per time bucket of `bucketSeconds` (aligned to the Unix epoch, so whole days are UTC
     * days), oldest first: what a chart shows when a range holds more tests than it can draw.
     * `atMs` is the average time of the bucket's tests, so a point sits inside its bucket and the
     * range. One pass over the range on the started_at index, the same plan for any range (checked
     * with EXPLAIN ANALYZE): a year of a test every 10 minutes, 52,560 tests in 12-hour buckets, in
     * about 65 ms (most of it reading and sorting them), 30 days of them in hourly buckets in 5 ms.
     * (speedtest_daily has no jitter, so day-wide buckets cannot come from it.)
     */
    buckets: (f: SpeedtestFilters, bucketSeconds: number) => {
      const p = params();
      const width = p.add(bucketSeconds);
      return select<SpeedtestBucket>(
        `SELECT avg(extract(epoch FROM t.started_at))::float8 * 1000 AS "atMs",
                count(*)::int AS tests,
                avg(t.download_bps)::float8 AS "downloadBps", avg(t.upload_bps)::float8 AS "uploadBps",
                avg(t.ping_ms)::float8 AS "pingMs", avg(t.jitter_ms)::float8 AS "jitterMs",
                avg(t.download_latency_ms)::float8 AS "downloadLatencyMs",
                avg(t.upload_latency_ms)::float8 AS "uploadLatencyMs"
           FROM speedtests t ${where(f, p)}
          GROUP BY floor(extract(epoch FROM t.started_at) / ${width}::float8)
          ORDER BY 1`,
        p.values,
      );
    },

    /**
     * Averages per server and time bucket (the bucket's start), oldest first: the per-server
     * series of a chart whose range holds too many tests to draw one by one.
     */
    serverBuckets: (f: SpeedtestFilters, bucketSeconds: number) => {
      const p = params();
      const width = p.add(bucketSeconds);
      return select<ServerBucket>(
        `SELECT coalesce(s.name, t.engine) AS server,
                floor(extract(epoch FROM t.started_at) / ${width}::float8) * ${width}::float8 * 1000 AS "startMs",
                avg(t.download_bps)::float8 AS "downloadBps", avg(t.ping_ms)::float8 AS "pingMs"
           FROM speedtests t LEFT JOIN speedtest_servers s ON s.id = t.server_id ${where(f, p)}
          GROUP BY 1, 2 ORDER BY 2, 1`,
        p.values,
      );
    },

    /** One test with its server, client and every pinged server; null when the id is unknown. */
    async detail(id: string): Promise<SpeedtestDetail | null> {
      const [row] = await select<Omit<SpeedtestDetail, 'pinged' | 'bufferbloat'>>(
        `SELECT ${LIST_COLUMNS}, t.bytes_received AS "bytesReceived", t.bytes_sent AS "bytesSent",
                t.duration_ms AS "durationMs",
                CASE WHEN c.id IS NULL THEN NULL
                     ELSE json_build_object('ip', host(c.ip), 'isp', c.isp, 'countryCode', c.country_code) END AS client
           FROM speedtests t
           LEFT JOIN speedtest_servers s ON s.id = t.server_id
           LEFT JOIN clients c ON c.id = t.client_id
          WHERE t.id = $1`,
        [id],
      );
      if (!row) return null;
      const test = withGrade(row);
      const pinged = await select<SpeedtestDetail['pinged'][number]>(
        `SELECT p.server_id AS "serverId", s.name, s.sponsor, s.country_code AS "countryCode", s.lat, s.lon,
                p.latency_ms AS "latencyMs", p.distance_km AS "distanceKm", p.chosen
           FROM speedtest_server_pings p JOIN speedtest_servers s ON s.id = p.server_id
          WHERE p.speedtest_id = $1 ORDER BY p.chosen DESC, p.latency_ms NULLS LAST`,
        [id],
      );
      return { ...test, pinged };
    },

    servers: (engine?: (typeof ENGINE_NAMES)[number]) =>
      select<Record<string, unknown>>(
        `SELECT id, engine, external_id AS "externalId", name, sponsor, host, country, country_code AS "countryCode",
                lat, lon, updated_at AS "updatedAt"
           FROM speedtest_servers ${engine ? 'WHERE engine = $1' : ''} ORDER BY name`,
        engine ? [engine] : [],
      ),

    /** Just what a form's server picker shows: id, name and engine, by name. */
    serverChoices: () =>
      select<{ id: number; name: string; engine: string }>(
        'SELECT id, name, engine FROM speedtest_servers ORDER BY name',
        [],
      ),

    clients: () =>
      select<Record<string, unknown>>(
        `SELECT id, host(ip) AS ip, isp, country_code AS "countryCode", lat, lon, updated_at AS "updatedAt"
           FROM clients ORDER BY updated_at DESC`,
        [],
      ),
  };
}
