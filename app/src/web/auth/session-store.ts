// express-session's store on the `sessions` table: sessions live server-side, the cookie holds
// only a signed id, and signing out (or deleting a user) really ends them.
import type { Request } from 'express';
import session, { type Session, type SessionData } from 'express-session';
import { Op } from 'sequelize';
import type { Database } from '../../db/index.ts';
import { preparedQuery } from '../../db/prepared.ts';

const DAY_MS = 86_400_000;
/**
 * express-session slides a session's expiry on every request and asks the store to "touch" it:
 * the new expiry is written only once it has moved this far, not once per page view.
 * (A session idle until its end may so end up to this much before its cookie says.)
 */
const TOUCH_RESOLUTION_MS = 60_000;

type Callback<T = void> = (error?: unknown, value?: T) => void;

export class PostgresSessionStore extends session.Store {
  readonly #db: Database;
  readonly #sweeper: NodeJS.Timeout;
  /** The expiry in the table of each session a request loaded, for touch() to compare with. */
  readonly #storedExpiry = new WeakMap<Session, number>();

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
    // Every signed-in page view starts here: one prepared statement, no model instance.
    preparedQuery<{ data: SessionData; expiresAt: Date }>(
      this.#db.sequelize,
      'SELECT data, expires_at AS "expiresAt" FROM sessions WHERE sid = $1 AND expires_at > now()',
      [sid],
    ).then(
      ([row]) =>
        callback(
          undefined,
          // The cookie's expiry is the table's, which touch() moves without rewriting `data`.
          row ? { ...row.data, cookie: { ...row.data.cookie, expires: row.expiresAt } } : null,
        ),
      (error: unknown) => callback(error),
    );
  }

  override createSession(request: Request, data: SessionData): Session & SessionData {
    const stored = data.cookie.expires;
    const created = super.createSession(request, data);
    if (stored) this.#storedExpiry.set(created, new Date(stored).getTime());
    return created;
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
    const expiresAt = expiry(data);
    const stored = this.#storedExpiry.get(data as Session);
    if (stored !== undefined && Math.abs(expiresAt.getTime() - stored) < TOUCH_RESOLUTION_MS) {
      return callback?.();
    }
    this.#db.models.Session.update({ expiresAt }, { where: { sid } }).then(
      () => {
        this.#storedExpiry.set(data as Session, expiresAt.getTime());
        callback?.();
      },
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
