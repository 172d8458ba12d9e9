// Sessions, CSRF protection and the "who is this?" checks every protected route goes through.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import session from 'express-session';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/index.ts';
import type { User } from '../../db/models.ts';
import { preparedQuery } from '../../db/prepared.ts';
import type { Logger } from '../../log.ts';
import { PostgresSessionStore, type SessionUser } from './session-store.ts';

declare module 'express-session' {
  interface SessionData {
    userId?: number;
    csrfToken?: string;
    /** A one-time message for the next page ("Queued a run of …"). */
    flash?: string;
  }
}

export const SESSION_COOKIE = 'refresher.sid';
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** SESSION_SECRET, or a random one for this process (sessions then end when it does). */
export function sessionSecret(config: Pick<Config, 'SESSION_SECRET'>, log: Logger): string {
  if (config.SESSION_SECRET) return config.SESSION_SECRET;
  log.warn(
    'SESSION_SECRET is not set: using a random one, so sessions and device cookies end when this process does, and other web processes (replicas) refuse them',
  );
  return randomBytes(32).toString('base64url');
}

export function sessions(
  db: Database,
  config: Pick<Config, 'SESSION_MAX_AGE_HOURS'>,
  secret: string,
): { middleware: RequestHandler; store: PostgresSessionStore } {
  const store = new PostgresSessionStore(db);
  const middleware = session({
    name: SESSION_COOKIE,
    secret,
    store,
    resave: false,
    saveUninitialized: false,
    rolling: true,
    cookie: {
      httpOnly: true,
      sameSite: 'lax',
      // Secure whenever the request came over TLS, directly or through a trusted proxy.
      secure: 'auto',
      maxAge: config.SESSION_MAX_AGE_HOURS * 3_600_000,
    },
  });
  return { middleware, store };
}

/** The session's CSRF token, created on first use; forms embed it, scripts send it as a header. */
export function csrfToken(request: Request): string {
  request.session.csrfToken ??= randomBytes(32).toString('base64url');
  return request.session.csrfToken;
}

function sameToken(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Refuses state-changing requests that ride on the session cookie without the session's CSRF
 * token (synchronizer token pattern). Bearer-token requests carry no cookie to abuse and pass.
 */
export function csrfProtection(): RequestHandler {
  return (request, response, next) => {
    if (!UNSAFE_METHODS.has(request.method) || request.headers.authorization) return next();
    const expected = request.session?.csrfToken;
    const sent =
      (request.headers['x-csrf-token'] as string | undefined) ??
      (request.body as Record<string, unknown> | undefined)?._csrf;
    if (!expected || typeof sent !== 'string' || !sameToken(sent, expected)) {
      response
        .status(403)
        .json({ error: 'missing or invalid CSRF token; reload the page and try again' });
      return;
    }
    next();
  };
}

/** Puts the signed-in user of the session (if still active) in response.locals.user. */
export function sessionUser(db: Database, store: PostgresSessionStore): RequestHandler {
  const signIn = (locals: Record<string, unknown>, user: SessionUser) => {
    locals.user = db.models.User.build(user as never, { isNewRecord: false, raw: true });
  };
  return (request, response, next) => {
    const userId = request.session?.userId;
    if (response.locals.user || userId === undefined) return next();
    // Usually the store read the user with the session, in the same query.
    const known = store.userOf(request.session, userId);
    if (known !== undefined) {
      if (known) signIn(response.locals, known);
      return next();
    }
    // Only the fields a request needs (as for a bearer token; the password hash stays put).
    preparedQuery<SessionUser>(
      db.sequelize,
      'SELECT id, username, is_admin AS "isAdmin", is_active AS "isActive" FROM users WHERE id = $1 AND is_active',
      [userId],
    ).then(([user]) => {
      if (user) signIn(response.locals, user);
      next();
    }, next);
  };
}

/** API routes: 401 for anyone not signed in (session or bearer token). */
export const requireApiUser: RequestHandler = (_request, response, next) => {
  if (response.locals.user) return next();
  response
    .status(401)
    .set('www-authenticate', 'Bearer')
    .json({ error: 'sign in or send a bearer token' });
};

/** Portal pages: anyone not signed in goes to the sign-in page and comes back afterwards. */
export const requirePageUser: RequestHandler = (request, response, next) => {
  if (response.locals.user) return next();
  response.redirect(303, `/login?next=${encodeURIComponent(request.originalUrl)}`);
};

export function currentUser(locals: Record<string, unknown>): User {
  return locals.user as User;
}
