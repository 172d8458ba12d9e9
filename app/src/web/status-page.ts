// The public status page at /status, when PUBLIC_STATUS_PAGE is on: the latest result, the last
// seven days' figures and chart, and how many scheduled speed tests succeeded — what a speed
// tracker's users share with their household or their ISP. Read-only and anonymous: no session,
// no cookie, nothing a visitor could act on, and no admin data (no users, schedules, errors,
// client addresses or server URLs). Rate-limited per address and cacheable for a minute, so a
// link passed around costs one database read a minute, not one per visit.
import { Router } from 'express';
import { Op } from 'sequelize';
import type { Database } from '../db/index.ts';
import { speedtestHistory } from '../speedtest/history.ts';
import { SPEEDTEST_TASK } from '../tasks/speedtest.ts';
import { speedtestChart } from './admin/chart.ts';
import { mbps, ms, time } from './admin/format.ts';
import { html, page } from './html.ts';
import { perMinute } from './rate-limit.ts';

export const STATUS_PATH = '/status';
const WEEK_MS = 7 * 86_400_000;
/** Tests drawn at most (a test every 10 minutes is 1,008 a week). */
const CHART_POINTS = 1_100;
const CACHE_SECONDS = 60;

export function statusPage(db: Database, options: { rateLimitPerMinute?: number } = {}): Router {
  const router = Router();
  const history = speedtestHistory(db);
  router.get(
    STATUS_PATH,
    perMinute(
      options.rateLimitPerMinute ?? 30,
      'too many requests from this address; wait a minute',
    ),
    async (_request, response, next) => {
      try {
        const until = new Date();
        const from = new Date(until.getTime() - WEEK_MS);
        const filters = { from, to: until };
        const since = { [Op.gte]: from };
        const [summary, tests, succeeded, failed] = await Promise.all([
          history.summary(filters),
          history.all(filters, CHART_POINTS),
          db.models.TaskResult.count({
            where: { task: SPEEDTEST_TASK, status: 'succeeded', queuedAt: since },
          }),
          db.models.TaskResult.count({
            where: { task: SPEEDTEST_TASK, status: 'failed', queuedAt: since },
          }),
        ]);
        const latest = summary.latest;
        const runs = succeeded + failed;
        const range = (s: { min: number | null; avg: number | null; max: number | null }, f: (v: number | null) => string) =>
          `min ${f(s.min)} · avg ${f(s.avg)} · max ${f(s.max)}`; // prettier-ignore
        const card = (label: string, value: string, detail: string) =>
          html`<div class="figure">
            <span class="label">${label}</span><strong>${value}</strong><small>${detail}</small>
          </div>`;
        response
          .set('cache-control', `public, max-age=${CACHE_SECONDS}`)
          .type('html')
          .send(
            page(
              'Status',
              html`<main class="status">
                <h1>Internet speed</h1>
                <p class="intro">
                  Scheduled speed tests, measured by Refresher: the latest result and the last seven
                  days.
                </p>
                ${
                  latest
                    ? html`<section class="figures" aria-label="The last seven days">
                        ${card('Download', mbps(latest.downloadBps), range(summary.downloadBps, mbps))}
                        ${card('Upload', mbps(latest.uploadBps), range(summary.uploadBps, mbps))}
                        ${card('Ping', ms(latest.pingMs), range(summary.pingMs, (v) => ms(v)))}
                      </section>
                      <p class="latest">
                        Latest test ${time(latest.startedAt)}${latest.serverName ? ` to ${latest.serverName}` : ''};
                        ${summary.count} in the last seven days.
                        ${
                          runs
                            ? `${succeeded} of ${runs} speed test runs succeeded (${((100 * succeeded) / runs).toFixed(1)} %).`
                            : ''
                        }
                      </p>` // prettier-ignore
                    : html`<p class="empty">No speed tests in the last seven days.</p>`
                }
                <h2>The last seven days</h2>
                ${speedtestChart(tests, {
                  label: 'Download, upload, ping and jitter over the last seven days',
                  window: { from, to: until },
                  links: false,
                })}
              </main>`,
              { scripts: ['uplot/uPlot.iife.min.js', 'chart.js'] },
            ),
          );
      } catch (error) {
        next(error);
      }
    },
  );
  return router;
}
