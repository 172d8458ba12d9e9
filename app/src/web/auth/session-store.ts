// express-session's store on the `sessions` table: sessions live server-side, the cookie holds
// only a signed id, and signing out (or deleting a user) really ends them.
import session, { type SessionData } from 'express-session';
import { Op } from 'sequelize';
import type { Database } from '../../db/index.ts';

const DAY_MS = 86_400_000;

type Callback<T = void> = (error?: unknown, value?: T) => void;

export class PostgresSessionStore extends session.Store {
  readonly #db: Database;
  readonly #sweeper: NodeJS.Timeout;

  constructor(db: Database, options: { sweepEveryMs?: number } = {}) {
    super();
    this.#db = db;
    // Expired rows are ignored on read; the sweep only keeps the table small.
    this.#sweeper = setInterval(
      () => void this.sweep().catch(() => undefined),
      options.sweepEveryMs ?? 15 * 60_000,
    );
    this.#sweeper.unref();
  }

  override get(sid: string, callback: Callback<SessionData | null>): void {
    this.#db.models.Session.findOne({ where: { sid, expiresAt: { [Op.gt]: new Date() } } }).then(
      (row) => callback(undefined, (row?.data as unknown as SessionData) ?? null),
      (error: unknown) => callback(error),
    );
  }

  override set(sid: string, data: SessionData, callback?: Callback): void {
    const userId = (data as SessionData & { userId?: number }).userId ?? null;
    this.#db.models.Session.upsert({
      sid,
      data: JSON.parse(JSON.stringify(data)) as Record<string, unknown>,
      userId,
      expiresAt: expiry(data),
    }).then(
      () => callback?.(),
      (error: unknown) => callback?.(error),
    );
  }

  override touch(sid: string, data: SessionData, callback?: Callback): void {
    this.#db.models.Session.update({ expiresAt: expiry(data) }, { where: { sid } }).then(
      () => callback?.(),
      (error: unknown) => callback?.(error),
    );
  }

  override destroy(sid: string, callback?: Callback): void {
    this.#db.models.Session.destroy({ where: { sid } }).then(
      () => callback?.(),
      (error: unknown) => callback?.(error),
    );
  }

  /** Deletes expired sessions; returns how many. */
  async sweep(): Promise<number> {
    return this.#db.models.Session.destroy({ where: { expiresAt: { [Op.lte]: new Date() } } });
  }

  close(): void {
    clearInterval(this.#sweeper);
  }
}

function expiry(data: SessionData): Date {
  const expires = data.cookie?.expires;
  return expires ? new Date(expires) : new Date(Date.now() + DAY_MS);
}
