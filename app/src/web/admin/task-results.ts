// Task result pages (django-celery-results' admin): every run, filtered by status, task,
// periodic task and time, and one run with its arguments, result, log lines and error stack.
import { Router } from 'express';
import { z } from 'zod';
import type { Database } from '../../db/index.ts';
import type { PeriodicTask, TaskResult } from '../../db/models.ts';
import { periodicTasksByName } from '../../queue/periodic-tasks.ts';
import {
  TASK_STATUSES,
  taskResultFilters,
  taskResultPage,
  type TaskResultFilters,
} from '../../queue/task-history.ts';
import type { TaskRegistry } from '../../tasks/registry.ts';
import { issuesOf, type FieldIssue } from '../../validation.ts';
import { decodeCursor, encodeCursor } from '../api/pagination.ts';
import { currentUser } from '../auth/middleware.ts';
import { html, type SafeHtml } from '../html.ts';
import { DASH, dateInput, untilInput, ms, queryString, status, time } from './format.ts';
import { bigserialId, pathId } from '../ids.ts';
import { ADMIN, render } from './layout.ts';
import {
  asyncPage,
  dateRangeIssues,
  issueList,
  NotFoundPage,
  untilEndOfDay,
  withoutEmpty,
} from './pages.ts';

const PAGE_SIZE = 50;
const listQuery = z.object({ ...taskResultFilters, after: z.string().optional() }).strict();
const RUNNING = new Set(['queued', 'started', 'retried']);

function filterForm(
  filters: TaskResultFilters,
  registry: TaskRegistry,
  schedules: Pick<PeriodicTask, 'id' | 'name'>[],
  issues: FieldIssue[],
): SafeHtml {
  const option = (value: string, label: string, selected: boolean) =>
    html`<option value="${value}" ${selected ? html`selected` : ''}>${label}</option>`;
  return html`<form method="get" class="filters" action="${ADMIN}/task-results">
    ${issueList(issues)}
    <label
      >Status
      <select name="status">
        ${option('', 'any', !filters.status)}
        ${TASK_STATUSES.map((s) => option(s, s, filters.status === s))}
      </select></label
    >
    <label
      >Task
      <select name="task">
        ${option('', 'any', !filters.task)}
        ${registry.names().map((name) => option(name, name, filters.task === name))}
      </select></label
    >
    <label
      >Schedule
      <select name="periodicTaskId">
        ${option('', 'any', !filters.periodicTaskId)}
        ${schedules.map((row) =>
          option(String(row.id), row.name, filters.periodicTaskId === row.id),
        )}
      </select></label
    >
    <label>From <input type="date" name="from" value="${dateInput(filters.from)}" /></label>
    <label>Until <input type="date" name="to" value="${untilInput(filters.to)}" /></label>
    <button type="submit">Filter</button>
    <a href="${ADMIN}/task-results">Clear</a>
  </form>`;
}

function resultTable(rows: TaskResult[]): SafeHtml {
  if (rows.length === 0) return html`<p class="empty">No task runs match.</p>`;
  return html`<table>
    <thead>
      <tr>
        <th>Queued</th>
        <th>Task</th>
        <th>Status</th>
        <th class="num">Attempts</th>
        <th class="num">Duration</th>
        <th>Error</th>
      </tr>
    </thead>
    <tbody>
      ${rows.map(
        (row) =>
          html`<tr data-status="${row.status}">
            <td><a href="${ADMIN}/task-results/${row.id}">${time(row.queuedAt)}</a></td>
            <td><code>${row.task}</code></td>
            <td>${status(row.status)}</td>
            <td class="num">${row.attempts}</td>
            <td class="num">${ms(row.durationMs, 0)}</td>
            <td class="error-cell">${row.error ?? ''}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

export function taskResultPages(db: Database, registry: TaskRegistry): Router {
  const router = Router();
  const schedules = () => periodicTasksByName(db, ['id', 'name']);

  router.get(
    '/task-results',
    asyncPage(async (request, response) => {
      const parsed = listQuery.safeParse(untilEndOfDay(withoutEmpty(request.query)));
      if (!parsed.success) {
        render(request, response, {
          title: 'Task results',
          section: '/task-results',
          status: 400,
          body: filterForm({}, registry, await schedules(), issuesOf(parsed.error)),
        });
        return;
      }
      const { after, ...filters } = parsed.data;
      const rangeIssues = dateRangeIssues(filters);
      if (rangeIssues.length) {
        render(request, response, {
          title: 'Task results',
          section: '/task-results',
          status: 400,
          body: filterForm(filters, registry, await schedules(), rangeIssues),
        });
        return;
      }
      const [page, named] = await Promise.all([
        taskResultPage(db, filters, PAGE_SIZE, decodeCursor(after)),
        schedules(),
      ]);
      const periodic = named.find((row) => row.id === filters.periodicTaskId);
      const older = page.after
        ? `${ADMIN}/task-results${queryString({ ...filters, after: encodeCursor(page.after.at, page.after.id) })}`
        : null;
      // While a run on the first page is still under way, admin.js reloads the page.
      const live = !after && page.items.some((row) => RUNNING.has(row.status));
      render(request, response, {
        title: periodic ? `Task results: ${periodic.name}` : 'Task results',
        section: '/task-results',
        body: html`${filterForm(filters, registry, named, [])}
          <div ${live ? html`data-refresh-seconds="2"` : ''}>${resultTable(page.items)}</div>
          <nav class="pages">
            ${after ? html`<a href="${ADMIN}/task-results${queryString(filters)}">Newest</a>` : ''}
            ${older ? html`<a href="${older}" rel="next">Older →</a>` : ''}
          </nav>`,
      });
    }),
  );

  router.get(
    '/task-results/:id',
    asyncPage(async (request, response) => {
      const id = pathId(bigserialId, request.params.id);
      const row = id === undefined ? null : await db.models.TaskResult.findByPk(id);
      if (!row) throw new NotFoundPage(`There is no task result ${request.params.id}.`);
      const periodic = row.periodicTaskId
        ? await db.models.PeriodicTask.findByPk(row.periodicTaskId, { attributes: ['id', 'name'] })
        : null;
      const speedtestId = (row.result as { speedtestId?: unknown } | null)?.speedtestId;
      // A stack names the server's files and lines: for admins, who can act on it.
      const isAdmin = currentUser(response.locals).isAdmin;
      render(request, response, {
        title: `${row.task} · ${row.status}`,
        section: '/task-results',
        body: html`<dl
            class="facts"
            ${RUNNING.has(row.status) ? html`data-refresh-seconds="2"` : ''}
          >
            <dt>Status</dt>
            <dd>${status(row.status)}</dd>
            <dt>Job</dt>
            <dd><code>${row.jobId}</code> on queue <code>${row.queue}</code></dd>
            <dt>Periodic task</dt>
            <dd>
              ${
                periodic
                  ? html`<a href="${ADMIN}/periodic-tasks/${periodic.id}">${periodic.name}</a>`
                  : row.periodicTaskId
                    ? `${row.periodicTaskId} (deleted)`
                    : DASH
              }
            </dd>
            <dt>Attempts</dt>
            <dd>${row.attempts}</dd>
            <dt>Worker</dt>
            <dd>${row.worker ?? DASH}</dd>
            <dt>Scheduled for</dt>
            <dd>${time(row.scheduledFor)}</dd>
            <dt>Queued</dt>
            <dd>${time(row.queuedAt)}</dd>
            <dt>Started</dt>
            <dd>${time(row.startedAt)}</dd>
            <dt>Finished</dt>
            <dd>${time(row.finishedAt)}</dd>
            <dt>Duration</dt>
            <dd>${ms(row.durationMs, 0)}</dd>
          </dl>
          <h2>Keyword arguments</h2>
          <pre>${json(row.kwargs)}</pre>
          ${
            row.result !== null
              ? html`<h2>Result</h2>
                  ${
                    typeof speedtestId === 'string' || typeof speedtestId === 'number'
                      ? html`<p>
                          <a href="${ADMIN}/speedtests/${String(speedtestId)}" data-speedtest
                            >Open speed test ${String(speedtestId)} →</a
                          >
                        </p>`
                      : ''
                  }
                  <pre>${json(row.result)}</pre>`
              : ''
          }
          ${
            row.error
              ? html`<h2>Error</h2>
                  <p class="error-text">${row.error}</p>
                  ${
                    row.stack && isAdmin
                      ? html`<pre class="stack">${row.stack}</pre>`
                      : row.stack
                        ? html`<p class="empty">Admins see where in the code it failed.</p>`
                        : ''
                  }`
              : ''
          }
          <h2>Log</h2>
          ${
            row.logs.length === 0
              ? html`<p class="empty">No log lines.</p>`
              : html`<pre class="log">
${row.logs.map((line) => `${line.at} ${line.level.padEnd(5)} ${line.message}\n`)}</pre>`
          }`,
      });
    }),
  );

  return router;
}
