// A snapshot of each stack for the committed example configuration: any change to what would be
// deployed shows up here as a diff to review. Node 20's test runner has no snapshots, so they are
// JSON files next to this one. After reviewing a change, write the new ones with:
//
//   UPDATE_SNAPSHOTS=1 node --import tsx --test infra/test/snapshot.test.ts
//
// The stacks use fixed test secrets and a fixed bundle digest, so a snapshot changes only when
// the infrastructure does (and it holds no secret: those are variables).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { exampleConfig, synthStacks, testInputs, type Synthesized } from './helpers.ts';

const SNAPSHOTS = fileURLToPath(new URL('./__snapshots__/', import.meta.url));
const UPDATE = process.env.UPDATE_SNAPSHOTS === '1';
const HOW =
  'review the diff, then: UPDATE_SNAPSHOTS=1 node --import tsx --test infra/test/snapshot.test.ts';

/**
 * The lines that differ, with context: the first and last differing lines bound one region (a
 * change is usually in one place; the region shows all of it when it is not).
 */
export function lineDiff(expected: string, actual: string, context = 3, limit = 80): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length - 1;
  let endB = b.length - 1;
  while (endA >= start && endB >= start && a[endA] === b[endB]) {
    endA--;
    endB--;
  }
  const from = Math.max(0, start - context);
  const lines = [`@@ snapshot line ${start + 1}, now line ${start + 1} @@`];
  for (let i = from; i < start; i++) lines.push(`  ${a[i]}`);
  for (let i = start; i <= endA; i++) lines.push(`- ${a[i]}`);
  for (let i = start; i <= endB; i++) lines.push(`+ ${b[i]}`);
  for (let i = endA + 1; i < Math.min(a.length, endA + 1 + context); i++) lines.push(`  ${a[i]}`);
  return lines.length > limit
    ? [...lines.slice(0, limit), `… ${lines.length - limit} more lines`].join('\n')
    : lines.join('\n');
}

function assertSnapshot(name: string, actual: string, update: boolean): void {
  const file = join(SNAPSHOTS, `${name}.json`);
  const text = `${actual}\n`;
  if (update) {
    mkdirSync(SNAPSHOTS, { recursive: true });
    writeFileSync(file, text);
    return;
  }
  if (!existsSync(file)) assert.fail(`no snapshot ${file}: ${HOW}`);
  const expected = readFileSync(file, 'utf8');
  if (expected !== text)
    assert.fail(
      `stack "${name}" differs from its snapshot (${file}):\n${lineDiff(expected, text)}\n\n${HOW}`,
    );
}

let example: Synthesized;
before(async () => {
  example = synthStacks(testInputs(await exampleConfig()));
});

describe('snapshots', () => {
  test('stack "azure" is its snapshot', () => assertSnapshot('azure', example.azure, UPDATE));
  test('stack "services" is its snapshot', () =>
    assertSnapshot('services', example.services, UPDATE));

  test('a changed stack fails with a diff of what changed', () => {
    const changed = example.services.replace(/"memory": 384,/, '"memory": 999,');
    assert.notEqual(changed, example.services);
    assert.throws(
      () => assertSnapshot('services', changed, false),
      (error: Error) =>
        /^- +"memory": 384,$/m.test(error.message) &&
        /^\+ +"memory": 999,$/m.test(error.message) &&
        error.message.includes('UPDATE_SNAPSHOTS=1'),
    );
  });
});
