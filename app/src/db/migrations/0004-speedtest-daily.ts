// speedtest_daily: per UTC day, engine and server, the count, sum, minimum and maximum of
// download, upload and ping, kept up to date by triggers on speedtests in the same transaction.
//
// The summary over a range (count, min, max and average) then reads one row per day, engine and
// server for the whole days inside the range, and speed tests only for the partial days at its
// edges: the figures are exactly those of the rows, for a fraction of the reads. (In bench:web, a
// test every 30 s over 80 engine and server pairs, the last 7 days are 19,000 rows; the summary
// reads 560 daily rows and the partial first day's ~1,100 rows instead.)
//
// Inserts add to their days' rows. Deletes, and updates that change a counted column, count their
// days again from speedtests: a minimum or maximum cannot be taken back by subtraction.
import type { Migration } from '../migrator.ts';

/**
 * The days' figures of the speed tests in `rows` (a table or subquery with speedtests' columns),
 * in day order: a bulk insert or the backfill then stores each day's rows side by side, so a
 * range of days is read from a few pages.
 */
const aggregate = (rows: string) => `
  SELECT (started_at AT TIME ZONE 'UTC')::date, engine, server_id, count(*),
         count(download_bps), coalesce(sum(download_bps), 0), min(download_bps), max(download_bps),
         count(upload_bps), coalesce(sum(upload_bps), 0), min(upload_bps), max(upload_bps),
         count(ping_ms), coalesce(sum(ping_ms), 0), min(ping_ms), max(ping_ms)
    FROM ${rows} AS r
   GROUP BY 1, 2, 3
   ORDER BY 1, 2, 3`;

/** Adds figures to the day's row, or starts it. */
const merge = (rows: string) => `
  INSERT INTO speedtest_daily AS d (day, engine, server_id, tests,
      download_n, download_sum, download_min, download_max,
      upload_n, upload_sum, upload_min, upload_max,
      ping_n, ping_sum, ping_min, ping_max)
  ${aggregate(rows)}
  ON CONFLICT (day, engine, server_id) DO UPDATE SET
    tests = d.tests + excluded.tests,
    ${['download', 'upload', 'ping']
      .map(
        (m) => `${m}_n = d.${m}_n + excluded.${m}_n,
    ${m}_sum = d.${m}_sum + excluded.${m}_sum,
    ${m}_min = least(d.${m}_min, excluded.${m}_min),
    ${m}_max = greatest(d.${m}_max, excluded.${m}_max)`,
      )
      .join(',\n    ')}`;

/** The day a speed test counts in. */
const dayOf = (column: string) => `(${column} AT TIME ZONE 'UTC')::date`;

export const up: Migration = async ({ context: sql }) => {
  await sql.query(`
    CREATE TABLE speedtest_daily (
      day           date NOT NULL,
      engine        text NOT NULL,
      server_id     integer,
      tests         integer NOT NULL,
      -- per measure: how many rows had a value, their sum, minimum and maximum
      download_n    integer NOT NULL,
      download_sum  double precision NOT NULL,
      download_min  double precision,
      download_max  double precision,
      upload_n      integer NOT NULL,
      upload_sum    double precision NOT NULL,
      upload_min    double precision,
      upload_max    double precision,
      ping_n        integer NOT NULL,
      ping_sum      double precision NOT NULL,
      ping_min      double precision,
      ping_max      double precision,
      UNIQUE NULLS NOT DISTINCT (day, engine, server_id)
    );

    CREATE FUNCTION speedtest_daily_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      ${merge('inserted')};
      RETURN NULL;
    END $$;

    -- Counts again every day a deleted or changed row was in, before and after the change.
    CREATE FUNCTION speedtest_daily_recount() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      days date[];
    BEGIN
      IF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT ${dayOf('started_at')}) INTO days FROM removed;
      ELSE
        -- Only changes to what the days count: clearing task_result_id recounts nothing.
        SELECT array_agg(DISTINCT ${dayOf('x.started_at')}) INTO days
          FROM removed o JOIN inserted n USING (id)
         CROSS JOIN LATERAL (VALUES (o.started_at), (n.started_at)) AS x (started_at)
         WHERE (o.started_at, o.engine, o.server_id, o.download_bps, o.upload_bps, o.ping_ms)
               IS DISTINCT FROM
               (n.started_at, n.engine, n.server_id, n.download_bps, n.upload_bps, n.ping_ms);
      END IF;
      IF days IS NULL THEN
        RETURN NULL;
      END IF;
      DELETE FROM speedtest_daily WHERE day = ANY (days);
      ${merge(`(
        SELECT t.* FROM unnest(days) AS k (day) JOIN speedtests t
            ON t.started_at >= k.day::timestamp AT TIME ZONE 'UTC'
           AND t.started_at < (k.day + 1)::timestamp AT TIME ZONE 'UTC'
      )`)};
      RETURN NULL;
    END $$;

    CREATE FUNCTION speedtest_daily_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      TRUNCATE speedtest_daily;
      RETURN NULL;
    END $$;

    CREATE TRIGGER speedtest_daily_insert AFTER INSERT ON speedtests
      REFERENCING NEW TABLE AS inserted
      FOR EACH STATEMENT EXECUTE FUNCTION speedtest_daily_insert();
    CREATE TRIGGER speedtest_daily_delete AFTER DELETE ON speedtests
      REFERENCING OLD TABLE AS removed
      FOR EACH STATEMENT EXECUTE FUNCTION speedtest_daily_recount();
    CREATE TRIGGER speedtest_daily_update AFTER UPDATE ON speedtests
      REFERENCING OLD TABLE AS removed NEW TABLE AS inserted
      FOR EACH STATEMENT EXECUTE FUNCTION speedtest_daily_recount();
    CREATE TRIGGER speedtest_daily_truncate AFTER TRUNCATE ON speedtests
      FOR EACH STATEMENT EXECUTE FUNCTION speedtest_daily_truncate();

    -- The speed tests already stored.
    ${merge('speedtests')};
    ANALYZE speedtest_daily;
  `);
};

export const down: Migration = async ({ context: sql }) => {
  await sql.query(`
    DROP TRIGGER speedtest_daily_insert ON speedtests;
    DROP TRIGGER speedtest_daily_delete ON speedtests;
    DROP TRIGGER speedtest_daily_update ON speedtests;
    DROP TRIGGER speedtest_daily_truncate ON speedtests;
    DROP FUNCTION speedtest_daily_insert();
    DROP FUNCTION speedtest_daily_recount();
    DROP FUNCTION speedtest_daily_truncate();
    DROP TABLE speedtest_daily;
  `);
};
