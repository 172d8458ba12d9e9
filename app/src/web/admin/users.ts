// People: the user list (admins add users, deactivate and unlock them) and each user's own
// account page (password change, API tokens shown once at creation).
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { Database } from '../../db/index.ts';
import { ValidationError, type FieldIssue } from '../../validation.ts';
import { currentUser } from '../auth/middleware.ts';
import { PASSWORD_MIN_LENGTH } from '../auth/passwords.ts';
import type { LoginThrottle } from '../auth/throttle.ts';
import { createApiToken, revokeApiToken } from '../auth/tokens.ts';
import { changePassword, createUser, setUserActive } from '../auth/users.ts';
import { html, type SafeHtml } from '../html.ts';
import { DASH, status, time } from './format.ts';
import { ADMIN, csrfField, redirectWithNotice, render } from './layout.ts';
import { pathId, serialId } from '../ids.ts';
import { asyncPage, fieldError, ForbiddenPage, issueList, NotFoundPage } from './pages.ts';

type Form = Record<string, string | undefined>;

export function userPages(db: Database, throttle: LoginThrottle): Router {
  const router = Router();

  const usersPage = async (
    request: Request,
    response: Response,
    values: Form = {},
    issues: FieldIssue[] = [],
  ) => {
    const me = currentUser(response.locals);
    const users = await db.models.User.findAll({ order: [['username', 'ASC']] });
    const guarded = await Promise.all(users.map((user) => throttle.guardedUntil(user.username)));
    const button = (id: number, path: string, label: string) =>
      html`<form method="post" action="${ADMIN}/users/${id}/${path}" class="inline">
        ${csrfField(request)}<button type="submit" class="small">${label}</button>
      </form>`;
    render(request, response, {
      title: 'Users',
      section: '/users',
      status: issues.length ? 400 : 200,
      body: html`<table>
          <thead>
            <tr>
              <th>User name</th>
              <th>Role</th>
              <th>State</th>
              <th>Last sign-in</th>
              ${me.isAdmin ? html`<th></th>` : ''}
            </tr>
          </thead>
          <tbody>
            ${users.map((user, index) => {
              const locked = guarded[index];
              return html`<tr>
                <td>${user.username}${user.id === me.id ? ' (you)' : ''}</td>
                <td>${user.isAdmin ? 'admin' : 'user'}</td>
                <td>
                  ${user.isActive ? status('active') : status('inactive')}
                  ${locked ? html`${status('guarded')} until ${time(locked)}` : ''}
                </td>
                <td>${time(user.lastLoginAt)}</td>
                ${
                  me.isAdmin
                    ? html`<td class="row-actions">
                        ${
                          user.id === me.id
                            ? ''
                            : user.isActive
                              ? button(user.id, 'deactivate', 'Deactivate')
                              : button(user.id, 'activate', 'Activate')
                        }
                        ${locked ? button(user.id, 'unlock', 'Unlock') : ''}
                      </td>`
                    : ''
                }
              </tr>`;
            })}
          </tbody>
        </table>
        ${
          me.isAdmin
            ? html`<h2>Add a user</h2>
                ${issueList(issues, ['username', 'password'])}
                <form method="post" action="${ADMIN}/users" class="editor">
                  ${csrfField(request)}
                  <label
                    >User name
                    <input
                      name="username"
                      value="${values.username ?? ''}"
                      autocomplete="off"
                      required
                  /></label>
                  ${fieldError(issues, 'username')}
                  <label
                    >Password (at least ${PASSWORD_MIN_LENGTH} characters, not containing the user
                    name)
                    <input name="password" type="password" autocomplete="new-password" required
                  /></label>
                  ${fieldError(issues, 'password')}
                  <label class="inline"
                    ><input
                      type="checkbox"
                      name="isAdmin"
                      ${values.isAdmin === 'on' ? html`checked` : ''}
                    />
                    Admin (may manage users and use the queue board)</label
                  >
                  <div class="actions"><button type="submit">Add user</button></div>
                </form>`
            : html`<p>Only admins can add or change users.</p>`
        }`,
    });
  };

  const adminOnly: RequestHandler = (_request, response, next) => {
    if (!currentUser(response.locals).isAdmin) {
      return next(new ForbiddenPage('Only admins can change users.'));
    }
    next();
  };
  const idOf = (request: Request): number => {
    const id = pathId(serialId, request.params.id);
    if (id === undefined) throw new NotFoundPage(`There is no user ${request.params.id}.`);
    return id;
  };

  router.get(
    '/users',
    asyncPage((request, response) => usersPage(request, response)),
  );
  router.post(
    '/users',
    adminOnly,
    asyncPage(async (request, response) => {
      const values = request.body as Form;
      try {
        const user = await createUser(db, {
          username: values.username ?? '',
          password: values.password ?? '',
          isAdmin: values.isAdmin === 'on',
        });
        redirectWithNotice(request, response, `${ADMIN}/users`, `Added "${user.username}".`);
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        await usersPage(request, response, values, error.issues);
      }
    }),
  );
  for (const [path, change] of [
    ['activate', { isActive: true }],
    ['deactivate', { isActive: false }],
  ] as const) {
    router.post(
      `/users/:id/${path}`,
      adminOnly,
      asyncPage(async (request, response) => {
        try {
          const user = await setUserActive(
            db,
            currentUser(response.locals).id,
            idOf(request),
            change.isActive,
          );
          redirectWithNotice(
            request,
            response,
            `${ADMIN}/users`,
            `"${user.username}" is ${path}d.`,
          );
        } catch (error) {
          if (!(error instanceof ValidationError)) throw error;
          await usersPage(request, response, {}, error.issues);
        }
      }),
    );
  }
  router.post(
    '/users/:id/unlock',
    adminOnly,
    asyncPage(async (request, response) => {
      const user = await db.models.User.findByPk(idOf(request));
      if (!user) throw new NotFoundPage(`There is no user ${request.params.id}.`);
      await throttle.unguard(user.username);
      redirectWithNotice(
        request,
        response,
        `${ADMIN}/users`,
        `"${user.username}" signs in from new devices again.`,
      );
    }),
  );

  const accountPage = async (
    request: Request,
    response: Response,
    options: { issues?: FieldIssue[]; newToken?: { name: string; token: string } } = {},
  ) => {
    const me = currentUser(response.locals);
    const issues = options.issues ?? [];
    const tokens = await db.models.ApiToken.findAll({
      where: { userId: me.id },
      order: [['createdAt', 'DESC']],
    });
    render(request, response, {
      title: 'Account',
      section: '/account',
      status: issues.length ? 400 : 200,
      body: html`${issueList(issues, ['name', 'expiresAt', 'current', 'next'])}
        <h2>API tokens</h2>
        <p>
          Scripts and dashboards call <a href="/api/v1/openapi.json">the API</a> with
          <code>Authorization: Bearer &lt;token&gt;</code>. A token acts as you.
        </p>
        ${options.newToken ? tokenShownOnce(options.newToken) : ''}
        ${
          tokens.length
            ? html`<table>
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Token</th>
                    <th>Created</th>
                    <th>Expires</th>
                    <th>Last used</th>
                    <th></th>
                  </tr>
                </thead>
                <tbody>
                  ${tokens.map(
                    (token) =>
                      html`<tr>
                        <td>${token.name}</td>
                        <td><code>${token.prefix}…</code></td>
                        <td>${time(token.createdAt)}</td>
                        <td>${token.expiresAt ? time(token.expiresAt) : 'never'}</td>
                        <td>${token.lastUsedAt ? time(token.lastUsedAt) : DASH}</td>
                        <td>
                          <form
                            method="post"
                            action="${ADMIN}/account/tokens/${token.id}/revoke"
                            class="inline"
                            data-confirm='Revoke the token "${token.name}"? Scripts using it stop working.'
                          >
                            ${csrfField(request)}<button type="submit" class="small">Revoke</button>
                          </form>
                        </td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
            : html`<p class="empty">No tokens yet.</p>`
        }
        <form method="post" action="${ADMIN}/account/tokens" class="editor">
          ${csrfField(request)}
          <label>Name <input name="name" required maxlength="100" placeholder="grafana" /></label>
          ${fieldError(issues, 'name')}
          <label>Expires (UTC, optional) <input type="date" name="expiresAt" /></label>
          ${fieldError(issues, 'expiresAt')}
          <div class="actions"><button type="submit">Create token</button></div>
        </form>
        <h2>Password</h2>
        <form method="post" action="${ADMIN}/account/password" class="editor">
          ${csrfField(request)}
          <label
            >Current password
            <input name="current" type="password" autocomplete="current-password" required
          /></label>
          ${fieldError(issues, 'current')}
          <label
            >New password (at least ${PASSWORD_MIN_LENGTH} characters, not containing your user
            name) <input name="next" type="password" autocomplete="new-password" required
          /></label>
          ${fieldError(issues, 'next')}
          <div class="actions"><button type="submit">Change password</button></div>
        </form>`,
    });
  };

  router.get(
    '/account',
    asyncPage((request, response) => accountPage(request, response)),
  );
  router.post(
    '/account/tokens',
    asyncPage(async (request, response) => {
      const values = request.body as Form;
      try {
        const { token, record } = await createApiToken(db, currentUser(response.locals).id, {
          name: values.name ?? '',
          expiresAt: values.expiresAt ? `${values.expiresAt}T00:00:00Z` : null,
        });
        // Shown in this answer only; the database keeps the hash. No redirect, so a reload
        // cannot show it again either (the browser asks before re-posting).
        response.set('cache-control', 'no-store');
        await accountPage(request, response, { newToken: { name: record.name, token } });
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        await accountPage(request, response, { issues: error.issues });
      }
    }),
  );
  router.post(
    '/account/tokens/:id/revoke',
    asyncPage(async (request, response) => {
      const id = pathId(serialId, request.params.id);
      const revoked =
        id !== undefined && (await revokeApiToken(db, currentUser(response.locals).id, id));
      if (!revoked) throw new NotFoundPage(`You have no token ${request.params.id}.`);
      redirectWithNotice(request, response, `${ADMIN}/account`, 'The token is revoked.');
    }),
  );
  router.post(
    '/account/password',
    asyncPage(async (request, response) => {
      const values = request.body as Form;
      try {
        await changePassword(
          db,
          currentUser(response.locals).id,
          { current: values.current ?? '', next: values.next ?? '' },
          request.sessionID,
        );
        redirectWithNotice(
          request,
          response,
          `${ADMIN}/account`,
          'Password changed; your other sessions are signed out.',
        );
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        await accountPage(request, response, { issues: error.issues });
      }
    }),
  );

  return router;
}

function tokenShownOnce(created: { name: string; token: string }): SafeHtml {
  return html`<div class="notice" role="status">
    <p>
      Your new token <strong>${created.name}</strong>. Copy it now: it is not stored and will not be
      shown again.
    </p>
    <pre class="token" data-new-token id="new-token">${created.token}</pre>
    <button type="button" data-copy="new-token">Copy</button>
  </div>`;
}
