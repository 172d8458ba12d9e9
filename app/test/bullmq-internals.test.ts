// BullMQ's internal formats that app/src/queue/bullmq-internals.ts reads, checked against the
// installed BullMQ on a real Redis. When one of these fails after an upgrade, BullMQ changed the
// format: adapt bullmq-internals.ts (and only it), then this test.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { REPO_ROOT } from '../../contract/paths.ts';
import { BASE_REDIS_URL, deleteRedisPrefix, uniqueName } from '../../testing/database.ts';
import { waitFor } from '../../testing/wait.ts';
import { scheduledJobDueAt, schedulerIds, schedulerIdsKey } from '../src/queue/bullmq-internals.ts';

const BULLMQ_VERSION = (
  JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/bullmq/package.json'), 'utf8')) as {
    version: string;
  }
).version;
const changed = (what: string) =>
  `BullMQ ${BULLMQ_VERSION} changed ${what}: update app/src/queue/bullmq-internals.ts to the new format`;

describe(`BullMQ ${BULLMQ_VERSION} internals`, () => {
  const prefix = uniqueName('q');
  let connection: Redis;
  let queue: Queue;

  before(() => {
    connection = new Redis(BASE_REDIS_URL, { maxRetriesPerRequest: null });
    queue = new Queue('internals', { connection, prefix });
  });
  after(async () => {
    await queue.close();
    await deleteRedisPrefix(prefix);
    connection.disconnect();
  });

  test('a job scheduler is listed by its id under the queue key the adapter reads', async () => {
    const start = Date.now() + 3_600_000;
    await queue.upsertJobScheduler('periodic:7:abc', { every: 60_000, startDate: start });
    await queue.upsertJobScheduler('periodic:8:def', { every: 60_000, startDate: start });
    await queue.upsertJobScheduler('other', { every: 60_000, startDate: start });

    assert.equal(
      await connection.type(schedulerIdsKey(queue)),
      'zset',
      changed('where job schedulers are kept (the sorted set under the `repeat` key)'),
    );
    const viaApi = (await queue.getJobSchedulers()).map((s) => s.key).sort();
    assert.deepEqual(
      (await schedulerIds(connection, queue)).sort(),
      viaApi,
      changed('the members of the schedulers set (they are no longer the scheduler ids)'),
    );
    assert.deepEqual(
      await schedulerIds(connection, queue, 'periodic:7:*'),
      ['periodic:7:abc'],
      changed('the members of the schedulers set (a MATCH on the id finds nothing)'),
    );
    await queue.removeJobScheduler('periodic:8:def');
    assert.deepEqual(
      (await schedulerIds(connection, queue)).sort(),
      ['other', 'periodic:7:abc'],
      changed('what removing a scheduler leaves in the set'),
    );
  });

  test("a scheduler's job id says the instant its run is due", async () => {
    const due = Date.now() + 3_600_000;
    await queue.upsertJobScheduler('periodic:9:xyz', { every: 3_600_000, startDate: due });
    const job = await waitFor(
      async () => (await queue.getDelayed()).find((j) => j.id?.includes('periodic:9:xyz')),
      { what: 'the delayed job of the scheduler' },
    );
    const at = scheduledJobDueAt(job.id);
    assert.ok(at, changed(`the id of a scheduler's job (got "${job.id}")`));
    assert.equal(
      at.getTime(),
      job.timestamp + (job.opts.delay ?? 0),
      changed(`the due instant in a scheduler's job id (got "${job.id}")`),
    );
    assert.equal(scheduledJobDueAt('1234'), undefined, 'a plain job has no due instant');
  });
});
