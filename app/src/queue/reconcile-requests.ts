// Reconcile requests, served one reconcile at a time. A full reconcile also covers any ids that
// wait; ids that arrive together (a burst of NOTIFYs) are served by one scoped reconcile; a failed
// reconcile is retried after a second, whatever asked for it.
import type { Logger } from '../log.ts';

export class ReconcileRequests<Report> {
  readonly #run: (ids: Set<number> | null) => Promise<Report>;
  readonly #log: Logger;
  readonly #counted: (trigger: string) => void;
  #closed = false;
  #pendingFull = false;
  readonly #pendingIds = new Set<number>();
  readonly #fullWaiters: Array<{ resolve(report: Report): void; reject(error: unknown): void }> =
    [];
  #draining = false;
  #drained: Promise<void> = Promise.resolve();
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(options: {
    /** One reconcile: of every row (null) or of the given ids. */
    run(ids: Set<number> | null): Promise<Report>;
    log: Logger;
    /** Called for every request, with what asked (the reconciles counter). */
    counted(trigger: string): void;
  }) {
    this.#run = options.run;
    this.#log = options.log;
    this.#counted = options.counted;
  }

  /** Asks for a reconcile of the given ids, or of everything; returns at once. */
  request(trigger: string, ids?: number[]): void {
    if (this.#closed) return;
    this.#counted(trigger);
    if (ids) for (const id of ids) this.#pendingIds.add(id);
    else this.#pendingFull = true;
    if (!this.#draining) this.#drained = this.#drain();
  }

  /** A full reconcile; resolves with its report once it has run. */
  full(trigger: string): Promise<Report> {
    if (this.#closed) return Promise.reject(new Error('scheduler closed'));
    return new Promise((resolve, reject) => {
      this.#fullWaiters.push({ resolve, reject });
      this.request(trigger);
    });
  }

  /** Takes no more requests and waits for the reconcile under way. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    await this.#drained;
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (!this.#closed && (this.#pendingFull || this.#pendingIds.size)) {
        const ids = this.#pendingFull ? null : new Set(this.#pendingIds);
        const waiters = this.#pendingFull ? this.#fullWaiters.splice(0) : [];
        this.#pendingFull = false;
        this.#pendingIds.clear();
        try {
          const report = await this.#run(ids);
          for (const waiter of waiters) waiter.resolve(report);
        } catch (error) {
          this.#log.warn({ err: (error as Error).message }, 'reconcile failed; retrying in 1 s');
          for (const waiter of waiters) waiter.reject(error);
          clearTimeout(this.#retryTimer);
          this.#retryTimer = setTimeout(() => this.request('retry'), 1_000);
        }
      }
    } finally {
      this.#draining = false;
      for (const waiter of this.#closed ? this.#fullWaiters.splice(0) : [])
        waiter.reject(new Error('scheduler closed'));
    }
  }
}
