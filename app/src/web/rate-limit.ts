// Per-address limits over a one-minute window, answered with the standard RateLimit headers.
import type { Request, RequestHandler } from 'express';
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

/** An address as Express reports it, without the IPv4-mapped prefix or an IPv6 zone. */
export function unmapped(address: string): string {
  const bare = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  return mapped ? mapped[1]! : bare;
}

/**
 * The client's address as the app sees it: behind SWAG, the X-Forwarded-For the trusted proxy set
 * (TRUST_PROXY), unmapped.
 */
export function clientAddress(request: Request): string {
  return unmapped(request.ip ?? request.socket.remoteAddress ?? '');
}
