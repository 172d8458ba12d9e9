// The app's errors that cross its folders, and the one test of "the server cannot be reached right
// now" that the database retries, the scheduler and the worker all ask. The web layer maps these
// to HTTP answers (web/api/route.ts, web/admin/pages.ts); bad input is a ValidationError
// (validation.ts), so every caller can show every field at fault.

/** A row asked for by id does not exist (404 in the API and the portal). */
export class NotFoundError extends Error {
  override name = 'NotFoundError';
}

/** A job or a schedule names a task this process does not have. */
export class UnknownTaskError extends Error {
  override name = 'UnknownTaskError';
}

/** The message every caller gives for a task name that is not registered. */
export function unknownTaskMessage(name: string, known: readonly string[]): string {
  return `unknown task "${name}"; known tasks: ${known.join(', ')}`;
}

/** The system error code of an error, or of the error it wraps (Sequelize's parent, fetch's cause). */
export function errorCode(error: unknown): string | undefined {
  const value = error as {
    code?: unknown;
    parent?: { code?: unknown };
    cause?: { code?: unknown };
  };
  const code = value?.parent?.code ?? value?.code ?? value?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

const CONNECTION_CODES = new Set([
  // The network: refused, reset, closed under us, timed out.
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  // PostgreSQL shutting down or restarting (admin_shutdown, crash_shutdown, cannot_connect_now)
  // and its connection exceptions.
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08003',
  '08006',
]);

const CONNECTION_ERROR_NAMES =
  /^Sequelize(Connection|ConnectionRefused|ConnectionTimedOut|HostNotReachable|HostNotFound|ConnectionAcquireTimeout)Error$/;

// pg and ioredis say some of it only in words (ioredis's errors may carry the code in the message).
const CONNECTION_MESSAGES =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|Connection terminated|connection is closed|Client has encountered a connection error|Stream isn't writeable|max retries per request/i;

/**
 * True for errors that mean "PostgreSQL or Redis cannot be reached right now": worth retrying,
 * and never a fault of the row or job at hand.
 */
export function isConnectionError(error: unknown): boolean {
  const code = errorCode(error);
  return (
    CONNECTION_ERROR_NAMES.test((error as { name?: string })?.name ?? '') ||
    (code !== undefined && CONNECTION_CODES.has(code)) ||
    CONNECTION_MESSAGES.test(String((error as Error)?.message))
  );
}

/** The signed-in user may not do this (403 in the API and the portal). */
export class ForbiddenError extends Error {
  override name = 'ForbiddenError';
}
