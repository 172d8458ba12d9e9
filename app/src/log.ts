// Structured JSON logs (pino): one line per event, machine-readable in `docker logs` and Loki alike.
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Config } from './config.ts';

export type { Logger };

export function createLogger(
  config: Pick<Config, 'LOG_LEVEL'>,
  bindings: Record<string, unknown> = {},
  /** Where lines go; standard output unless told (tests read them back). */
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      level: config.LOG_LEVEL,
      base: { pid: process.pid, ...bindings },
      serializers: { err: errorForLog },
    },
    destination as DestinationStream,
  );
}

// What Sequelize and pg attach to an error: the statement, its bound values and pg's `where` and
// `detail` (which quote values). Values may be personal data; the message and code suffice.
const VALUE_CARRIERS = ['sql', 'parameters', 'detail', 'where', 'parent', 'original', 'errors'];

/** pino's error serializer without the SQL and the values a database error carries. */
export function errorForLog(error: unknown): Record<string, unknown> {
  const serialized = pino.stdSerializers.err(error as Error) as unknown as Record<string, unknown>;
  if (!serialized || typeof serialized !== 'object') return serialized;
  const code = (error as { parent?: { code?: unknown } })?.parent?.code;
  for (const key of VALUE_CARRIERS) delete serialized[key];
  if (typeof code === 'string' && serialized.code === undefined) serialized.code = code;
  if (serialized.cause && typeof serialized.cause === 'object')
    for (const key of VALUE_CARRIERS) delete (serialized.cause as Record<string, unknown>)[key];
  return serialized;
}
