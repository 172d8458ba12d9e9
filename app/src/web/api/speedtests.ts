// /speedtests (list, detail, CSV, summary), /servers and /clients: the results a user charts.
// Plain SQL: these are read paths over what may be millions of rows, and each query is written
// for the index it uses (started_at, or server/engine then started_at).
import { QueryTypes } from 'sequelize';
import { z } from 'zod';
import type { Database } from '../../db/index.ts';
import { NotFoundError } from '../../queue/periodic-tasks.ts';
import { ENGINE_NAMES } from '../../speedtest/index.ts';
import { decodeCursor, encodeCursor, pageQuery } from './pagination.ts';
import { endpoint } from './route.ts';

const filters = {
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
type Filters = { [K in keyof typeof filters]?: z.output<(typeof filters)[K]> };

/** WHERE clause and bind values for the filters (and a cursor), numbered from $1. */
function where(f: Filters, cursor: { at: string; id: string } | null = null) {
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

const listItem = z.object({
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
type ListItem = z.input<typeof listItem>;

const stats = z.object({
  min: z.number().nullable(),
  max: z.number().nullable(),
  avg: z.number().nullable(),
});

function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = value instanceof Date ? value.toISOString() : String(value);
  // Quote what needs it, and defuse cells a spreadsheet would run as a formula.
  const safe = /^[=+\-@\t\r]/.test(text) && Number.isNaN(Number(text)) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export function speedtestEndpoints(db: Database) {
  const tag = 'speedtests';
  const select = <T extends object>(sql: string, bind: unknown[]) =>
    db.sequelize.query<T>(sql, { bind, type: QueryTypes.SELECT });
  /** The list rows matching a WHERE clause, newest first: the one query behind list, CSV and latest. */
  const newest = (w: ReturnType<typeof where>, limit: number) =>
    select<ListItem>(
      `SELECT ${LIST_COLUMNS} FROM speedtests t LEFT JOIN speedtest_servers s ON s.id = t.server_id
       ${w.sql} ORDER BY t.started_at DESC, t.id DESC LIMIT ${limit}`,
      w.bind,
    );

  return [
    endpoint({
      method: 'get',
      path: '/speedtests',
      summary: 'Speed tests, newest first, filtered by time, engine, server and country',
      tag,
      query: z.object({ ...filters, ...pageQuery }).strict(),
      response: z.object({ items: z.array(listItem), nextCursor: z.string().nullable() }),
      handler: async ({ query }) => {
        const w = where(query, decodeCursor(query.cursor));
        const rows = await newest(w, query.limit + 1);
        const page = rows.slice(0, query.limit);
        const last = page.at(-1);
        return {
          items: page,
          nextCursor:
            rows.length > query.limit && last ? encodeCursor(last.startedAt, last.id) : null,
        };
      },
    }),
    endpoint({
      method: 'get',
      path: '/speedtests.csv',
      summary: 'The same list as CSV (up to 100,000 rows)',
      tag,
      query: z.object(filters).strict(),
      produces: 'text/csv',
      handler: async ({ query, response }) => {
        const w = where(query);
        const rows = await newest(w, 100_000);
        const columns = Object.keys(listItem.shape) as Array<keyof ListItem>;
        const lines = [
          columns.join(','),
          ...rows.map((row) => columns.map((c) => csvField(row[c])).join(',')),
        ];
        response
          .type('text/csv')
          .attachment('speedtests.csv')
          .send(`${lines.join('\r\n')}\r\n`);
      },
    }),
    endpoint({
      method: 'get',
      path: '/speedtests/summary',
      summary: 'Latest, min, max and average of download, upload and ping over the filters',
      tag,
      query: z.object(filters).strict(),
      response: z.object({
        count: z.int(),
        latest: listItem.nullable(),
        downloadBps: stats,
        uploadBps: stats,
        pingMs: stats,
      }),
      handler: async ({ query }) => {
        const w = where(query);
        const [aggregate] = await select<Record<string, number | string | null>>(
          `SELECT count(*)::int AS count,
                  min(t.download_bps) AS dmin, max(t.download_bps) AS dmax, avg(t.download_bps) AS davg,
                  min(t.upload_bps) AS umin, max(t.upload_bps) AS umax, avg(t.upload_bps) AS uavg,
                  min(t.ping_ms) AS pmin, max(t.ping_ms) AS pmax, avg(t.ping_ms) AS pavg
             FROM speedtests t LEFT JOIN speedtest_servers s ON s.id = t.server_id ${w.sql}`,
          w.bind,
        );
        const [latest] = await newest(w, 1);
        const n = (key: string) =>
          aggregate?.[key] === null || aggregate?.[key] === undefined
            ? null
            : Number(aggregate[key]);
        return {
          count: Number(aggregate?.count ?? 0),
          latest: latest ?? null,
          downloadBps: { min: n('dmin'), max: n('dmax'), avg: n('davg') },
          uploadBps: { min: n('umin'), max: n('umax'), avg: n('uavg') },
          pingMs: { min: n('pmin'), max: n('pmax'), avg: n('pavg') },
        };
      },
    }),
    endpoint({
      method: 'get',
      path: '/speedtests/:id',
      summary: 'One speed test with its server, client and every pinged server',
      tag,
      params: z.object({ id: z.string().regex(/^\d+$/, 'expected a numeric id') }),
      response: listItem.extend({
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
      }),
      handler: async ({ params }) => {
        const [test] = await select<ListItem & Record<string, unknown>>(
          `SELECT ${LIST_COLUMNS}, t.bytes_received AS "bytesReceived", t.bytes_sent AS "bytesSent",
                  t.duration_ms AS "durationMs",
                  CASE WHEN c.id IS NULL THEN NULL
                       ELSE json_build_object('ip', host(c.ip), 'isp', c.isp, 'countryCode', c.country_code) END AS client
             FROM speedtests t
             LEFT JOIN speedtest_servers s ON s.id = t.server_id
             LEFT JOIN clients c ON c.id = t.client_id
            WHERE t.id = $1`,
          [params.id],
        );
        if (!test) throw new NotFoundError(`speedtest ${params.id} does not exist`);
        const pinged = await select<Record<string, unknown>>(
          `SELECT p.server_id AS "serverId", s.name, s.sponsor, s.country_code AS "countryCode", s.lat, s.lon,
                  p.latency_ms AS "latencyMs", p.distance_km AS "distanceKm", p.chosen
             FROM speedtest_server_pings p JOIN speedtest_servers s ON s.id = p.server_id
            WHERE p.speedtest_id = $1 ORDER BY p.chosen DESC, p.latency_ms NULLS LAST`,
          [params.id],
        );
        return { ...test, pinged } as never;
      },
    }),
    endpoint({
      method: 'get',
      path: '/servers',
      summary: 'Every speed test server seen, with its coordinates',
      tag,
      query: z.object({ engine: z.enum(ENGINE_NAMES).optional() }).strict(),
      handler: async ({ query }) => ({
        items: await select(
          `SELECT id, engine, external_id AS "externalId", name, sponsor, host, country, country_code AS "countryCode",
                  lat, lon, updated_at AS "updatedAt"
             FROM speedtest_servers ${query.engine ? 'WHERE engine = $1' : ''} ORDER BY name`,
          query.engine ? [query.engine] : [],
        ),
      }),
    }),
    endpoint({
      method: 'get',
      path: '/clients',
      summary: 'Every client address and ISP the tests ran from',
      tag,
      handler: async () => ({
        items: await select(
          `SELECT id, host(ip) AS ip, isp, country_code AS "countryCode", lat, lon, updated_at AS "updatedAt"
             FROM clients ORDER BY updated_at DESC`,
          [],
        ),
      }),
    }),
  ];
}
