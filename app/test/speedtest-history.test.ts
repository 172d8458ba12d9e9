// The speed test summary against the rows themselves: whatever the range (whole days, partial
// days, open ends) and filters, and whatever happened to the rows (inserted one by one or in bulk,
// deleted, moved to another day, their server deleted, truncated), count, min, max and average
// equal those computed over speedtests directly, and speedtest_daily equals a fresh count.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { QueryTypes } from 'sequelize';
import { speedtestHistory, type SpeedtestFilters } from '../src/speedtest/history.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';

const DAY = 86_400_000;
const T0 = Date.parse('2031-03-10T00:00:00Z');

describe('speed test summary', () => {
  let env: TestEnv;
  let history: ReturnType<typeof speedtestHistory>;
  const query = <T extends object>(sql: string, bind: unknown[] = []) =>
    env.db.sequelize.query<T>(sql, { bind, type: QueryTypes.SELECT });

  before(async () => {
    env = await createTestEnv();
    history = speedtestHistory(env.db);
    await query(`
      INSERT INTO speedtest_servers (engine, external_id, name, country_code)
      VALUES ('librespeed', 'a', 'A', 'NL'), ('librespeed', 'b', 'B', 'DE'), ('ookla', 'c', 'C', 'NL')
      RETURNING id`);
  });
  after(() => env.cleanup());

  /**
   * `count` tests in one INSERT, one every `step` ms from `from`; some without a download or
   * ping figure or a server. (Sums of these values are exact in any order.)
   */
  const insert = (from: number, count: number, step: number, seed = 0) =>
    query(
      `INSERT INTO speedtests (started_at, engine, download_bps, upload_bps, ping_ms, server_id)
       SELECT to_timestamp(($1::float8 + (i - $4) * $2::float8) / 1000),
              CASE WHEN i % 3 = 0 THEN 'ookla' ELSE 'librespeed' END,
              CASE WHEN i % 11 = 0 THEN NULL ELSE 1e6 * (i % 97) + 0.25 END,
              5e5 * (i % 13), CASE WHEN i % 7 = 0 THEN NULL ELSE 3.5 + i % 17 END,
              CASE WHEN i % 9 = 0 THEN NULL
                   ELSE (ARRAY(SELECT id FROM speedtest_servers ORDER BY id))[1 + i % 3] END
         FROM generate_series($4::int, $4::int + $3::int - 1) AS i`,
      [from, step, count, seed],
    );

  /** The summary as speedtests alone says it. */
  async function expected(f: SpeedtestFilters) {
    const clauses: string[] = [];
    const bind: unknown[] = [];
    const add = (clause: string, value: unknown) => {
      bind.push(value);
      clauses.push(clause.replace('?', `$${bind.length}`));
    };
    if (f.from) add('started_at >= ?', f.from);
    if (f.to) add('started_at < ?', f.to);
    if (f.engine) add('engine = ?', f.engine);
    if (f.serverId) add('server_id = ?', f.serverId);
    if (f.country) {
      add('server_id IN (SELECT id FROM speedtest_servers WHERE country_code = ?)', f.country);
    }
    const [row] = await query<Record<string, number | null>>(
      `SELECT count(*)::int AS count,
              min(download_bps) AS dmin, max(download_bps) AS dmax, avg(download_bps) AS davg,
              min(upload_bps) AS umin, max(upload_bps) AS umax, avg(upload_bps) AS uavg,
              min(ping_ms) AS pmin, max(ping_ms) AS pmax, avg(ping_ms) AS pavg
         FROM speedtests ${clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''}`,
      bind,
    );
    return row!;
  }

  const close = (actual: number | null, wanted: number | null, what: string) => {
    if (actual === null || wanted === null) return assert.equal(actual, wanted, what);
    // The average is a sum of sums instead of one sum: equal up to floating-point rounding.
    assert.ok(
      Math.abs(actual - wanted) <= 1e-9 * Math.abs(wanted),
      `${what}: ${actual} ≠ ${wanted}`,
    );
  };

  async function agrees(f: SpeedtestFilters) {
    const [summary, want] = await Promise.all([history.summary(f), expected(f)]);
    const what = JSON.stringify(f);
    assert.equal(summary.count, want.count, `${what} count`);
    for (const [key, short] of [
      ['downloadBps', 'd'],
      ['uploadBps', 'u'],
      ['pingMs', 'p'],
    ] as const) {
      assert.equal(summary[key].min, want[`${short}min`], `${what} ${key} min`);
      assert.equal(summary[key].max, want[`${short}max`], `${what} ${key} max`);
      close(summary[key].avg, want[`${short}avg`]!, `${what} ${key} avg`);
    }
    const [latest] = await history.all(f, 1);
    assert.equal(summary.latest?.id ?? null, latest?.id ?? null, `${what} latest`);
  }

  async function dailyIsFresh() {
    const columns = `day, engine, server_id, tests, download_n, download_sum, download_min,
      download_max, upload_n, upload_sum, upload_min, upload_max, ping_n, ping_sum, ping_min, ping_max`;
    const kept = await query(`SELECT ${columns} FROM speedtest_daily ORDER BY 1, 2, 3`);
    const fresh = await query(
      `SELECT (started_at AT TIME ZONE 'UTC')::date AS day, engine, server_id, count(*)::int AS tests,
              count(download_bps)::int AS download_n, coalesce(sum(download_bps), 0) AS download_sum,
              min(download_bps) AS download_min, max(download_bps) AS download_max,
              count(upload_bps)::int AS upload_n, coalesce(sum(upload_bps), 0) AS upload_sum,
              min(upload_bps) AS upload_min, max(upload_bps) AS upload_max,
              count(ping_ms)::int AS ping_n, coalesce(sum(ping_ms), 0) AS ping_sum,
              min(ping_ms) AS ping_min, max(ping_ms) AS ping_max
         FROM speedtests GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    );
    assert.deepEqual(kept, fresh);
  }

  const at = (days: number, hours = 0) => new Date(T0 + days * DAY + hours * 3_600_000);
  const ranges: SpeedtestFilters[] = [
    {},
    { from: at(2, 7.5) },
    { to: at(3, 13) },
    { from: at(1), to: at(4) },
    { from: at(1, 0.001), to: at(3, 23.999) },
    { from: at(2, 3), to: at(2, 20) },
    { from: at(2, 23), to: at(3, 1) },
    { from: at(9) },
    { to: at(-3) },
    { from: at(1, 6), engine: 'librespeed' },
    { from: at(0, 12), to: at(4, 12), country: 'NL' },
  ];

  test('bulk and single inserts: every range and filter agrees with the rows', async () => {
    await insert(T0, 500, (5 * DAY) / 500);
    for (let i = 1; i <= 5; i++) await insert(T0 + i * DAY - 3_600_000 * 5, 1, 0, i);
    await dailyIsFresh();
    const [{ id: serverId }] = (await query<{ id: number }>(
      'SELECT min(id) AS id FROM speedtest_servers',
    )) as [{ id: number }];
    for (const f of [...ranges, { from: at(1, 6), serverId }]) await agrees(f);
  });

  test('deletes, moves between days, a deleted server and truncation keep the days exact', async () => {
    await query(`DELETE FROM speedtests WHERE id % 5 = 0`);
    await dailyIsFresh();
    // The extremes of a day go: its minimum and maximum must be found again.
    await query(
      `DELETE FROM speedtests WHERE download_bps = (SELECT max(download_bps) FROM speedtests)`,
    );
    await query(
      `UPDATE speedtests SET started_at = started_at + interval '1 day' WHERE id % 7 = 1`,
    );
    await query(`UPDATE speedtests SET ping_ms = 1000 WHERE id % 13 = 2`);
    await query(`UPDATE speedtests SET result_url = 'https://example.com/' WHERE id % 2 = 0`);
    await query(`DELETE FROM speedtest_servers WHERE external_id = 'b'`);
    await dailyIsFresh();
    for (const f of ranges) await agrees(f);

    await query('TRUNCATE speedtests CASCADE');
    await dailyIsFresh();
    await agrees({});
    await insert(T0, 50, DAY / 10);
    await dailyIsFresh();
    for (const f of ranges) await agrees(f);
  });
});
