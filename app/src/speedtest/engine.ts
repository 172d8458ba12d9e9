// What every speed test engine takes and gives. Units are fixed here once: bits per second for
// throughput, milliseconds for time, kilometres for distance, percent for packet loss.

export interface SpeedtestServer {
  /** The engine's own id for the server (Ookla's numeric id, a LibreSpeed list id or URL). */
  id: string;
  name: string;
  sponsor?: string | null;
  host?: string | null;
  url?: string | null;
  country?: string | null;
  /** ISO 3166-1 alpha-2, upper case. */
  countryCode?: string | null;
  lat?: number | null;
  lon?: number | null;
  /** From the client, when both positions are known. */
  distanceKm?: number | null;
}

export interface PingedServer {
  server: SpeedtestServer;
  /** Null when the server did not answer the latency probe. */
  latencyMs: number | null;
  chosen: boolean;
}

export interface SpeedtestClient {
  ip: string;
  isp?: string | null;
  countryCode?: string | null;
  lat?: number | null;
  lon?: number | null;
}

/** Round trips measured on a connection of their own while one direction saturates the link. */
export interface LoadedLatency {
  /** Median round trip. */
  latencyMs: number;
  /** Mean change between consecutive samples; null when the engine reports none. */
  jitterMs: number | null;
}

export type IpFamily = 4 | 6;

/** Where a test's connections start from. */
export interface SourceSelection {
  /** A local address to bind every socket to. */
  sourceAddress: string | null;
  /** A network interface whose address the sockets bind to. */
  interface: string | null;
  /** The IP family to connect over; null: whichever the server's name resolves to first. */
  family: IpFamily | null;
}

export interface SpeedtestResult {
  engine: string;
  startedAt: Date;
  downloadBps: number;
  uploadBps: number;
  pingMs: number;
  jitterMs: number | null;
  packetLoss: number | null;
  /** Latency while downloading and while uploading (bufferbloat); null when not measured. */
  downloadLatency: LoadedLatency | null;
  uploadLatency: LoadedLatency | null;
  /** What the test actually used: the local address, the interface asked for, the family. */
  source: { address: string | null; interface: string | null; family: IpFamily | null };
  bytesReceived: number;
  bytesSent: number;
  durationMs: number;
  server: SpeedtestServer;
  /** Every candidate that was probed, the chosen one marked. */
  pinged: PingedServer[];
  client: SpeedtestClient | null;
  resultUrl: string | null;
  /** True when measured against this deployment's own built-in target. */
  selfTest: boolean;
  /** What the engine itself reported, kept for later questions. */
  raw: unknown;
}

export interface EngineInput {
  /** Server ids (Ookla) or base URLs (LibreSpeed) to choose from; empty: the engine's default. */
  servers: string[];
  /** Parallel connections for download and upload. */
  streams: number;
  /** Measured time per direction, after the warm-up. */
  durationMs: number;
  /** Time per direction excluded from the figures while TCP ramps up. */
  warmupMs: number;
  /** Latency probes per candidate server. */
  pings: number;
  /** Where the sockets start from; absent or all null: the operating system chooses. */
  source?: SourceSelection;
  signal: AbortSignal;
  log(message: string, level?: 'info' | 'warn' | 'error'): void;
}

export interface SpeedtestEngine {
  readonly name: string;
  run(input: EngineInput): Promise<SpeedtestResult>;
}

/** The failures a user meets, each with a message that says what to do. */
export type SpeedtestErrorKind =
  | 'binary-missing'
  | 'licence-not-accepted'
  | 'no-route'
  | 'server-list'
  | 'all-servers-failed'
  | 'timeout'
  | 'bad-answer'
  | 'bad-source'
  | 'engine-failed';

export class SpeedtestError extends Error {
  override name = 'SpeedtestError';
  readonly kind: SpeedtestErrorKind;

  constructor(kind: SpeedtestErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

/** The error of a run stopped by its signal (the task's timeout, a shutdown, Ctrl-C). */
export function stoppedError(engine: string, signal: AbortSignal, cause?: unknown): SpeedtestError {
  const reason: unknown = signal.reason;
  const why = reason instanceof Error ? reason.message : String(reason);
  return new SpeedtestError(
    'timeout',
    `the ${engine} speed test was stopped before it finished: ${why}`,
    {
      cause: cause ?? reason,
    },
  );
}

/** Great-circle distance (haversine), for ordering candidate servers by proximity. */
export function distanceKm(
  a: { lat: number; lon: number },
  b: { lat: number; lon: number },
): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h =
    Math.sin(dLat / 2) ** 2 +
    Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(h)));
}
