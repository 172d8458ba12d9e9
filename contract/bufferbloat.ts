// The bufferbloat grade's scale: the letter for how much latency rises while a test fills the link
// (the mean of the download and upload increases over the idle ping). It is DSLReports' scale
// (https://www.dslreports.com/faq/17930), which Waveform's test and bufferbloat.net use too. The
// app grades each test with it (app/src/speedtest/bufferbloat.ts), the alert rules name the grade
// in SpeedtestBufferbloatHigh's summary and the Speedtester dashboard colours by it: one scale,
// here, so that a "C" means the same in the portal, the message and the chart.

/** Each grade but F with its upper bound (exclusive), in milliseconds, best first. */
export const BUFFERBLOAT_GRADE_BOUNDS_MS = [
  ['A+', 5],
  ['A', 30],
  ['B', 60],
  ['C', 200],
  ['D', 400],
] as const;

/** The grade beyond the last bound. */
export const BUFFERBLOAT_WORST_GRADE = 'F';
