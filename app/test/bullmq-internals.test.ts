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
import { scheduledJobDueAt, schedulerIds, schedulerIdsKey } from '../src/queue/bullmq-internals.ts';

const BULLMQ_VERSION = (
  JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/bullmq/package.json'), 'utf8')) as {
    version: string;
  }
).version;
const changed = (what: string) =>
  `BullMQ's internal format changed (installed bullmq ${BULLMQ_VERSION}): ${what}. ` +
  'Adapt app/src/queue/bullmq-internals.ts to the new format.';

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

    const type = await connection.type(schedulerIdsKey(queue));
    assert.equal(
      type,
      'zset',
      changed(
        `job schedulers are no longer a sorted set under the "repeat" key (its type: ${type})`,
      ),
    );
    const viaApi = (await queue.getJobSchedulers()).map((s) => s.key).sort();
    const listed = (await schedulerIds(connection, queue)).sort();
    assert.deepEqual(
      listed,
      viaApi,
      changed(
        `the "repeat" sorted set no longer holds the scheduler ids (listed ${JSON.stringify(listed)}, ` +
          `getJobSchedulers() has ${JSON.stringify(viaApi)})`,
      ),
    );
    const matched = await schedulerIds(connection, queue, 'periodic:7:*');
    assert.deepEqual(
      matched,
      ['periodic:7:abc'],
      changed(`a MATCH on a scheduler id's prefix finds ${JSON.stringify(matched)}`),
    );
    await queue.removeJobScheduler('periodic:8:def');
    const left = (await schedulerIds(connection, queue)).sort();
    assert.deepEqual(
      left,
      ['other', 'periodic:7:abc'],
      changed(
        `a removed scheduler's id stays in the "repeat" sorted set (${JSON.stringify(left)})`,
      ),
    );
  });

  test("a scheduler's job id says the instant its run is due", async () => {
    const due = Date.now() + 3_600_000;
    const job = await queue.upsertJobScheduler('periodic:9:xyz', {
      every: 3_600_000,
      startDate: due,
    });
    const scheduler = await queue.getJobScheduler('periodic:9:xyz');
    assert.equal(
      scheduler?.next,
      due,
      changed(`a scheduler's first run is no longer at its start date (next: ${scheduler?.next})`),
    );
    const at = scheduledJobDueAt(job?.id);
    assert.ok(at, changed(`a scheduler's job id is no longer repeat:<id>:<due ms> ("${job?.id}")`));
    assert.equal(
      at.getTime(),
      due,
      changed(`the due instant read from the job id "${job?.id}" is not the run's (${due})`),
    );
    const stored = (await queue.getDelayed()).map((j) => j.id);
    assert.ok(
      stored.includes(job?.id),
      changed(`the job stored is not the one upsertJobScheduler returned (${stored.join(', ')})`),
    );
  });

  test('adding the same scheduler again produces no second job for the same run', async () => {
    const due = Date.now() + 3_600_000;
    const repeat = { every: 3_600_000, startDate: due };
    const first = await queue.upsertJobScheduler('periodic:10:uvw', repeat);
    const second = await queue.upsertJobScheduler('periodic:10:uvw', repeat);
    assert.equal(
      second?.id,
      first?.id,
      changed(`the job id of a run no longer follows from the scheduler and the due instant`),
    );
    const runs = (await queue.getDelayed()).filter((j) => j.id?.includes('periodic:10:uvw'));
    assert.equal(
      runs.length,
      1,
      changed(`a second upsert of a scheduler queued another job (${runs.map((j) => j.id)})`),
    );
  });
});
