// Notifications: "Send a test notification", so that an admin learns whether alerts reach people
// before something breaks rather than after. The web role posts one alert to Alertmanager's v2 API
// (POST /api/v2/alerts), the way Prometheus posts a firing rule. Alertmanager then groups, routes
// and delivers it like any other: it is `critical`, so it reaches every receiver of
// alerts.receivers, including those that take critical alerts only. A message arriving proves
// the path from Alertmanager on (its routing, the receivers' credentials and services); the rules'
// own tests cover the part before it.
//
// A page of its own under the admin tools (next to the queue board) rather than a section of
// another page: it is about the deployment's monitoring, not about speed tests, users or accounts,
// and only admins may send one (a notification wakes people up).
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { PORTS } from '../../../../contract/ports.ts';
import type { Logger } from '../../log.ts';
import { currentUser } from '../auth/middleware.ts';
import { html } from '../html.ts';
import { time } from './format.ts';
import { ADMIN, csrfField, redirectWithNotice, render } from './layout.ts';
import { asyncPage, ForbiddenPage } from './pages.ts';

export const TEST_ALERT_NAME = 'RefresherTestNotification';
/** The test alert ends by itself after this; receivers with sendResolved then say "resolved". */
export const TEST_ALERT_MINUTES = 5;
/** Alertmanager answers at once or not at all; a page should not hang on it. */
const TIMEOUT_MS = 5_000;
const PATH = '/notifications';

/** What Alertmanager made of the test alert. */
export type SendOutcome =
  | { kind: 'sent' }
  | { kind: 'refused'; status: number; detail: string }
  | { kind: 'unreachable'; detail: string };

export interface TestAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

/** A time as the messages say it: 2026-05-04 09:30:12 UTC. */
const utc = (at: Date) => `${at.toISOString().slice(0, 19).replace('T', ' ')} UTC`;

/** The alert for one press of the button. */
export function testAlert(sender: string, at: Date, generatorURL?: string): TestAlert {
  const endsAt = new Date(at.getTime() + TEST_ALERT_MINUTES * 60_000);
  return {
    labels: {
      alertname: TEST_ALERT_NAME,
      // Critical reaches every receiver (prometheus/alertmanager.ts routes by severity).
      severity: 'critical',
      sent_by: sender,
      // Labels are an alert's identity: without the time, a second press within the first one's
      // five minutes would be the same alert again, which Alertmanager does not notify twice.
      sent_at: at.toISOString(),
    },
    annotations: {
      summary: `Test notification sent by ${sender} from the admin portal at ${utc(at)}`,
      description: `Nothing is wrong: ${sender} pressed "Send a test notification" to check that alerts reach every receiver. It resolves by itself after ${TEST_ALERT_MINUTES} minutes.`,
      runbook: 'docs/runbooks.md#refreshertestnotification',
    },
    startsAt: at.toISOString(),
    endsAt: endsAt.toISOString(),
    ...(generatorURL ? { generatorURL } : {}),
  };
}

/** Posts alerts to Alertmanager at `baseUrl` (a path prefix is kept). */
export async function postAlerts(baseUrl: string, alerts: TestAlert[]): Promise<SendOutcome> {
  const url = new URL('api/v2/alerts', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  let response: globalThis.Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(alerts),
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: 'manual',
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const detail =
      (error as Error).name === 'TimeoutError'
        ? `no answer within ${TIMEOUT_MS / 1000} s`
        : (cause?.code ?? cause?.message ?? (error as Error).message);
    return { kind: 'unreachable', detail };
  }
  const text = (await response.text().catch(() => '')).trim();
  if (response.ok) return { kind: 'sent' };
  return { kind: 'refused', status: response.status, detail: text.slice(0, 300) };
}

export function notificationPages(deps: { alertmanagerUrl?: string; log: Logger }): Router {
  const router = Router();
  const adminOnly: RequestHandler = (_request, response, next) => {
    if (!currentUser(response.locals).isAdmin)
      return next(new ForbiddenPage('Only admins can send test notifications.'));
    next();
  };

  const notConfigured = html`<p class="errors" role="alert">
    No Alertmanager is configured: set <code>ALERTMANAGER_URL</code> to its address (a VM deployment
    sets <code>http://alertmanager:${PORTS.alertmanager}</code>; on Container Apps, Azure Monitor's
    action group sends the notifications and has no test button here).
  </p>`;

  const notificationsPage = (
    request: Request,
    response: Response,
    result?: { outcome: Exclude<SendOutcome, { kind: 'sent' }>; at: Date },
  ) => {
    const url = deps.alertmanagerUrl;
    const problem = result
      ? result.outcome.kind === 'unreachable'
        ? html`<div class="errors" role="alert">
            <p>
              Not sent: Alertmanager at <code>${url}</code> is unreachable
              (${result.outcome.detail}) at ${time(result.at)}.
            </p>
          </div>`
        : html`<div class="errors" role="alert">
            <p>
              Not sent: Alertmanager answered
              ${result.outcome.status}${
                result.outcome.detail ? html`: <code>${result.outcome.detail}</code>` : ''
              }.
            </p>
          </div>`
      : '';
    // A send that could not happen: 503 without an Alertmanager to send to, 502 when it failed.
    const status = !url ? (request.method === 'POST' ? 503 : 200) : result ? 502 : 200;
    render(request, response, {
      title: 'Notifications',
      section: PATH,
      status,
      body: html`<p>
          Alertmanager sends the alerts Prometheus fires to the receivers of the deployment
          configuration (<code>alerts.receivers</code>: e-mail, a webhook, Slack, Discord,
          Telegram). A test notification checks that they arrive: it is a critical alert named
          <code>${TEST_ALERT_NAME}</code>, so every receiver gets it, after Alertmanager's group
          wait (30 s), and it resolves by itself after ${TEST_ALERT_MINUTES} minutes.
        </p>
        ${
          url
            ? html`${problem}
                <p>Alertmanager: <code>${url}</code></p>
                <form method="post" action="${ADMIN}${PATH}" class="editor">
                  ${csrfField(request)}
                  <div class="actions"><button type="submit">Send a test notification</button></div>
                </form>`
            : notConfigured
        }`,
    });
  };

  router.get(
    PATH,
    adminOnly,
    asyncPage(async (request, response) => notificationsPage(request, response)),
  );
  router.post(
    PATH,
    adminOnly,
    asyncPage(async (request, response) => {
      if (!deps.alertmanagerUrl) return notificationsPage(request, response);
      const user = currentUser(response.locals);
      const at = new Date();
      const host = request.get('host');
      const alert = testAlert(
        user.username,
        at,
        host ? `${request.protocol}://${host}${ADMIN}${PATH}` : undefined,
      );
      const outcome = await postAlerts(deps.alertmanagerUrl, [alert]);
      if (outcome.kind === 'sent') {
        deps.log.info({ user: user.username }, 'test notification sent to Alertmanager');
        return redirectWithNotice(
          request,
          response,
          `${ADMIN}${PATH}`,
          `Sent: Alertmanager accepted the test notification at ${utc(at)}. Every receiver should have it within a minute.`,
        );
      }
      deps.log.warn(
        { user: user.username, alertmanager: deps.alertmanagerUrl, ...outcome },
        'test notification not sent',
      );
      notificationsPage(request, response, { outcome, at });
    }),
  );
  return router;
}
