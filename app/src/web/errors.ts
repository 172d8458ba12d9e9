// What a client is told when a request fails, in every environment: a short message and a status,
// never a stack trace, a file path or a database error. Express's own last-resort handler prints
// the stack whenever NODE_ENV is not "production" (the default `npm start`), so every router ends
// in one of these handlers instead. The details go to the log, one JSON line per error.
import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, Request } from 'express';
import type { Logger } from '../log.ts';

export interface ClientError {
  status: number;
  message: string;
}

/** The body parsers' failures (http-errors with a `type`), in words a client can act on. */
const BODY_ERRORS: Record<string, (error: { limit?: number }) => string> = {
  'entity.parse.failed': () => 'the request body is not valid JSON',
  'entity.too.large': (error) =>
    `the request body is too large${error.limit ? ` (at most ${error.limit} bytes)` : ''}`,
  'entity.verify.failed': () => 'the request body was refused',
  'encoding.unsupported': () => 'unsupported Content-Encoding (send identity, gzip or deflate)',
  'charset.unsupported': () => 'unsupported charset (send UTF-8)',
  'request.aborted': () => 'the request body ended early',
  'request.size.invalid': () => 'the request body is not as long as its Content-Length',
  'stream.encoding.set': () => 'the request body could not be read',
  'stream.not.readable': () => 'the request body could not be read',
  'parameters.too.many': () => 'too many form fields',
};

/**
 * The 4xx an error stands for (a body that does not parse, is too large or is compressed wrongly),
 * or undefined for a failure of the server, which the client is told nothing about.
 */
export function clientErrorOf(error: unknown): ClientError | undefined {
  const value = error as { status?: unknown; statusCode?: unknown; type?: unknown };
  const status = Number(value?.status ?? value?.statusCode);
  if (!Number.isInteger(status) || status < 400 || status > 499) return undefined;
  const describe = typeof value.type === 'string' ? BODY_ERRORS[value.type] : undefined;
  // A 4xx without a known type (a zlib error inside the urlencoded parser, say) is still the
  // request's fault, but its message is not ours to repeat.
  return {
    status,
    message: describe ? describe(error as { limit?: number }) : 'the request could not be read',
  };
}

/** Logs a server-side failure as one line, and returns the id that the client is shown. */
export function logServerError(log: Logger, error: unknown, request: Request): string {
  const errorId = randomUUID();
  log.error(
    { err: error, errorId, method: request.method, path: request.originalUrl.split('?')[0] },
    'request failed',
  );
  return errorId;
}

/** The API's error answers, and the last handler of the app: JSON, `{ error }` (+ `errorId`). */
export function jsonErrors(log: Logger): ErrorRequestHandler {
  return (error, request, response, next) => {
    if (response.headersSent) {
      // Too late for an answer: end the connection, and keep the reason.
      logServerError(log, error, request);
      return next(error);
    }
    const known = clientErrorOf(error);
    if (known) {
      response.status(known.status).json({ error: known.message });
      return;
    }
    const errorId = logServerError(log, error, request);
    response.status(500).json({ error: 'internal error; it is in the server log', errorId });
  };
}
