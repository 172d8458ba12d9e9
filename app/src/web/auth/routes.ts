// Sign in and sign out. The sign-in form is rate-limited per address, and a successful sign-in
// gets a fresh session id (so an id planted before sign-in is worth nothing after it).
import express, { Router } from 'express';
import { perMinute } from '../rate-limit.ts';
import type { Database } from '../../db/index.ts';
import { html, page } from '../html.ts';
import { verifyLogin } from './login.ts';
import { csrfProtection, csrfToken, SESSION_COOKIE } from './middleware.ts';

/** Where to go after signing in: only a path on this site, never another origin. */
function safeNext(value: unknown): string {
  return typeof value === 'string' && /^\/(?!\/)[^\\]*$/.test(value) ? value : '/admin';
}

function loginPage(token: string, next: string, error?: string) {
  return page(
    'Sign in',
    html`<main class="login">
      <h1>Sign in to Refresher</h1>
      ${error ? html`<p role="alert" class="errors">${error}</p>` : ''}
      <form method="post" action="/login" class="editor">
        <input type="hidden" name="_csrf" value="${token}" />
        <input type="hidden" name="next" value="${next}" />
        <label>User name <input name="username" autocomplete="username" required /></label>
        <label
          >Password <input name="password" type="password" autocomplete="current-password" required
        /></label>
        <button type="submit">Sign in</button>
      </form>
    </main>`,
  );
}

export function authRoutes(
  db: Database,
  options: { loginRateLimitPerMinute?: number } = {},
): Router {
  const router = Router();
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
        const outcome = await verifyLogin(db, username, password);
        if (!outcome.ok) {
          const message =
            outcome.reason === 'locked'
              ? 'Too many failed attempts: this account is locked for a while.'
              : 'Wrong user name or password.';
          response
            .status(401)
            .type('html')
            .send(loginPage(csrfToken(request), safeNext(body.next), message));
          return;
        }
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
