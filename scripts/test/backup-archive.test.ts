// The archive checks npm run restore makes before it touches a database (scripts/lib/backup-
// archive.ts), on files written here: a whole archive passes; a missing manifest, a manifest
// that is not one (the field named), a dump of another size or content, and a migration level the
// app does not know are each refused with what is wrong. The round trip against PostgreSQL runs
// in the stack test (test:stack).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { tempDir } from '../../testing/files.ts';
import {
  archivePaths,
  MANIFEST_FORMAT,
  migrationProblem,
  readArchive,
  rowDifferences,
} from '../lib/backup-archive.ts';

const work = tempDir('refresher-archive-test-');
after(() => work.remove());

function archive(name: string, dump: Buffer, changes: Record<string, unknown> = {}): string {
  const file = join(work.path, `${name}.dump`);
  writeFileSync(file, dump);
  const manifest = {
    format: MANIFEST_FORMAT,
    deployment: 'refresher',
    createdAt: '2026-12-03T15:00:00.000Z',
    host: 'vm',
    appVersion: '0.1.0',
    postgres: { serverVersion: '17.6', database: 'refresher' },
    migrations: ['0001-initial-schema'],
    rows: { speedtests: 3 },
    dump: { file: `${name}.dump`, bytes: dump.length, sha256: createHash('sha256').update(dump).digest('hex') },
    ...changes,
  }; // prettier-ignore
  writeFileSync(join(work.path, `${name}.manifest.json`), JSON.stringify(manifest));
  return file;
}

describe('backup archives', () => {
  const dump = Buffer.from('PGDMP a custom-format dump, as far as these checks care');

  test('either file names the pair', () => {
    assert.deepEqual(archivePaths('b/x.dump'), { dump: 'b/x.dump', manifest: 'b/x.manifest.json' });
    assert.deepEqual(archivePaths('b/x.manifest.json'), archivePaths('b/x.dump'));
  });

  test('a whole archive passes; every kind of damage is refused with what is wrong', async () => {
    const whole = await readArchive(archive('whole', dump));
    assert.equal(whole.manifest.rows.speedtests, 3);
    await assert.rejects(readArchive(join(work.path, 'none.dump')), /no manifest .*none\.manifest\.json beside the dump/);
    await assert.rejects(readArchive(archive('format', dump, { format: 'something/2' })), /format: Invalid input: expected "refresher-backup\/1"/);
    await assert.rejects(readArchive(archive('rows', dump, { rows: { speedtests: -1 } })), /rows\.speedtests: /);
    const cut = archive('cut', dump);
    writeFileSync(cut, dump.subarray(0, 10));
    await assert.rejects(readArchive(cut), /has 10 bytes, the manifest says \d+: the archive is truncated/);
    const changed = archive('changed', dump);
    writeFileSync(changed, Buffer.from(dump.toString().replace('PGDMP', 'XXXXX')));
    await assert.rejects(readArchive(changed), /sha256 is [0-9a-f]{64}, the manifest says [0-9a-f]{64}: the archive is damaged/);
  }); // prettier-ignore

  test('a migration the app does not know is named; an older level is fine', () => {
    const known = ['0001-a', '0002-b'];
    assert.equal(migrationProblem(['0001-a'], known), undefined);
    assert.match(migrationProblem(['0001-a', '0002-b', '0003-c'], known) ?? '', /at migration 0003-c, which this app does not know \(it knows up to 0002-b; unknown: 0003-c\)/);
  }); // prettier-ignore

  test('row differences name each table', () => {
    assert.deepEqual(rowDifferences({ a: 1, b: 2 }, { a: 1, b: 3, c: 0 }), [
      'b: 3 rows, the manifest says 2',
      'c: 0 rows, the manifest says none',
    ]);
  });
});
