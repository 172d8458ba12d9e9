// Schedule pages (django-celery-beat's admin, in a speed tester's words): the list with
// enable/disable/run-now, and an editor for interval, crontab and clocked schedules in two forms:
// a speed test schedule (engine, servers, when) for everyone, and the general task editor (any
// task, keyword arguments as JSON) for what is not a plain speed test. Forms go through the same
// schema as the API; a refused form comes back with every problem named and nothing saved.
import { Router, type Request, type Response } from 'express';
import { col, fn } from 'sequelize';
import type { Database } from '../../db/index.ts';
import { ForbiddenError } from '../../errors.ts';
import type { PeriodicTask } from '../../db/models.ts';
import { PeriodicTasks } from '../../queue/periodic-tasks.ts';
import type { Queues } from '../../queue/queues.ts';
import {
  describeSchedule,
  previewSchedule,
  scheduleWarnings,
  type SchedulePreview,
} from '../../queue/schedule-description.ts';
import { nextRunTimes, periodicTaskSchema, rowToSpec } from '../../queue/schedule.ts';
import { ENGINE_NAMES } from '../../speedtest/index.ts';
import { assertMayRun } from '../../tasks/permissions.ts';
import { SPEEDTEST_TASK } from '../../tasks/speedtest.ts';
import { QUEUE_NAMES, type TaskRegistry } from '../../tasks/registry.ts';
import { issuesOf, ValidationError, type FieldIssue } from '../../validation.ts';
import { html, type SafeHtml } from '../html.ts';
import { DASH, dateTimeInput, status, time } from './format.ts';
import { ADMIN, csrfField, redirectWithNotice, render } from './layout.ts';
import { pathId, serialId } from '../ids.ts';
import { currentUser } from '../auth/middleware.ts';
import { asyncPage, familyAndSourceFields, fieldError, issueList, NotFoundPage } from './pages.ts';

const PERIODS = ['seconds', 'minutes', 'hours', 'days'] as const;
/** The editor's fields that show their own problems beside them (the rest go on top). */
const EDITOR_FIELDS = [
  'name',
  'task',
  'kwargs',
  'engine',
  'servers',
  'sourceAddress',
  'interface',
  'family',
  'scheduleType',
  'every',
  'period',
  'expression',
  'timezone',
  'at',
  'startTime',
  'expiresAt',
  'queue',
  'priority',
  'jitterSeconds',
  'description',
] as const;
const SCHEDULE_TYPES = ['interval', 'crontab', 'clocked'] as const;
/** The schedule kinds in people's words (the values stay django-celery-beat's). */
const SCHEDULE_WORDS: Record<(typeof SCHEDULE_TYPES)[number], string> = {
  interval: 'Every so often (an interval)',
  crontab: 'At set times (crontab)',
  clocked: 'Once, at a date and time',
};

/** The editor's fields as submitted: every value a string, as a browser sends them. */
type FormValues = Record<string, string>;

/** Which form the editor shows: the speed test schedule, or the general task editor. */
type EditorKind = 'speedtest' | 'task';

/** A known server, as the speed test form offers it (the value is what kwargs.servers takes). */
interface ServerOption {
  engine: string;
  value: string;
  label: string;
}

/** The speed test's keyword arguments its form has fields for (the rest need the general editor). */
const SPEEDTEST_FORM_KWARGS = ['engine', 'servers', 'sourceAddress', 'interface', 'family'];

/** A speed test schedule is one whose keyword arguments are only what its form can say. */
function kindOf(row: PeriodicTask): EditorKind {
  return row.task === SPEEDTEST_TASK &&
    Object.keys(row.kwargs ?? {}).every((key) => SPEEDTEST_FORM_KWARGS.includes(key))
    ? 'speedtest'
    : 'task';
}

function valuesOf(row: PeriodicTask | null, registry: TaskRegistry, kind: EditorKind): FormValues {
  if (!row) {
    const task = registry.get(SPEEDTEST_TASK) ? SPEEDTEST_TASK : (registry.names()[0] ?? '');
    return {
      form: kind,
      engine: '',
      servers: '',
      sourceAddress: '',
      interface: '',
      family: '',
      name: '',
      task,
      kwargs: '{}',
      scheduleType: 'interval',
      every: '1',
      period: 'hours',
      expression: '0 * * * *',
      timezone: 'UTC',
      at: '',
      startTime: '',
      expiresAt: '',
      queue: '',
      priority: '',
      jitterSeconds: '',
      description: '',
      enabled: 'on',
      oneOff: '',
    };
  }
  const spec = rowToSpec(row);
  const s = spec.schedule;
  const kwargs = spec.kwargs as Record<string, unknown>;
  const text = (value: unknown) =>
    typeof value === 'string' || typeof value === 'number' ? String(value) : '';
  return {
    form: kind,
    engine: text(kwargs.engine),
    servers: Array.isArray(kwargs.servers) ? kwargs.servers.map(String).join('\n') : '',
    sourceAddress: text(kwargs.sourceAddress),
    interface: text(kwargs.interface),
    family: text(kwargs.family),
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
    jitterSeconds: spec.jitterSeconds ? String(spec.jitterSeconds) : '',
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
  const speedtest = values.form === 'speedtest';
  if (speedtest) {
    const servers = (values.servers ?? '').split('\n').filter(Boolean);
    const trimmed = (field: string) => values[field]?.trim() ?? '';
    kwargs = {
      ...(values.engine ? { engine: values.engine } : {}),
      ...(servers.length ? { servers } : {}),
      ...(trimmed('sourceAddress') ? { sourceAddress: trimmed('sourceAddress') } : {}),
      ...(trimmed('interface') ? { interface: trimmed('interface') } : {}),
      // The select offers only 4 and 6; anything else is passed on for the schema to name.
      ...(values.family
        ? { family: /^[46]$/.test(values.family) ? Number(values.family) : values.family }
        : {}),
    };
  } else {
    try {
      kwargs = JSON.parse(values.kwargs?.trim() || '{}');
    } catch (error) {
      issues.push({ path: 'kwargs', message: `expected JSON: ${(error as Error).message}` });
    }
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
  const jitterSeconds = values.jitterSeconds?.trim() ? number('jitterSeconds') : 0;
  return {
    input: {
      name: values.name ?? '',
      task: speedtest ? SPEEDTEST_TASK : (values.task ?? ''),
      kwargs,
      schedule,
      startTime: utc(values.startTime),
      expiresAt: utc(values.expiresAt),
      oneOff: values.oneOff === 'on',
      enabled: values.enabled === 'on',
      priority,
      jitterSeconds,
      queue: values.queue || null,
      description: values.description ?? '',
    },
    issues,
  };
}

/**
 * Issue paths of the API shape, as the form's field names ("schedule.expression" -> "expression";
 * on the speed test form, "kwargs.servers" -> "servers").
 */
function formIssues(issues: FieldIssue[], kind: EditorKind = 'task'): FieldIssue[] {
  return issues.map((issue) => ({
    ...issue,
    path: issue.path.startsWith('schedule.')
      ? issue.path.slice('schedule.'.length)
      : issue.path === 'schedule'
        ? 'scheduleType'
        : kind === 'speedtest' && issue.path.startsWith('kwargs.')
          ? issue.path.slice('kwargs.'.length).split('.')[0]!
          : issue.path,
  }));
}

interface EditorContext {
  registry: TaskRegistry;
  /** Known servers for the speed test form's picker. */
  servers: ServerOption[];
  isAdmin: boolean;
  /** The other form of the same task, for admins ("the general task editor"). */
  switchTo: string | null;
}

function editor(
  request: Request,
  context: EditorContext,
  values: FormValues,
  issues: FieldIssue[],
  action: string,
  preview: SchedulePreview | null,
  /** The task's last run, for the live preview (an interval counts from it). */
  lastRunAt: Date | null,
): SafeHtml {
  const { registry } = context;
  const v = (field: string) => values[field] ?? '';
  const err = (field: string) => fieldError(issues, field);
  const selected = (field: string, value: string) => (v(field) === value ? html`selected` : '');
  const checked = (field: string, value = 'on') => (v(field) === value ? html`checked` : '');
  const chosenServers = new Set(v('servers').split('\n').filter(Boolean));
  // A user's task list holds only what they may run (tasks/permissions.ts).
  const tasks = registry
    .list()
    .filter((task) => context.isAdmin || task.allowed !== 'admins' || task.name === v('task'));
  const what =
    v('form') === 'speedtest'
      ? html`<input type="hidden" name="form" value="speedtest" />
          <label
            >Engine
            <select name="engine">
              <option value="" ${selected('engine', '')}>the deployment's default</option>
              ${ENGINE_NAMES.map(
                (name) =>
                  html`<option value="${name}" ${selected('engine', name)}>${name}</option>`,
              )}
            </select></label
          >
          ${err('engine')}
          <label
            >Servers
            <select
              name="servers"
              multiple
              size="${Math.min(Math.max(context.servers.length, 2), 6)}"
              ${context.isAdmin ? '' : html`disabled`}
            >
              ${context.servers.map(
                (server) =>
                  html`<option
                    value="${server.value}"
                    ${chosenServers.has(server.value) ? html`selected` : ''}
                  >
                    ${server.label} (${server.engine})
                  </option>`,
              )}
            </select></label
          >
          <small class="hint"
            >${
              context.isAdmin
                ? 'None chosen: the deployment’s default servers. The list holds every server a test has used.'
                : 'Admins choose servers; your tests use the deployment’s default servers.'
            }</small
          >
          ${err('servers')}
          <fieldset class="source">
            <legend>Where the test starts from</legend>
            ${familyAndSourceFields(values, issues, "either (as the server's name resolves)")}
            <label
              >or interface
              <input
                name="interface"
                value="${v('interface')}"
                placeholder="e.g. eth1"
                maxlength="15"
                spellcheck="false"
            /></label>
            ${err('interface')}
            <small class="hint"
              >An address or interface of the worker's host: results are tagged with the address and
              IP version they ran from, and the Speed tests page filters by them.</small
            >
          </fieldset>`
      : html`<input type="hidden" name="form" value="task" />
          <label
            >Task
            <select name="task">
              ${tasks.map(
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
          ${err('kwargs')}`;
  return html`${issueList(issues, EDITOR_FIELDS)}
    <form
      method="post"
      action="${action}"
      class="editor"
      data-schedule-editor
      data-last-run-at="${lastRunAt ? lastRunAt.toISOString() : ''}"
    >
      ${csrfField(request)}
      <label>Name <input name="name" value="${v('name')}" required maxlength="200" /></label>
      ${err('name')} ${what}
      ${
        context.switchTo
          ? html`<p>
              <a href="${context.switchTo}"
                >${v('form') === 'speedtest' ? 'Use the general task editor' : 'Use the speed test form'}</a
              >
            </p>`
          : ''
      }
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
              ${SCHEDULE_WORDS[type]}</label
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
                  ${preview.nextRuns.length === 0 ? html`<p>No upcoming runs.</p>` : ''}
                  ${preview.warnings.map((warning) => html`<p class="warning">Note: ${warning}.</p>`)}`
              : ''
          }
        </output>
        <button type="submit" name="action" value="preview" class="secondary">
          Preview next runs
        </button>
      </fieldset>
      <details
        ${v('startTime') || v('expiresAt') || v('queue') || v('priority') || v('jitterSeconds') ? html`open` : ''}
      >
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
        <label
          >Random delay of each run, up to (seconds; empty: none)
          <input name="jitterSeconds" value="${v('jitterSeconds')}" inputmode="numeric" size="8"
        /></label>
        <small class="hint"
          >Each run starts at its time plus a random offset up to this, so that many schedules do
          not all start on the hour.</small
        >
        ${err('jitterSeconds')}
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
  if (rows.length === 0) return html`<p class="empty">No schedules yet.</p>`;
  const action = (row: PeriodicTask, path: string, label: string, confirm?: string) =>
    html`<form
      method="post"
      action="${ADMIN}/periodic-tasks/${row.id}/${path}"
      class="inline"
      ${confirm ? html`data-confirm="${confirm}"` : ''}
    >
      ${csrfField(request)}<button type="submit" class="small">${label}</button>
    </form>`;
  // Bulk actions: each row's checkbox belongs to the one form below the table (the form
  // attribute), since the rows' own action forms cannot sit inside another form.
  return html`<table>
      <thead>
        <tr>
          <th></th>
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
            <td>
              <input
                type="checkbox"
                name="ids"
                value="${row.id}"
                form="bulk"
                aria-label="Select ${row.name}"
              />
            </td>
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
              ${action(row, 'delete', 'Delete', `Delete the schedule "${row.name}"?`)}
            </td>
          </tr>`;
        })}
      </tbody>
    </table>
    <form id="bulk" method="post" action="${ADMIN}/periodic-tasks/bulk" class="bulk">
      ${csrfField(request)} With the selected:
      ${BULK_ACTIONS.map(
        ({ action, label }) =>
          html`<button type="submit" name="bulk" value="${action}" class="small">${label}</button>`,
      )}
    </form>`;
}

const BULK_ACTIONS = [
  { action: 'enable', label: 'Enable', done: 'Enabled' },
  { action: 'disable', label: 'Disable', done: 'Disabled' },
  { action: 'run', label: 'Run now', done: 'Queued a run of' },
] as const;

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
        title: 'Schedules',
        section: '/periodic-tasks',
        body: html`<p class="actions">
            <a class="button" href="${base}/new">New speed test schedule</a>
            ${
              currentUser(response.locals).isAdmin
                ? html`<a class="button secondary" href="${base}/new?kind=task"
                    >New task schedule</a
                  >`
                : ''
            }
          </p>
          ${taskList(request, rows)}`,
      });
    }),
  );

  /** Every server a test has used, for the speed test form's picker (by name, as people sort). */
  const serverOptions = async (): Promise<ServerOption[]> =>
    (
      await deps.db.models.SpeedtestServer.findAll({
        attributes: ['engine', 'externalId', 'url', 'name', 'countryCode'],
        order: [[fn('lower', col('name')), 'ASC']],
      })
    ).map((server) => ({
      engine: server.engine,
      // What kwargs.servers takes: a LibreSpeed backend's URL, an Ookla server's id.
      value: server.engine === 'librespeed' ? (server.url ?? server.externalId) : server.externalId,
      label: server.countryCode ? `${server.name}, ${server.countryCode}` : server.name,
    }));

  const showEditor = async (
    request: Request,
    response: Response,
    options: {
      row: PeriodicTask | null;
      values: FormValues;
      issues?: FieldIssue[];
      preview?: SchedulePreview | null;
      status?: number;
    },
  ) => {
    const isAdmin = currentUser(response.locals).isAdmin;
    const speedtest = options.values.form === 'speedtest';
    const here = options.row ? `${base}/${options.row.id}` : `${base}/new`;
    render(request, response, {
      title: options.row
        ? `Schedule: ${options.row.name}`
        : speedtest
          ? 'New speed test schedule'
          : 'New task schedule',
      section: '/periodic-tasks',
      status: options.status,
      body: editor(
        request,
        {
          registry: deps.registry,
          servers: speedtest ? await serverOptions() : [],
          isAdmin,
          switchTo: isAdmin ? `${here}?kind=${speedtest ? 'task' : 'speedtest'}` : null,
        },
        options.values,
        options.issues ?? [],
        options.row ? `${base}/${options.row.id}` : base,
        options.preview ?? null,
        options.row?.lastRunAt ?? null,
      ),
    });
  };
  /** `?kind=task` asks for the general editor; a speed test schedule is the default. */
  const askedKind = (request: Request): EditorKind | undefined =>
    request.query.kind === 'task'
      ? 'task'
      : request.query.kind === 'speedtest'
        ? 'speedtest'
        : undefined;

  router.get(
    '/periodic-tasks/new',
    asyncPage(async (request, response) => {
      const kind = currentUser(response.locals).isAdmin
        ? (askedKind(request) ?? 'speedtest')
        : 'speedtest';
      await showEditor(request, response, {
        row: null,
        values: valuesOf(null, deps.registry, kind),
      });
    }),
  );

  router.get(
    '/periodic-tasks/:id',
    asyncPage(async (request, response) => {
      const row = await tasks.get(idOf(request));
      // The speed test form cannot show other kwargs: such a task opens in the general editor.
      const own = kindOf(row);
      const kind = own === 'speedtest' ? (askedKind(request) ?? own) : 'task';
      const spec = rowToSpec(row);
      await showEditor(request, response, {
        row,
        values: valuesOf(row, deps.registry, kind),
        preview: {
          description: describeSchedule(spec.schedule),
          nextRuns: nextRunTimes(row, 5),
          warnings: scheduleWarnings(spec.schedule, row.task),
        },
      });
    }),
  );

  /** Create (no id) or replace; "Preview" only validates and shows the next runs. */
  const save = (existing: boolean) =>
    asyncPage(async (request, response) => {
      const row = existing ? await tasks.get(idOf(request)) : null;
      const body = request.body as Record<string, string | string[] | undefined>;
      // A multiple select sends one field per choice: the form keeps them one per line.
      const values: FormValues = Object.fromEntries(
        Object.entries(body).map(([key, value]) => [
          key,
          Array.isArray(value) ? value.join('\n') : (value ?? ''),
        ]),
      );
      if (values.form !== 'speedtest') values.form = 'task';
      const kind = values.form as EditorKind;
      const { input, issues } = formToInput(values);
      if (values.action === 'preview') {
        let preview: SchedulePreview | null = null;
        let problems: FieldIssue[] = [];
        try {
          const { schedule, startTime, expiresAt, oneOff, task } = input;
          const lastRunAt = row?.lastRunAt ?? null;
          preview = previewSchedule({ schedule, startTime, expiresAt, oneOff, lastRunAt, task });
        } catch (error) {
          if (!(error instanceof ValidationError)) throw error;
          problems = error.issues;
        }
        await showEditor(request, response, {
          row,
          values,
          issues: formIssues(problems, kind),
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
        const warnings = scheduleWarnings(rowToSpec(saved).schedule, saved.task);
        redirectWithNotice(
          request,
          response,
          base,
          `Saved "${saved.name}".${warnings.map((warning) => ` Note: ${warning}.`).join('')}`,
        );
      } catch (error) {
        if (error instanceof ForbiddenError) {
          // On the speed test form the one thing a user may not set is the servers.
          const path = kind === 'speedtest' ? 'servers' : 'task';
          await showEditor(request, response, {
            row,
            values,
            issues: [{ path, message: error.message }],
            status: 403,
          });
          return;
        }
        if (!(error instanceof ValidationError)) throw error;
        await showEditor(request, response, {
          row,
          values,
          issues: formIssues(error.issues, kind),
          status: 400,
        });
      }
    });
  // Enable, disable or run several at once: every one is checked first, so either all happen or,
  // when one may not (a task for admins, a schedule gone meanwhile), none does.
  router.post(
    '/periodic-tasks/bulk',
    asyncPage(async (request, response) => {
      const body = request.body as { ids?: string | string[]; bulk?: string };
      const chosen = BULK_ACTIONS.find((entry) => entry.action === body.bulk);
      const ids = [body.ids ?? []].flat().map((id) => pathId(serialId, id));
      if (!chosen) throw new NotFoundPage(`There is no bulk action ${String(body.bulk)}.`);
      if (ids.length === 0)
        return redirectWithNotice(request, response, base, 'Select at least one schedule first.');
      const me = currentUser(response.locals);
      const rows: PeriodicTask[] = [];
      for (const id of ids) {
        const row = id === undefined ? null : await deps.db.models.PeriodicTask.findByPk(id);
        if (!row)
          return redirectWithNotice(
            request,
            response,
            base,
            'Nothing changed: a selected schedule no longer exists.',
          );
        try {
          assertMayRun(deps.registry, me, row.task);
        } catch (error) {
          if (!(error instanceof ForbiddenError)) throw error;
          return redirectWithNotice(
            request,
            response,
            base,
            `Nothing changed: "${row.name}": ${error.message}.`,
          );
        }
        rows.push(row);
      }
      for (const row of rows) {
        if (chosen.action === 'run') await tasks.runNow(row.id, me);
        else await tasks.setEnabled(row.id, chosen.action === 'enable', me);
      }
      const names = rows.map((row) => `"${row.name}"`).join(', ');
      redirectWithNotice(request, response, base, `${chosen.done} ${names}.`);
    }),
  );

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
