// The bufferbloat grade: how much latency grows while the link is full, in letters. The scale
// (DSLReports', which Waveform's test and bufferbloat.net use) lives in contract/bufferbloat.ts,
// shared with the alert rules and the dashboard; this grades one test with it. bufferbloat.net
// calls anything worse than B worth fixing (SQM: fq_codel or cake on the router).
import {
  BUFFERBLOAT_GRADE_BOUNDS_MS,
  BUFFERBLOAT_WORST_GRADE,
} from '../../../contract/bufferbloat.ts';
import type { LoadedLatency } from './engine.ts';

export const BUFFERBLOAT_GRADES = [
  ...BUFFERBLOAT_GRADE_BOUNDS_MS.map(([grade]) => grade),
  BUFFERBLOAT_WORST_GRADE,
] as const;
export type BufferbloatGrade = (typeof BUFFERBLOAT_GRADES)[number];

export function gradeOf(increaseMs: number): BufferbloatGrade {
  const bound = BUFFERBLOAT_GRADE_BOUNDS_MS.find(([, below]) => increaseMs < below);
  return bound ? bound[0] : BUFFERBLOAT_WORST_GRADE;
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
