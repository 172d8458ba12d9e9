// One place that turns DATABASE_URL into connections, so that a URL without a user name behaves as
// libpq does (PGUSER, then the operating-system user), and its sslmode and sslrootcert too, for
// Sequelize and node-postgres alike.
import { userInfo } from 'node:os';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import { Sequelize } from 'sequelize';
import { databaseTls, type DatabaseTls } from '../../../contract/database-tls.ts';
import type { Logger } from '../log.ts';
import { explainingClient, pgSsl } from './tls.ts';

export interface ConnectionParts {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  /** The URL's sslmode and sslrootcert, as the connections apply them. */
  tls: DatabaseTls;
  /** false, or node-postgres's TLS options for `tls` (the CA bundle read from its file). */
  ssl: false | ConnectionOptions;
}

export function parseDatabaseUrl(databaseUrl: string): ConnectionParts {
  const url = new URL(databaseUrl);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  const settings = databaseTls(url);
  // The env schema refuses these already; this is for URLs that never went through it.
  if ('problems' in settings) throw new Error(`DATABASE_URL: ${settings.problems.join('; ')}`);
  return {
    host: url.hostname || 'localhost',
    port: url.port ? Number(url.port) : 5432,
    user: decodeURIComponent(url.username) || process.env.PGUSER || userInfo().username,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    database: database || 'refresher',
    tls: settings.tls,
    ssl: pgSsl(settings.tls),
  };
}

export function createSequelize(
  databaseUrl: string,
  options: { log?: Logger; poolMax?: number } = {},
): Sequelize {
  const parts = parseDatabaseUrl(databaseUrl);
  return new Sequelize(parts.database, parts.user, parts.password, {
    host: parts.host,
    port: parts.port,
    dialect: 'postgres',
    // pg itself, but with the Client whose failed connects say which TLS setting to change.
    dialectModule: Object.create(pg, { Client: { value: explainingClient(parts) } }) as typeof pg,
    dialectOptions: parts.ssl ? { ssl: parts.ssl } : {},
    logging: options.log ? (sql: string) => options.log?.trace({ sql }, 'sql') : false,
    pool: { max: options.poolMax ?? 10, min: 0, idle: 10_000, acquire: 30_000 },
    define: { underscored: true, timestamps: false },
  });
}

export function createPgClient(databaseUrl: string, database?: string): pg.Client {
  const parts = parseDatabaseUrl(databaseUrl);
  const Client = explainingClient(parts);
  return new Client({
    host: parts.host,
    port: parts.port,
    user: parts.user,
    password: parts.password,
    database: database ?? parts.database,
    ssl: parts.ssl || undefined,
    application_name: 'refresher',
  });
}

/**
 * Creates the database named in the URL when it does not exist yet. Connects to the server's
 * `postgres` maintenance database for that, which needs the CREATEDB privilege.
 */
export async function ensureDatabase(databaseUrl: string, log?: Logger): Promise<boolean> {
  const { database } = parseDatabaseUrl(databaseUrl);
  const client = createPgClient(databaseUrl, 'postgres');
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount) return false;
    // Identifiers cannot be bound as parameters; quote it the way PostgreSQL does.
    await client.query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`);
    log?.info({ database }, 'created database');
    return true;
  } catch (error) {
    // Another process may have created it between the check and the CREATE.
    if ((error as { code?: string }).code === '42P04') return false;
    throw error;
  } finally {
    await client.end();
  }
}
