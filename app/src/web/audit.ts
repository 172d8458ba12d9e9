// The audit trail: one log line per security event (sign-ins, refused tokens, every change made
// through the API or the portal), with who, from where and the outcome, never a secret. They are
// ordinary pino lines with an `audit` field, so `npm run logs -- web` and Loki can filter on it.
import type { Request, RequestHandler } from 'express';
import type { Logger } from '../log.ts';
import { clientAddress } from './rate-limit.ts';

export { clientAddress };

export type AuditEvent =
  | 'login.succeeded'
  | 'login.failed'
  | 'login.throttled'
  | 'account.guarded'
  | 'token.refused'
  | 'change';

export function audit(
  log: Logger,
  request: Request,
  event: AuditEvent,
  fields: Record<string, unknown> = {},
): void {
  log.info({ audit: event, address: clientAddress(request), ...fields }, `audit: ${event}`);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Logs each state-changing request once it is answered: who, what, and the status it got. */
export function auditWrites(log: Logger): RequestHandler {
  return (request, response, next) => {
    if (SAFE_METHODS.has(request.method)) return next();
    response.once('finish', () => {
      const user = response.locals.user as { id?: number; username?: string } | undefined;
      audit(log, request, 'change', {
        method: request.method,
        path: request.originalUrl.split('?')[0],
        status: response.statusCode,
        userId: user?.id ?? null,
        username: user?.username ?? null,
        via: request.headers.authorization ? 'token' : 'session',
      });
    });
    next();
  };
}
