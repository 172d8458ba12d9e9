// Per-client limits of the built-in speed test target: how many transfers one client address may
// have open at once, and how many bytes it may move per minute. A speed test is, by design, a way
// to make a server send as many bytes as the link carries; on a metered cloud VM every one of
// them is paid for, so an anonymous client must not be able to ask for gigabytes in a loop.
//
// The byte budget is a token bucket per client: it holds `bytesPerMinute` and refills at that
// rate, so a client may move one minute's worth in a burst (one whole test) and no more than that
// per minute on average. Bytes are taken from it as they flow, so a transfer that runs past it is
// cut off mid-way rather than checked only when it starts.
//
// The state lives in this (web) process's memory: with several web processes each has its own,
// and a restart forgets it; both only ever let more through, never less. It stays small: an entry
// is dropped as soon as it carries no information (no open transfer and a full bucket, at most a
// minute after the client's last byte), and past `maxClients` entries new clients share one
// overflow entry instead of growing the map.
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { unmapped } from '../web/rate-limit.ts';

const MINUTE_MS = 60_000;
const MIB = 1024 * 1024;
/** Entries this many at most; more clients than that in a minute share one entry. */
const DEFAULT_MAX_CLIENTS = 10_000;

/** One client's open transfers and bucket (tokens as of `at`). */
interface ClientState {
  active: number;
  tokens: number;
  at: number;
}

/** What a handler takes bytes from: the client's bucket, or nothing at all for exempt clients. */
export interface Meter {
  /** Takes up to `bytes` from the budget; returns how many may be moved (fewer: the budget ran out). */
  take(bytes: number): number;
}

export const UNMETERED: Meter = { take: (bytes) => bytes };

export type Admission =
  | { ok: true; meter: Meter; release(): void }
  | { ok: false; reason: 'streams' | 'budget'; retryAfterSeconds: number };

export interface ClientLimitsOptions {
  maxStreams: number;
  bytesPerMinute: number;
  maxClients?: number;
  /** The clock, in milliseconds; tests move it by hand. */
  now?: () => number;
}

/**
 * The key one client is counted under: an IPv4 address as it is, an IPv6 address by its /64 (one
 * subscriber or host usually holds a whole /64, so counting single IPv6 addresses would give it
 * 2^64 budgets). IPv4-mapped IPv6 addresses count as the IPv4 address.
 */
export function clientKey(address: string): string {
  const plain = unmapped(address);
  if (!isIPv6(plain)) return plain;
  const [head = '', tail] = plain.split('::') as [string, string | undefined];
  const groups = head ? head.split(':') : [];
  if (tail !== undefined) {
    // "a:b::c" leaves zeros out: put them back (a dotted IPv4 tail is two groups).
    const after = tail ? tail.split(':') : [];
    const tailGroups = after.length + (after.at(-1)?.includes('.') ? 1 : 0);
    groups.push(...Array<string>(8 - groups.length - tailGroups).fill('0'), ...after);
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** A BlockList of networks ("10.0.0.0/8", "::1/128"; a bare address is one host). */
export function networkList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address = '', bits] = cidr.split('/');
    const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
    if (!family) throw new Error(`not a network in CIDR notation: "${cidr}"`);
    const prefix = bits === undefined ? (family === 'ipv4' ? 32 : 128) : Number(bits);
    list.addSubnet(address, prefix, family);
  }
  return list;
}

/** Whether `address` (as Express reports it) is in `list`. */
export function listed(list: BlockList, address: string): boolean {
  const plain = unmapped(address);
  if (isIPv4(plain)) return list.check(plain, 'ipv4');
  if (isIPv6(plain)) return list.check(plain, 'ipv6');
  return false;
}

export class ClientLimits {
  private readonly clients = new Map<string, ClientState>();
  private readonly overflow: ClientState;
  private readonly maxStreams: number;
  private readonly capacity: number;
  private readonly maxClients: number;
  private readonly now: () => number;
  private sweptAt: number;

  constructor(options: ClientLimitsOptions) {
    this.maxStreams = options.maxStreams;
    this.capacity = options.bytesPerMinute;
    this.maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS;
    this.now = options.now ?? Date.now;
    this.sweptAt = this.now();
    this.overflow = { active: 0, tokens: this.capacity, at: this.sweptAt };
  }

  /** How many clients are remembered (the overflow entry not counted). */
  get size(): number {
    return this.clients.size;
  }

  /**
   * Opens one transfer for `key`, or says why not: too many open already, or less than a MiB
   * (or the whole budget, if smaller) left, in which case the transfer would be cut at once.
   */
  admit(key: string): Admission {
    const client = this.entry(key);
    if (client.active >= this.maxStreams)
      return { ok: false, reason: 'streams', retryAfterSeconds: 1 };
    const needed = Math.min(MIB, this.capacity);
    if (client.tokens < needed) {
      const ms = ((needed - client.tokens) / this.capacity) * MINUTE_MS;
      return { ok: false, reason: 'budget', retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)) };
    }
    client.active++;
    let open = true;
    return {
      ok: true,
      meter: {
        take: (bytes) => {
          this.refill(client);
          const granted = Math.max(0, Math.min(bytes, Math.floor(client.tokens)));
          client.tokens -= granted;
          return granted;
        },
      },
      release: () => {
        if (open) client.active--;
        open = false;
      },
    };
  }

  private refill(client: ClientState): void {
    const now = this.now();
    const elapsed = Math.max(0, now - client.at);
    client.tokens = Math.min(this.capacity, client.tokens + (elapsed / MINUTE_MS) * this.capacity);
    client.at = now;
  }

  private entry(key: string): ClientState {
    const now = this.now();
    // Once a minute; when full, at most once a second (a sweep walks every entry).
    const full = this.clients.size >= this.maxClients;
    if (now - this.sweptAt >= (full ? 1000 : MINUTE_MS)) this.sweep(now);
    let client = this.clients.get(key);
    if (!client) {
      if (this.clients.size >= this.maxClients) client = this.overflow;
      else {
        client = { active: 0, tokens: this.capacity, at: now };
        this.clients.set(key, client);
      }
    }
    this.refill(client);
    return client;
  }

  /** Forgets every client with nothing open and a full bucket: it is as if it never came. */
  private sweep(now: number): void {
    this.sweptAt = now;
    for (const [key, client] of this.clients) {
      if (client.active > 0) continue;
      const tokens = client.tokens + ((now - client.at) / MINUTE_MS) * this.capacity;
      if (tokens >= this.capacity) this.clients.delete(key);
    }
  }
}
