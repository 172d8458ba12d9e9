// Candidate servers for the `ookla` engine, from speedtest.net's public server-list API. The CLI
// picks and reports its server without coordinates or a country code; this list supplies them,
// and the candidates a user sees recorded next to the chosen one.
//
// The API answers a JSON array such as
//   [{"url":"http://st.example.net:8080/speedtest/upload.php","lat":"52.3667","lon":"4.9000",
//     "distance":12,"name":"Amsterdam","country":"Netherlands","cc":"NL","sponsor":"Example",
//     "id":"12345","preferred":0,"https_functional":1,"host":"st.example.net:8080"}]
// with coordinates as strings and the distance (km, from the caller's address) as a number.
import { z } from 'zod';
import { SpeedtestError, type SpeedtestServer } from '../engine.ts';
import '../../zod-words.ts';

// The API writes coordinates and ids as strings; numbers are accepted too, should that change.
const numeric = (value: unknown) =>
  typeof value === 'string' && value.trim() !== '' ? Number(value) : value;

const coordinate = (limit: number) => {
  const range = `expected a number from -${limit} to ${limit}`;
  return z.preprocess(
    numeric,
    z
      .number({ error: 'expected a number or a numeric string' })
      .min(-limit, range)
      .max(limit, range),
  );
};

export const serverIdSchema = z.preprocess(
  (value) => (typeof value === 'number' ? String(value) : value),
  z.string({ error: 'expected a numeric id' }).regex(/^\d+$/, 'expected a numeric id'),
);

const text = z.string({ error: 'expected a string' }).trim().min(1, 'expected a non-empty string');

// Strict on what makes a usable candidate (id, name, position), lenient on the rest: the list only
// adds detail to what the CLI measures, and a missing sponsor is no reason to skip a test.
const serverSchema = z.object({
  id: serverIdSchema,
  name: text,
  sponsor: z.string().nullish(),
  host: z.string().nullish(),
  url: z.string().nullish(),
  country: z.string().nullish(),
  cc: z.string().nullish(),
  lat: coordinate(90),
  lon: coordinate(180),
  distance: z.preprocess(numeric, z.number({ error: 'expected a number' }).nonnegative().nullish()),
});

const listSchema = z
  .array(z.unknown())
  .min(1, 'expected at least one server')
  .pipe(z.array(serverSchema));

export interface ServerListOptions {
  /** The run's signal: aborting it stops the request. */
  signal: AbortSignal;
  timeoutMs: number;
}

/** Reads and checks the server list; every failure is a SpeedtestError naming the URL. */
export async function fetchOoklaServers(
  url: string,
  { signal, timeoutMs }: ServerListOptions,
): Promise<SpeedtestServer[]> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const fail = (what: string, cause?: unknown) =>
    new SpeedtestError('server-list', `Ookla server list ${url} ${what}`, { cause });

  let body: string;
  try {
    const response = await fetch(url, {
      signal: AbortSignal.any([signal, timeout]),
      headers: { accept: 'application/json', 'user-agent': 'refresher' },
    });
    body = await response.text();
    if (!response.ok) {
      throw fail(`answered HTTP ${response.status} ${response.statusText}`.trimEnd());
    }
  } catch (error) {
    if (error instanceof SpeedtestError) throw error;
    // The run's own abort is the caller's business (it knows whether that was its timeout).
    if (signal.aborted) throw error;
    if (timeout.aborted) throw fail(`did not answer within ${timeoutMs} ms`, error);
    throw fail(`is unreachable (${describeFetchError(error)})`, error);
  }

  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw fail(`did not answer JSON (${(error as Error).message})`, error);
  }
  const parsed = listSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((issue) => {
      const at = issue.path
        .map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`))
        .join('')
        .replace(/^\./, '');
      return at ? `${at}: ${issue.message}` : issue.message;
    });
    const more = parsed.error.issues.length - issues.length;
    throw fail(
      `is not a server list as expected (${issues.join('; ')}${more > 0 ? `; ${more} more` : ''})`,
    );
  }

  return parsed.data.map((server) => {
    const cc = server.cc?.trim() ?? '';
    return {
      id: server.id,
      name: server.name,
      sponsor: server.sponsor ?? null,
      host: server.host ?? null,
      url: server.url ?? null,
      country: server.country ?? null,
      countryCode: /^[A-Za-z]{2}$/.test(cc) ? cc.toUpperCase() : null,
      lat: server.lat,
      lon: server.lon,
      distanceKm: server.distance ?? null,
    };
  });
}

/** fetch() says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, …) is in its cause. */
function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code && cause.message?.includes(cause.code)) return cause.message;
  if (cause?.code) return `${cause.code} ${cause.message ?? ''}`.trimEnd();
  return cause?.message ?? (error as Error).message;
}
