// Sign-in throttling that slows an attacker down without locking the account's owner out.
//
// It follows OWASP's "device cookies" scheme and the rate limiting of NIST SP 800-63B §5.2.2
// (OWASP ASVS 4 §2.2.1: at most 100 failed attempts per hour on one account):
//
// - Per client and name: three failures are free, then each further attempt waits twice as long
//   as the one before (1 s, 2 s, 4 s … up to 15 minutes). The client is the browser's device
//   cookie when it has one for this name, otherwise its address.
// - Per name, from untrusted clients: after 20 failures within an hour, the name is *guarded* for
//   the rest of that hour: only trusted clients may try it. A trusted client has this name's
//   device cookie (set at each successful sign-in, signed with the session secret) or an address
//   this name signed in from within 30 days. An attacker spread over many addresses gets at most
//   20 guesses an hour; the owner, on a known device, signs in as usual.
// - Everything is keyed by the name as typed (normalised), whether or not such a user exists, so
//   the answers and their timing say nothing about which names are accounts.
//
// The per-address limit of the sign-in form (express-rate-limit, in routes.ts) comes on top.
// State is in Redis, shared by every web process, and expires by itself.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';

export const FREE_FAILURES = 3;
export const MAX_BACKOFF_MS = 15 * 60_000;
export const GUARD_FAILURES = 20;
export const GUARD_WINDOW_MS = 60 * 60_000;
const KNOWN_ADDRESS_MS = 30 * 24 * 3_600_000;
/** A client's failure count is forgotten after a day without attempts. */
const PAIR_MEMORY_MS = 24 * 3_600_000;

export const DEVICE_COOKIE = 'refresher.device';
export const DEVICE_COOKIE_MAX_AGE_MS = 180 * 24 * 3_600_000;

export type ThrottleVerdict =
  | { allowed: true; trusted: boolean }
  | { allowed: false; reason: 'backoff'; retryAfterMs: number }
  | { allowed: false; reason: 'guarded'; retryAfterMs: number };

export interface Attempt {
  /** The name as typed; normalised here as the user table does. */
  username: string;
  address: string;
  /** The device cookie the browser sent, if any. */
  device?: string;
}

export function normalisedName(username: string): string {
  return username.trim().toLowerCase();
}

export class LoginThrottle {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #secret: string;
  readonly #now: () => number;

  constructor(options: { redis: Redis; keyPrefix: string; secret: string; now?: () => number }) {
    this.#redis = options.redis;
    this.#prefix = `${options.keyPrefix}:login`;
    this.#secret = options.secret;
    this.#now = options.now ?? Date.now;
  }

  /** Whether this attempt may be checked at all, before any password is looked at. */
  async check(attempt: Attempt): Promise<ThrottleVerdict> {
    await connected(this.#redis);
    const name = normalisedName(attempt.username);
    const trusted = await this.#trusted(name, attempt);
    const now = this.#now();
    const [failures, last] = await this.#redis.hmget(
      this.#pairKey(name, attempt, trusted),
      'n',
      'at',
    );
    const wait = backoffMs(Number(failures ?? 0));
    const readyAt = Number(last ?? 0) + wait;
    if (wait > 0 && readyAt > now)
      return { allowed: false, reason: 'backoff', retryAfterMs: readyAt - now };
    if (!trusted) {
      const guard = this.#guardKey(name);
      const [count, ttl] = await Promise.all([this.#redis.get(guard), this.#redis.pttl(guard)]);
      if (Number(count ?? 0) >= GUARD_FAILURES)
        return { allowed: false, reason: 'guarded', retryAfterMs: Math.max(ttl, 1_000) };
    }
    return { allowed: true, trusted };
  }

  /** Counts a failed attempt; true when it is the one that guards the name. */
  async failed(attempt: Attempt, trusted: boolean): Promise<{ guardedNow: boolean }> {
    const name = normalisedName(attempt.username);
    const pair = this.#pairKey(name, attempt, trusted);
    const multi = this.#redis
      .multi()
      .hincrby(pair, 'n', 1)
      .hset(pair, 'at', this.#now())
      .pexpire(pair, PAIR_MEMORY_MS);
    if (trusted) {
      await multi.exec();
      return { guardedNow: false };
    }
    const guard = this.#guardKey(name);
    // A fixed window: the first failure starts the hour, later ones do not extend it.
    const results = await multi.set(guard, 0, 'PX', GUARD_WINDOW_MS, 'NX').incr(guard).exec();
    const count = Number(results?.[4]?.[1] ?? 0);
    return { guardedNow: count === GUARD_FAILURES };
  }

  /** Clears this client's failures, remembers its address, and returns a device cookie value. */
  async succeeded(attempt: Attempt, trusted: boolean): Promise<string> {
    const name = normalisedName(attempt.username);
    const known = this.#knownKey(name);
    const now = this.#now();
    await this.#redis
      .multi()
      .del(this.#pairKey(name, attempt, trusted), this.#pairKey(name, attempt, false))
      .zadd(known, now, attempt.address)
      .zremrangebyscore(known, '-inf', now - KNOWN_ADDRESS_MS)
      .pexpire(known, KNOWN_ADDRESS_MS)
      .exec();
    const nonce = randomBytes(16).toString('base64url');
    return `${nonce}.${this.#sign(name, nonce)}`;
  }

  /** When the name is guarded, until when (the portal's users list shows it). */
  async guardedUntil(username: string): Promise<Date | null> {
    const guard = this.#guardKey(normalisedName(username));
    const [count, ttl] = await Promise.all([this.#redis.get(guard), this.#redis.pttl(guard)]);
    return Number(count ?? 0) >= GUARD_FAILURES && ttl > 0 ? new Date(this.#now() + ttl) : null;
  }

  /** An admin lifts the guard of a name (its clients' backoffs run out by themselves). */
  async unguard(username: string): Promise<void> {
    await this.#redis.del(this.#guardKey(normalisedName(username)));
  }

  async #trusted(name: string, attempt: Attempt): Promise<boolean> {
    if (attempt.device && this.#validDevice(name, attempt.device)) return true;
    const seen = await this.#redis.zscore(this.#knownKey(name), attempt.address);
    return seen !== null && Number(seen) > this.#now() - KNOWN_ADDRESS_MS;
  }

  #validDevice(name: string, cookie: string): boolean {
    const [nonce, signature, extra] = cookie.split('.');
    if (!nonce || !signature || extra !== undefined) return false;
    const expected = Buffer.from(this.#sign(name, nonce));
    const sent = Buffer.from(signature);
    return expected.length === sent.length && timingSafeEqual(expected, sent);
  }

  #sign(name: string, nonce: string): string {
    return createHmac('sha256', this.#secret)
      .update(`device\n${name}\n${nonce}`)
      .digest('base64url');
  }

  #pairKey(name: string, attempt: Attempt, trusted: boolean): string {
    const client =
      trusted && attempt.device
        ? `device:${attempt.device.split('.')[0]}`
        : `address:${attempt.address}`;
    return `${this.#prefix}:pair:${client}:${digest(name)}`;
  }

  #guardKey(name: string): string {
    return `${this.#prefix}:guard:${digest(name)}`;
  }

  #knownKey(name: string): string {
    return `${this.#prefix}:known:${digest(name)}`;
  }
}

/** How long a client must wait after `failures` failures in a row. */
export function backoffMs(failures: number): number {
  if (failures < FREE_FAILURES) return 0;
  return Math.min(1_000 * 2 ** (failures - FREE_FAILURES), MAX_BACKOFF_MS);
}

// Names as typed can be anything (even a password typed in the wrong field): keys hold a digest.
function digest(name: string): string {
  return createHash('sha256').update(name).digest('base64url').slice(0, 22);
}

/**
 * The web role's Redis connection fails fast (a request must not hang on an outage), so the first
 * sign-in after a start, or after a reconnect, waits up to this long for the connection.
 */
const CONNECT_WAIT_MS = 2_000;

function connected(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, CONNECT_WAIT_MS);
    redis.once('ready', done);
  });
}
