// Sign in and sign out. The sign-in form is rate-limited per address and throttled per client
// and name (throttle.ts), and a successful sign-in gets a fresh session id (so an id planted
// before sign-in is worth nothing after it) and a device cookie that marks the browser as known.
import express, { Router, type Request } from 'express';
import type { Database } from '../../db/index.ts';
import type { Logger } from '../../log.ts';
import { audit, clientAddress } from '../audit.ts';
import { html, page } from '../html.ts';
import { perMinute } from '../rate-limit.ts';
import { noStore } from '../security-headers.ts';
import { verifyLogin } from './login.ts';
import { csrfProtection, csrfToken, SESSION_COOKIE } from './middleware.ts';
import { DEVICE_COOKIE, DEVICE_COOKIE_MAX_AGE_MS, type LoginThrottle } from './throttle.ts';

/** Where to go after signing in: only a path on this site, never another origin. */
function safeNext(value: unknown): string {
  return typeof value === 'string' && /^\/(?!\/)[^\\]*$/.test(value) ? value : '/admin';
}

function loginPage(token: string, next: string, error?: string, username = '') {
  return page(
    'Sign in',
    html`<main class="login">
      <h1>Sign in to Refresher</h1>
      <p class="intro">
        Refresher runs internet speed tests on a schedule and keeps every result. Sign in to see
        them and to manage the schedules.
      </p>
      ${error ? html`<p role="alert" class="errors">${error}</p>` : ''}
      <form method="post" action="/login" class="editor">
        <input type="hidden" name="_csrf" value="${token}" />
        <input type="hidden" name="next" value="${next}" />
        <label
          >User name <input name="username" value="${username}" autocomplete="username" required
        /></label>
        <label
          >Password <input name="password" type="password" autocomplete="current-password" required
        /></label>
        <button type="submit">Sign in</button>
      </form>
    </main>`,
  );
}

/** The device cookie the browser sent (express-session reads only its own cookie). */
function deviceCookie(request: Request): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === DEVICE_COOKIE) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1_000));

export function authRoutes(
  db: Database,
  log: Logger,
  options: { throttle: LoginThrottle; loginRateLimitPerMinute?: number },
): Router {
  const router = Router();
  router.use(['/login', '/logout'], noStore);
  const form = express.urlencoded({ extended: false, limit: '16kb' });

  // Showing the form starts a session (for its CSRF token), a row in PostgreSQL: limit how many
  // one address can make, so nobody fills the table by reloading.
  const pageLimit = perMinute(6 * (options.loginRateLimitPerMinute ?? 10));
  router.get('/login', pageLimit, (request, response) => {
    response.type('html').send(loginPage(csrfToken(request), safeNext(request.query.next)));
  });

  router.post(
    '/login',
    perMinute(
      options.loginRateLimitPerMinute ?? 10,
      'too many sign-in attempts from this address; wait a minute',
    ),
    form,
    csrfProtection(),
    async (request, response, next) => {
      try {
        const body = request.body as Record<string, unknown>;
        const username = typeof body.username === 'string' ? body.username : '';
        const password = typeof body.password === 'string' ? body.password : '';
        const outcome = await verifyLogin(db, options.throttle, {
          username,
          password,
          address: clientAddress(request),
          device: deviceCookie(request),
        });
        const refuse = (status: number, message: string) =>
          response
            .status(status)
            .type('html')
            .send(
              loginPage(csrfToken(request), safeNext(body.next), message, username.slice(0, 64)),
            );
        if (!outcome.ok) {
          if (outcome.reason === 'invalid') {
            // The name as typed is logged only when it is an account's: a password typed into
            // the name field must not end up in the log.
            audit(log, request, 'login.failed', {
              username: outcome.user?.username ?? null,
              userId: outcome.user?.id ?? null,
            });
            if (outcome.guardedNow)
              audit(log, request, 'account.guarded', { username: outcome.user?.username ?? null });
            return void refuse(401, 'Wrong user name or password.');
          }
          audit(log, request, 'login.throttled', {
            reason: outcome.reason,
            retryAfterS: seconds(outcome.retryAfterMs),
          });
          response.set('retry-after', String(seconds(outcome.retryAfterMs)));
          return void refuse(
            429,
            outcome.reason === 'backoff'
              ? `Too many failed sign-ins with this name from here: try again in ${seconds(outcome.retryAfterMs)} seconds.`
              : 'Too many failed sign-ins with this name from new devices: for up to an hour, it ' +
                  'signs in only from browsers and addresses that signed in with it before. An ' +
                  'admin can lift this on the Users page.',
          );
        }
        audit(log, request, 'login.succeeded', {
          username: outcome.user.username,
          userId: outcome.user.id,
        });
        response.cookie(DEVICE_COOKIE, outcome.device, {
          httpOnly: true,
          sameSite: 'lax',
          secure: request.secure,
          maxAge: DEVICE_COOKIE_MAX_AGE_MS,
          path: '/login',
        });
        request.session.regenerate((error) => {
          if (error) return next(error);
          request.session.userId = outcome.user.id;
          csrfToken(request);
          request.session.save((saveError) =>
            saveError ? next(saveError) : response.redirect(303, safeNext(body.next)),
          );
        });
      } catch (error) {
        next(error);
      }
    },
  );

  router.post('/logout', form, csrfProtection(), (request, response, next) => {
    request.session.destroy((error) => {
      if (error) return next(error);
      response.clearCookie(SESSION_COOKIE).redirect(303, '/login');
    });
  });

  return router;
}
