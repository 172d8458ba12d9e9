// speedtester.run_speedtest: one speed test with the chosen engine, stored with its servers, its
// client and every pinged candidate, linked to the run's task result. It runs on the `speedtests`
// queue, whose global concurrency of 1 means two tests never share (and halve) the link.
import { isIP } from 'node:net';
import { z } from 'zod';
import type { Database } from '../db/index.ts';
import type { SpeedtestEngine, SpeedtestResult } from '../speedtest/engine.ts';
import { ENGINE_NAMES, type EngineName } from '../speedtest/index.ts';
import { bufferbloat } from '../speedtest/bufferbloat.ts';
import { storeSpeedtest } from '../speedtest/store.ts';
import { defineTask } from './registry.ts';

/** Linux interface names: at most 15 bytes (IFNAMSIZ less the NUL), no slash, no whitespace. */
const INTERFACE_NAME = /^[A-Za-z0-9_.:@-]{1,15}$/;

const kwargs = z
  .object({
    engine: z.enum(ENGINE_NAMES).optional(),
    /** LibreSpeed backend URLs or Ookla server ids; empty: the configured default. */
    servers: z.array(z.string().trim().min(1)).max(50).optional(),
    streams: z.int().min(1).max(32).optional(),
    durationMs: z.int().min(1_000).max(60_000).optional(),
    warmupMs: z.int().min(0).max(10_000).default(2_000),
    pings: z.int().min(3).max(100).default(10),
    /** Bind the test's connections to this address of the worker's host. */
    sourceAddress: z
      .union([z.ipv4(), z.ipv6()], { error: 'must be an IPv4 or IPv6 address' })
      .optional(),
    /** Bind them to this interface's address instead. */
    interface: z
      .string()
      .regex(
        INTERFACE_NAME,
        'must be a network interface name (up to 15 letters, digits, _ . : @ -)',
      )
      .optional(),
    /** Connect over IPv4 or IPv6 only. */
    family: z.union([z.literal(4), z.literal(6)], { error: 'must be 4 or 6' }).optional(),
  })
  .strict()
  .superRefine((value, context) => {
    if (value.sourceAddress && value.interface) {
      context.addIssue({
        code: 'custom',
        path: ['interface'],
        message: 'give a source address or an interface, not both',
      });
    }
    // A server given by address has one family: asking for the other cannot reach it.
    (value.servers ?? []).forEach((server, index) => {
      let host: string;
      try {
        host = new URL(server).hostname.replace(/^\[|\]$/g, '');
      } catch {
        return; // an Ookla id, or a URL the engine will refuse naming it
      }
      const literal = isIP(host);
      if (value.family && literal && literal !== value.family) {
        context.addIssue({
          code: 'custom',
          path: ['servers', index],
          message: `${server} is an IPv${literal} address, and the schedule asks for IPv${value.family}`,
        });
      }
    });
    const version = value.sourceAddress ? isIP(value.sourceAddress) : 0;
    if (version && value.family && version !== value.family) {
      context.addIssue({
        code: 'custom',
        path: ['family'],
        message: `is ${value.family}, but the source address ${value.sourceAddress} is IPv${version}`,
      });
    }
  });

/** The speed test's task name, which schedules and the portal's speed test form refer to. */
export const SPEEDTEST_TASK = 'speedtester.run_speedtest';

/** About how long one speed test takes with the default settings (warm-up, both directions, pings). */
export const TYPICAL_SPEEDTEST_MS = 24_000;

export interface SpeedtestTaskDeps {
  db: Database;
  defaultEngine: EngineName;
  defaultServers: string[];
  defaultDurationMs: number;
  defaultStreams: number;
  engine(name: EngineName): SpeedtestEngine;
  /** Told about every stored result (the worker's metrics). */
  observe?(result: SpeedtestResult): void;
}

const rounded = (ms: number | undefined) => (ms === undefined ? null : Number(ms.toFixed(2)));

export function speedtestTask(deps: SpeedtestTaskDeps) {
  return defineTask({
    name: SPEEDTEST_TASK,
    description: 'Measure download, upload, ping and jitter; store the result.',
    queue: 'speedtests',
    kwargs,
    // A server URL is a request from the worker to wherever it points, inside the network too.
    adminOnlyKwargs: ['servers'],
    attempts: 2,
    backoffMs: 60_000,
    // Two directions of up to a minute each, plus server selection: anything longer is stuck.
    timeoutMs: 180_000,
    async run(args, context) {
      const name = args.engine ?? deps.defaultEngine;
      const result = await deps.engine(name).run({
        servers: args.servers ?? deps.defaultServers,
        streams: args.streams ?? deps.defaultStreams,
        durationMs: args.durationMs ?? deps.defaultDurationMs,
        warmupMs: args.warmupMs,
        pings: args.pings,
        source: {
          sourceAddress: args.sourceAddress ?? null,
          interface: args.interface ?? null,
          family: args.family ?? null,
        },
        signal: context.signal,
        log: context.log,
      });
      const speedtestId = await storeSpeedtest(deps.db, result, { jobId: context.jobId });
      deps.observe?.(result);
      const summary = {
        speedtestId,
        engine: name,
        server: result.server.name,
        selfTest: result.selfTest,
        downloadMbps: Number((result.downloadBps / 1e6).toFixed(2)),
        uploadMbps: Number((result.uploadBps / 1e6).toFixed(2)),
        pingMs: Number(result.pingMs.toFixed(2)),
        jitterMs: result.jitterMs === null ? null : Number(result.jitterMs.toFixed(2)),
        downloadLatencyMs: rounded(result.downloadLatency?.latencyMs),
        uploadLatencyMs: rounded(result.uploadLatency?.latencyMs),
        bufferbloatGrade: bufferbloat(result)?.grade ?? null,
        sourceAddress: result.source.address,
        family: result.source.family,
        resultUrl: result.resultUrl,
      };
      context.log(
        `${summary.server}: ${summary.downloadMbps} Mbit/s down, ${summary.uploadMbps} Mbit/s up, ${summary.pingMs} ms ping`,
      );
      return summary;
    },
  });
}
