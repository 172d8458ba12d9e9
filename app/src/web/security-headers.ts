// Security headers for every answer (helmet), with a strict Content-Security-Policy: scripts,
// styles, fonts and connections only from this site, no inline script, no framing. Pages keep
// their data in JSON blocks and their behaviour in files under /admin/assets.
import helmet from 'helmet';
import type { RequestHandler } from 'express';

const directives = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  fontSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  frameAncestors: ["'none'"],
  formAction: ["'self'"],
};

/**
 * HSTS only on answers that went over TLS (directly or through the trusted proxy): over plain
 * HTTP a browser ignores it (RFC 6797 §8.1), and sending it there only misleads whoever reads it.
 */
const hsts = helmet.strictTransportSecurity();

export function securityHeaders(): RequestHandler {
  const others = helmet({
    contentSecurityPolicy: { useDefaults: false, directives },
    strictTransportSecurity: false,
  });
  return (request, response, next) =>
    others(request, response, (error?: unknown) => {
      if (error || !request.secure) return next(error);
      hsts(request, response, next);
    });
}

/**
 * The queue board (a third-party single-page app) sets inline style attributes; only its pages
 * get 'unsafe-inline' for styles. Scripts stay 'self' only.
 */
export function queueBoardPolicy(): RequestHandler {
  return helmet.contentSecurityPolicy({
    useDefaults: false,
    directives: { ...directives, styleSrc: ["'self'", "'unsafe-inline'"] },
  });
}

/**
 * What a signed-in user sees is theirs: neither a cache on the way nor the browser's may keep it
 * (API answers, portal pages, the sign-in form with its CSRF token). Static assets are cached.
 */
export const noStore: RequestHandler = (_request, response, next) => {
  response.set('cache-control', 'no-store');
  next();
};
