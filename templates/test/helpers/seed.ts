// Rows for the monitoring test, written in SQL against the app's schema. Grafana's panels read
// these tables by SQL too, so the schema is the contract here; the app's own code is not imported
// (templates/ sits beside app/, not above it: docs/architecture.md).
import type pg from 'pg';

export interface IntervalSchedule {
  name: string;
  task: string;
  kwargs?: Record<string, unknown>;
  every: number;
  period: 'seconds' | 'minutes' | 'hours' | 'days';
}

/** Stops every seeded schedule, so only what the test adds runs. */
export async function disableAllSchedules(client: pg.Client): Promise<void> {
  await client.query('UPDATE periodic_tasks SET enabled = false');
}

export async function addIntervalSchedules(
  client: pg.Client,
  schedules: IntervalSchedule[],
): Promise<void> {
  for (const s of schedules)
    await client.query(
      `INSERT INTO periodic_tasks (name, task, kwargs, schedule_type, interval_every, interval_period)
       VALUES ($1, $2, $3, 'interval', $4, $5)`,
      [s.name, s.task, JSON.stringify(s.kwargs ?? {}), s.every, s.period],
    );
}

const SERVERS = [
  { id: '101', name: 'Amsterdam One', sponsor: 'AMS-IX', country: 'Netherlands', code: 'NL', lat: 52.37, lon: 4.89 },
  { id: '102', name: 'Frankfurt', sponsor: 'DE-CIX', country: 'Germany', code: 'DE', lat: 50.11, lon: 8.68 },
  { id: '103', name: 'Rotterdam', sponsor: 'Example', country: 'Netherlands', code: 'NL', lat: 51.92, lon: 4.48 },
]; // prettier-ignore

/**
 * Six speed tests of two engines over the last hours, against three servers in two countries,
 * each with every server pinged and the one it used marked.
 */
export async function seedSpeedtests(client: pg.Client): Promise<void> {
  await client.query('BEGIN');
  try {
    const { rows: clients } = await client.query<{ id: number }>(
      `INSERT INTO clients (ip, isp, country_code, lat, lon)
       VALUES ('192.0.2.10', 'Example ISP', 'NL', 52.1, 5.1) RETURNING id`,
    );
    for (let i = 0; i < 6; i++) {
      const engine = i % 2 ? 'ookla' : 'librespeed';
      const serverIds = new Map<string, number>();
      for (const server of SERVERS) {
        const { rows } = await client.query<{ id: number }>(
          `INSERT INTO speedtest_servers (engine, external_id, name, sponsor, country, country_code, lat, lon)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (engine, external_id) DO UPDATE SET name = EXCLUDED.name
           RETURNING id`,
          [engine, server.id, server.name, server.sponsor, server.country, server.code, server.lat, server.lon],
        ); // prettier-ignore
        serverIds.set(server.id, rows[0]!.id);
      }
      const used = SERVERS[i % SERVERS.length]!;
      // Latency under load grows with i: bufferbloat from 5 ms (grade A) to 155 ms (C).
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO speedtests (started_at, engine, download_bps, upload_bps, ping_ms, jitter_ms,
           packet_loss, bytes_received, bytes_sent, duration_ms, result_url, server_id, client_id, raw,
           download_latency_ms, download_jitter_ms, upload_latency_ms, upload_jitter_ms)
         VALUES (now() - make_interval(hours => $1), $2, $3, $4, $5, $6, 0, 100000000, 25000000,
           20000, $7, $8, $9, $10, $11, $12, $13, $14)
         RETURNING id`,
        [
          i + 1,
          engine,
          80e6 + i * 1e6,
          20e6 + i * 1e6,
          10 + i,
          1 + i / 10,
          i % 2 ? `https://www.speedtest.net/result/c/fixture-${i}` : null,
          serverIds.get(used.id),
          clients[0]!.id,
          JSON.stringify({ fixture: i }),
          10 + i + 5 + i * 20,
          2 + i,
          10 + i + 5 + i * 40,
          3 + i,
        ],
      );
      for (const [n, server] of SERVERS.entries())
        await client.query(
          `INSERT INTO speedtest_server_pings (speedtest_id, server_id, latency_ms, distance_km, chosen)
           VALUES ($1, $2, $3, $4, $5)`,
          [rows[0]!.id, serverIds.get(server.id), 10 + n * 5, 10 + n * 100, server.id === used.id],
        );
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

/**
 * Two probes' history over the last six hours, as the worker writes it (migration 0008): a minute
 * row per target with sums, a few lost checks, an outage of "gateway" that ended and one of
 * "website" still going on. Both are disabled, so a running worker leaves them as they are.
 */
export async function seedProbes(client: pg.Client): Promise<void> {
  await client.query('BEGIN');
  try {
    const probes = [
      { name: 'gateway', kind: 'tcp', targets: ['192.0.2.1:443', '198.51.100.1:443'] },
      { name: 'website', kind: 'http', targets: ['https://example.test/'] },
    ];
    for (const [index, probe] of probes.entries()) {
      const { rows } = await client.query<{ id: number }>(
        `INSERT INTO probes (name, kind, targets, period_seconds, timeout_ms, enabled, created_at)
         VALUES ($1, $2, $3, 10, 2000, false, now() - interval '7 days') RETURNING id`,
        [probe.name, probe.kind, probe.targets],
      );
      const id = rows[0]!.id;
      // Six checks a minute, one lost every seventh minute; round trips around 12 ms (+5 per probe).
      await client.query(
        `INSERT INTO probe_minutes (probe_id, target, minute, sent, lost, rtt_sum_ms, rtt_min_ms,
           rtt_max_ms, jitter_sum_ms, jitter_n)
         SELECT $1, target, minute, 6, lost, (6 - lost) * (12 + $2 * 5 + n % 4), 10 + $2 * 5,
                16 + $2 * 5, 5 - lost, 5 - lost
           FROM unnest($3::text[]) AS target,
                generate_series(1, 360) AS n,
                LATERAL (SELECT date_trunc('minute', now()) - make_interval(mins => n) AS minute,
                                CASE WHEN n % 7 = 0 THEN 1 ELSE 0 END AS lost) AS m`,
        [id, index, probe.targets],
      );
      await client.query(
        index === 0
          ? `INSERT INTO probe_outages (probe_id, started_at, ended_at, failed_rounds, last_error)
             VALUES ($1, now() - interval '3 hours', now() - interval '2 hours 50 minutes', 60,
               'connect ETIMEDOUT 192.0.2.1:443')`
          : `INSERT INTO probe_outages (probe_id, started_at, ended_at, failed_rounds, last_error)
             VALUES ($1, now() - interval '5 minutes', NULL, 30, 'HTTP 503')`,
        [id],
      );
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}
