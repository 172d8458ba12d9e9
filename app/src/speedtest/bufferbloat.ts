// The bufferbloat grade: how much latency grows while the link is full, in letters.
//
// The scale is DSLReports' (https://www.dslreports.com/faq/17930), which Waveform's bufferbloat
// test and the bufferbloat.net project's own pages use too, so a grade here reads the same as the
// one people already know: the increase is the mean of the download and upload increases over the
// idle latency, and A+ is under 5 ms, A under 30, B under 60, C under 200, D under 400, F beyond.
// bufferbloat.net calls anything worse than B worth fixing (SQM: fq_codel or cake on the router).
import type { LoadedLatency } from './engine.ts';

export const BUFFERBLOAT_GRADES = ['A+', 'A', 'B', 'C', 'D', 'F'] as const;
export type BufferbloatGrade = (typeof BUFFERBLOAT_GRADES)[number];

/** Upper bounds (exclusive) of the increase for each grade but F, in milliseconds. */
export const BUFFERBLOAT_BOUNDS_MS: Readonly<Record<Exclude<BufferbloatGrade, 'F'>, number>> = {
  'A+': 5,
  A: 30,
  B: 60,
  C: 200,
  D: 400,
};

export function gradeOf(increaseMs: number): BufferbloatGrade {
  for (const grade of BUFFERBLOAT_GRADES) {
    if (grade === 'F' || increaseMs < BUFFERBLOAT_BOUNDS_MS[grade]) return grade;
  }
  return 'F';
}

export interface Bufferbloat {
  /** Mean increase over the idle latency of the directions measured (never below 0). */
  increaseMs: number;
  grade: BufferbloatGrade;
}

/** Null when neither direction's loaded latency was measured. */
export function bufferbloat(test: {
  pingMs: number | null;
  downloadLatency: LoadedLatency | null;
  uploadLatency: LoadedLatency | null;
}): Bufferbloat | null {
  if (test.pingMs === null) return null;
  const idle = test.pingMs;
  const increases = [test.downloadLatency, test.uploadLatency].flatMap((loaded) =>
    loaded ? [Math.max(0, loaded.latencyMs - idle)] : [],
  );
  if (!increases.length) return null;
  const increaseMs = increases.reduce((a, b) => a + b, 0) / increases.length;
  return { increaseMs, grade: gradeOf(increaseMs) };
}
