// The `librespeed` engine: pure TypeScript, no binary, speaking the LibreSpeed HTTP protocol.
//
// - Latency: repeated small GETs of the ping endpoint on a kept-alive connection (the first one,
//   which also opens the connection, is not counted); ping is the median, jitter the mean change
//   between consecutive samples.
// - Throughput: several parallel streams for a fixed time. Bytes are counted as they move, and the
//   figure is the difference between two readings, at the end of the warm-up and at the end, so
//   TCP's slow start and any buffered bytes at the edges do not skew it.
// - Latency under load (bufferbloat): while each direction's measured part runs, the same ping
//   requests go every 200 ms over a connection of their own, opened before the load started (so
//   its handshake is not timed through the full queue). Their median is the loaded latency, and
//   its distance from the idle ping is what the bufferbloat grade reads.
// - Source: every socket binds to the schedule's source address (or its interface's) and
//   connects over its IP family; the result records the address and family really used.
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
  type IpFamily,
  type LoadedLatency,
  type PingedServer,
  type SpeedtestEngine,
  type SpeedtestResult,
} from '../engine.ts';
import { assertReachableFamily, socketSource, type SocketSource } from '../source.ts';
import type { LibreSpeedServer } from './servers.ts';

const MIB = 1024 * 1024;
/** Per download request; LibreSpeed's own client asks for 100 MiB too. */
const DOWNLOAD_CHUNKS = 100;
/** Per upload request. Large, so a fast link does not spend its time on request overhead. */
const UPLOAD_BODY_BYTES = 32 * MIB;
/** Upload write size: small enough that bytes are counted finely on slow links. */
const UPLOAD_WRITE_BYTES = 64 * 1024;
const PROBE_TIMEOUT_MS = 3_000;
/** Loaded-latency probes start this far apart (or when the previous one answers, if later). */
const LOADED_PROBE_PERIOD_MS = 200;
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

function transport(base: string, sockets: number, source: SocketSource): Transport {
  const https = base.startsWith('https:');
  const agent = https
    ? new HttpsAgent({ keepAlive: true, maxSockets: sockets })
    : new HttpAgent({ keepAlive: true, maxSockets: sockets });
  const send = https ? httpsRequest : httpRequest;
  const headers = { 'user-agent': 'refresher-librespeed', 'cache-control': 'no-store' };
  return {
    get: (url, signal) => send(url, { agent, signal, headers, ...source }),
    post: (url, length, signal) =>
      send(url, {
        agent,
        signal,
        ...source,
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

interface Probe {
  ms: number;
  body: string;
  /** The connection's own ends, as the operating system chose or was told. */
  localAddress: string | null;
  family: IpFamily | null;
}

/** One small request, timed from send to last byte; rejects on a non-2xx answer. */
async function probe(t: Transport, url: URL, signal: AbortSignal): Promise<Probe> {
  const started = performance.now();
  const request = t.get(url, AbortSignal.any([signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]));
  request.end();
  const response = await responseOf(request);
  // Read now: once the body has been read, the socket goes back to the agent and is detached.
  const socket = response.socket;
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const ms = performance.now() - started;
  if ((response.statusCode ?? 0) >= 300) {
    throw new SpeedtestError(
      'bad-answer',
      `${url.origin}${url.pathname} answered HTTP ${response.statusCode}`,
    );
  }
  return {
    ms,
    body: Buffer.concat(chunks).toString('utf8'),
    localAddress: socket?.localAddress ?? null,
    family: socket?.remoteFamily === 'IPv6' ? 6 : socket?.remoteFamily === 'IPv4' ? 4 : null,
  };
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return sorted.length % 2
    ? sorted[Math.floor(middle)]!
    : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** LibreSpeed's jitter: the mean absolute change between consecutive samples. */
function jitter(samples: number[]): number {
  return samples.length > 1
    ? samples.slice(1).reduce((sum, sample, i) => sum + Math.abs(sample - samples[i]!), 0) /
        (samples.length - 1)
    : 0;
}

/** A name that does not resolve in the family asked for reads as that, not as "not found". */
const NO_ADDRESS_CODES = ['ENOTFOUND', 'EAI_NODATA', 'EAI_ADDRFAMILY'];

async function latency(
  server: LibreSpeedServer,
  count: number,
  signal: AbortSignal,
  source: SocketSource,
) {
  const host = new URL(server.base).hostname;
  assertReachableFamily(host, source, server.name);
  const t = transport(server.base, 1, source);
  try {
    let opened: Probe;
    try {
      opened = await probe(t, endpoint(server, server.ping), signal); // opens the connection; not counted
    } catch (error) {
      if (source.family && NO_ADDRESS_CODES.includes(errorCode(error) ?? '')) {
        throw new SpeedtestError(
          'bad-source',
          `${host} has no IPv${source.family} address (the schedule asks for IPv${source.family})`,
          { cause: error },
        );
      }
      throw error;
    }
    const samples: number[] = [];
    for (let i = 0; i < count; i++)
      samples.push((await probe(t, endpoint(server, server.ping), signal)).ms);
    return {
      pingMs: median(samples),
      jitterMs: jitter(samples),
      samples,
      localAddress: opened.localAddress,
      family: opened.family,
    };
  } finally {
    t.destroy();
  }
}

/**
 * Pings on a connection of its own: opened now (on an idle link), sampling between start() and
 * stop(). A probe that fails or takes longer than PROBE_TIMEOUT_MS is counted as lost.
 */
async function loadedLatencySampler(
  server: LibreSpeedServer,
  signal: AbortSignal,
  source: SocketSource,
) {
  const t = transport(server.base, 1, source);
  const samples: number[] = [];
  let lost = 0;
  const stop = new AbortController();
  const sampling = AbortSignal.any([signal, stop.signal]);
  let loop: Promise<void> = Promise.resolve();
  try {
    await probe(t, endpoint(server, server.ping), signal);
  } catch {
    // Without its own connection the direction is measured without loaded latency.
    t.destroy();
    return null;
  }
  return {
    start() {
      loop = (async () => {
        while (!sampling.aborted) {
          const started = performance.now();
          try {
            samples.push((await probe(t, endpoint(server, server.ping), sampling)).ms);
          } catch {
            if (sampling.aborted) return;
            lost++;
          }
          await sleep(
            Math.max(0, LOADED_PROBE_PERIOD_MS - (performance.now() - started)),
            sampling,
          );
        }
      })();
    },
    /** The figures, and the samples for `raw`; null figures when no probe answered. */
    async stop(): Promise<{ latency: LoadedLatency | null; samples: number[]; lost: number }> {
      stop.abort();
      await loop;
      t.destroy();
      return {
        latency: samples.length
          ? { latencyMs: median(samples), jitterMs: samples.length > 1 ? jitter(samples) : null }
          : null,
        samples,
        lost,
      };
    },
  };
}

interface Measurement {
  bps: number;
  bytes: number;
  loaded: { latency: LoadedLatency | null; samples: number[]; lost: number } | null;
  /** The measured window (after the warm-up), in Unix milliseconds: what the figures cover. */
  window: { from: number; to: number };
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
  const source = socketSource(input.source);
  const sampler = await loadedLatencySampler(server, input.signal, source);
  const t = transport(server.base, input.streams, source);
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
    const from = Date.now();
    sampler?.start();
    await sleep(input.durationMs, signal);
    const end = { at: performance.now(), bytes };
    const loaded = (await sampler?.stop()) ?? null;
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
    const loadedText = loaded?.latency
      ? `, latency ${loaded.latency.latencyMs.toFixed(1)} ms over ${loaded.samples.length} probes`
      : '';
    input.log(
      `${what}: ${((moved * 8) / ((end.at - warm.at) / 1000) / 1e6).toFixed(1)} Mbit/s over ${input.streams} streams (${Math.round(end.at - started)} ms)${loadedText}`,
    );
    return {
      bps: (moved * 8) / ((end.at - warm.at) / 1000),
      bytes: end.bytes,
      loaded,
      window: { from, to: Date.now() },
    };
  } finally {
    stop.abort();
    await sampler?.stop();
    await Promise.allSettled(loops);
    t.destroy();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    // An abort that came before (during the address probe, say) fires no event any more.
    if (signal.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    // The listener goes when the time is up: the loaded-latency sampler sleeps every 200 ms on
    // one signal, and listeners left behind would pile up on it.
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
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
      // A wrong source is the schedule's fault, not any server's: said before anything connects.
      const source = socketSource(input.source);
      const candidates = await options.candidates(input);

      // Probe every candidate at once; the lowest latency wins.
      const probes = await Promise.allSettled(
        candidates.map((server) =>
          latency(server, Math.max(3, Math.ceil(input.pings / 3)), input.signal, source),
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
        const allSource = probes.every(
          (p) =>
            p.status === 'rejected' &&
            p.reason instanceof SpeedtestError &&
            p.reason.kind === 'bad-source',
        );
        if (allSource) throw (probes[0] as PromiseRejectedResult).reason as SpeedtestError;
        throw new SpeedtestError(
          allNoRoute ? 'no-route' : 'all-servers-failed',
          `${allNoRoute ? 'no route to any speed test server' : 'every speed test server failed'} (${reasons.join('; ')})`,
        );
      }
      const best = answered.reduce((a, b) => (b.pingMs < a.pingMs ? b : a)).server;
      input.log(`chose ${best.name} (${best.base}) of ${candidates.length} candidate(s)`);

      const pingFrom = Date.now();
      const ping = await latency(best, input.pings, input.signal, source);
      const pingWindow = { from: pingFrom, to: Date.now() };
      const t = transport(best.base, 1, source);
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
        downloadLatency: down.loaded?.latency ?? null,
        uploadLatency: up.loaded?.latency ?? null,
        source: {
          address: ping.localAddress,
          interface: input.source?.interface ?? null,
          family: ping.family,
        },
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
          pingWindow,
          loadedLatency: {
            periodMs: LOADED_PROBE_PERIOD_MS,
            downloadWindow: down.window,
            downloadSamplesMs: down.loaded?.samples ?? [],
            downloadLost: down.loaded?.lost ?? null,
            uploadWindow: up.window,
            uploadSamplesMs: up.loaded?.samples ?? [],
            uploadLost: up.loaded?.lost ?? null,
          },
          streams: input.streams,
          durationMs: input.durationMs,
          warmupMs: input.warmupMs,
          candidates: candidates.map((c) => c.base),
        },
      };
    },
  };
}
