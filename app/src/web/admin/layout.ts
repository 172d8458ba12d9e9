// The portal's frame: navigation, the signed-in user, the one-time notice, sign-out.
import type { Request, Response } from 'express';
import type { User } from '../../db/models.ts';
import { csrfToken, currentUser } from '../auth/middleware.ts';
import { html, page, type SafeHtml } from '../html.ts';

export const ADMIN = '/admin';

const SECTIONS = [
  { path: '', label: 'Home' },
  { path: '/speedtests', label: 'Speed tests' },
  { path: '/periodic-tasks', label: 'Schedules' },
  { path: '/probes', label: 'Probes' },
  { path: '/task-results', label: 'Task results' },
  { path: '/queues', label: 'Queues', adminOnly: true },
  { path: '/notifications', label: 'Notifications', adminOnly: true },
  { path: '/users', label: 'Users' },
  { path: '/account', label: 'Account' },
] as const;

export interface PageOptions {
  title: string;
  /** Which navigation entry is current (its path under /admin). */
  section: (typeof SECTIONS)[number]['path'] | null;
  body: SafeHtml;
  scripts?: string[];
  status?: number;
}

function navigation(user: User, current: string | null, csrf: string): SafeHtml {
  const links = SECTIONS.filter((s) => !('adminOnly' in s) || user.isAdmin).map(
    (s) =>
      html`<a href="${ADMIN}${s.path}" ${s.path === current ? html`aria-current="page"` : ''}
        >${s.label}</a
      >`,
  );
  // On a phone admin.js folds the navigation and the sign-out behind the Menu button (which the
  // stylesheet shows only then); without JavaScript they stay a wrapped list.
  return html`<header class="top">
    <a class="brand" href="${ADMIN}">Refresher</a>
    <button
      type="button"
      class="menu-toggle"
      aria-expanded="false"
      aria-controls="portal-nav portal-account"
    >
      Menu
    </button>
    <nav id="portal-nav" aria-label="Portal">${links}</nav>
    <form method="post" action="/logout" class="signout" id="portal-account">
      <input type="hidden" name="_csrf" value="${csrf}" />
      <span>${user.username}</span>
      <button type="submit" class="link">Sign out</button>
    </form>
  </header>`;
}

/** Sends a full portal page; a pending notice from the session is shown once. */
export function render(request: Request, response: Response, options: PageOptions): void {
  const user = currentUser(response.locals);
  const csrf = csrfToken(request);
  const notice = request.session.flash;
  if (notice) delete request.session.flash;
  response
    .status(options.status ?? 200)
    .type('html')
    .send(
      page(
        options.title,
        html`${navigation(user, options.section, csrf)}
          <main>
            ${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
            <h1>${options.title}</h1>
            ${options.body}
          </main>`,
        { scripts: ['admin.js', ...(options.scripts ?? [])], csrf },
      ),
    );
}

/** Redirects after a successful POST (so a reload does not repeat it), with a notice. */
export function redirectWithNotice(
  request: Request,
  response: Response,
  to: string,
  notice: string,
): void {
  request.session.flash = notice;
  // Saved before answering: express-session would otherwise send the redirect's headers while
  // the write is still under way, and the browser's next request could read the old session.
  request.session.save((error) => {
    if (error) request.next?.(error);
    else response.redirect(303, to);
  });
}

/** A hidden CSRF field for a form on a page. */
export function csrfField(request: Request): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${csrfToken(request)}" />`;
}
