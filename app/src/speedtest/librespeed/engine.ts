// The `librespeed` engine: pure TypeScript, no binary, speaking the LibreSpeed HTTP protocol.
//
// - Latency: repeated small GETs of the ping endpoint on a kept-alive connection (the first one,
//   which also opens the connection, is not counted); ping is the median, jitter the mean change
//   between consecutive samples.
// - Throughput: several parallel streams for a fixed time. Bytes are counted as they move, and the
//   figure is the difference between two readings, at the end of the warm-up and at the end, so
//   TCP's slow start and any buffered bytes at the edges do not skew it.
import {
  Agent as HttpAgent,
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { randomUUID } from 'node:crypto';
import { errorCode } from '../../errors.ts';
import {
  SpeedtestError,
  stoppedError,
  type EngineInput,
  type PingedServer,
  type SpeedtestEngine,
  type SpeedtestResult,
} from '../engine.ts';
import type { LibreSpeedServer } from './servers.ts';

const MIB = 1024 * 1024;
/** Per download request; LibreSpeed's own client asks for 100 MiB too. */
const DOWNLOAD_CHUNKS = 100;
/** Per upload request. Large, so a fast link does not spend its time on request overhead. */
const UPLOAD_BODY_BYTES = 32 * MIB;
/** Upload write size: small enough that bytes are counted finely on slow links. */
const UPLOAD_WRITE_BYTES = 64 * 1024;
const PROBE_TIMEOUT_MS = 3_000;
/** A direction with this many failed requests is given up, naming the server. */
const MAX_STREAM_ERRORS = 20;

const UPLOAD_DATA = Buffer.alloc(UPLOAD_WRITE_BYTES, 0x5a);

export interface LibreSpeedOptions {
  /** The candidates: the run's own server URLs, a server list, or the built-in target. */
  candidates(input: EngineInput): Promise<LibreSpeedServer[]>;
  /** True for this deployment's own target: such results are labelled as a self-test. */
  isSelfTest(server: LibreSpeedServer): boolean;
}

interface Transport {
  get(url: URL, signal: AbortSignal): ClientRequest;
  post(url: URL, length: number, signal: AbortSignal): ClientRequest;
  destroy(): void;
}

function transport(base: string, sockets: number): Transport {
  const https = base.startsWith('https:');
  const agent = https
    ? new HttpsAgent({ keepAlive: true, maxSockets: sockets })
    : new HttpAgent({ keepAlive: true, maxSockets: sockets });
  const send = https ? httpsRequest : httpRequest;
  const headers = { 'user-agent': 'refresher-librespeed', 'cache-control': 'no-store' };
  return {
    get: (url, signal) => send(url, { agent, signal, headers }),
    post: (url, length, signal) =>
      send(url, {
        agent,
        signal,
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/octet-stream',
          'content-length': String(length),
        },
      }),
    destroy: () => agent.destroy(),
  };
}

function endpoint(server: LibreSpeedServer, path: string, query: Record<string, string> = {}): URL {
  const url = new URL(path, server.base);
  url.searchParams.set('r', randomUUID());
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  return url;
}

function responseOf(request: ClientRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    request.once('response', resolve);
    request.once('error', reject);
  });
}

/** One small request, timed from send to last byte; rejects on a non-2xx answer. */
async function probe(
  t: Transport,
  url: URL,
  signal: AbortSignal,
): Promise<{ ms: number; body: string }> {
  const started = performance.now();
  const request = t.get(url, AbortSignal.any([signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]));
  request.end();
  const response = await responseOf(request);
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const ms = performance.now() - started;
  if ((response.statusCode ?? 0) >= 300) {
    throw new SpeedtestError(
      'bad-answer',
      `${url.origin}${url.pathname} answered HTTP ${response.statusCode}`,
    );
  }
  return { ms, body: Buffer.concat(chunks).toString('utf8') };
}

async function latency(server: LibreSpeedServer, count: number, signal: AbortSignal) {
  const t = transport(server.base, 1);
  try {
    await probe(t, endpoint(server, server.ping), signal); // opens the connection; not counted
    const samples: number[] = [];
    for (let i = 0; i < count; i++)
      samples.push((await probe(t, endpoint(server, server.ping), signal)).ms);
    const sorted = [...samples].sort((a, b) => a - b);
    const middle = sorted.length / 2;
    const median =
      sorted.length % 2 ? sorted[Math.floor(middle)]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
    const jitter =
      samples.length > 1
        ? samples.slice(1).reduce((sum, sample, i) => sum + Math.abs(sample - samples[i]!), 0) /
          (samples.length - 1)
        : 0;
    return { pingMs: median, jitterMs: jitter, samples };
  } finally {
    t.destroy();
  }
}

interface Measurement {
  bps: number;
  bytes: number;
}

/**
 * Runs `streams` loops of `startRequest` for warm-up plus duration, counting bytes through
 * `count`, and returns the rate between the two readings.
 */
async function measure(
  what: 'download' | 'upload',
  server: LibreSpeedServer,
  input: EngineInput,
  startRequest: (
    t: Transport,
    signal: AbortSignal,
    count: (bytes: number) => void,
  ) => Promise<void>,
): Promise<Measurement> {
  const t = transport(server.base, input.streams);
  const stop = new AbortController();
  const signal = AbortSignal.any([stop.signal, input.signal]);
  let bytes = 0;
  let errors = 0;
  let lastError: Error | undefined;
  const count = (n: number) => (bytes += n);
  const loops = Array.from({ length: input.streams }, async () => {
    while (!signal.aborted) {
      try {
        await startRequest(t, signal, count);
      } catch (error) {
        if (signal.aborted) return;
        lastError = error as Error;
        if (++errors >= MAX_STREAM_ERRORS) stop.abort();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  });
  try {
    const started = performance.now();
    await sleep(input.warmupMs, signal);
    const warm = { at: performance.now(), bytes };
    await sleep(input.durationMs, signal);
    const end = { at: performance.now(), bytes };
    if (input.signal.aborted) throw stoppedError('LibreSpeed', input.signal);
    if (stop.signal.aborted) {
      throw new SpeedtestError(
        'bad-answer',
        `${server.name}: the ${what} failed ${errors} times (last: ${lastError?.message}); giving up`,
        { cause: lastError },
      );
    }
    const moved = end.bytes - warm.bytes;
    if (moved <= 0) {
      throw new SpeedtestError(
        'bad-answer',
        `${server.name} moved no data during the ${what} test${lastError ? ` (${lastError.message})` : ''}`,
      );
    }
    input.log(
      `${what}: ${((moved * 8) / ((end.at - warm.at) / 1000) / 1e6).toFixed(1)} Mbit/s over ${input.streams} streams (${Math.round(end.at - started)} ms)`,
    );
    return { bps: (moved * 8) / ((end.at - warm.at) / 1000), bytes: end.bytes };
  } finally {
    stop.abort();
    await Promise.allSettled(loops);
    t.destroy();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    // An abort that came before (during the address probe, say) fires no event any more.
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

function download(server: LibreSpeedServer, input: EngineInput): Promise<Measurement> {
  return measure('download', server, input, async (t, signal, count) => {
    const request = t.get(
      endpoint(server, server.download, { ckSize: String(DOWNLOAD_CHUNKS) }),
      signal,
    );
    request.end();
    const response = await responseOf(request);
    if (response.statusCode !== 200) {
      response.resume();
      throw new SpeedtestError(
        'bad-answer',
        `the download request answered HTTP ${response.statusCode}`,
      );
    }
    await new Promise<void>((resolve, reject) => {
      response.on('data', (chunk: Buffer) => count(chunk.length));
      response.on('end', resolve);
      response.on('error', reject);
      response.on('aborted', () => reject(new Error('the server closed the download early')));
    });
  });
}

function upload(server: LibreSpeedServer, input: EngineInput): Promise<Measurement> {
  return measure('upload', server, input, async (t, signal, count) => {
    const request = t.post(endpoint(server, server.upload), UPLOAD_BODY_BYTES, signal);
    const answered = responseOf(request);
    // A server that answers mid-body (an error, a limit) ends this request at once.
    const early = answered.then(() => {
      throw new Error('the server answered before the upload ended');
    });
    early.catch(() => undefined);
    let left = UPLOAD_BODY_BYTES;
    // Counted when a write is handed to the socket; backpressure keeps at most one write queued.
    while (left > 0 && !signal.aborted) {
      const size = Math.min(left, UPLOAD_WRITE_BYTES);
      left -= size;
      const flushed = new Promise<void>((resolve, reject) => {
        request.write(UPLOAD_DATA.subarray(0, size), (error) =>
          error ? reject(error) : resolve(),
        );
      });
      await Promise.race([flushed, early]);
      count(size);
    }
    request.end();
    const response = await answered;
    response.resume();
    if ((response.statusCode ?? 0) >= 300) {
      throw new SpeedtestError(
        'bad-answer',
        `the upload request answered HTTP ${response.statusCode}`,
      );
    }
  });
}

/** Nothing answers at that address at all (as opposed to a server that fails mid-test). */
const NO_ROUTE_CODES = ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'];

function isNoRoute(error: unknown): boolean {
  return NO_ROUTE_CODES.includes(errorCode(error) ?? '');
}

export function libreSpeedEngine(options: LibreSpeedOptions): SpeedtestEngine {
  return {
    name: 'librespeed',
    async run(input): Promise<SpeedtestResult> {
      const startedAt = new Date();
      const started = performance.now();
      const candidates = await options.candidates(input);

      // Probe every candidate at once; the lowest latency wins.
      const probes = await Promise.allSettled(
        candidates.map((server) =>
          latency(server, Math.max(3, Math.ceil(input.pings / 3)), input.signal),
        ),
      );
      if (input.signal.aborted) throw stoppedError('LibreSpeed', input.signal);
      const answered = probes.flatMap((p, i) =>
        p.status === 'fulfilled' ? [{ server: candidates[i]!, pingMs: p.value.pingMs }] : [],
      );
      if (!answered.length) {
        const reasons = probes.map(
          (p, i) =>
            `${candidates[i]!.name}: ${p.status === 'rejected' ? (((p.reason as Error).cause as Error)?.message ?? (p.reason as Error).message) : ''}`,
        );
        const allNoRoute = probes.every((p) => p.status === 'rejected' && isNoRoute(p.reason));
        throw new SpeedtestError(
          allNoRoute ? 'no-route' : 'all-servers-failed',
          `${allNoRoute ? 'no route to any speed test server' : 'every speed test server failed'} (${reasons.join('; ')})`,
        );
      }
      const best = answered.reduce((a, b) => (b.pingMs < a.pingMs ? b : a)).server;
      input.log(`chose ${best.name} (${best.base}) of ${candidates.length} candidate(s)`);

      const ping = await latency(best, input.pings, input.signal);
      const t = transport(best.base, 1);
      let clientIp: string | null = null;
      try {
        const { body } = await probe(t, endpoint(best, best.getIp), input.signal);
        try {
          clientIp =
            String((JSON.parse(body) as { processedString?: string }).processedString ?? '').split(
              ' ',
            )[0] || null;
        } catch {
          clientIp = body.trim().split(/\s/)[0] || null;
        }
      } catch (error) {
        input.log(`could not learn the client address: ${(error as Error).message}`, 'warn');
      } finally {
        t.destroy();
      }
      const down = await download(best, input);
      const up = await upload(best, input);

      const pinged: PingedServer[] = candidates.map((server, i) => {
        const p = probes[i]!;
        return {
          server: {
            id: server.id,
            name: server.name,
            sponsor: server.sponsor,
            host: new URL(server.base).host,
            url: server.base,
          },
          latencyMs:
            server === best ? ping.pingMs : p.status === 'fulfilled' ? p.value.pingMs : null,
          chosen: server === best,
        };
      });
      return {
        engine: 'librespeed',
        startedAt,
        downloadBps: down.bps,
        uploadBps: up.bps,
        pingMs: ping.pingMs,
        jitterMs: ping.jitterMs,
        packetLoss: null,
        bytesReceived: down.bytes,
        bytesSent: up.bytes,
        durationMs: performance.now() - started,
        server: pinged.find((p) => p.chosen)!.server,
        pinged,
        client: clientIp ? { ip: clientIp } : null,
        resultUrl: null,
        selfTest: options.isSelfTest(best),
        raw: {
          pingSamplesMs: ping.samples,
          streams: input.streams,
          durationMs: input.durationMs,
          warmupMs: input.warmupMs,
          candidates: candidates.map((c) => c.base),
        },
      };
    },
  };
}
