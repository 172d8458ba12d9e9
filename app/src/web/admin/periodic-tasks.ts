// Periodic task pages (django-celery-beat's admin): the list with enable/disable/run-now, and
// one editor for interval, crontab and clocked schedules. Forms go through the same schema as
// the API; a refused form comes back with every problem named and nothing saved.
import { Router, type Request, type Response } from 'express';
import type { Database } from '../../db/index.ts';
import { ForbiddenError } from '../../errors.ts';
import type { PeriodicTask } from '../../db/models.ts';
import { PeriodicTasks } from '../../queue/periodic-tasks.ts';
import type { Queues } from '../../queue/queues.ts';
import {
  describeSchedule,
  previewSchedule,
  type SchedulePreview,
} from '../../queue/schedule-description.ts';
import { nextRunTimes, periodicTaskSchema, rowToSpec } from '../../queue/schedule.ts';
import { QUEUE_NAMES, type TaskRegistry } from '../../tasks/registry.ts';
import { issuesOf, ValidationError, type FieldIssue } from '../../validation.ts';
import { html, type SafeHtml } from '../html.ts';
import { DASH, dateTimeInput, status, time } from './format.ts';
import { ADMIN, csrfField, redirectWithNotice, render } from './layout.ts';
import { pathId, serialId } from '../ids.ts';
import { currentUser } from '../auth/middleware.ts';
import { asyncPage, fieldError, issueList, NotFoundPage } from './pages.ts';

const PERIODS = ['seconds', 'minutes', 'hours', 'days'] as const;
const SCHEDULE_TYPES = ['interval', 'crontab', 'clocked'] as const;

/** The editor's fields as submitted: every value a string, as a browser sends them. */
type FormValues = Record<string, string>;

function valuesOf(row: PeriodicTask | null, registry: TaskRegistry): FormValues {
  if (!row) {
    const first = registry.list()[0];
    return {
      name: '',
      task: first?.name ?? '',
      kwargs: '{}',
      scheduleType: 'crontab',
      every: '30',
      period: 'minutes',
      expression: '*/30 * * * *',
      timezone: 'UTC',
      at: '',
      startTime: '',
      expiresAt: '',
      queue: '',
      priority: '',
      description: '',
      enabled: 'on',
      oneOff: '',
    };
  }
  const spec = rowToSpec(row);
  const s = spec.schedule;
  return {
    name: spec.name,
    task: spec.task,
    kwargs: JSON.stringify(spec.kwargs, null, 2),
    scheduleType: s.type,
    every: s.type === 'interval' ? String(s.every) : '30',
    period: s.type === 'interval' ? s.period : 'minutes',
    expression: s.type === 'crontab' ? s.expression : '*/30 * * * *',
    timezone: s.type === 'crontab' ? s.timezone : 'UTC',
    at: s.type === 'clocked' ? dateTimeInput(s.at) : '',
    startTime: dateTimeInput(spec.startTime),
    expiresAt: dateTimeInput(spec.expiresAt),
    queue: spec.queue ?? '',
    priority: spec.priority === null ? '' : String(spec.priority),
    description: spec.description,
    enabled: spec.enabled ? 'on' : '',
    oneOff: spec.oneOff ? 'on' : '',
  };
}

/** `datetime-local` values are read as UTC (the form says so). */
function utc(value: string | undefined): string | null {
  if (!value) return null;
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(value) ? `${value}Z` : value;
}

/**
 * The form as the API's input shape. Fields the form cannot express wrongly (checkboxes) map
 * directly; text that must be JSON or a number is checked here so the message names the field.
 */
function formToInput(values: FormValues): { input: Record<string, unknown>; issues: FieldIssue[] } {
  const issues: FieldIssue[] = [];
  let kwargs: unknown = {};
  try {
    kwargs = JSON.parse(values.kwargs?.trim() || '{}');
  } catch (error) {
    issues.push({ path: 'kwargs', message: `expected JSON: ${(error as Error).message}` });
  }
  const number = (field: string): number | string => {
    const text = values[field]?.trim() ?? '';
    return /^-?\d+$/.test(text) ? Number(text) : text;
  };
  const type = values.scheduleType;
  const schedule =
    type === 'interval'
      ? { type, every: number('every'), period: values.period }
      : type === 'crontab'
        ? { type, expression: values.expression ?? '', timezone: values.timezone || 'UTC' }
        : { type, at: utc(values.at) ?? '' };
  const priority = values.priority?.trim() ? number('priority') : null;
  return {
    input: {
      name: values.name ?? '',
      task: values.task ?? '',
      kwargs,
      schedule,
      startTime: utc(values.startTime),
      expiresAt: utc(values.expiresAt),
      oneOff: values.oneOff === 'on',
      enabled: values.enabled === 'on',
      priority,
      queue: values.queue || null,
      description: values.description ?? '',
    },
    issues,
  };
}

/** Issue paths of the API shape, as the form's field names ("schedule.expression" -> "expression"). */
function formIssues(issues: FieldIssue[]): FieldIssue[] {
  return issues.map((issue) => ({
    ...issue,
    path: issue.path.startsWith('schedule.')
      ? issue.path.slice('schedule.'.length)
      : issue.path === 'schedule'
        ? 'scheduleType'
        : issue.path,
  }));
}

function editor(
  request: Request,
  registry: TaskRegistry,
  values: FormValues,
  issues: FieldIssue[],
  action: string,
  preview: SchedulePreview | null,
  /** The task's last run, for the live preview (an interval counts from it). */
  lastRunAt: Date | null,
): SafeHtml {
  const v = (field: string) => values[field] ?? '';
  const err = (field: string) => fieldError(issues, field);
  const selected = (field: string, value: string) => (v(field) === value ? html`selected` : '');
  const checked = (field: string, value = 'on') => (v(field) === value ? html`checked` : '');
  return html`${issueList(issues)}
    <form
      method="post"
      action="${action}"
      class="editor"
      data-schedule-editor
      data-last-run-at="${lastRunAt ? lastRunAt.toISOString() : ''}"
    >
      ${csrfField(request)}
      <label>Name <input name="name" value="${v('name')}" required maxlength="200" /></label>
      ${err('name')}
      <label
        >Task
        <select name="task">
          ${registry
            .list()
            .map(
              (task) =>
                html`<option value="${task.name}" ${selected('task', task.name)}>
                  ${task.name} — ${task.description}
                </option>`,
            )}
        </select></label
      >
      ${err('task')}
      <label
        >Keyword arguments (JSON)
        <textarea name="kwargs" rows="4" spellcheck="false">${v('kwargs')}</textarea>
      </label>
      ${err('kwargs')}
      <fieldset>
        <legend>Schedule</legend>
        ${SCHEDULE_TYPES.map(
          (type) =>
            html`<label class="inline"
              ><input
                type="radio"
                name="scheduleType"
                value="${type}"
                ${checked('scheduleType', type)}
              />
              ${type}</label
            >`,
        )}
        ${err('scheduleType')}
        <div data-schedule="interval">
          <label
            >Every <input name="every" value="${v('every')}" inputmode="numeric" size="6" />
            <select name="period">
              ${PERIODS.map((p) => html`<option value="${p}" ${selected('period', p)}>${p}</option>`)}
            </select></label
          >
          ${err('every')} ${err('period')}
        </div>
        <div data-schedule="crontab">
          <label
            >Crontab (minute hour day-of-month month day-of-week)
            <input name="expression" value="${v('expression')}" spellcheck="false" class="mono"
          /></label>
          ${err('expression')}
          <label
            >Timezone
            <input name="timezone" value="${v('timezone')}" list="timezones" placeholder="UTC"
          /></label>
          ${err('timezone')}
          <datalist id="timezones">
            ${Intl.supportedValuesOf('timeZone').map((zone) => html`<option value="${zone}"></option>`)}
          </datalist>
        </div>
        <div data-schedule="clocked">
          <label>At (UTC) <input type="datetime-local" name="at" value="${v('at')}" /></label>
          ${err('at')}
        </div>
        <output class="preview" data-preview aria-live="polite">
          ${
            preview
              ? html`<strong>${preview.description}</strong>
                  <ol>
                    ${preview.nextRuns.map((at) => html`<li>${time(at)}</li>`)}
                  </ol>
                  ${preview.nextRuns.length === 0 ? html`<p>No upcoming runs.</p>` : ''}`
              : ''
          }
        </output>
        <button type="submit" name="action" value="preview" class="secondary">
          Preview next runs
        </button>
      </fieldset>
      <details ${v('startTime') || v('expiresAt') || v('queue') || v('priority') ? html`open` : ''}>
        <summary>More options</summary>
        <label
          >Start time (UTC) <input type="datetime-local" name="startTime" value="${v('startTime')}"
        /></label>
        ${err('startTime')}
        <label
          >Expires (UTC) <input type="datetime-local" name="expiresAt" value="${v('expiresAt')}"
        /></label>
        ${err('expiresAt')}
        <label
          >Queue
          <select name="queue">
            <option value="" ${selected('queue', '')}>the task's own</option>
            ${QUEUE_NAMES.map((q) => html`<option value="${q}" ${selected('queue', q)}>${q}</option>`)}
          </select></label
        >
        ${err('queue')}
        <label
          >Priority (1 runs first; empty: none)
          <input name="priority" value="${v('priority')}" inputmode="numeric" size="8"
        /></label>
        ${err('priority')}
        <label class="inline"
          ><input type="checkbox" name="oneOff" ${checked('oneOff')} /> Run once, then
          disable</label
        >
      </details>
      <label
        >Description <textarea name="description" rows="2">${v('description')}</textarea>
      </label>
      ${err('description')}
      <label class="inline"
        ><input type="checkbox" name="enabled" ${checked('enabled')} /> Enabled</label
      >
      <div class="actions"><button type="submit" name="action" value="save">Save</button></div>
    </form>`;
}

function taskList(request: Request, rows: PeriodicTask[]): SafeHtml {
  if (rows.length === 0) return html`<p class="empty">No periodic tasks yet.</p>`;
  const action = (row: PeriodicTask, path: string, label: string, confirm?: string) =>
    html`<form
      method="post"
      action="${ADMIN}/periodic-tasks/${row.id}/${path}"
      class="inline"
      ${confirm ? html`data-confirm="${confirm}"` : ''}
    >
      ${csrfField(request)}<button type="submit" class="small">${label}</button>
    </form>`;
  return html`<table>
    <thead>
      <tr>
        <th>Name</th>
        <th>Task</th>
        <th>Schedule</th>
        <th>Enabled</th>
        <th>Last run</th>
        <th>Next run</th>
        <th class="num">Runs</th>
        <th></th>
      </tr>
    </thead>
    <tbody>
      ${rows.map((row) => {
        const spec = rowToSpec(row);
        const [next] = nextRunTimes(row, 1);
        return html`<tr data-periodic-task="${row.name}">
          <td><a href="${ADMIN}/periodic-tasks/${row.id}">${row.name}</a></td>
          <td><code>${row.task}</code></td>
          <td>${describeSchedule(spec.schedule)}</td>
          <td>${row.enabled ? status('enabled') : status('disabled')}</td>
          <td>${time(row.lastRunAt)}</td>
          <td>${next ? time(next) : DASH}</td>
          <td class="num">
            <a href="${ADMIN}/task-results?periodicTaskId=${row.id}">${row.totalRunCount}</a>
          </td>
          <td class="row-actions">
            ${action(row, 'run', 'Run now')}
            ${row.enabled ? action(row, 'disable', 'Disable') : action(row, 'enable', 'Enable')}
            ${action(row, 'delete', 'Delete', `Delete the periodic task "${row.name}"?`)}
          </td>
        </tr>`;
      })}
    </tbody>
  </table>`;
}

export function periodicTaskPages(deps: {
  db: Database;
  registry: TaskRegistry;
  queues: Queues;
}): Router {
  const router = Router();
  const tasks = new PeriodicTasks(deps.db, deps.registry, deps.queues);
  const base = `${ADMIN}/periodic-tasks`;
  const idOf = (request: Request): number => {
    const id = pathId(serialId, request.params.id);
    if (id === undefined) throw new NotFoundPage(`There is no periodic task ${request.params.id}.`);
    return id;
  };

  router.get(
    '/periodic-tasks',
    asyncPage(async (request, response) => {
      const rows = await tasks.list();
      render(request, response, {
        title: 'Periodic tasks',
        section: '/periodic-tasks',
        body: html`<p><a class="button" href="${base}/new">New periodic task</a></p>
          ${taskList(request, rows)}`,
      });
    }),
  );

  const showEditor = (
    request: Request,
    response: Response,
    options: {
      row: PeriodicTask | null;
      values: FormValues;
      issues?: FieldIssue[];
      preview?: SchedulePreview | null;
      status?: number;
    },
  ) =>
    render(request, response, {
      title: options.row ? `Periodic task: ${options.row.name}` : 'New periodic task',
      section: '/periodic-tasks',
      status: options.status,
      body: editor(
        request,
        deps.registry,
        options.values,
        options.issues ?? [],
        options.row ? `${base}/${options.row.id}` : base,
        options.preview ?? null,
        options.row?.lastRunAt ?? null,
      ),
    });

  router.get('/periodic-tasks/new', (request, response) => {
    showEditor(request, response, { row: null, values: valuesOf(null, deps.registry) });
  });

  router.get(
    '/periodic-tasks/:id',
    asyncPage(async (request, response) => {
      const row = await tasks.get(idOf(request));
      showEditor(request, response, {
        row,
        values: valuesOf(row, deps.registry),
        preview: {
          description: describeSchedule(rowToSpec(row).schedule),
          nextRuns: nextRunTimes(row, 5),
        },
      });
    }),
  );

  /** Create (no id) or replace; "Preview" only validates and shows the next runs. */
  const save = (existing: boolean) =>
    asyncPage(async (request, response) => {
      const row = existing ? await tasks.get(idOf(request)) : null;
      const values = request.body as FormValues;
      const { input, issues } = formToInput(values);
      if (values.action === 'preview') {
        let preview: SchedulePreview | null = null;
        let problems: FieldIssue[] = [];
        try {
          const { schedule, startTime, expiresAt, oneOff } = input;
          const lastRunAt = row?.lastRunAt ?? null;
          preview = previewSchedule({ schedule, startTime, expiresAt, oneOff, lastRunAt });
        } catch (error) {
          if (!(error instanceof ValidationError)) throw error;
          problems = error.issues;
        }
        showEditor(request, response, {
          row,
          values,
          issues: formIssues(problems),
          preview,
          status: problems.length ? 400 : 200,
        });
        return;
      }
      try {
        if (issues.length) {
          // The kwargs were not JSON: still name every other field's problem in the same answer.
          const rest = periodicTaskSchema(deps.registry).safeParse({ ...input, kwargs: {} });
          const others = rest.success ? [] : issuesOf(rest.error);
          throw new ValidationError([
            ...issues,
            ...others.filter((i) => !i.path.startsWith('kwargs')),
          ]);
        }
        const me = currentUser(response.locals);
        const saved = row ? await tasks.update(row.id, input, me) : await tasks.create(input, me);
        redirectWithNotice(request, response, base, `Saved "${saved.name}".`);
      } catch (error) {
        if (error instanceof ForbiddenError) {
          showEditor(request, response, {
            row,
            values,
            issues: formIssues([{ path: 'task', message: error.message }]),
            status: 403,
          });
          return;
        }
        if (!(error instanceof ValidationError)) throw error;
        showEditor(request, response, {
          row,
          values,
          issues: formIssues(error.issues),
          status: 400,
        });
      }
    });
  router.post('/periodic-tasks', save(false));
  router.post('/periodic-tasks/:id', save(true));

  router.post(
    '/periodic-tasks/:id/run',
    asyncPage(async (request, response) => {
      const row = await tasks.get(idOf(request));
      const jobId = await tasks.runNow(row.id, currentUser(response.locals));
      redirectWithNotice(
        request,
        response,
        `${ADMIN}/task-results?periodicTaskId=${row.id}`,
        `Queued a run of "${row.name}" (job ${jobId}).`,
      );
    }),
  );
  for (const [path, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    router.post(
      `/periodic-tasks/:id/${path}`,
      asyncPage(async (request, response) => {
        const row = await tasks.setEnabled(idOf(request), enabled, currentUser(response.locals));
        redirectWithNotice(request, response, base, `"${row.name}" is ${path}d.`);
      }),
    );
  }
  router.post(
    '/periodic-tasks/:id/delete',
    asyncPage(async (request, response) => {
      const row = await tasks.get(idOf(request));
      await tasks.remove(row.id, currentUser(response.locals));
      redirectWithNotice(
        request,
        response,
        base,
        `Deleted "${row.name}"; its past results are kept.`,
      );
    }),
  );

  return router;
}
