// TLS to PostgreSQL as libpq's sslmode means it (contract/database-tls.ts), for every connection the
// app makes: the Sequelize pool, the scheduler's LISTEN client, the migration lock and
// ensureDatabase all get their pg.Client from here, so none can connect in the clear, or check
// less, than the URL says. A refused handshake is reworded to name the parameter to change.
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import type { DatabaseTls } from '../../../contract/database-tls.ts';
import { isCertificateError, isNameMismatch, readCaBundle } from '../tls.ts';

/** node-postgres's `ssl` option for the URL's settings; false: no TLS at all. */
export function pgSsl(tls: DatabaseTls): false | ConnectionOptions {
  if (tls.mode === 'disable') return false;
  if (tls.mode === 'require') return { rejectUnauthorized: false };
  // Without a CA file Node's built-in roots apply, as for any HTTPS request it makes.
  const ca = tls.rootCertFile ? readCaBundle(tls.rootCertFile) : undefined;
  if (tls.mode === 'verify-ca') {
    // The chain is still checked (rejectUnauthorized); only the name is not.
    return { rejectUnauthorized: true, ca, checkServerIdentity: () => undefined };
  }
  return { rejectUnauthorized: true, ca };
}

/** A connection refused for a TLS reason, said in DATABASE_URL's terms. */
export class DatabaseTlsError extends Error {
  override name = 'DatabaseTlsError';
  readonly code: string | undefined;

  constructor(message: string, cause: Error) {
    super(message, { cause });
    // Callers that sort errors by code (errors.ts, Sequelize) see what they saw before.
    this.code = (cause as { code?: string }).code;
  }
}

export interface PgTarget {
  host: string;
  port: number;
  tls: DatabaseTls;
}

/** The error to report for a failed connect: reworded when TLS is the reason, else as it was. */
export function explainConnectError(error: Error, target: PgTarget): Error {
  const where = `PostgreSQL at ${target.host}:${target.port}`;
  const { mode, rootCertFile } = target.tls;
  const code = (error as { code?: string }).code;
  if (mode === 'disable') {
    // 28000 invalid_authorization_specification: pg_hba.conf has only hostssl lines for us.
    if (code === '28000' && /no encryption|SSL/i.test(error.message)) {
      return new DatabaseTlsError(
        `${where} refuses connections without TLS, and DATABASE_URL asks for none (sslmode missing or disable): add sslmode=verify-full (or require) to it (server said: ${error.message})`,
        error,
      );
    }
    return error;
  }
  if (error.message === 'The server does not support SSL connections') {
    return new DatabaseTlsError(
      `${where} does not offer TLS, which sslmode=${mode} in DATABASE_URL requires`,
      error,
    );
  }
  if (isNameMismatch(error)) {
    return new DatabaseTlsError(
      `${where}: its certificate is not for "${target.host}", and sslmode=verify-full checks the name (${error.message}); connect by a name the certificate lists, or use sslmode=verify-ca`,
      error,
    );
  }
  if (isCertificateError(error)) {
    const against = rootCertFile
      ? `sslrootcert=${rootCertFile}`
      : "Node's built-in root CAs (no sslrootcert in DATABASE_URL)";
    return new DatabaseTlsError(
      `${where}: its certificate is not trusted under sslmode=${mode}, checked against ${against}: ${error.message}`,
      error,
    );
  }
  return error;
}

type ConnectCallback = (error: Error | null | undefined) => void;

/** pg.Client whose failed connect reports a TLS reason in DATABASE_URL's terms. */
export function explainingClient(target: PgTarget): typeof pg.Client {
  return class ExplainingClient extends pg.Client {
    override connect(): Promise<pg.Client>;
    override connect(callback: (err: Error) => void): void;
    override connect(callback?: (err: Error) => void): Promise<pg.Client> | void {
      const explain = (error: Error) => explainConnectError(error, target);
      if (!callback) {
        return super.connect().catch((error: Error) => {
          throw explain(error);
        });
      }
      // Sequelize connects with a callback; it wraps what it gets and keeps the message.
      const forward: ConnectCallback = (error) =>
        (callback as ConnectCallback)(error ? explain(error) : error);
      super.connect(forward as (err: Error) => void);
    }
  };
}
