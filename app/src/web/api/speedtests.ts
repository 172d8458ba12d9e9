// /speedtests (list, detail, CSV, summary), /servers and /clients: the results a user charts.
import { z } from 'zod';
import type { Database } from '../../db/index.ts';
import { NotFoundError } from '../../errors.ts';
import {
  speedtestDetail,
  speedtestFilters,
  speedtestHistory,
  speedtestListItem,
  speedtestSummary,
  type SpeedtestListItem,
} from '../../speedtest/history.ts';
import { ENGINE_NAMES } from '../../speedtest/index.ts';
import { decodeCursor, encodeCursor, pageQuery } from './pagination.ts';
import { bigserialIdParams } from '../ids.ts';
import { endpoint } from './route.ts';

function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = value instanceof Date ? value.toISOString() : String(value);
  // Quote what needs it, and defuse cells a spreadsheet would run as a formula.
  const safe = /^[=+\-@\t\r]/.test(text) && Number.isNaN(Number(text)) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export function speedtestEndpoints(db: Database) {
  const tag = 'speedtests';
  const history = speedtestHistory(db);

  return [
    endpoint({
      method: 'get',
      path: '/speedtests',
      summary: 'Speed tests, newest first, filtered by time, engine, server and country',
      tag,
      query: z.object({ ...speedtestFilters, ...pageQuery }).strict(),
      response: z.object({ items: z.array(speedtestListItem), nextCursor: z.string().nullable() }),
      handler: async ({ query }) => {
        const { items, after } = await history.page(query, query.limit, decodeCursor(query.cursor));
        return { items, nextCursor: after ? encodeCursor(after.at, after.id) : null };
      },
    }),
    endpoint({
      method: 'get',
      path: '/speedtests.csv',
      summary: 'The same list as CSV (up to 100,000 rows)',
      tag,
      query: z.object(speedtestFilters).strict(),
      produces: 'text/csv',
      handler: async ({ query, response }) => {
        const rows = await history.all(query, 100_000);
        // One cell per value: the bufferbloat object becomes two columns.
        const columns = Object.keys(speedtestListItem.shape).flatMap((key) =>
          key === 'bufferbloat' ? ['bufferbloatMs', 'bufferbloatGrade'] : [key],
        );
        const cells = (row: SpeedtestListItem): Record<string, unknown> => ({
          ...row,
          bufferbloatMs: row.bufferbloat?.increaseMs,
          bufferbloatGrade: row.bufferbloat?.grade,
        });
        const lines = [
          columns.join(','),
          ...rows.map((row) => {
            const values = cells(row);
            return columns.map((c) => csvField(values[c])).join(',');
          }),
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
      query: z.object(speedtestFilters).strict(),
      response: speedtestSummary,
      handler: ({ query }) => history.summary(query),
    }),
    endpoint({
      method: 'get',
      path: '/speedtests/:id',
      summary: 'One speed test with its server, client and every pinged server',
      tag,
      params: bigserialIdParams,
      response: speedtestDetail,
      handler: async ({ params }) => {
        const test = await history.detail(params.id);
        if (!test) throw new NotFoundError(`speedtest ${params.id} does not exist`);
        return test;
      },
    }),
    endpoint({
      method: 'get',
      path: '/servers',
      summary: 'Every speed test server seen, with its coordinates',
      tag,
      query: z.object({ engine: z.enum(ENGINE_NAMES).optional() }).strict(),
      handler: async ({ query }) => ({ items: await history.servers(query.engine) }),
    }),
    endpoint({
      method: 'get',
      path: '/clients',
      summary: 'Every client address and ISP the tests ran from',
      tag,
      handler: async () => ({ items: await history.clients() }),
    }),
  ];
}
