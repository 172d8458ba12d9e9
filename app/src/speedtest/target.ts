// The built-in speed test target: the LibreSpeed backend endpoints, served by the web role, so a
// user can measure between any client and the deployed VM, and the worker can measure with no
// external server at all (a self-test). Both the plain names and LibreSpeed's `.php` names answer,
// so LibreSpeed's own browser client and server lists work against it unchanged.
//
// Anyone who can reach it can make the VM send bytes, and a cloud VM's egress is billed, so every
// client address is held to three limits (target-limits.ts): requests per minute, transfers open
// at once, and bytes per minute, counted as they flow. Networks in `unlimitedCidrs` (loopback, and
// in the deployment the containers' own network, where the worker's self-test comes from) are
// exempt from all three, so self-tests and the benches measure at full speed.
import { randomBytes } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { clientAddress, perMinute } from '../web/rate-limit.ts';
import {
  ClientLimits,
  clientKey,
  listed,
  networkList,
  UNMETERED,
  type Meter,
} from './target-limits.ts';

const MIB = 1024 * 1024;
/** LibreSpeed's own default download size per request, in MiB. */
const DEFAULT_CHUNKS = 100;
const MAX_CHUNKS = 1024;
/** Upload bodies beyond this are cut off: no honest test needs more per request. */
const MAX_UPLOAD_BYTES = 256 * MIB;

/**
 * The defaults of the limits, the same as the environment's (contract/env.ts; a test checks):
 * - 8 transfers at once: LibreSpeed's browser client opens up to 6 download streams (3 upload),
 *   the librespeed engine SPEEDTEST_STREAMS (6); the 2 more cover one direction's streams that
 *   are still closing on this side when the next direction's streams open.
 * - 4096 MiB per minute: one honest test at 1 Gbit/s (125 MB/s) fits. LibreSpeed's browser client
 *   measures up to 15 s each way, 30 s x 125 MB/s = 3.5 GiB; the engine's default test, 2 s
 *   warm-up + 10 s each way, 2.8 GiB. The bucket refills while the test runs, so there is room.
 * - Exempt: loopback, where `npm start`, `all` and the tests measure the target.
 */
export const TARGET_DEFAULTS = {
  maxStreams: 8,
  mibPerMinute: 4096,
  unlimitedCidrs: ['127.0.0.0/8', '::1/128'],
} as const;

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

/**
 * Ends a download short: the socket sends what was written (every byte of it was counted), then
 * closes its side. A client that does not close its own side in a few seconds is cut hard.
 */
function cutOff(response: Response): void {
  const socket = response.socket;
  if (!socket) return void response.destroy();
  socket.end();
  setTimeout(() => response.destroy(), 5_000).unref();
}

function sendGarbage(request: Request, response: Response, meter: Meter): void {
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
      const granted = meter.take(chunk.length);
      if (granted < chunk.length) {
        // The budget ran out: what is left of it, then the connection is closed. Content-Length
        // promised more, so the client sees a cut transfer, not a short complete one.
        left = 0;
        if (granted > 0) response.write(chunk.subarray(0, granted));
        cutOff(response);
        return;
      }
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

function swallow(request: Request, response: Response, meter: Meter): void {
  let received = 0;
  let cut = false;
  request.on('data', (data: Buffer) => {
    if (cut) return;
    received += data.length;
    if (received > MAX_UPLOAD_BYTES) {
      cut = true;
      request.destroy();
    } else if (meter.take(data.length) < data.length) {
      // The budget ran out: stop reading (TCP backpressure holds the sender) and say why; the
      // connection is closed once the answer is out (see speedtestTarget).
      cut = true;
      request.pause();
      noStore(response);
      response.status(429).json({
        error: 'this address has used its speed test budget; the upload was cut off',
      });
    }
  });
  request.on('end', () => {
    if (cut) return;
    noStore(response);
    response.status(200).end();
  });
}

export interface TargetOptions {
  /** Requests per minute from one client address before it is answered 429. */
  rateLimitPerMinute: number;
  /** Garbage and empty transfers one client address may have open at once; more get 429. */
  maxStreams?: number;
  /** MiB (download plus upload) one client address may move per minute; past it, cut off. */
  mibPerMinute?: number;
  /** Client networks (CIDRs) exempt from every limit; `[]`: none. */
  unlimitedCidrs?: readonly string[];
}

export function speedtestTarget(options: TargetOptions): Router {
  const maxStreams = options.maxStreams ?? TARGET_DEFAULTS.maxStreams;
  const mibPerMinute = options.mibPerMinute ?? TARGET_DEFAULTS.mibPerMinute;
  const unlimited = networkList(options.unlimitedCidrs ?? TARGET_DEFAULTS.unlimitedCidrs);
  const limits = new ClientLimits({ maxStreams, bytesPerMinute: mibPerMinute * MIB });
  const isUnlimited = (request: Request) => listed(unlimited, clientAddress(request));

  const rateLimit = perMinute(
    options.rateLimitPerMinute,
    'too many speed test requests from this address; try again in a minute',
  );
  const router = Router();
  router.use((request, response, next) => {
    // An answer sent before the body was read to its end (a 429, a cut upload) closes the
    // connection: otherwise Node would read and discard the rest of the body, unmetered.
    response.once('finish', () => {
      if (!request.complete) request.destroy();
    });
    return isUnlimited(request) ? next() : rateLimit(request, response, next);
  });

  /** Runs `handler` with the client's meter, or answers 429 when the client is at a limit. */
  const metered =
    (handler: (request: Request, response: Response, meter: Meter) => void) =>
    (request: Request, response: Response) => {
      if (isUnlimited(request)) return handler(request, response, UNMETERED);
      const admission = limits.admit(clientKey(clientAddress(request)));
      if (!admission.ok) {
        response.set('retry-after', String(admission.retryAfterSeconds));
        noStore(response);
        response.status(429).json({
          error:
            admission.reason === 'streams'
              ? `too many simultaneous speed test transfers from this address (at most ${maxStreams})`
              : `this address has used its speed test budget (${mibPerMinute} MiB per minute); try again in ${admission.retryAfterSeconds} s`,
        });
        return;
      }
      response.on('close', admission.release);
      handler(request, response, admission.meter);
    };

  router.get(['/garbage', '/garbage.php'], metered(sendGarbage));
  router.all(['/empty', '/empty.php'], metered(swallow));
  router.get(['/getIP', '/getIP.php'], (request, response) => {
    noStore(response);
    const ip = clientAddress(request);
    // LibreSpeed's shape; ISP lookups need a third-party database, which this target has not.
    response.json({ processedString: ip, rawIspInfo: '' });
  });
  return router;
}
