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

/** What a request needs to know of its signed-in user (never the password hash). */
export interface SessionUser {
  id: number;
  username: string;
  isAdmin: boolean;
  isActive: boolean;
}

/** What get() read with a session besides its data: the stored expiry and the active user. */
interface Loaded {
  expiresAt: number;
  /** sessions.user_id, and the user if active (null when there is none or it is inactive). */
  userId: number | null;
  user: SessionUser | null;
}

export class PostgresSessionStore extends session.Store {
  readonly #db: Database;
  readonly #sweeper: NodeJS.Timeout;
  /** From get() to createSession(), which express-session calls with get()'s result. */
  readonly #read = new WeakMap<SessionData, Loaded>();
  /** Per session a request loaded: for touch() to compare expiries, for userOf(). */
  readonly #loaded = new WeakMap<Session, Loaded>();

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
    // Every signed-in page view starts here: the session and its user in one prepared statement.
    preparedQuery<{
      data: SessionData;
      expiresAt: Date;
      userId: number | null;
      activeId: number | null;
      username: string | null;
      isAdmin: boolean | null;
    }>(
      this.#db.sequelize,
      `SELECT s.data, s.expires_at AS "expiresAt", s.user_id AS "userId", u.id AS "activeId",
              u.username, u.is_admin AS "isAdmin"
         FROM sessions s LEFT JOIN users u ON u.id = s.user_id AND u.is_active
        WHERE s.sid = $1 AND s.expires_at > now()`,
      [sid],
    ).then(
      ([row]) => {
        if (!row) return callback(undefined, null);
        // The cookie's expiry is the table's, which touch() moves without rewriting `data`.
        const data = { ...row.data, cookie: { ...row.data.cookie, expires: row.expiresAt } };
        this.#read.set(data, {
          expiresAt: row.expiresAt.getTime(),
          userId: row.userId,
          user:
            row.activeId === null
              ? null
              : {
                  id: row.activeId,
                  username: row.username!,
                  isAdmin: row.isAdmin!,
                  isActive: true,
                },
        });
        callback(undefined, data);
      },
      (error: unknown) => callback(error),
    );
  }

  override createSession(request: Request, data: SessionData): Session & SessionData {
    const read = this.#read.get(data);
    const created = super.createSession(request, data);
    if (read) this.#loaded.set(created, read);
    return created;
  }

  /**
   * The active user of `userId`'s session as read with it (null: not active any more), or
   * undefined when this request did not load the session for that user (a new session).
   */
  userOf(session: Session, userId: number): SessionUser | null | undefined {
    const loaded = this.#loaded.get(session);
    return loaded?.userId === userId ? loaded.user : undefined;
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
    const loaded = this.#loaded.get(data as Session);
    if (loaded && Math.abs(expiresAt.getTime() - loaded.expiresAt) < TOUCH_RESOLUTION_MS) {
      return callback?.();
    }
    this.#db.models.Session.update({ expiresAt }, { where: { sid } }).then(
      () => {
        if (loaded) loaded.expiresAt = expiresAt.getTime();
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
