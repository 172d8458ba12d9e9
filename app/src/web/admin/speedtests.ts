// Speed test pages: Home (the figures and charts over a chosen time range, "run a speed test
// now", recent failures), the filtered list with keyset pages, and one test with its pinged
// servers.
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Database } from '../../db/index.ts';
import type { Logger } from '../../log.ts';
import { enqueueTask } from '../../queue/periodic-tasks.ts';
import type { Queues } from '../../queue/queues.ts';
import { taskResultPage } from '../../queue/task-history.ts';
import { ENGINE_NAMES } from '../../speedtest/index.ts';
import {
  speedtestFilters,
  speedtestHistory,
  type SpeedtestFilters,
  type SpeedtestListItem,
} from '../../speedtest/history.ts';
import { assertMayRun } from '../../tasks/permissions.ts';
import type { TaskRegistry } from '../../tasks/registry.ts';
import { SPEEDTEST_TASK, TYPICAL_SPEEDTEST_MS } from '../../tasks/speedtest.ts';
import { issuesOf, ValidationError, type FieldIssue } from '../../validation.ts';
import { decodeCursor, encodeCursor } from '../api/pagination.ts';
import { currentUser } from '../auth/middleware.ts';
import { logServerError } from '../errors.ts';
import { html, type SafeHtml } from '../html.ts';
import { speedtestChart } from './chart.ts';
import { DASH, dateInput, untilInput, mbps, ms, num, queryString, status, time } from './format.ts';
import { bigserialId, pathId } from '../ids.ts';
import { ADMIN, csrfField, redirectWithNotice, render } from './layout.ts';
import {
  asyncPage,
  dateRangeIssues,
  issueList,
  NotFoundPage,
  untilEndOfDay,
  withoutEmpty,
} from './pages.ts';

const PAGE_SIZE = 50;
const DAY_MS = 86_400_000;

const listQuery = z
  .object({
    ...speedtestFilters,
    // Pages carry the cursor as `after`; anything unreadable starts from the newest row.
    after: z.string().optional(),
  })
  .strict();

function resultRows(rows: SpeedtestListItem[]): SafeHtml {
  return html`${rows.map(
    (row) =>
      html`<tr>
        <td><a href="${ADMIN}/speedtests/${row.id}">${time(row.startedAt)}</a></td>
        <td>${row.engine}${row.selfTest ? html` <span class="badge">self-test</span>` : ''}</td>
        <td>
          ${row.serverName ?? DASH}${row.countryCode ? html` <small>${row.countryCode}</small>` : ''}
        </td>
        <td class="num">${mbps(row.downloadBps)}</td>
        <td class="num">${mbps(row.uploadBps)}</td>
        <td class="num">${ms(row.pingMs)}</td>
        <td class="num">${ms(row.jitterMs)}</td>
        <td class="num">${bloat(row)}</td>
      </tr>`,
  )}`;
}

/** "B · +42 ms": the grade and the increase it comes from. */
function bloat(row: Pick<SpeedtestListItem, 'bufferbloat'>): SafeHtml | string {
  if (!row.bufferbloat) return DASH;
  return html`<span class="grade" data-grade="${row.bufferbloat.grade}"
      >${row.bufferbloat.grade}</span
    >
    <small>+${ms(row.bufferbloat.increaseMs)}</small>`;
}

function resultTable(rows: SpeedtestListItem[]): SafeHtml {
  if (rows.length === 0) return html`<p class="empty">No speed tests match.</p>`;
  return html`<table>
    <thead>
      <tr>
        <th>Started</th>
        <th>Engine</th>
        <th>Server</th>
        <th class="num">Download</th>
        <th class="num">Upload</th>
        <th class="num">Ping</th>
        <th class="num">Jitter</th>
        <th class="num" title="Latency added while the link is full (DSLReports' grades)">
          Bufferbloat
        </th>
      </tr>
    </thead>
    <tbody>
      ${resultRows(rows)}
    </tbody>
  </table>`;
}

function filterForm(
  filters: SpeedtestFilters,
  servers: Array<Record<string, unknown>>,
  issues: FieldIssue[],
): SafeHtml {
  const option = (value: unknown, label: unknown, selected: boolean) =>
    html`<option value="${value}" ${selected ? html`selected` : ''}>${label}</option>`;
  return html`<form method="get" class="filters" action="${ADMIN}/speedtests">
    ${issueList(issues)}
    <label>From <input type="date" name="from" value="${dateInput(filters.from)}" /></label>
    <label>Until <input type="date" name="to" value="${untilInput(filters.to)}" /></label>
    <label
      >Engine
      <select name="engine">
        ${option('', 'any', !filters.engine)}
        ${ENGINE_NAMES.map((name) => option(name, name, filters.engine === name))}
      </select></label
    >
    <label
      >Server
      <select name="serverId">
        ${option('', 'any', !filters.serverId)}
        ${servers.map((s) =>
          option(s.id, `${String(s.name)} (${String(s.engine)})`, filters.serverId === s.id),
        )}
      </select></label
    >
    <label
      >Country
      <input
        name="country"
        value="${filters.country ?? ''}"
        size="3"
        pattern="[A-Za-z]{2}"
        title="a two-letter country code, e.g. NL"
        placeholder="NL"
    /></label>
    <label
      >IP
      <select name="family">
        ${option('', 'any', !filters.family)} ${option('4', 'IPv4', filters.family === 4)}
        ${option('6', 'IPv6', filters.family === 6)}
      </select></label
    >
    <label
      >Source
      <input
        name="source"
        value="${filters.source ?? ''}"
        size="15"
        title="the local address the tests ran from"
        placeholder="any address"
    /></label>
    <button type="submit">Filter</button>
    <a href="${ADMIN}/speedtests">Clear</a>
  </form>`;
}

/**
 * The most points a chart on Home gets. A range with more tests is drawn as the averages of time
 * buckets (the tests themselves stay one click away): a year of a test every 10 minutes is 52,560
 * tests, drawn as 730 twelve-hour averages, not sent as 52,560 points.
 */
export const CHART_POINTS = 1_000;

/** Bucket widths, in seconds: the narrowest that keeps a range under CHART_POINTS is used. */
const BUCKET_SECONDS = [
  60,
  120,
  300,
  600,
  900,
  1_800,
  3_600,
  7_200,
  10_800,
  21_600,
  43_200,
  86_400,
  2 * 86_400,
  7 * 86_400,
];

export function bucketWidth(from: Date, to: Date): number {
  const span = Math.max(0, (to.getTime() - from.getTime()) / 1000);
  return (
    BUCKET_SECONDS.find((width) => span / width <= CHART_POINTS) ??
    Math.ceil(span / CHART_POINTS / 86_400) * 86_400
  );
}

/** A bucket width in words: "15 minutes", "12 hours", "1 day". */
function duration(seconds: number): string {
  const [count, unit] =
    seconds % 86_400 === 0
      ? [seconds / 86_400, 'day']
      : seconds % 3_600 === 0
        ? [seconds / 3_600, 'hour']
        : [seconds / 60, 'minute'];
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

/** Home's ranges: the last 24 hours, 7 days, 30 days and year, or whole days chosen. */
const PRESETS = {
  '24h': { label: '24 h', ms: DAY_MS, words: 'in the last 24 hours', title: 'The last 24 hours' },
  '7d': { label: '7 d', ms: 7 * DAY_MS, words: 'in the last 7 days', title: 'The last 7 days' },
  '30d': {
    label: '30 d',
    ms: 30 * DAY_MS,
    words: 'in the last 30 days',
    title: 'The last 30 days',
  },
  '1y': { label: '1 y', ms: 365 * DAY_MS, words: 'in the last year', title: 'The last year' },
} as const;
type Preset = keyof typeof PRESETS;
const RANGES = [...(Object.keys(PRESETS) as Preset[]), 'custom'] as const;
const DEFAULT_RANGE: Preset = '7d';

const isoDay = z
  .string()
  // Each check stops at its problem: "yesterday" is not a day, and that is all there is to say.
  .regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'expected a day as YYYY-MM-DD', abort: true })
  .refine(
    (day) => {
      const date = new Date(`${day}T00:00:00.000Z`);
      return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(day);
    },
    { message: 'expected a day of the calendar', abort: true },
  )
  .refine((day) => day >= '1970-01-01', 'expected a day in 1970 or later');

const homeQuery = z
  .object({
    range: z.enum(RANGES, { error: `expected one of ${RANGES.join(', ')}` }).optional(),
    from: isoDay.optional(),
    until: isoDay.optional(),
  })
  .strict();

interface HomeRange {
  key: (typeof RANGES)[number];
  from: Date;
  /** Where the queries stop: open (now) for the presets, the midnight after Until otherwise. */
  to: Date | undefined;
  /** Where the chart's time axis ends. */
  until: Date;
  /** "in the last 7 days", "from 2026-01-01 to 2026-01-31" */
  words: string;
  title: string;
}

/** The range the query asks for, or every problem with it (and what was typed, to show again). */
function homeRange(
  query: Record<string, unknown>,
  now: Date,
): HomeRange | { issues: FieldIssue[]; values: Record<string, string> } {
  const values = Object.fromEntries(
    ['range', 'from', 'until'].map((key) => [
      key,
      typeof query[key] === 'string' ? query[key] : '',
    ]),
  );
  const parsed = homeQuery.safeParse(query);
  if (!parsed.success) return { issues: issuesOf(parsed.error), values };
  const { from, until } = parsed.data;
  const key = parsed.data.range ?? (from || until ? 'custom' : DEFAULT_RANGE);
  const issues: FieldIssue[] = [];
  if (key !== 'custom') {
    for (const [path, day] of [['from', from] as const, ['until', until] as const])
      if (day) issues.push({ path, message: `a day goes with range=custom, not range=${key}` });
    if (issues.length) return { issues, values };
    const preset = PRESETS[key];
    return {
      key,
      from: new Date(now.getTime() - preset.ms),
      to: undefined,
      until: now,
      words: preset.words,
      title: preset.title,
    };
  }
  if (!from) issues.push({ path: 'from', message: 'expected the first day of the range' });
  if (!until) issues.push({ path: 'until', message: 'expected the last day of the range' });
  if (from && until && from > until)
    issues.push({ path: 'until', message: 'expected a day on or after From' });
  if (issues.length || !from || !until) return { issues, values };
  const end = new Date(`${until}T00:00:00.000Z`);
  end.setUTCDate(end.getUTCDate() + 1);
  const one = from === until;
  return {
    key,
    from: new Date(`${from}T00:00:00.000Z`),
    to: end,
    until: end,
    words: one ? `on ${from}` : `from ${from} to ${until}`,
    title: one ? from : `${from} to ${until}`,
  };
}

/** The custom form's days for a range: its own, or those a preset covers (to adjust from). */
function rangeValues(range: HomeRange): Record<string, string> {
  return {
    range: range.key,
    from: dateInput(range.from),
    until: dateInput(new Date(range.until.getTime() - 1)),
  };
}

/** Links to the preset ranges and a form for whole days; a refused range names its problems. */
function rangePicker(
  current: HomeRange | null,
  values: Record<string, string>,
  issues: FieldIssue[],
): SafeHtml {
  return html`<div class="range-picker">
    ${
      issues.length
        ? html`<div class="errors" role="alert">
            <p>This range cannot be shown:</p>
            <ul>
              ${issues.map(
                (issue) => html`<li><code>${issue.path || 'range'}</code>: ${issue.message}</li>`,
              )}
            </ul>
          </div>`
        : ''
    }
    <nav class="range-presets" aria-label="Time range">
      ${(Object.keys(PRESETS) as Preset[]).map(
        (key) =>
          html`<a
            href="${ADMIN}?range=${key}"
            ${current?.key === key ? html`aria-current="true"` : ''}
            >${PRESETS[key].label}</a
          >`,
      )}
    </nav>
    <form method="get" action="${ADMIN}" class="filters range-custom">
      <input type="hidden" name="range" value="custom" />
      <label>From <input type="date" name="from" value="${values.from ?? ''}" required /></label>
      <label>Until <input type="date" name="until" value="${values.until ?? ''}" required /></label>
      <button type="submit" class="secondary">Show these days</button>
    </form>
  </div>`;
}

/** Home's "Run a speed test now": a post of the CSRF field alone. */
function runNowForm(request: Request): SafeHtml {
  return html`<form method="post" action="${ADMIN}/speedtests/run" class="run-now">
    ${csrfField(request)}
    <button type="submit">Run a speed test now</button>
    <small
      >with the configured engine and servers; it takes about
      ${Math.round(TYPICAL_SPEEDTEST_MS / 1000)} s</small
    >
  </form>`;
}

function loaded(latencyMs: number | null, jitterMs: number | null): string {
  if (latencyMs === null) return DASH;
  return jitterMs === null ? ms(latencyMs) : `${ms(latencyMs)} (jitter ${ms(jitterMs)})`;
}

function figure(label: string, value: string, detail?: SafeHtml | string): SafeHtml {
  return html`<div class="figure">
    <span class="label">${label}</span><strong>${value}</strong>${
      detail ? html`<small>${detail}</small>` : ''
    }
  </div>`;
}

export function speedtestPages(deps: {
  db: Database;
  registry: TaskRegistry;
  queues: Queues;
  log: Logger;
}): Router {
  const { db, registry, queues, log } = deps;
  const router = Router();
  const history = speedtestHistory(db);

  router.get(
    '/',
    asyncPage(async (request, response) => {
      const now = new Date();
      const chosen = homeRange(withoutEmpty(request.query), now);
      const runForm = registry.get(SPEEDTEST_TASK) ? runNowForm(request) : '';
      if ('issues' in chosen) {
        render(request, response, {
          title: 'Home',
          section: '',
          status: 400,
          body: html`${rangePicker(null, chosen.values, chosen.issues)} ${runForm}`,
        });
        return;
      }
      const range = chosen;
      const filters = { from: range.from, to: range.to };
      const [summary, failures] = await Promise.all([
        history.summary(filters),
        taskResultPage(db, { status: 'failed' }, 5),
      ]);
      // Every test while they fit on a chart; past CHART_POINTS, the averages of time buckets.
      const bucketSeconds = bucketWidth(range.from, range.until);
      const points =
        summary.count <= CHART_POINTS
          ? await history.all(filters, CHART_POINTS)
          : {
              buckets: await history.buckets(filters, bucketSeconds),
              byServer: await history.serverBuckets(filters, bucketSeconds),
              bucketSeconds,
              tests: summary.count,
            };
      const caption = Array.isArray(points)
        ? ''
        : html`Each point is the average of the tests in ${duration(bucketSeconds)}
          (${points.tests.toLocaleString('en')} tests in
          ${points.buckets.length.toLocaleString('en')} points); a click on one lists its tests.`;
      const latest = summary.latest;
      const stats = (
        s: { min: number | null; avg: number | null; max: number | null },
        f: (v: number | null) => string,
      ) => `min ${f(s.min)} · avg ${f(s.avg)} · max ${f(s.max)}`;
      const tests = summary.count === 1 ? '1 test' : `${summary.count} tests`;
      const list = `${ADMIN}/speedtests${queryString(filters)}`;
      render(request, response, {
        title: 'Home',
        section: '',
        scripts: ['uplot/uPlot.iife.min.js', 'chart.js'],
        body: html`${rangePicker(range, rangeValues(range), [])} ${runForm}
          <section class="figures" aria-label="Speed tests ${range.words}">
            ${
              latest
                ? html`${figure('Download', mbps(latest.downloadBps), stats(summary.downloadBps, mbps))}
                    ${figure('Upload', mbps(latest.uploadBps), stats(summary.uploadBps, mbps))}
                    ${figure(
                      'Ping',
                      ms(latest.pingMs),
                      stats(summary.pingMs, (v) => ms(v)),
                    )}
                    <p class="latest">
                      Latest:
                      <a href="${ADMIN}/speedtests/${latest.id}">${time(latest.startedAt)}</a>
                      via ${latest.engine}${latest.serverName ? ` to ${latest.serverName}` : ''};
                      <a href="${list}">${tests} ${range.words}</a> (min/avg/max over those).
                    </p>`
                : html`<p class="empty">
                    No speed tests ${range.words}. The "Process Speed Test"
                    <a href="${ADMIN}/periodic-tasks">schedule</a> runs
                    them${runForm ? '; the button above runs one now' : ''}.
                  </p>`
            }
          </section>
          <h2>${range.title}</h2>
          ${speedtestChart(points, {
            label: `Download, upload, ping and jitter ${range.words}`,
            window: { from: range.from, to: range.until },
            caption,
          })}
          <h2>Recent failures</h2>
          ${
            failures.items.length === 0
              ? html`<p class="empty">No failed task runs.</p>`
              : html`<ul class="plain">
                  ${failures.items.map(
                    (run) =>
                      html`<li>
                        ${status(run.status)}
                        <a href="${ADMIN}/task-results/${run.id}">${run.task}</a>
                        ${time(run.finishedAt ?? run.queuedAt)} <small>${run.error ?? ''}</small>
                      </li>`,
                  )}
                </ul>`
          }`,
      });
    }),
  );

  // "Run a speed test now" on Home: one run with the configured defaults (no kwargs, which every
  // signed-in user may start), then its task result, which follows the run (see admin.js).
  router.post(
    '/speedtests/run',
    asyncPage(async (request, response) => {
      if (!registry.get(SPEEDTEST_TASK))
        throw new NotFoundPage(`This deployment has no ${SPEEDTEST_TASK} task.`);
      assertMayRun(registry, currentUser(response.locals), SPEEDTEST_TASK);
      let jobId: string;
      try {
        jobId = await enqueueTask(db, registry, queues, SPEEDTEST_TASK, {});
      } catch (error) {
        if (error instanceof ValidationError) throw error;
        // Redis refused the job (enqueueTask has removed its task result again).
        const errorId = logServerError(log, error, request);
        render(request, response, {
          title: 'Not queued',
          section: '',
          status: 503,
          body: html`<p role="alert">
              The task queue (Redis) did not accept the job, so no speed test was queued. Try again
              shortly; the error is in the web role's log (error id ${errorId}).
            </p>
            <p><a href="${ADMIN}">Back to Home</a></p>`,
        });
        return;
      }
      const row = await db.models.TaskResult.findOne({ where: { jobId }, attributes: ['id'] });
      redirectWithNotice(
        request,
        response,
        row
          ? `${ADMIN}/task-results/${row.id}?then=speedtest`
          : `${ADMIN}/task-results?task=${SPEEDTEST_TASK}`,
        `Queued a speed test (job ${jobId}). This page follows it and opens the result when it is done.`,
      );
    }),
  );

  router.get(
    '/speedtests',
    asyncPage(async (request, response) => {
      const parsed = listQuery.safeParse(untilEndOfDay(withoutEmpty(request.query)));
      const servers = await history.serverChoices();
      if (!parsed.success) {
        render(request, response, {
          title: 'Speed tests',
          section: '/speedtests',
          status: 400,
          body: filterForm({}, servers, issuesOf(parsed.error)),
        });
        return;
      }
      const { after, ...filters } = parsed.data;
      const rangeIssues = dateRangeIssues(filters);
      if (rangeIssues.length) {
        render(request, response, {
          title: 'Speed tests',
          section: '/speedtests',
          status: 400,
          body: filterForm(filters, servers, rangeIssues),
        });
        return;
      }
      const page = await history.page(filters, PAGE_SIZE, decodeCursor(after));
      const older = page.after
        ? `${ADMIN}/speedtests${queryString({ ...filters, after: encodeCursor(page.after.at, page.after.id) })}`
        : null;
      render(request, response, {
        title: 'Speed tests',
        section: '/speedtests',
        body: html`${filterForm(filters, servers, [])} ${resultTable(page.items)}
          <nav class="pages">
            ${after ? html`<a href="${ADMIN}/speedtests${queryString(filters)}">Newest</a>` : ''}
            ${older ? html`<a href="${older}" rel="next">Older →</a>` : ''}
            <a href="/api/v1/speedtests.csv${queryString(filters)}" download>CSV</a>
          </nav>`,
      });
    }),
  );

  router.get(
    '/speedtests/:id',
    asyncPage(async (request, response) => {
      const id = pathId(bigserialId, request.params.id);
      const test = id === undefined ? null : await history.detail(id);
      if (!test) throw new NotFoundPage(`There is no speed test ${request.params.id}.`);
      // The same server's results up to this one, so the chart shows how this run compares.
      const around = await history.all(
        {
          ...(test.serverId
            ? { serverId: test.serverId }
            : { engine: test.engine as (typeof ENGINE_NAMES)[number] }),
          to: new Date(new Date(test.startedAt).getTime() + 1),
        },
        100,
      );
      render(request, response, {
        title: `Speed test ${test.id}`,
        section: '/speedtests',
        scripts: ['uplot/uPlot.iife.min.js', 'chart.js'],
        body: html`<section class="figures">
            ${figure('Download', mbps(test.downloadBps))} ${figure('Upload', mbps(test.uploadBps))}
            ${figure('Ping', ms(test.pingMs), `jitter ${ms(test.jitterMs)}`)}
            ${figure(
              'Bufferbloat',
              test.bufferbloat?.grade ?? DASH,
              test.bufferbloat ? `+${ms(test.bufferbloat.increaseMs)} under load` : 'not measured',
            )}
          </section>
          <dl class="facts">
            <dt>Started</dt>
            <dd>${time(test.startedAt)}</dd>
            <dt>Engine</dt>
            <dd>${test.engine}${test.selfTest ? ' (self-test against this site)' : ''}</dd>
            <dt>Server</dt>
            <dd>${test.serverName ?? DASH} ${test.countryCode ?? ''}</dd>
            <dt>Client</dt>
            <dd>
              ${
                test.client
                  ? [test.client.ip, test.client.isp, test.client.countryCode]
                      .filter(Boolean)
                      .join(' · ')
                  : DASH
              }
            </dd>
            <dt>Duration</dt>
            <dd>${ms(test.durationMs, 0)}</dd>
            <dt>Latency while downloading</dt>
            <dd>${loaded(test.downloadLatencyMs, test.downloadJitterMs)}</dd>
            <dt>Latency while uploading</dt>
            <dd>${loaded(test.uploadLatencyMs, test.uploadJitterMs)}</dd>
            <dt>Source</dt>
            <dd>
              ${
                [
                  test.sourceAddress,
                  test.sourceInterface && `interface ${test.sourceInterface}`,
                  test.ipFamily && `IPv${test.ipFamily}`,
                ]
                  .filter(Boolean)
                  .join(' · ') || DASH
              }
            </dd>
            <dt>Packet loss</dt>
            <dd>${test.packetLoss === null ? DASH : `${num(test.packetLoss, 2)} %`}</dd>
            <dt>Result</dt>
            <dd>
              ${
                test.resultUrl
                  ? html`<a href="${test.resultUrl}" rel="noopener noreferrer"
                      >${test.resultUrl}</a
                    >`
                  : DASH
              }
            </dd>
          </dl>
          <h2>Servers pinged</h2>
          ${
            test.pinged.length === 0
              ? html`<p class="empty">The engine reported no candidate servers.</p>`
              : html`<table>
                  <thead>
                    <tr>
                      <th>Server</th>
                      <th>Sponsor</th>
                      <th>Country</th>
                      <th class="num">Latitude</th>
                      <th class="num">Longitude</th>
                      <th class="num">Distance</th>
                      <th class="num">Latency</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${test.pinged.map(
                      (p) =>
                        html`<tr class="${p.chosen ? 'chosen' : ''}">
                          <td>
                            ${p.name}${p.chosen ? html` <span class="badge">chosen</span>` : ''}
                          </td>
                          <td>${p.sponsor ?? DASH}</td>
                          <td>${p.countryCode ?? DASH}</td>
                          <td class="num">${num(p.lat)}</td>
                          <td class="num">${num(p.lon)}</td>
                          <td class="num">
                            ${p.distanceKm === null ? DASH : `${Math.round(p.distanceKm)} km`}
                          </td>
                          <td class="num">${ms(p.latencyMs)}</td>
                        </tr>`,
                    )}
                  </tbody>
                </table>`
          }
          <h2>This server over time</h2>
          ${speedtestChart(around, {
            mark: test.id,
            label: 'Results from the same server up to this test',
          })}`,
      });
    }),
  );

  return router;
}
