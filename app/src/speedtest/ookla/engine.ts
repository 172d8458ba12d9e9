// The `ookla` engine: the speedtest-net package driving the official Ookla `speedtest` CLI.
//
// - Nothing is downloaded at run time. speedtest-net fetches a CLI from the internet when it is
//   not given `binary`, so the engine always passes OOKLA_SPEEDTEST_BIN and refuses to run
//   without it (the image installs a pinned, checksum-verified CLI).
// - The licence and GDPR terms are Ookla's to set and the operator's to accept: the flags are
//   passed only when OOKLA_ACCEPT_LICENSE=true.
// - speedtest-net (and its download machinery) is imported inside run(), so the web and scheduler
//   roles, which never measure, never load it.
// - The CLI chooses its server itself and ignores the run's streams and durations; the server
//   list API adds the candidates' coordinates, which the CLI does not report.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { delimiter, join } from 'node:path';
import type { SpeedTestEvent } from 'speedtest-net';
import { z } from 'zod';
import type { Config } from '../../config.ts';
import {
  SpeedtestError,
  stoppedError,
  type EngineInput,
  type PingedServer,
  type SpeedtestEngine,
  type SpeedtestResult,
  type SpeedtestServer,
} from '../engine.ts';
import { socketSource } from '../source.ts';
import { fetchOoklaServers, serverIdSchema } from './server-list.ts';
import '../../zod-words.ts';

export type OoklaConfig = Pick<
  Config,
  'OOKLA_SPEEDTEST_BIN' | 'OOKLA_ACCEPT_LICENSE' | 'OOKLA_SERVER_LIST_URL'
>;

export interface OoklaOptions {
  /** How long the server-list API may take; 10 s by default. */
  serverListTimeoutMs?: number;
  /**
   * Where `ps` is looked for (see requirePs). By default PATH, which is where tree-kill's spawn()
   * will look: the operating system's setting, not the app's configuration.
   */
  searchPath?: string;
}

const transfer = z.object({
  /** Bytes per second, not bits: the CLI's machine-readable formats always use bytes. */
  bandwidth: z.number().nonnegative(),
  bytes: z.number().nonnegative(),
  elapsed: z.number().nonnegative(),
  /** Latency during this direction (CLI 1.2+): interquartile mean and jitter, milliseconds. */
  latency: z
    .object({ iqm: z.number().nonnegative(), jitter: z.number().nonnegative().nullish() })
    .nullish(),
});

// Only what the mapping reads is checked; everything else stays in `raw` as the CLI wrote it.
const resultSchema = z.object({
  ping: z.object({ latency: z.number().nonnegative(), jitter: z.number().nonnegative().nullish() }),
  download: transfer,
  upload: transfer,
  /** Percent; missing when the server cannot measure it ("Not available" in the human format). */
  packetLoss: z.number().min(0).max(100).nullish(),
  isp: z.string().nullish(),
  interface: z
    .object({ externalIp: z.string().nullish(), internalIp: z.string().nullish() })
    .nullish(),
  server: z.object({
    id: serverIdSchema,
    name: z.string(),
    location: z.string().nullish(),
    country: z.string().nullish(),
    host: z.string().nullish(),
    port: z.number().int().nullish(),
  }),
  result: z.object({ url: z.string().nullish() }).nullish(),
});
type CliResult = z.infer<typeof resultSchema>;

export function createOoklaEngine(
  config: OoklaConfig,
  options: OoklaOptions = {},
): SpeedtestEngine {
  const serverListTimeoutMs = options.serverListTimeoutMs ?? 10_000;
  return {
    name: 'ookla',
    async run(input: EngineInput): Promise<SpeedtestResult> {
      const startedAt = new Date();
      const started = performance.now();
      const signal = input.signal;
      if (signal.aborted) throw stopped(signal);

      if (!config.OOKLA_ACCEPT_LICENSE) {
        throw new SpeedtestError(
          'licence-not-accepted',
          'the Ookla licence and GDPR terms are not accepted: read ' +
            'https://www.speedtest.net/about/eula, https://www.speedtest.net/about/terms and ' +
            'https://www.speedtest.net/about/privacy, then set OOKLA_ACCEPT_LICENSE=true to accept ' +
            'them for this deployment',
        );
      }
      const binary = await requireBinary(config.OOKLA_SPEEDTEST_BIN);
      await requirePs(options.searchPath ?? process.env.PATH ?? '');
      const serverId = chooseServerId(input);
      const sourceIp = ooklaSourceIp(input);

      let candidates: SpeedtestServer[];
      try {
        candidates = await fetchOoklaServers(config.OOKLA_SERVER_LIST_URL, {
          signal,
          timeoutMs: serverListTimeoutMs,
        });
      } catch (error) {
        if (signal.aborted) throw stopped(signal, error);
        throw error;
      }

      const { default: speedTest } = await import('speedtest-net');
      // From here to the spawn inside speedTest() nothing awaits (binary is given, so it does not
      // look for one): an abort cannot slip in between this check and the canceler's handler.
      // speedtest-net would spawn the CLI anyway for a canceler called earlier, and leave it running.
      if (signal.aborted) throw stopped(signal);
      const cancel = speedTest.makeCancel();
      const onAbort = () => cancel();
      signal.addEventListener('abort', onAbort, { once: true });
      let output: Record<string, unknown> | undefined;
      try {
        output = await speedTest({
          binary,
          acceptLicense: true,
          acceptGdpr: true,
          ...(serverId ? { serverId } : {}),
          // `-i`: the CLI binds its connections to this address (and so to its family).
          ...(sourceIp ? { sourceIp } : {}),
          progress: progressLogger(input),
          cancel,
        });
      } catch (error) {
        if (signal.aborted) throw stopped(signal, error);
        throw cliFailure(binary, error);
      } finally {
        signal.removeEventListener('abort', onAbort);
      }

      if (output === undefined) {
        throw new SpeedtestError(
          'engine-failed',
          `the Ookla CLI ${binary} exited without a result or an error line; run ` +
            `"${binary} -f json --accept-license --accept-gdpr" by hand to see what it says`,
        );
      }
      const parsed = resultSchema.safeParse(output);
      if (!parsed.success) {
        const issues = parsed.error.issues
          .slice(0, 3)
          .map((issue) => `${issue.path.join('.')}: ${issue.message}`);
        throw new SpeedtestError(
          'engine-failed',
          `the Ookla CLI ${binary} printed a result in an unexpected shape (${issues.join('; ')})`,
        );
      }
      return toResult(parsed.data, output, candidates, {
        startedAt,
        durationMs: performance.now() - started,
        interface: input.source?.interface ?? null,
      });
    },
  };
}

function toResult(
  cli: CliResult,
  raw: Record<string, unknown>,
  candidates: SpeedtestServer[],
  timing: { startedAt: Date; durationMs: number; interface: string | null },
): SpeedtestResult {
  const reported: SpeedtestServer = {
    id: cli.server.id,
    // The CLI's `name` is the sponsor and `location` the place; the server list calls the place
    // `name`, and the two are kept the same way round here.
    name: cli.server.location || cli.server.name,
    sponsor: cli.server.name,
    host: hostWithPort(cli.server.host, cli.server.port),
    url: null,
    country: cli.server.country ?? null,
    countryCode: null,
    lat: null,
    lon: null,
    distanceKm: null,
  };
  const listed = candidates.find((candidate) => candidate.id === reported.id);
  const server = listed ? merge(listed, reported) : reported;
  const pingMs = cli.ping.latency;

  const pinged: PingedServer[] = candidates.map((candidate) =>
    candidate === listed
      ? { server, latencyMs: pingMs, chosen: true }
      : { server: candidate, latencyMs: null, chosen: false },
  );
  if (!listed) pinged.push({ server, latencyMs: pingMs, chosen: true });

  const ip = cli.interface?.externalIp;
  const internalIp = cli.interface?.internalIp || null;
  const loaded = (direction: CliResult['download']) =>
    direction.latency
      ? { latencyMs: direction.latency.iqm, jitterMs: direction.latency.jitter ?? null }
      : null;
  return {
    engine: 'ookla',
    startedAt: timing.startedAt,
    downloadBps: cli.download.bandwidth * 8,
    uploadBps: cli.upload.bandwidth * 8,
    pingMs,
    jitterMs: cli.ping.jitter ?? null,
    packetLoss: cli.packetLoss ?? null,
    downloadLatency: loaded(cli.download),
    uploadLatency: loaded(cli.upload),
    source: {
      address: internalIp,
      interface: timing.interface,
      family: internalIp ? (isIP(internalIp) as 4 | 6) || null : null,
    },
    bytesReceived: cli.download.bytes,
    bytesSent: cli.upload.bytes,
    durationMs: timing.durationMs,
    server,
    pinged,
    client: ip ? { ip, isp: cli.isp ?? null, countryCode: null, lat: null, lon: null } : null,
    resultUrl: cli.result?.url || null,
    selfTest: false,
    raw,
  };
}

/** The list knows coordinates and the country code; the CLI knows what it actually used. */
function merge(listed: SpeedtestServer, reported: SpeedtestServer): SpeedtestServer {
  return {
    id: reported.id,
    name: listed.name || reported.name,
    sponsor: listed.sponsor ?? reported.sponsor ?? null,
    host: listed.host ?? reported.host ?? null,
    url: listed.url ?? null,
    country: listed.country ?? reported.country ?? null,
    countryCode: listed.countryCode ?? null,
    lat: listed.lat ?? null,
    lon: listed.lon ?? null,
    distanceKm: listed.distanceKm ?? null,
  };
}

/** The list writes `host:port`; CLI 1.0 did too, later versions give the port separately. */
function hostWithPort(host: string | null | undefined, port: number | null | undefined) {
  if (!host) return null;
  return port && !/:\d+$/.test(host) ? `${host}:${port}` : host;
}

async function requireBinary(path: string | undefined): Promise<string> {
  const fix =
    'set OOKLA_SPEEDTEST_BIN to the official Ookla speedtest CLI (the app image installs a ' +
    'pinned, checksum-verified version); the ookla engine never downloads one';
  if (!path) throw new SpeedtestError('binary-missing', `OOKLA_SPEEDTEST_BIN is not set: ${fix}`);
  let isFile: boolean;
  try {
    isFile = (await stat(path)).isFile();
  } catch (error) {
    throw new SpeedtestError(
      'binary-missing',
      `OOKLA_SPEEDTEST_BIN=${path} does not exist (${(error as NodeJS.ErrnoException).code}): ${fix}`,
      { cause: error },
    );
  }
  if (!isFile) {
    throw new SpeedtestError('binary-missing', `OOKLA_SPEEDTEST_BIN=${path} is not a file: ${fix}`);
  }
  try {
    await access(path, constants.X_OK);
  } catch (error) {
    throw new SpeedtestError(
      'binary-missing',
      `OOKLA_SPEEDTEST_BIN=${path} is not executable by this process: ${fix}`,
      { cause: error },
    );
  }
  return path;
}

/**
 * speedtest-net stops the CLI after every run with tree-kill, which on Linux spawns `ps` and does
 * not handle its failure: without `ps` (slim images lack procps) the 'error' event is unhandled
 * and the whole worker process dies. Refusing to start is the lesser evil.
 */
async function requirePs(searchPath: string): Promise<void> {
  for (const dir of searchPath.split(delimiter).filter(Boolean)) {
    try {
      await access(join(dir, 'ps'), constants.X_OK);
      return;
    } catch {
      // not in this directory
    }
  }
  throw new SpeedtestError(
    'binary-missing',
    'the ookla engine needs `ps` on PATH (Debian package procps): speedtest-net uses it to stop ' +
      'the Ookla CLI, and crashes the process without it',
  );
}

/**
 * The CLI binds to an address (`-i`); its `-I` interface option is not passed by speedtest-net,
 * so an interface is turned into its address here, and an IP family needs one of them.
 */
function ooklaSourceIp(input: EngineInput): string | undefined {
  const source = socketSource(input.source);
  if (source.family && !source.localAddress) {
    throw new SpeedtestError(
      'bad-source',
      `the ookla engine picks its IP family by the address it binds to: give the schedule a ` +
        `sourceAddress or an interface with an IPv${source.family} address as well as family ${source.family}`,
    );
  }
  return source.localAddress;
}

function chooseServerId(input: EngineInput): string | undefined {
  const [first, ...rest] = input.servers;
  if (first === undefined) return undefined;
  // The id becomes a command-line argument: anything but digits is a mistake (a LibreSpeed URL
  // meant for the other engine, say), and must not reach the CLI as an option.
  if (!/^\d+$/.test(first)) {
    throw new SpeedtestError(
      'engine-failed',
      `Ookla server ids are numbers (see the server list), got ${JSON.stringify(first)}`,
    );
  }
  if (rest.length) {
    input.log(
      `the Ookla CLI measures against one server: using ${first}, ignoring ${rest.join(', ')}`,
    );
  }
  return first;
}

/** One log line per phase: the CLI prints several progress lines a second. */
function progressLogger(input: EngineInput): (event: SpeedTestEvent) => void {
  const seen = new Set<string>();
  return (event) => {
    // Called from speedtest-net's stream handler, where a throw would be uncaught.
    try {
      const type = event.type ?? '';
      if (type === 'log') {
        if (event.level === 'warning') input.log(`Ookla CLI: ${String(event.message)}`, 'warn');
        return;
      }
      if (seen.has(type)) return;
      seen.add(type);
      if (type === 'testStart') {
        const server = (event.server ?? {}) as Record<string, unknown>;
        input.log(
          `Ookla CLI chose server ${String(server.id)} (${String(server.name)}, ${String(server.location)})`,
        );
      } else if (type === 'ping' || type === 'download' || type === 'upload') {
        input.log(`Ookla CLI: measuring ${type === 'ping' ? 'latency' : type}`);
      }
    } catch {
      // logging must never break the measurement
    }
  };
}

function cliFailure(binary: string, error: unknown): SpeedtestError {
  const message = error instanceof Error ? error.message : String(error);
  // speedtest-net replaces the CLI's "use the following: speedtest --accept-license" with advice
  // for its own API, which would only confuse here: the flags were passed.
  if (/pass the accept(License|Gdpr): true option/.test(message)) {
    return new SpeedtestError(
      'licence-not-accepted',
      `the Ookla CLI ${binary} still asks for its terms to be accepted, although ` +
        'OOKLA_ACCEPT_LICENSE=true made the engine pass --accept-license and --accept-gdpr; ' +
        `run "${binary} --accept-license --accept-gdpr" once as the worker's user to see why`,
      { cause: error },
    );
  }
  // When spawn() itself fails there is no pid, and tree-kill's complaint about that replaces
  // spawn's own error on its way out of speedtest-net.
  if (message === 'pid must be a number') {
    return new SpeedtestError(
      'engine-failed',
      `the Ookla CLI ${binary} could not be started: the system refused to execute it ` +
        '(a missing interpreter or dynamic loader?)',
      { cause: error },
    );
  }
  return new SpeedtestError('engine-failed', `the Ookla CLI ${binary} failed: ${message}`, {
    cause: error,
  });
}

function stopped(signal: AbortSignal, cause?: unknown): SpeedtestError {
  return stoppedError('Ookla', signal, cause);
}
