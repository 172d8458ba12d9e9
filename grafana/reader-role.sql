-- The read-only role Grafana's PostgreSQL datasource logs in with. Idempotent: the one-shot
-- `grafana-db-role` container runs it on every start, after the migrations, so a new password
-- or a new table in the list below reaches an existing database too. psql runs it:
--   psql -v ON_ERROR_STOP=1 -v reader=grafana_reader -f reader-role.sql
-- with the password in the environment variable GRAFANA_DB_PASSWORD (never on a command line).
-- Grafana reads the speed test, probe and task tables only: users, tokens and sessions stay out
-- of reach.
\getenv reader_password GRAFANA_DB_PASSWORD
\if :{?reader_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'GRAFANA_DB_PASSWORD is not set'; END $$;
\endif

SELECT format('CREATE ROLE %I LOGIN', :'reader')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'reader') \gexec

ALTER ROLE :"reader" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
  CONNECTION LIMIT 10 PASSWORD :'reader_password';
-- Belt and braces: every transaction of the role is read-only, and no query runs away.
ALTER ROLE :"reader" SET default_transaction_read_only = on;
ALTER ROLE :"reader" SET statement_timeout = '30s';

SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'reader') \gexec
GRANT USAGE ON SCHEMA public TO :"reader";
GRANT SELECT ON speedtests, speedtest_servers, speedtest_server_pings, clients, task_results,
  periodic_tasks, probes, probe_minutes, probe_outages TO :"reader";
