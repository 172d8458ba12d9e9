// Where the librespeed engine can measure: URLs given in the configuration, a LibreSpeed server
// list (the JSON format LibreSpeed's own client reads), or this deployment's built-in target.
import { z } from 'zod';
import { SpeedtestError } from '../engine.ts';
import '../../zod-words.ts';

export interface LibreSpeedServer {
  id: string;
  name: string;
  sponsor: string | null;
  /** Absolute base URL, ending with a slash. */
  base: string;
  download: string;
  upload: string;
  ping: string;
  getIp: string;
}

/** LibreSpeed's standard backend paths; the built-in target answers these too. */
const STANDARD_PATHS = {
  download: 'garbage.php',
  upload: 'empty.php',
  ping: 'empty.php',
  getIp: 'getIP.php',
};

function absoluteBase(server: string, listUrl?: string): string {
  // List entries may be protocol-relative ("//host/backend") or relative to the list itself.
  const url = new URL(server, listUrl ?? undefined);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url.toString();
}

/** One server from a base URL, such as `https://speed.example.com/backend/`. */
export function serverFromUrl(value: string): LibreSpeedServer {
  let base: string;
  try {
    base = absoluteBase(value);
  } catch {
    throw new SpeedtestError('server-list', `"${value}" is not a URL of a LibreSpeed backend`);
  }
  if (!/^https?:$/.test(new URL(base).protocol)) {
    throw new SpeedtestError('server-list', `"${value}" is not an http:// or https:// URL`);
  }
  return { id: base, name: new URL(base).host, sponsor: null, base, ...STANDARD_PATHS };
}

const listEntry = z.object({
  id: z.union([z.number(), z.string()]).optional(),
  name: z.string().min(1),
  server: z.string().min(1),
  dlURL: z.string().min(1),
  ulURL: z.string().min(1),
  pingURL: z.string().min(1),
  getIpURL: z.string().min(1),
  sponsorName: z.string().optional(),
});
const serverList = z.array(listEntry).min(1, 'the list is empty');

/** Reads a LibreSpeed server list; every problem is a 'server-list' error naming the URL. */
export async function fetchServerList(
  url: string,
  signal: AbortSignal,
  timeoutMs = 10_000,
): Promise<LibreSpeedServer[]> {
  let body: unknown;
  try {
    const response = await fetch(url, {
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    });
    if (!response.ok) throw new Error(`it answered HTTP ${response.status}`);
    body = await response.json();
  } catch (error) {
    const reason =
      (error as Error).name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : (error as Error).message;
    throw new SpeedtestError(
      'server-list',
      `cannot read the LibreSpeed server list ${url}: ${reason}`,
      { cause: error },
    );
  }
  const parsed = serverList.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SpeedtestError(
      'server-list',
      `the LibreSpeed server list ${url} is malformed: ${issue?.path.length ? `entry ${issue.path.join('.')}: ` : ''}${issue?.message}`,
    );
  }
  return parsed.data.map((entry) => {
    const base = absoluteBase(entry.server, url);
    return {
      id: String(entry.id ?? base),
      name: entry.name,
      sponsor: entry.sponsorName ?? null,
      base,
      download: entry.dlURL,
      upload: entry.ulURL,
      ping: entry.pingURL,
      getIp: entry.getIpURL,
    };
  });
}
