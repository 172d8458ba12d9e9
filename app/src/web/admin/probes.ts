// Probes in the portal: every probe with its state and uptime, one probe's figures over a range
// with its outages, and (for admins) the form that adds or changes one.
import { Router, type Request, type Response } from 'express';
import type { Database } from '../../db/index.ts';
import type { Probe } from '../../db/models.ts';
import type { Queues } from '../../queue/queues.ts';
import { PROBE_MAX_TARGETS, PROBE_MIN_PERIOD_S } from '../../probe/definition.ts';
import { probeHistory, type ProbeSummary } from '../../probe/history.ts';
import { presentProbe, Probes } from '../../probe/probes.ts';
import { ValidationError, type FieldIssue } from '../../validation.ts';
import { currentUser } from '../auth/middleware.ts';
import { html, type SafeHtml } from '../html.ts';
import { pathId, serialId } from '../ids.ts';
import { DASH, ms, num, status, time } from './format.ts';
import { ADMIN, csrfField, redirectWithNotice, render } from './layout.ts';
import {
  asyncPage,
  familyAndSourceFields,
  fieldError,
  ForbiddenPage,
  issueList,
  NotFoundPage,
} from './pages.ts';

type Form = Record<string, string | undefined>;

const FIELDS = [
  'name',
  'kind',
  'targets',
  'periodSeconds',
  'timeoutMs',
  'failuresForOutage',
  'sourceAddress',
  'family',
] as const;
const DAY_MS = 86_400_000;
const RANGES = [
  { key: '24h', label: 'Last 24 hours', ms: DAY_MS },
  { key: '7d', label: 'Last 7 days', ms: 7 * DAY_MS },
  { key: '30d', label: 'Last 30 days', ms: 30 * DAY_MS },
  { key: '365d', label: 'Last year', ms: 365 * DAY_MS },
] as const;

function percent(value: number | null, digits = 2): string {
  return value === null ? DASH : `${value.toFixed(digits)} %`;
}

function duration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5_400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 2 * 86_400) return `${(seconds / 3_600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} days`;
}

/** The form's strings as the API's input (numbers and checkboxes turned into what they say). */
function formToInput(values: Form): Record<string, unknown> {
  const number = (field: string) => {
    const text = values[field]?.trim() ?? '';
    return /^-?\d+$/.test(text) ? Number(text) : text;
  };
  return {
    name: values.name ?? '',
    kind: values.kind ?? '',
    targets: (values.targets ?? '')
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean),
    periodSeconds: number('periodSeconds'),
    timeoutMs: number('timeoutMs'),
    failuresForOutage: number('failuresForOutage'),
    sourceAddress: values.sourceAddress?.trim() || null,
    family: values.family ? number('family') : null,
    speedtestOnRecovery: values.speedtestOnRecovery === 'on',
    enabled: values.enabled === 'on',
  };
}

/** The API's "targets.1" is the form's second line of the targets box. */
function formIssues(issues: FieldIssue[]): FieldIssue[] {
  return issues.map((issue) => {
    const line = /^targets\.(\d+)$/.exec(issue.path);
    return line
      ? { path: 'targets', message: `line ${Number(line[1]) + 1}: ${issue.message}` }
      : issue;
  });
}

function valuesOf(probe: Probe | null): Form {
  if (!probe) {
    return {
      kind: 'tcp',
      periodSeconds: '10',
      timeoutMs: '2000',
      failuresForOutage: '2',
      speedtestOnRecovery: 'on',
      enabled: 'on',
    };
  }
  return {
    name: probe.name,
    kind: probe.kind,
    targets: probe.targets.join('\n'),
    periodSeconds: String(probe.periodSeconds),
    timeoutMs: String(probe.timeoutMs),
    failuresForOutage: String(probe.failuresForOutage),
    sourceAddress: probe.sourceAddress ?? '',
    family: probe.family ? String(probe.family) : '',
    speedtestOnRecovery: probe.speedtestOnRecovery ? 'on' : '',
    enabled: probe.enabled ? 'on' : '',
  };
}

function editor(request: Request, values: Form, issues: FieldIssue[], action: string): SafeHtml {
  const v = (field: string) => values[field] ?? '';
  const err = (field: string) => fieldError(issues, field);
  const selected = (field: string, value: string) => (v(field) === value ? html`selected` : '');
  const checked = (field: string) => (v(field) === 'on' ? html`checked` : '');
  return html`${issueList(issues, FIELDS)}
    <form method="post" action="${action}" class="editor">
      ${csrfField(request)}
      <label>Name <input name="name" value="${v('name')}" required maxlength="100" /></label>
      ${err('name')}
      <label
        >Kind
        <select name="kind">
          <option value="tcp" ${selected('kind', 'tcp')}>
            TCP connect (the handshake's round trip)
          </option>
          <option value="http" ${selected('kind', 'http')}>
            HTTP request (to the response's status line)
          </option>
        </select></label
      >
      ${err('kind')}
      <label
        >Targets, one per line (up to ${PROBE_MAX_TARGETS})
        <textarea
          name="targets"
          rows="3"
          spellcheck="false"
          placeholder="1.1.1.1:443&#10;9.9.9.9:443&#10;or https://example.com/ for HTTP"
        >
${v('targets')}</textarea>
      </label>
      <small class="hint"
        >Checked together every period. An outage is every target failing; one target failing is
        that target's loss.</small
      >
      ${err('targets')}
      <label
        >Every (seconds, at least ${PROBE_MIN_PERIOD_S})
        <input name="periodSeconds" value="${v('periodSeconds')}" inputmode="numeric" required
      /></label>
      ${err('periodSeconds')}
      <label
        >Timeout (ms)
        <input name="timeoutMs" value="${v('timeoutMs')}" inputmode="numeric" required
      /></label>
      ${err('timeoutMs')}
      <label
        >Failed rounds before an outage
        <input name="failuresForOutage" value="${v('failuresForOutage')}" inputmode="numeric"
      /></label>
      ${err('failuresForOutage')} ${familyAndSourceFields(values, issues, 'either')}
      <label class="inline"
        ><input type="checkbox" name="speedtestOnRecovery" ${checked('speedtestOnRecovery')} /> Run
        a speed test when an outage ends</label
      >
      <label class="inline"
        ><input type="checkbox" name="enabled" ${checked('enabled')} /> Enabled</label
      >
      <div class="actions"><button type="submit">Save</button></div>
    </form>`;
}

export function probePages(deps: { db: Database; queues: Queues }): Router {
  const router = Router();
  const probes = new Probes(deps.db, deps.queues);
  const history = probeHistory(deps.db);

  const idOf = (request: Request): number => {
    const id = pathId(serialId, request.params.id);
    if (id === undefined) throw new NotFoundPage(`There is no probe ${request.params.id}.`);
    return id;
  };
  const adminOnly = (response: Response) => {
    if (!currentUser(response.locals).isAdmin) {
      throw new ForbiddenPage('Only admins can add or change probes.');
    }
  };
  const state = (summary: ProbeSummary, downSince: Date | null, enabled: boolean) =>
    !enabled
      ? status('disabled')
      : downSince
        ? html`${status('down')} since ${time(downSince)}`
        : status('up');

  const listPage = async (
    request: Request,
    response: Response,
    values: Form = valuesOf(null),
    issues: FieldIssue[] = [],
  ) => {
    const me = currentUser(response.locals);
    const now = new Date();
    const rows = await probes.list();
    const figures = await Promise.all(
      rows.map(async (row) => {
        const [day, month, open] = await Promise.all([
          history.summary(row.id, new Date(now.getTime() - DAY_MS), now),
          history.summary(row.id, new Date(now.getTime() - 30 * DAY_MS), now),
          history.outages(row.id, now, now, 1),
        ]);
        return { day, month, downSince: open[0] && !open[0].endedAt ? open[0].startedAt : null };
      }),
    );
    render(request, response, {
      title: 'Probes',
      section: '/probes',
      status: issues.length ? 400 : 200,
      body: html`<p class="intro">
          Between speed tests, probes check a few targets every few seconds: latency, loss and
          outages of the link, and a speed test when it comes back.
        </p>
        ${
          rows.length === 0
            ? html`<p class="empty">No probes yet.</p>`
            : html`<table>
                <thead>
                  <tr>
                    <th>Probe</th>
                    <th>Targets</th>
                    <th>State</th>
                    <th class="num">Uptime 24 h</th>
                    <th class="num">Uptime 30 days</th>
                    <th class="num">Latency 24 h</th>
                    <th class="num">Loss 24 h</th>
                  </tr>
                </thead>
                <tbody>
                  ${rows.map((row, i) => {
                    const { day, month, downSince } = figures[i]!;
                    return html`<tr>
                      <td><a href="${ADMIN}/probes/${row.id}">${row.name}</a></td>
                      <td>
                        ${row.kind} · every ${row.periodSeconds} s ·
                        <small>${row.targets.join(', ')}</small>
                      </td>
                      <td>${state(day, downSince, row.enabled)}</td>
                      <td class="num">${percent(day.uptimePercent, 3)}</td>
                      <td class="num">${percent(month.uptimePercent, 3)}</td>
                      <td class="num">${ms(day.latencyMs)}</td>
                      <td class="num">${percent(day.lossPercent)}</td>
                    </tr>`;
                  })}
                </tbody>
              </table>`
        }
        ${
          me.isAdmin
            ? html`<h2>Add a probe</h2>
                ${editor(request, values, issues, `${ADMIN}/probes`)}`
            : html`<p>Admins add and change probes.</p>`
        }`,
    });
  };

  const detailPage = async (
    request: Request,
    response: Response,
    values?: Form,
    issues: FieldIssue[] = [],
  ) => {
    const me = currentUser(response.locals);
    const row = await probes.get(idOf(request)).catch(() => {
      throw new NotFoundPage(`There is no probe ${request.params.id}.`);
    });
    const range = RANGES.find((r) => r.key === request.query.range) ?? RANGES[0];
    const to = new Date();
    const from = new Date(to.getTime() - range.ms);
    const [summary, outages, targets] = await Promise.all([
      history.summary(row.id, from, to),
      history.outages(row.id, from, to, 100),
      history.targets(row.id, from, to),
    ]);
    const open = outages.find((outage) => !outage.endedAt);
    const probe = presentProbe(row);
    render(request, response, {
      title: `Probe ${probe.name}`,
      section: '/probes',
      status: issues.length ? 400 : 200,
      body: html`<nav class="range-presets" aria-label="Time range">
          ${RANGES.map(
            (r) =>
              html`<a
                href="${ADMIN}/probes/${row.id}?range=${r.key}"
                ${r.key === range.key ? html`aria-current="page"` : ''}
                >${r.label}</a
              >`,
          )}
        </nav>
        <section class="figures">
          <div class="figure">
            <span class="label">State</span
            ><strong>${state(summary, open ? open.startedAt : null, row.enabled)}</strong>
          </div>
          <div class="figure">
            <span class="label">Uptime</span><strong>${percent(summary.uptimePercent, 3)}</strong
            ><small
              >${summary.outages} outage${summary.outages === 1 ? '' : 's'},
              ${duration(summary.downSeconds)} down</small
            >
          </div>
          <div class="figure">
            <span class="label">Latency</span><strong>${ms(summary.latencyMs)}</strong
            ><small>jitter ${ms(summary.jitterMs)}</small>
          </div>
          <div class="figure">
            <span class="label">Loss</span><strong>${percent(summary.lossPercent)}</strong
            ><small>${summary.lost} of ${summary.sent} checks</small>
          </div>
        </section>
        <h2>Targets</h2>
        <table>
          <thead>
            <tr>
              <th>Target</th>
              <th class="num">Checks</th>
              <th class="num">Loss</th>
              <th class="num">Latency</th>
              <th class="num">Fastest</th>
              <th class="num">Slowest</th>
            </tr>
          </thead>
          <tbody>
            ${probe.targets.map((target) => {
              const b = targets.find((figures) => figures.target === target);
              return html`<tr>
                <td>${target}</td>
                <td class="num">${b ? b.sent : 0}</td>
                <td class="num">${b && b.sent ? percent((100 * b.lost) / b.sent) : DASH}</td>
                <td class="num">${ms(b?.latencyMs)}</td>
                <td class="num">${ms(b?.minMs)}</td>
                <td class="num">${ms(b?.maxMs)}</td>
              </tr>`;
            })}
          </tbody>
        </table>
        <h2>Outages</h2>
        ${
          outages.length === 0
            ? html`<p class="empty">No outage in this range.</p>`
            : html`<table>
                <thead>
                  <tr>
                    <th>Began</th>
                    <th>Ended</th>
                    <th class="num">Lasted</th>
                    <th class="num">Failed rounds</th>
                    <th>Last error</th>
                  </tr>
                </thead>
                <tbody>
                  ${outages.map(
                    (outage) =>
                      html`<tr>
                        <td>${time(outage.startedAt)}</td>
                        <td>${outage.endedAt ? time(outage.endedAt) : 'going on'}</td>
                        <td class="num">${duration(outage.durationSeconds)}</td>
                        <td class="num">${num(outage.failedRounds, 0)}</td>
                        <td><small>${outage.lastError}</small></td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
        }
        ${
          me.isAdmin
            ? html`<h2>Change</h2>
                ${editor(request, values ?? valuesOf(row), issues, `${ADMIN}/probes/${row.id}`)}
                <h2>Delete</h2>
                <form
                  method="post"
                  action="${ADMIN}/probes/${row.id}/delete"
                  class="inline"
                  data-confirm="${`Delete the probe "${probe.name}" with its minutes and outages?`}"
                >
                  ${csrfField(request)}
                  <button type="submit" class="secondary">Delete probe and its history</button>
                </form>`
            : ''
        }`,
    });
  };

  router.get(
    '/probes',
    asyncPage((request, response) => listPage(request, response)),
  );
  router.get(
    '/probes/:id',
    asyncPage((request, response) => detailPage(request, response)),
  );
  router.post(
    '/probes',
    asyncPage(async (request, response) => {
      adminOnly(response);
      const values = request.body as Form;
      try {
        const row = await probes.create(formToInput(values), currentUser(response.locals));
        redirectWithNotice(
          request,
          response,
          `${ADMIN}/probes/${row.id}`,
          `Added "${row.name}"; the worker starts it within 10 seconds.`,
        );
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        await listPage(request, response, values, formIssues(error.issues));
      }
    }),
  );
  router.post(
    '/probes/:id',
    asyncPage(async (request, response) => {
      adminOnly(response);
      const values = request.body as Form;
      try {
        const row = await probes.update(
          idOf(request),
          formToInput(values),
          currentUser(response.locals),
        );
        redirectWithNotice(request, response, `${ADMIN}/probes/${row.id}`, `Saved "${row.name}".`);
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        await detailPage(request, response, values, formIssues(error.issues));
      }
    }),
  );
  router.post(
    '/probes/:id/delete',
    asyncPage(async (request, response) => {
      adminOnly(response);
      const row = await probes.get(idOf(request)).catch(() => {
        throw new NotFoundPage(`There is no probe ${request.params.id}.`);
      });
      await probes.remove(row.id, currentUser(response.locals));
      redirectWithNotice(request, response, `${ADMIN}/probes`, `Deleted "${row.name}".`);
    }),
  );
  return router;
}
