// The built-in speed test target: the LibreSpeed backend endpoints, served by the web role, so a
// user can measure between any client and the deployed VM, and the worker can measure with no
// external server at all (a self-test). Both the plain names and LibreSpeed's `.php` names answer,
// so LibreSpeed's own browser client and server lists work against it unchanged.
import { randomBytes } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { perMinute } from '../web/rate-limit.ts';

const MIB = 1024 * 1024;
/** LibreSpeed's own default download size per request, in MiB. */
const DEFAULT_CHUNKS = 100;
const MAX_CHUNKS = 1024;
/** Upload bodies beyond this are cut off: no honest test needs more per request. */
const MAX_UPLOAD_BYTES = 256 * MIB;

// Random, so nothing on the path can compress it; generated once, since sending the same random
// mebibyte again costs nothing while generating fresh bytes would cost a core at Gbit/s.
let garbage: Buffer | undefined;
const garbageChunk = () => (garbage ??= randomBytes(MIB));

function noStore(response: Response): void {
  response.set({
    'cache-control': 'no-store, no-cache, must-revalidate, max-age=0',
    pragma: 'no-cache',
  });
}

function sendGarbage(request: Request, response: Response): void {
  const requested = Number(request.query.ckSize ?? DEFAULT_CHUNKS);
  const chunks =
    Number.isInteger(requested) && requested > 0 ? Math.min(requested, MAX_CHUNKS) : DEFAULT_CHUNKS;
  noStore(response);
  response.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': String(chunks * MIB),
    'content-disposition': 'attachment; filename=random.dat',
  });
  const chunk = garbageChunk();
  let left = chunks;
  const pump = () => {
    while (left > 0) {
      left--;
      // Respect backpressure: a slow client must not make us buffer 100 MiB.
      if (!response.write(chunk)) {
        response.once('drain', pump);
        return;
      }
    }
    response.end();
  };
  response.on('close', () => (left = 0));
  pump();
}

function swallow(request: Request, response: Response): void {
  let received = 0;
  request.on('data', (data: Buffer) => {
    received += data.length;
    if (received > MAX_UPLOAD_BYTES) request.destroy();
  });
  request.on('end', () => {
    noStore(response);
    response.status(200).end();
  });
}

function clientIp(request: Request): string {
  return (request.ip ?? request.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

export interface TargetOptions {
  /** Requests per minute from one client address before it is answered 429. */
  rateLimitPerMinute: number;
}

export function speedtestTarget(options: TargetOptions): Router {
  const router = Router();
  router.use(
    perMinute(
      options.rateLimitPerMinute,
      'too many speed test requests from this address; try again in a minute',
    ),
  );
  router.get(['/garbage', '/garbage.php'], sendGarbage);
  router.all(['/empty', '/empty.php'], swallow);
  router.get(['/getIP', '/getIP.php'], (request, response) => {
    noStore(response);
    const ip = clientIp(request);
    // LibreSpeed's shape; ISP lookups need a third-party database, which this target has not.
    response.json({ processedString: ip, rawIspInfo: '' });
  });
  return router;
}
