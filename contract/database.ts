// The deployment's PostgreSQL names: the catalogue creates them (the postgres image's POSTGRES_DB
// and POSTGRES_USER), the app connects with them, Grafana's datasource and its read-only role
// (grafana/reader-role.sql) use them.
export const DATABASE_NAME = 'refresher';
export const DATABASE_USER = 'refresher';

/** The read-only role Grafana queries with. */
export const GRAFANA_READER = 'grafana_reader';
/** The grafana container's variable holding that role's password ($__env{…} in provisioning). */
export const GRAFANA_READER_PASSWORD_ENV = 'GRAFANA_DB_PASSWORD';
