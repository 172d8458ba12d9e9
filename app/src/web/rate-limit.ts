// Per-address limits over a one-minute window, answered with the standard RateLimit headers.
import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';

export function perMinute(limit: number, error?: string): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    ...(error ? { message: { error } } : {}),
  });
}
