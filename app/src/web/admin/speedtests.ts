// Speed test pages: the home page (latest result, the week's figures, a chart), the filtered
// list with keyset pages, and one test with its pinged servers.
import { Router } from 'express';
import { z } from 'zod';
import type { Database } from '../../db/index.ts';
import { taskResultPage } from '../../queue/task-history.ts';
import { ENGINE_NAMES } from '../../speedtest/index.ts';
import {
  speedtestFilters,
  speedtestHistory,
  type SpeedtestFilters,
  type SpeedtestListItem,
} from '../../speedtest/history.ts';
import { issuesOf, type FieldIssue } from '../../validation.ts';
import { decodeCursor, encodeCursor } from '../api/pagination.ts';
import { html, type SafeHtml } from '../html.ts';
import { speedtestChart } from './chart.ts';
import { DASH, dateInput, untilInput, mbps, ms, num, queryString, status, time } from './format.ts';
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
      </tr>`,
  )}`;
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
    <button type="submit">Filter</button>
    <a href="${ADMIN}/speedtests">Clear</a>
  </form>`;
}

function figure(label: string, value: string, detail?: SafeHtml | string): SafeHtml {
  return html`<div class="figure">
    <span class="label">${label}</span><strong>${value}</strong>${
      detail ? html`<small>${detail}</small>` : ''
    }
  </div>`;
}

export function speedtestPages(db: Database): Router {
  const router = Router();
  const history = speedtestHistory(db);

  router.get(
    '/',
    asyncPage(async (request, response) => {
      const now = Date.now();
      const week = { from: new Date(now - 7 * DAY_MS) };
      const [summary, recent, failures] = await Promise.all([
        history.summary(week),
        history.all({ from: new Date(now - 30 * DAY_MS) }, 1_000),
        taskResultPage(db, { status: 'failed' }, 5),
      ]);
      const latest = summary.latest;
      const stats = (
        s: { min: number | null; avg: number | null; max: number | null },
        f: (v: number | null) => string,
      ) => `min ${f(s.min)} · avg ${f(s.avg)} · max ${f(s.max)}`;
      render(request, response, {
        title: 'Home',
        section: '',
        scripts: ['uplot/uPlot.iife.min.js', 'chart.js'],
        body: html`<section class="figures" aria-label="Latest speed test">
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
                      ${summary.count === 1 ? '1 test' : `${summary.count} tests`} in the last 7
                      days (min/avg/max over those).
                    </p>`
                : html`<p class="empty">
                    No speed tests in the last 7 days. The "Process Speed Test" periodic task runs
                    them; <a href="${ADMIN}/periodic-tasks">run it now</a>.
                  </p>`
            }
          </section>
          <h2>Last 30 days</h2>
          ${speedtestChart(recent, { label: 'Download, upload and ping over the last 30 days' })}
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
