// One probe at work: a round every period (every target checked at once), and the outage state
// those rounds imply. An outage begins when `failuresForOutage` rounds in a row found every target
// failing, and is dated from the first of them (the link went away at most one period before
// that); it ends at the first round in which any target answers. With the default of two rounds,
// a link that goes down is reported within two periods, and one that comes back within one.
//
// Rounds are planned on a fixed grid (start + n × period), not "period after the last round", so
// slow rounds do not make the probe drift; a round still running when the next is due is not
// doubled up: the due round is skipped and counted as such.
import type { CheckOptions, CheckResult } from './check.ts';

export interface MonitoredProbe {
  id: number;
  name: string;
  kind: 'tcp' | 'http';
  targets: string[];
  periodSeconds: number;
  timeoutMs: number;
  failuresForOutage: number;
}

export interface RoundResult {
  target: string;
  result: CheckResult;
}

export interface MonitorEvents {
  /** Every round, once all its checks are back. */
  round(probe: MonitoredProbe, at: Date, results: RoundResult[]): void;
  outageStarted(probe: MonitoredProbe, since: Date, failedRounds: number, error: string): void;
  /** `moreFailedRounds`: failed rounds since outageStarted reported its count (or since a restart). */
  outageEnded(probe: MonitoredProbe, at: Date, moreFailedRounds: number): void;
  /** A round that was due while the last one still ran. */
  skipped?(probe: MonitoredProbe, at: Date): void;
}

export type Checker = (
  kind: MonitoredProbe['kind'],
  target: string,
  options: CheckOptions,
) => Promise<CheckResult>;

export interface MonitorOptions {
  check: Checker;
  source?: CheckOptions['source'];
  /** An outage already open when the monitor starts (after a restart): it goes on from there. */
  openOutageSince?: Date | null;
}

export class ProbeMonitor {
  readonly probe: MonitoredProbe;
  readonly #events: MonitorEvents;
  readonly #options: MonitorOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | null = null;
  #stopped = false;
  #failedRounds = 0;
  /** Of #failedRounds, those outageStarted has reported. */
  #reported = 0;
  #firstFailureAt: Date | null = null;
  #down: boolean;

  constructor(probe: MonitoredProbe, events: MonitorEvents, options: MonitorOptions) {
    this.probe = probe;
    this.#events = events;
    this.#options = options;
    this.#down = Boolean(options.openOutageSince);
    this.#firstFailureAt = options.openOutageSince ?? null;
  }

  /** Whether the probe is in an outage now. */
  get down(): boolean {
    return this.#down;
  }

  start(): void {
    const origin = Date.now();
    const period = this.probe.periodSeconds * 1000;
    let n = 0;
    const next = () => {
      if (this.#stopped) return;
      const due = origin + n * period;
      n++;
      this.#timer = setTimeout(
        () => {
          if (this.#running) {
            this.#events.skipped?.(this.probe, new Date());
          } else {
            this.#running = this.#round().finally(() => (this.#running = null));
          }
          next();
        },
        Math.max(0, due - Date.now()),
      );
    };
    next();
  }

  /** Stops planning rounds and waits for the one in progress (at most the timeout). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  async #round(): Promise<void> {
    const at = new Date();
    const { timeoutMs } = this.probe;
    const results = await Promise.all(
      this.probe.targets.map(async (target) => ({
        target,
        result: await this.#options.check(this.probe.kind, target, {
          timeoutMs,
          source: this.#options.source,
        }),
      })),
    );
    if (this.#stopped) return;
    this.#events.round(this.probe, at, results);
    const failures = results.flatMap(({ target, result }) =>
      result.ok ? [] : [`${target}: ${result.error}`],
    );
    if (failures.length === results.length) {
      this.#failedRounds++;
      this.#firstFailureAt ??= at;
      if (!this.#down && this.#failedRounds >= this.probe.failuresForOutage) {
        this.#down = true;
        this.#reported = this.#failedRounds;
        this.#events.outageStarted(
          this.probe,
          this.#firstFailureAt,
          this.#failedRounds,
          failures.join('; '),
        );
      }
      return;
    }
    if (this.#down) this.#events.outageEnded(this.probe, at, this.#failedRounds - this.#reported);
    this.#down = false;
    this.#failedRounds = 0;
    this.#reported = 0;
    this.#firstFailureAt = null;
  }
}
