// The bufferbloat grade: DSLReports' scale, read from the mean increase of the loaded latencies.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bufferbloat, gradeOf } from '../src/speedtest/bufferbloat.ts';

const loaded = (latencyMs: number) => ({ latencyMs, jitterMs: null });

test('each grade starts at its bound: A+ < 5 ms, A < 30, B < 60, C < 200, D < 400, F beyond', () => {
  const cases: Array<[number, string]> = [
    [0, 'A+'],
    [4.99, 'A+'],
    [5, 'A'],
    [29.99, 'A'],
    [30, 'B'],
    [59.99, 'B'],
    [60, 'C'],
    [199.99, 'C'],
    [200, 'D'],
    [399.99, 'D'],
    [400, 'F'],
    [5_000, 'F'],
  ];
  for (const [increase, grade] of cases) assert.equal(gradeOf(increase), grade, `${increase} ms`);
});

test('the increase is the mean of the directions measured, never below zero', () => {
  // +70 ms down, +10 ms up: 40 ms on average, a B (the download alone would be a C).
  assert.deepEqual(
    bufferbloat({ pingMs: 20, downloadLatency: loaded(90), uploadLatency: loaded(30) }),
    { increaseMs: 40, grade: 'B' },
  );
  assert.deepEqual(bufferbloat({ pingMs: 20, downloadLatency: loaded(90), uploadLatency: null }), {
    increaseMs: 70,
    grade: 'C',
  });
  // Loaded samples a little under the idle median are noise, not a negative bloat.
  assert.deepEqual(
    bufferbloat({ pingMs: 20, downloadLatency: loaded(19), uploadLatency: loaded(21) }),
    { increaseMs: 0.5, grade: 'A+' },
  );
  assert.equal(bufferbloat({ pingMs: 20, downloadLatency: null, uploadLatency: null }), null);
  assert.equal(
    bufferbloat({ pingMs: null, downloadLatency: loaded(30), uploadLatency: null }),
    null,
  );
});
