// Reading back stored speed tests: the list, one test with its pinged servers, the summary over a
// range, servers and clients. The REST API and the admin portal both read through here.
// Plain SQL: these are read paths over what may be millions of rows, and each query is written
// for the index it uses (started_at, or server/engine then started_at). They run as prepared
// statements (db/prepared.ts), so every value, the page size included, is a bound parameter.
import { z } from 'zod';
import type { Database } from '../db/index.ts';
import { preparedQuery } from '../db/prepared.ts';
import { ENGINE_NAMES } from './index.ts';

export const speedtestFilters = {
  from: z.coerce.date().optional(),
  to: z.coerce.date().optional(),
  engine: z.enum(ENGINE_NAMES).optional(),
  serverId: z.coerce.number().int().positive().optional(),
  country: z
    .string()
    .regex(/^[A-Za-z]{2}$/, 'expected a two-letter country code')
    .transform((c) => c.toUpperCase())
    .optional(),
};
export type SpeedtestFilters = {
  [K in keyof typeof speedtestFilters]?: z.output<(typeof speedtestFilters)[K]>;
};

/** WHERE clause and bind values for the filters (and a cursor), numbered from $1. */
function where(f: SpeedtestFilters, cursor: { at: string; id: string } | null = null) {
  const clauses: string[] = [];
  const bind: unknown[] = [];
  const add = (clause: (n: string) => string, value: unknown) => {
    bind.push(value);
    clauses.push(clause(`$${bind.length}`));
  };
  if (f.from) add((n) => `t.started_at >= ${n}`, f.from);
  if (f.to) add((n) => `t.started_at < ${n}`, f.to);
  if (f.engine) add((n) => `t.engine = ${n}`, f.engine);
  if (f.serverId) add((n) => `t.server_id = ${n}`, f.serverId);
  // Through the (small) servers table, so the speedtests side can use its server_id index.
  if (f.country) {
    add(
      (n) => `t.server_id IN (SELECT id FROM speedtest_servers WHERE country_code = ${n})`,
      f.country,
    );
  }
  if (cursor) {
    bind.push(cursor.at, cursor.id);
    clauses.push(
      `(t.started_at, t.id) < ($${bind.length - 1}::timestamptz, $${bind.length}::bigint)`,
    );
  }
  return { sql: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', bind };
}

const LIST_COLUMNS = `t.id, t.started_at AS "startedAt", t.engine, t.download_bps AS "downloadBps",
  t.upload_bps AS "uploadBps", t.ping_ms AS "pingMs", t.jitter_ms AS "jitterMs",
  t.packet_loss AS "packetLoss", t.result_url AS "resultUrl", t.self_test AS "selfTest",
  t.server_id AS "serverId", s.name AS "serverName", s.country_code AS "countryCode"`;

export const speedtestListItem = z.object({
  id: z.string(),
  startedAt: z.date(),
  engine: z.string(),
  downloadBps: z.number().nullable(),
  uploadBps: z.number().nullable(),
  pingMs: z.number().nullable(),
  jitterMs: z.number().nullable(),
  packetLoss: z.number().nullable(),
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

export interface Page<T> {
  items: T[];
  /** The last row of this page, when there is a next one: where the next page starts. */
  after: { at: Date; id: string } | null;
}

export type SpeedtestHistory = ReturnType<typeof speedtestHistory>;

export function speedtestHistory(db: Database) {
  const select = <T extends object>(sql: string, bind: unknown[]) =>
    preparedQuery<T>(db.sequelize, sql, bind);
  /** Rows matching the filters, newest first: the one query behind list, CSV and latest. */
  const newest = (f: SpeedtestFilters, limit: number, after: { at: string; id: string } | null) => {
    const w = where(f, after);
    return select<SpeedtestListItem>(
      `SELECT ${LIST_COLUMNS} FROM speedtests t LEFT JOIN speedtest_servers s ON s.id = t.server_id
       ${w.sql} ORDER BY t.started_at DESC, t.id DESC LIMIT $${w.bind.length + 1}`,
      [...w.bind, limit],
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

    async summary(f: SpeedtestFilters): Promise<SpeedtestSummary> {
      const w = where(f);
      const [aggregate] = await select<Record<string, number | string | null>>(
        `SELECT count(*)::int AS count,
                min(t.download_bps) AS dmin, max(t.download_bps) AS dmax, avg(t.download_bps) AS davg,
                min(t.upload_bps) AS umin, max(t.upload_bps) AS umax, avg(t.upload_bps) AS uavg,
                min(t.ping_ms) AS pmin, max(t.ping_ms) AS pmax, avg(t.ping_ms) AS pavg
           FROM speedtests t ${w.sql}`,
        w.bind,
      );
      const [latest] = await newest(f, 1, null);
      const n = (key: string) =>
        aggregate?.[key] === null || aggregate?.[key] === undefined ? null : Number(aggregate[key]);
      return {
        count: Number(aggregate?.count ?? 0),
        latest: latest ?? null,
        downloadBps: { min: n('dmin'), max: n('dmax'), avg: n('davg') },
        uploadBps: { min: n('umin'), max: n('umax'), avg: n('uavg') },
        pingMs: { min: n('pmin'), max: n('pmax'), avg: n('pavg') },
      };
    },

    /** One test with its server, client and every pinged server; null when the id is unknown. */
    async detail(id: string): Promise<SpeedtestDetail | null> {
      const [test] = await select<Omit<SpeedtestDetail, 'pinged'>>(
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
      if (!test) return null;
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

    clients: () =>
      select<Record<string, unknown>>(
        `SELECT id, host(ip) AS ip, isp, country_code AS "countryCode", lat, lon, updated_at AS "updatedAt"
           FROM clients ORDER BY updated_at DESC`,
        [],
      ),
  };
}
