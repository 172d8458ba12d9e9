// The addresses and interfaces the workers' hosts have, so that a schedule or a probe naming one
// no worker has is refused when it is saved, not at its first run. Each worker writes its own
// (os.networkInterfaces()) into one Redis hash every 30 s and takes it out when it stops; the web
// role reads the entries younger than two minutes. With none (no worker running yet) nothing can
// be said, and the run itself still refuses a wrong source, naming what its host has.
import { hostname, networkInterfaces } from 'node:os';
import type { Redis } from 'ioredis';
import type { FieldIssue } from '../validation.ts';

const PUBLISH_EVERY_MS = 30_000;
const FRESH_MS = 120_000;

interface Inventory {
  at: number;
  /** Interface name -> its addresses. */
  interfaces: Record<string, string[]>;
}

const keyOf = (prefix: string) => `${prefix}:worker-sources`;

function inventory(): Inventory {
  return {
    at: Date.now(),
    interfaces: Object.fromEntries(
      Object.entries(networkInterfaces()).map(([name, list]) => [
        name,
        (list ?? []).map((info) => info.address),
      ]),
    ),
  };
}

/** Publishes this worker's sources now and every 30 s; returns the stop (which removes them). */
export async function publishWorkerSources(
  redis: Redis,
  prefix: string,
): Promise<{ stop(): Promise<void> }> {
  const field = `${hostname()}:${process.pid}`;
  const publish = async () => {
    await redis.hset(keyOf(prefix), field, JSON.stringify(inventory()));
    await dropStale(redis, prefix);
  };
  await publish();
  const timer = setInterval(() => void publish().catch(() => undefined), PUBLISH_EVERY_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await redis.hdel(keyOf(prefix), field).catch(() => undefined);
    },
  };
}

function isStale(text: string, now: number): boolean {
  try {
    return now - (JSON.parse(text) as Inventory).at >= FRESH_MS;
  } catch {
    return true;
  }
}

/**
 * Removes the entries of workers that ended without stop() (killed, or their host lost). Readers
 * skip them anyway; this keeps the hash from growing where every replica has a new host name.
 */
async function dropStale(redis: Redis, prefix: string): Promise<void> {
  const now = Date.now();
  const stale = Object.entries(await redis.hgetall(keyOf(prefix)))
    .filter(([, text]) => isStale(text, now))
    .map(([field]) => field);
  if (stale.length) await redis.hdel(keyOf(prefix), ...stale);
}

/** Checks a source selection against what the running workers have. */
export class WorkerSources {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  async #fresh(): Promise<Inventory[]> {
    const entries = await this.#redis.hgetall(keyOf(this.#prefix));
    const now = Date.now();
    return Object.values(entries)
      .map((text) => JSON.parse(text) as Inventory)
      .filter((entry) => now - entry.at < FRESH_MS);
  }

  /** Problems with `selection`, with paths under `at` (e.g. ['kwargs']); none when unknowable. */
  async issues(
    selection: { sourceAddress?: unknown; interface?: unknown },
    at: string[] = [],
  ): Promise<FieldIssue[]> {
    const address = typeof selection.sourceAddress === 'string' ? selection.sourceAddress : null;
    const device = typeof selection.interface === 'string' ? selection.interface : null;
    if (!address && !device) return [];
    const workers = await this.#fresh();
    if (!workers.length) return [];
    const path = (field: string) => [...at, field].join('.');
    const issues: FieldIssue[] = [];
    if (address && !workers.some((w) => Object.values(w.interfaces).flat().includes(address))) {
      const known = [...new Set(workers.flatMap((w) => Object.values(w.interfaces).flat()))];
      issues.push({
        path: path('sourceAddress'),
        message: `no worker's host has the address ${address} (they have ${known.join(', ')})`,
      });
    }
    if (device && !workers.some((w) => device in w.interfaces)) {
      const known = [...new Set(workers.flatMap((w) => Object.keys(w.interfaces)))];
      issues.push({
        path: path('interface'),
        message: `no worker's host has an interface ${device} (they have ${known.join(', ')})`,
      });
    }
    return issues;
  }
}
