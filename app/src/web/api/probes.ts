// /probes: continuous latency and outage probes (admins write them), and what they found: a
// summary over a range (uptime, loss, latency, jitter), latency and loss per target in time
// buckets, and the outages.
import { z } from 'zod';
import type { Database } from '../../db/index.ts';
import type { Queues } from '../../queue/queues.ts';
import { probeFields, probeRecord } from '../../probe/definition.ts';
import {
  bucketSecondsFor,
  probeBucket,
  probeHistory,
  probeOutage,
  probeSummary,
} from '../../probe/history.ts';
import { presentProbe, Probes } from '../../probe/probes.ts';
import { boundedDate } from '../../validation.ts';
import { serialIdParams } from '../ids.ts';
import { endpoint } from './route.ts';

const DAY_MS = 86_400_000;

/** A range; by default the last 24 hours. */
const rangeQuery = z
  .object({ from: boundedDate().optional(), to: boundedDate().optional() })
  .strict()
  .transform(({ from, to }) => {
    const end = to ?? new Date();
    return { from: from ?? new Date(end.getTime() - DAY_MS), to: end };
  })
  .refine(({ from, to }) => from < to, { message: 'from must be before to', path: ['from'] });

const probeOut = probeRecord.extend({
  /** When the outage going on began; null while the link is up. */
  downSince: z.date().nullable(),
});

export function probeEndpoints(db: Database, queues: Queues) {
  const tag = 'probes';
  const probes = new Probes(db, queues);
  const history = probeHistory(db);
  const present = async (id: number) => {
    const row = await probes.get(id);
    const [open] = await history.outages(id, new Date(), new Date(), 1);
    return { ...presentProbe(row), downSince: open && !open.endedAt ? open.startedAt : null };
  };

  return [
    endpoint({
      method: 'get',
      path: '/probes',
      summary: 'Every probe, with the outage going on (if any)',
      tag,
      response: z.object({ items: z.array(probeOut) }),
      handler: async () => ({
        items: await Promise.all((await probes.list()).map((row) => present(row.id))),
      }),
    }),
    endpoint({
      method: 'get',
      path: '/probes/:id',
      summary: 'One probe',
      tag,
      params: serialIdParams,
      response: probeOut,
      handler: async ({ params }) => present(params.id),
    }),
    endpoint({
      method: 'post',
      path: '/probes',
      summary: 'Add a probe (admins); the worker starts it within 10 seconds',
      tag,
      body: probeFields,
      response: probeOut,
      status: 201,
      handler: async ({ request, user }) => present((await probes.create(request.body, user)).id),
    }),
    endpoint({
      method: 'patch',
      path: '/probes/:id',
      summary: 'Change some fields of a probe (admins); validated as a whole',
      tag,
      params: serialIdParams,
      body: probeFields.partial(),
      response: probeOut,
      handler: async ({ params, request, user }) =>
        present((await probes.update(params.id, request.body as Record<string, unknown>, user)).id),
    }),
    endpoint({
      method: 'delete',
      path: '/probes/:id',
      summary: 'Delete a probe with its minutes and outages (admins)',
      tag,
      params: serialIdParams,
      handler: async ({ params, user }) => {
        await probes.remove(params.id, user);
      },
    }),
    endpoint({
      method: 'get',
      path: '/probes/:id/summary',
      summary: 'Uptime, outages, loss, latency and jitter over a range (default: the last 24 h)',
      tag,
      params: serialIdParams,
      query: rangeQuery,
      response: probeSummary,
      handler: async ({ params, query }) => {
        await probes.get(params.id);
        return history.summary(params.id, query.from, query.to);
      },
    }),
    endpoint({
      method: 'get',
      path: '/probes/:id/series',
      summary: 'Latency and loss per target in time buckets (at most 500 per target)',
      tag,
      params: serialIdParams,
      query: rangeQuery,
      response: z.object({ bucketSeconds: z.int(), items: z.array(probeBucket) }),
      handler: async ({ params, query }) => {
        await probes.get(params.id);
        const bucketSeconds = bucketSecondsFor(query.from, query.to);
        return {
          bucketSeconds,
          items: await history.buckets(params.id, query.from, query.to, bucketSeconds),
        };
      },
    }),
    endpoint({
      method: 'get',
      path: '/probes/:id/outages',
      summary: 'Outages that overlap a range, newest first (at most 500)',
      tag,
      params: serialIdParams,
      query: rangeQuery,
      response: z.object({ items: z.array(probeOutage) }),
      handler: async ({ params, query }) => {
        await probes.get(params.id);
        return { items: await history.outages(params.id, query.from, query.to, 500) };
      },
    }),
  ];
}
