// The first schema. Written as SQL rather than through Sequelize's queryInterface: constraints,
// partial indexes and triggers read best in the language PostgreSQL documents them in.
import type { Migration } from '../migrator.ts';

export const up: Migration = async ({ context: sql }) => {
  await sql.query(`
    CREATE TABLE periodic_tasks (
      id              serial PRIMARY KEY,
      name            text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
      task            text NOT NULL,
      args            jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(args) = 'array'),
      kwargs          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(kwargs) = 'object'),
      schedule_type   text NOT NULL CHECK (schedule_type IN ('interval', 'crontab', 'clocked')),
      interval_every  integer CHECK (interval_every > 0),
      interval_period text CHECK (interval_period IN ('days', 'hours', 'minutes', 'seconds')),
      crontab         text,
      timezone        text NOT NULL DEFAULT 'UTC',
      clocked_at      timestamptz,
      start_time      timestamptz,
      expires_at      timestamptz,
      one_off         boolean NOT NULL DEFAULT false,
      enabled         boolean NOT NULL DEFAULT true,
      priority        integer CHECK (priority BETWEEN 0 AND 2097152),
      queue           text,
      description     text NOT NULL DEFAULT '',
      last_run_at     timestamptz,
      total_run_count integer NOT NULL DEFAULT 0,
      created_at      timestamptz NOT NULL DEFAULT now(),
      updated_at      timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT periodic_tasks_schedule_complete CHECK (
        (schedule_type = 'interval' AND interval_every IS NOT NULL AND interval_period IS NOT NULL)
        OR (schedule_type = 'crontab' AND crontab IS NOT NULL)
        OR (schedule_type = 'clocked' AND clocked_at IS NOT NULL)
      )
    );

    -- The scheduler role LISTENs on this channel: a change to what or when a task runs reaches it
    -- at once. Run bookkeeping (last_run_at, total_run_count) is left out on purpose, so workers
    -- recording runs do not wake the scheduler.
    CREATE FUNCTION notify_periodic_task_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('periodic_tasks_changed', COALESCE(NEW.id, OLD.id)::text);
      RETURN NULL;
    END $$;

    CREATE TRIGGER periodic_tasks_changed
      AFTER INSERT OR DELETE OR UPDATE OF name, task, args, kwargs, schedule_type, interval_every,
        interval_period, crontab, timezone, clocked_at, start_time, expires_at, one_off, enabled,
        priority, queue
      ON periodic_tasks FOR EACH ROW EXECUTE FUNCTION notify_periodic_task_change();

    CREATE TABLE task_results (
      id               bigserial PRIMARY KEY,
      job_id           text NOT NULL UNIQUE,
      queue            text NOT NULL,
      task             text NOT NULL,
      periodic_task_id integer REFERENCES periodic_tasks (id) ON DELETE SET NULL,
      status           text NOT NULL
        CHECK (status IN ('queued', 'started', 'retried', 'succeeded', 'failed', 'revoked')),
      attempts         integer NOT NULL DEFAULT 0,
      args             jsonb NOT NULL DEFAULT '[]',
      kwargs           jsonb NOT NULL DEFAULT '{}',
      result           jsonb,
      error            text,
      stack            text,
      logs             jsonb NOT NULL DEFAULT '[]',
      worker           text,
      scheduled_for    timestamptz,
      queued_at        timestamptz NOT NULL DEFAULT now(),
      started_at       timestamptz,
      finished_at      timestamptz,
      duration_ms      double precision
    );
    CREATE INDEX task_results_queued_at ON task_results (queued_at DESC);
    CREATE INDEX task_results_task_queued_at ON task_results (task, queued_at DESC);
    CREATE INDEX task_results_status_queued_at ON task_results (status, queued_at DESC);
    CREATE INDEX task_results_periodic_task ON task_results (periodic_task_id, queued_at DESC);

    CREATE TABLE speedtest_servers (
      id           serial PRIMARY KEY,
      engine       text NOT NULL,
      external_id  text NOT NULL,
      name         text NOT NULL,
      sponsor      text,
      host         text,
      url          text,
      country      text,
      country_code char(2),
      lat          double precision CHECK (lat BETWEEN -90 AND 90),
      lon          double precision CHECK (lon BETWEEN -180 AND 180),
      created_at   timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now(),
      UNIQUE (engine, external_id)
    );

    CREATE TABLE clients (
      id           serial PRIMARY KEY,
      ip           inet NOT NULL,
      isp          text NOT NULL DEFAULT '',
      country_code char(2),
      lat          double precision CHECK (lat BETWEEN -90 AND 90),
      lon          double precision CHECK (lon BETWEEN -180 AND 180),
      created_at   timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now(),
      UNIQUE (ip, isp)
    );

    CREATE TABLE speedtests (
      id             bigserial PRIMARY KEY,
      started_at     timestamptz NOT NULL,
      engine         text NOT NULL,
      download_bps   double precision CHECK (download_bps >= 0),
      upload_bps     double precision CHECK (upload_bps >= 0),
      ping_ms        double precision CHECK (ping_ms >= 0),
      jitter_ms      double precision CHECK (jitter_ms >= 0),
      packet_loss    double precision CHECK (packet_loss BETWEEN 0 AND 100),
      bytes_received bigint CHECK (bytes_received >= 0),
      bytes_sent     bigint CHECK (bytes_sent >= 0),
      duration_ms    double precision CHECK (duration_ms >= 0),
      result_url     text,
      self_test      boolean NOT NULL DEFAULT false,
      server_id      integer REFERENCES speedtest_servers (id) ON DELETE SET NULL,
      client_id      integer REFERENCES clients (id) ON DELETE SET NULL,
      task_result_id bigint REFERENCES task_results (id) ON DELETE SET NULL,
      raw            jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX speedtests_started_at ON speedtests (started_at DESC);
    CREATE INDEX speedtests_server_started_at ON speedtests (server_id, started_at DESC);
    CREATE INDEX speedtests_engine_started_at ON speedtests (engine, started_at DESC);
    CREATE INDEX speedtests_task_result ON speedtests (task_result_id);

    -- Every server a test pinged before choosing one, with what was measured.
    CREATE TABLE speedtest_server_pings (
      speedtest_id bigint NOT NULL REFERENCES speedtests (id) ON DELETE CASCADE,
      server_id    integer NOT NULL REFERENCES speedtest_servers (id) ON DELETE CASCADE,
      latency_ms   double precision CHECK (latency_ms >= 0),
      distance_km  double precision CHECK (distance_km >= 0),
      chosen       boolean NOT NULL DEFAULT false,
      PRIMARY KEY (speedtest_id, server_id)
    );
    CREATE INDEX speedtest_server_pings_server ON speedtest_server_pings (server_id);
    CREATE UNIQUE INDEX speedtest_server_pings_one_chosen
      ON speedtest_server_pings (speedtest_id) WHERE chosen;

    CREATE TABLE users (
      id              serial PRIMARY KEY,
      username        text NOT NULL CHECK (username ~ '^[a-z0-9_.@-]{1,64}$'),
      password_hash   text NOT NULL,
      is_admin        boolean NOT NULL DEFAULT false,
      is_active       boolean NOT NULL DEFAULT true,
      failed_logins   integer NOT NULL DEFAULT 0,
      locked_until    timestamptz,
      last_login_at   timestamptz,
      created_at      timestamptz NOT NULL DEFAULT now(),
      updated_at      timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX users_username ON users (username);

    CREATE TABLE api_tokens (
      id           serial PRIMARY KEY,
      user_id      integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
      -- Only a hash of the token is kept; the prefix lets a user recognise it in lists.
      token_hash   text NOT NULL UNIQUE,
      prefix       text NOT NULL,
      expires_at   timestamptz,
      last_used_at timestamptz,
      created_at   timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX api_tokens_user ON api_tokens (user_id);

    CREATE TABLE sessions (
      sid        text PRIMARY KEY,
      data       jsonb NOT NULL,
      user_id    integer REFERENCES users (id) ON DELETE CASCADE,
      expires_at timestamptz NOT NULL
    );
    CREATE INDEX sessions_expires_at ON sessions (expires_at);
  `);
};

export const down: Migration = async ({ context: sql }) => {
  await sql.query(`
    DROP TABLE sessions;
    DROP TABLE api_tokens;
    DROP TABLE users;
    DROP TABLE speedtest_server_pings;
    DROP TABLE speedtests;
    DROP TABLE clients;
    DROP TABLE speedtest_servers;
    DROP TABLE task_results;
    DROP TABLE periodic_tasks;
    DROP FUNCTION notify_periodic_task_change();
  `);
};
