// What a probe is, as the API and the portal accept it: a kind (a TCP connect, or an HTTP request),
// up to ten targets checked together every period, and what counts as an outage. The schema is
// the one source of the TS type and the OpenAPI document; the migration's CHECKs hold the same
// bounds for anything that writes SQL by hand.
import { isIP } from 'node:net';
import { z } from 'zod';
import '../zod-words.ts';

/** Probing more often than this is a load test, not a probe (and 6.3 M samples a year at 5 s). */
export const PROBE_MIN_PERIOD_S = 5;
export const PROBE_MAX_TARGETS = 10;

/** "host:port" or "[IPv6]:port", as a TCP target is written. */
export function parseTcpTarget(target: string): { host: string; port: number } | null {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]/]+)):(\d{1,5})$/.exec(target);
  if (!match) return null;
  const host = match[1] ?? match[2]!;
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) return null;
  if (match[1] && isIP(host) !== 6) return null;
  return { host, port };
}

/** The target's host, when it is an address (not a name). */
function literalFamily(kind: 'tcp' | 'http', target: string): number {
  let host: string | undefined;
  try {
    host = kind === 'tcp' ? parseTcpTarget(target)?.host : new URL(target).hostname;
  } catch {
    return 0; // not a URL: said by checkTarget
  }
  return host ? isIP(host.replace(/^\[|\]$/g, '')) : 0;
}

function checkTarget(kind: 'tcp' | 'http', target: string, family: 4 | 6 | null): string | null {
  const literal = literalFamily(kind, target);
  if (family && literal && literal !== family) {
    return `"${target}" is an IPv${literal} address, and the probe is IPv${family} only`;
  }
  if (kind === 'tcp') {
    return parseTcpTarget(target)
      ? null
      : `"${target}" is not host:port (e.g. 1.1.1.1:443, example.com:443, [2606:4700::1111]:443)`;
  }
  try {
    const url = new URL(target);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return `"${target}" is not an http:// or https:// URL`;
    }
    if (url.username || url.password) return `"${target}": no credentials in a probe URL`;
    return null;
  } catch {
    return `"${target}" is not a URL`;
  }
}

const ip = z.union([z.ipv4(), z.ipv6()], { error: 'must be an IPv4 or IPv6 address' });

/** The fields, for documents and partial updates; probeInput adds the checks across fields. */
export const probeFields = z
  .object({
    name: z.string().trim().min(1).max(100),
    kind: z.enum(['tcp', 'http']).describe('tcp: time to connect; http: time to the response'),
    targets: z
      .array(z.string().trim().min(1).max(2_000))
      .min(1, 'give at least one target')
      .max(PROBE_MAX_TARGETS, `at most ${PROBE_MAX_TARGETS} targets`)
      .describe('Checked together each round; an outage is every target failing'),
    periodSeconds: z
      .int()
      .min(PROBE_MIN_PERIOD_S, `must be at least ${PROBE_MIN_PERIOD_S} seconds`)
      .max(3_600),
    timeoutMs: z.int().min(100).max(30_000).default(2_000),
    failuresForOutage: z
      .int()
      .min(1)
      .max(10)
      .default(2)
      .describe('Rounds in a row with every target failing before an outage is declared'),
    sourceAddress: ip.nullable().default(null),
    family: z
      .union([z.literal(4), z.literal(6)], { error: 'must be 4 or 6' })
      .nullable()
      .default(null),
    speedtestOnRecovery: z
      .boolean()
      .default(true)
      .describe('Queue a speed test when an outage ends'),
    enabled: z.boolean().default(true),
  })
  .strict();

export const probeInput = probeFields.superRefine((probe, context) => {
  probe.targets.forEach((target, index) => {
    const problem = checkTarget(probe.kind, target, probe.family);
    if (problem) context.addIssue({ code: 'custom', path: ['targets', index], message: problem });
  });
  if (new Set(probe.targets).size !== probe.targets.length) {
    context.addIssue({ code: 'custom', path: ['targets'], message: 'a target is listed twice' });
  }
  if (probe.timeoutMs >= probe.periodSeconds * 1000) {
    context.addIssue({
      code: 'custom',
      path: ['timeoutMs'],
      message: `must be shorter than the period (${probe.periodSeconds} s): a round ends before the next begins`,
    });
  }
  const version = probe.sourceAddress ? isIP(probe.sourceAddress) : 0;
  if (version && probe.family && version !== probe.family) {
    context.addIssue({
      code: 'custom',
      path: ['family'],
      message: `is ${probe.family}, but the source address ${probe.sourceAddress} is IPv${version}`,
    });
  }
});
export type ProbeInput = z.output<typeof probeInput>;

/** A probe as stored and as the API answers it. */
export const probeRecord = z.object({
  id: z.int(),
  name: z.string(),
  kind: z.enum(['tcp', 'http']),
  targets: z.array(z.string()),
  periodSeconds: z.int(),
  timeoutMs: z.int(),
  failuresForOutage: z.int(),
  sourceAddress: z.string().nullable(),
  family: z.union([z.literal(4), z.literal(6)]).nullable(),
  speedtestOnRecovery: z.boolean(),
  enabled: z.boolean(),
  createdAt: z.date(),
  updatedAt: z.date(),
});
export type ProbeRecord = z.input<typeof probeRecord>;
