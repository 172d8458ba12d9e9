// Continuous probes between speed tests: what to probe (probes), what each minute of probing
// found (probe_minutes: one row per probe, target and minute, however often it probes), and the
// outages the probe detected (probe_outages; ended_at NULL while one lasts).
//
// Why minutes and not one row per probe: a 10-second probe of two targets is 6.3 million rows a
// year; its minutes are 1.05 million rows of about 100 bytes, and still answer everything the
// portal and Grafana ask (latency, loss and jitter per minute, uptime from the outages). A row
// holds sums, not averages, so a minute written in two parts (a restart) adds up exactly.
import type { Migration } from '../migrator.ts';

export const up: Migration = async ({ context: sql }) => {
  await sql.query(`
    CREATE TABLE probes (
      id                    serial PRIMARY KEY,
      name                  text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
      kind                  text NOT NULL CHECK (kind IN ('tcp', 'http')),
      targets               text[] NOT NULL CHECK (cardinality(targets) BETWEEN 1 AND 10),
      period_seconds        integer NOT NULL CHECK (period_seconds BETWEEN 5 AND 3600),
      timeout_ms            integer NOT NULL CHECK (timeout_ms BETWEEN 100 AND 30000),
      failures_for_outage   integer NOT NULL DEFAULT 2 CHECK (failures_for_outage BETWEEN 1 AND 10),
      source_address        inet,
      family                smallint CHECK (family IN (4, 6)),
      speedtest_on_recovery boolean NOT NULL DEFAULT true,
      enabled               boolean NOT NULL DEFAULT true,
      created_at            timestamptz NOT NULL DEFAULT now(),
      updated_at            timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT probes_timeout_within_period CHECK (timeout_ms < period_seconds * 1000)
    );

    CREATE TABLE probe_minutes (
      probe_id      integer NOT NULL REFERENCES probes (id) ON DELETE CASCADE,
      target        text NOT NULL,
      minute        timestamptz NOT NULL CHECK (date_trunc('minute', minute) = minute),
      sent          integer NOT NULL CHECK (sent > 0),
      lost          integer NOT NULL CHECK (lost BETWEEN 0 AND sent),
      rtt_sum_ms    double precision NOT NULL DEFAULT 0,
      rtt_min_ms    double precision,
      rtt_max_ms    double precision,
      -- Jitter as LibreSpeed and RFC 3550 think of it: the change between consecutive answers.
      jitter_sum_ms double precision NOT NULL DEFAULT 0,
      jitter_n      integer NOT NULL DEFAULT 0,
      PRIMARY KEY (probe_id, minute, target)
    );
    -- Retention deletes by time across probes.
    CREATE INDEX probe_minutes_minute ON probe_minutes (minute);

    CREATE TABLE probe_outages (
      id            bigserial PRIMARY KEY,
      probe_id      integer NOT NULL REFERENCES probes (id) ON DELETE CASCADE,
      started_at    timestamptz NOT NULL,
      ended_at      timestamptz CHECK (ended_at >= started_at),
      failed_rounds integer NOT NULL DEFAULT 0,
      last_error    text NOT NULL DEFAULT ''
    );
    CREATE INDEX probe_outages_probe_started ON probe_outages (probe_id, started_at);
    -- At most one open outage per probe, whatever two workers might think.
    CREATE UNIQUE INDEX probe_outages_one_open ON probe_outages (probe_id) WHERE ended_at IS NULL;
  `);
};

export const down: Migration = async ({ context: sql }) => {
  await sql.query('DROP TABLE probe_outages, probe_minutes, probes');
};
