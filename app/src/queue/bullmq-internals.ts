// What this app knows of BullMQ beyond its public API, in one place. Two things are read from
// BullMQ's own formats because its API has no cheaper way to them: the id of a job a job
// scheduler produced (`repeat:<scheduler id>:<due instant in ms>`, which says when the run was
// due), and the sorted set of scheduler ids under the queue's `repeat` key (listing ids there
// skips loading every scheduler's template). Neither is a promise of BullMQ's, so
// app/test/bullmq-internals.test.ts pins both to the installed version: an upgrade that changes
// them fails that one test with a message saying so, instead of making runs look late or
// schedulers look missing.
import type { Queue, RepeatOptions as BullRepeatOptions } from 'bullmq';
import type { Redis } from 'ioredis';

/** The parts of BullMQ's repeat options a periodic task's schedule is made of. */
export type SchedulerRepeat = Pick<
  BullRepeatOptions,
  'every' | 'pattern' | 'tz' | 'startDate' | 'endDate' | 'limit'
>;

const SCHEDULED_JOB_ID = /^repeat:(.*):(\d+)$/;

/** The instant a run of a job scheduler was due, from its job's id; undefined for other jobs. */
export function scheduledJobDueAt(jobId: string | undefined): Date | undefined {
  const match = SCHEDULED_JOB_ID.exec(jobId ?? '');
  return match ? new Date(Number(match[2])) : undefined;
}

/** The sorted set in which BullMQ keeps the ids of a queue's job schedulers. */
export function schedulerIdsKey(queue: Queue): string {
  return queue.toKey('repeat');
}

/** The ids of a queue's job schedulers, all of them or those matching a glob (`periodic:7:*`). */
export async function schedulerIds(
  connection: Redis,
  queue: Queue,
  match?: string,
): Promise<string[]> {
  const key = schedulerIdsKey(queue);
  if (match === undefined) return connection.zrange(key, 0, -1);
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, entries] = await connection.zscan(key, cursor, 'MATCH', match, 'COUNT', 1000);
    // ZSCAN answers member, score, member, score, …
    for (let i = 0; i < entries.length; i += 2) found.push(entries[i]!);
    cursor = next;
  } while (cursor !== '0');
  return found;
}
