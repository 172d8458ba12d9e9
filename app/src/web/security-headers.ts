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

export function securityHeaders(): RequestHandler {
  return helmet({ contentSecurityPolicy: { useDefaults: false, directives } });
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
