// The monitoring against real servers, all on loopback: Debian's Prometheus with the rendered
// configuration and rules (the same jobs, pointed at loopback ports), Debian's Alertmanager with
// the rendered configuration sending to a webhook and a Slack-compatible receiver served here,
// the app's web, worker and scheduler roles, and Debian's node, PostgreSQL and Redis exporters.
// After a few tasks (a speed test, health checks, a check that always fails), it checks that
// - the speed test below its floor and the failing task reach the receivers through Alertmanager,
//   with their labels, and the message names the server and the measured value;
// - every PromQL expression of every dashboard panel and every alert rule parses and returns data,
//   except those that need cAdvisor (listed below), which must parse and return nothing;
// - every SQL query of every PostgreSQL panel and variable, with Grafana's macros and variables
//   expanded, runs as Grafana's read-only role against the migrated schema with stored speed
//   tests, and returns rows of the shape its panel reads.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { REPO_ROOT } from '../../contract/paths.ts';
import { spawnTs, type Child } from '../../testing/child.ts';
import {
  databaseUrl,
  migratedDatabase,
  pgClient,
  uniqueName,
  type ScratchDatabase,
} from '../../testing/database.ts';
import { freePort } from '../../testing/ports.ts';
import { startRedisServer, type RedisServer } from '../../testing/redis-server.ts';
import { waitFor } from '../../testing/wait.ts';
import { DATASOURCES } from '../../grafana/lib.ts';
import { alertRuleGroups } from '../../prometheus/rules.ts';
import { renderAlertmanagerConfig } from '../alertmanager.ts';
import { dashboardParams } from '../grafana.ts';
import { allDashboards } from '../../grafana/dashboards/index.ts';
import {
  alertRuleParams,
  renderPrometheusConfig,
  renderPrometheusRules,
  scrapeJobs,
} from '../prometheus.ts';
import { configFixture } from './helpers/deployment.ts';
import {
  addIntervalSchedules,
  disableAllSchedules,
  seedProbes,
  seedSpeedtests,
} from './helpers/seed.ts';
import {
  expandPromql,
  expandSql,
  fieldsPanelNeeds,
  panelQueries,
  variableQueries,
  type Selection,
} from './helpers/grafana.ts';

/**
 * Dashboard panels whose every query needs cAdvisor, which needs Docker and cannot run here. Their
 * expressions must still parse; the alert rules that need it say so themselves (`needs`).
 */
const NEEDS_CADVISOR = new Set([
  'Containers/CPU',
  'Containers/Memory (working set)',
  'Containers/Memory against the limit',
  'Containers/Network',
  'Containers/Restarts in the range',
  'Containers/Uptime',
]);

/** Variable options chosen for the filtered runs: ones every panel has rows for. */
const PREFERRED =
  /^(ookla|Netherlands|Amsterdam One \(ookla\)|system\.http_check|gateway|192\.0\.2\.1:443)$/;

const PROMQL_VALUES = { interval: '5s', rateInterval: '15s', range: '5m' };

interface Received {
  path: string;
  body: Record<string, unknown>;
}

describe('monitoring against real Prometheus, Alertmanager, exporters and app roles', () => {
  const fixture = configFixture();
  const work = mkdtempSync(join(tmpdir(), 'refresher-monitoring-'));
  const processes: { name: string; child: ChildProcess; output: () => string }[] = [];
  const appRoles: Child[] = [];
  const received: Received[] = [];
  let receiver: Server | undefined;
  let redis: RedisServer | undefined;
  let database: ScratchDatabase | undefined;
  /** The test's own connection, as the app's owner role. */
  let owner: pg.Client | undefined;
  let reader: pg.Client | undefined;
  const readerRole = uniqueName('grafana');
  const ports: Record<string, number> = {};
  let prometheusUrl = '';
  let config: ReturnType<typeof fixture.config>;

  /** A Debian binary in the foreground, its output kept for failure messages. */
  function start(
    name: string,
    command: string,
    args: string[],
    extraEnv: Record<string, string> = {},
  ) {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', HOME: work, ...extraEnv },
    });
    let output = '';
    child.stdout!.on(
      'data',
      (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)),
    );
    child.stderr!.on(
      'data',
      (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)),
    );
    processes.push({ name, child, output: () => output });
    return child;
  }

  const ok = async (url: string) => (await fetch(url).catch(() => null))?.ok ?? false;

  async function query(
    expr: string,
  ): Promise<{ status: string; data?: { result: unknown[] }; error?: string }> {
    const response = await fetch(`${prometheusUrl}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: expr }),
    });
    return (await response.json()) as {
      status: string;
      data?: { result: unknown[] };
      error?: string;
    };
  }

  before(async () => {
    // Receivers: a generic webhook and a Slack-compatible endpoint, on one loopback server.
    ports.receiver = await freePort();
    receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        try {
          received.push({
            path: request.url ?? '',
            body: JSON.parse(body) as Record<string, unknown>,
          });
        } catch {
          received.push({ path: request.url ?? '', body: { unparsed: body } });
        }
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => receiver!.listen(ports.receiver, '127.0.0.1', resolve));
    const credentials = join(work, 'credentials');
    mkdirSync(credentials);
    writeFileSync(join(credentials, 'webhook'), `http://127.0.0.1:${ports.receiver}/webhook\n`);
    writeFileSync(join(credentials, 'slack'), `http://127.0.0.1:${ports.receiver}/slack\n`);

    // Floors no test here can reach: every speed test is below them. The ceilings are set so that
    // their rules exist (their probes must return data like every other rule's).
    config = fixture.config({
      alerts: {
        downloadFloorMbps: 1_000_000,
        uploadFloorMbps: 1_000_000,
        pingCeilingMs: 1000,
        jitterCeilingMs: 1000,
        packetLossCeilingPercent: 50,
        bufferbloatCeilingMs: 1000,
        receivers: [
          { type: 'webhook', urlFile: join(credentials, 'webhook') },
          { type: 'slack', webhookUrlFile: join(credentials, 'slack'), channel: '#alerts' },
        ],
      },
    });

    // Redis as deployed: maxmemory 192 MB, noeviction (the Redis alert and panel divide by it).
    redis = await startRedisServer(['--maxmemory', '192mb', '--maxmemory-policy', 'noeviction']);
    database = await migratedDatabase();
    owner = pgClient(database.url);
    await owner.connect();
    await disableAllSchedules(owner);
    await seedSpeedtests(owner);
    await seedProbes(owner);

    for (const job of scrapeJobs(config)) ports[job.job] = await freePort();
    ports.http = await freePort();
    // A probe the worker runs, of the web role's own port: refresher_probe_up for ProbeOutage (10
    // rounds of 5 s before an outage, longer than the web role takes to start).
    await owner.query(
      `INSERT INTO probes (name, kind, targets, period_seconds, timeout_ms, failures_for_outage,
         speedtest_on_recovery)
       VALUES ('web role', 'tcp', $1, 5, 1000, 10, false)`,
      [[`127.0.0.1:${ports.http}`]],
    );

    // The app roles.
    const common = {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: database.queuePrefix,
      PORT: String(ports.http),
      HOST: '127.0.0.1',
      METRICS_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      SPEEDTEST_DURATION_MS: '1000',
      SPEEDTEST_STREAMS: '2',
    };
    for (const role of ['web', 'worker', 'scheduler'] as const)
      appRoles.push(
        spawnTs('app/bin/refresher.js', [role], { ...common, METRICS_PORT: String(ports[role]) }),
      );

    // The exporters, as Debian packages them, on loopback.
    start('node-exporter', 'prometheus-node-exporter', [
      `--web.listen-address=127.0.0.1:${ports['node-exporter']}`,
    ]);
    const pgUrl = new URL(database.url);
    const dsn = `postgresql://${encodeURIComponent(pgUrl.username || process.env.PGUSER || userInfo().username)}@${pgUrl.hostname}:${pgUrl.port || 5432}${pgUrl.pathname}?sslmode=disable`;
    start(
      'postgres-exporter',
      'prometheus-postgres-exporter',
      [`--web.listen-address=127.0.0.1:${ports['postgres-exporter']}`],
      { DATA_SOURCE_NAME: dsn },
    );
    start('redis-exporter', 'prometheus-redis-exporter', [
      '-redis.addr', redis.url,
      '-web.listen-address', `127.0.0.1:${ports['redis-exporter']}`,
    ]); // prettier-ignore

    // Alertmanager and Prometheus with the rendered files; only the waits are shortened.
    const loopback = (service: string, port: number) =>
      `127.0.0.1:${service === 'alertmanager' ? ports.alertmanager : (ports[service] ?? port)}`;
    const promDir = join(work, 'prometheus');
    mkdirSync(join(promDir, 'rules'), { recursive: true });
    writeFileSync(
      join(promDir, 'prometheus.yml'),
      renderPrometheusConfig(config, {
        address: loopback,
        scrapeIntervalSeconds: 1,
        evaluationIntervalSeconds: 1,
      }),
    );
    writeFileSync(join(promDir, 'rules', 'refresher.rules.yml'), renderPrometheusRules(config));
    const amDir = join(work, 'alertmanager');
    mkdirSync(amDir);
    writeFileSync(
      join(amDir, 'alertmanager.yml'),
      renderAlertmanagerConfig(config, { groupWait: '1s', groupInterval: '1s' }),
    );
    start('alertmanager', 'prometheus-alertmanager', [
      `--config.file=${join(amDir, 'alertmanager.yml')}`,
      `--storage.path=${join(amDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${ports.alertmanager}`,
      '--cluster.listen-address=',
    ]);
    start('prometheus', 'prometheus', [
      `--config.file=${join(promDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${ports.prometheus}`,
    ]);
    prometheusUrl = `http://127.0.0.1:${ports.prometheus}`;

    let lastUp = '';
    const described = () =>
      [
        ...processes.map((p) => `--- ${p.name}:\n${p.output()}`),
        ...appRoles.map((c) => `--- app:\n${c.output()}`),
      ].join('\n');
    try {
      await waitFor(() => ok(`${prometheusUrl}/-/ready`), {
        timeoutMs: 30_000,
        what: 'Prometheus',
      });
      await waitFor(() => ok(`http://127.0.0.1:${ports.alertmanager}/-/ready`), {
        timeoutMs: 30_000,
        what: 'Alertmanager',
      });
      // The speed test measures against the web role's own target: queued before the web role
      // listens, its first attempt is refused and the retry comes only after the task's backoff.
      await waitFor(() => ok(`http://127.0.0.1:${ports.http}/healthz`), {
        timeoutMs: 30_000,
        what: 'the web role',
      });
      // Work for the roles: a health check every second, one that always fails every 2 seconds
      // (three attempts each), and a speed test.
      await addIntervalSchedules(owner!, [
        {
          name: 'check',
          task: 'system.http_check',
          every: 1,
          period: 'seconds',
        },
        {
          name: 'failing check',
          task: 'system.http_check',
          kwargs: {
            url: `http://127.0.0.1:${ports.http}/healthz`,
            expectStatus: [599],
            timeoutMs: 1000,
          },
          every: 2,
          period: 'seconds',
        },
        {
          name: 'measure',
          task: 'speedtester.run_speedtest',
          every: 1,
          period: 'hours',
        },
      ]);
      // Every target but cAdvisor is up.
      const expectedUp = scrapeJobs(config).filter((j) => j.job !== 'cadvisor').length;
      await waitFor(
        async () => {
          const up = (await query('up')).data?.result ?? [];
          lastUp = JSON.stringify(
            up.map((r) => [
              (r as { metric: { job: string } }).metric.job,
              (r as { value: unknown[] }).value[1],
            ]),
          );
          return (
            up.filter((r) => (r as { value: unknown[] }).value[1] === '1').length === expectedUp
          );
        },
        {
          timeoutMs: 45_000,
          intervalMs: 250,
          what: 'every target but cadvisor up',
        },
      );
      await waitFor(
        async () =>
          (await query('refresher_speedtest_download_bytes_per_second_count')).data?.result
            .length &&
          (await query('refresher_probe_up{probe="web role"} == 1')).data?.result.length &&
          ((await query('sum(refresher_task_runs_total{status="failed"}) >= 3')).data?.result
            .length ??
            0),
        {
          timeoutMs: 60_000,
          intervalMs: 250,
          what: 'a speed test, a probe round and three failed runs, scraped',
        },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\nup: ${lastUp}\n${described()}`, {
        cause: error,
      });
    }

    // Grafana's read-only role, created by the rendered SQL exactly as the grafana-db-role
    // container runs it (a role name of this test's own).
    const psql = spawnSync(
      'psql',
      [
        '-v',
        'ON_ERROR_STOP=1',
        '-v',
        `reader=${readerRole}`,
        '-d',
        database.url,
        '-f',
        join(REPO_ROOT, 'grafana/reader-role.sql'),
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, GRAFANA_DB_PASSWORD: 'test-only-reader-password' },
      },
    );
    assert.equal(psql.status, 0, `${psql.stdout}${psql.stderr}`);
    const readerUrl = new URL(databaseUrl(database.name));
    readerUrl.username = readerRole;
    readerUrl.password = 'test-only-reader-password';
    reader = new pg.Client({ connectionString: readerUrl.toString() });
    await reader.connect();
  });

  after(async () => {
    await reader?.end().catch(() => undefined);
    for (const role of appRoles) role.process.kill('SIGTERM');
    for (const { child } of processes) child.kill('SIGTERM');
    const exited = (child: ChildProcess) =>
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const all = Promise.all([
      ...appRoles.map((c) => exited(c.process)),
      ...processes.map((p) => exited(p.child)),
    ]);
    const timer = setTimeout(() => {
      for (const c of appRoles) c.process.kill('SIGKILL');
      for (const p of processes) p.child.kill('SIGKILL');
    }, 10_000);
    await all;
    clearTimeout(timer);
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
    await owner?.end().catch(() => undefined);
    await database?.drop(redis?.url);
    // The role owns nothing once its database is gone; it only has to go.
    spawnSync('psql', [
      '-d',
      databaseUrl('postgres'),
      '-qc',
      `DROP ROLE IF EXISTS "${readerRole}"`,
    ]);
    await redis?.stop();
    rmSync(work, { recursive: true, force: true });
    fixture.remove();
  });

  test('a speed test below its floor reaches the webhook and Slack through Alertmanager, with its labels', async () => {
    const { rows: latest } = await owner!.query<{ name: string }>(
      `SELECT s.name FROM speedtests t JOIN speedtest_servers s ON s.id = t.server_id
        WHERE t.task_result_id IS NOT NULL ORDER BY t.started_at DESC LIMIT 1`,
    );
    const server = latest[0]!.name;
    const alerts = () =>
      received
        .filter((r) => r.path === '/webhook')
        .flatMap(
          (r) =>
            (r.body.alerts as {
              status: string;
              labels: Record<string, string>;
              annotations: Record<string, string>;
            }[]) ?? [],
        );
    const below = await waitFor(
      () =>
        alerts().find(
          (a) => a.labels.alertname === 'SpeedtestBelowFloor' && a.labels.direction === 'download',
        ),
      {
        timeoutMs: 30_000,
        what: `SpeedtestBelowFloor at the webhook (received: ${JSON.stringify(received).slice(0, 2000)})`,
      },
    );
    assert.equal(below.status, 'firing');
    assert.deepEqual(
      { ...below.labels, instance: 'x' },
      {
        alertname: 'SpeedtestBelowFloor',
        severity: 'warning',
        direction: 'download',
        engine: 'librespeed',
        server,
        job: 'worker',
        role: 'worker',
        instance: 'x',
        deployment: 'refresher-test',
      },
    );
    assert.match(
      below.annotations.summary!,
      new RegExp(
        `^Speed test download [\\d.]+ Mbit/s from ${server.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(librespeed\\), below the floor of 1000000 Mbit/s$`,
      ),
    );
    // The failing check too, by task.
    const failing = await waitFor(
      () => alerts().find((a) => a.labels.alertname === 'TaskFailingRepeatedly'),
      { timeoutMs: 30_000, what: 'TaskFailingRepeatedly at the webhook' },
    );
    assert.equal(failing.labels.task, 'system.http_check');
    assert.equal(failing.labels.job, 'worker');
    // Slack's message: one line per alert, with the server and the value.
    const slack = await waitFor(
      () =>
        received.find(
          (r) => r.path === '/slack' && JSON.stringify(r.body).includes('SpeedtestBelowFloor'),
        ),
      { timeoutMs: 30_000, what: 'the Slack message' },
    );
    const attachment = (slack.body.attachments as { title: string; text: string }[])[0]!;
    assert.equal(slack.body.channel, '#alerts');
    assert.match(attachment.title, /^\[FIRING:\d+\] SpeedtestBelowFloor on refresher-test$/);
    assert.match(
      attachment.text,
      new RegExp(
        `FIRING: Speed test download [\\d.]+ Mbit/s from .*${server.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`,
      ),
    );
  });

  test('every PromQL expression of every panel and rule parses and returns data (cAdvisor aside)', async () => {
    const dashboards = allDashboards(dashboardParams(config));
    const queries = panelQueries(dashboards, {
      postgres: DATASOURCES.postgres.uid,
      prometheus: DATASOURCES.prometheus.uid,
    }).filter((q) => q.datasource === 'prometheus');
    assert.ok(queries.length > 40, `${queries.length} panel expressions`);
    const problems: string[] = [];
    const empty = new Set<string>();
    for (const q of queries) {
      const key = `${q.dashboard}/${q.panel}`;
      const result = await query(expandPromql(q.text, PROMQL_VALUES));
      if (result.status !== 'success') problems.push(`${key}: ${result.error} in ${q.text}`);
      else if (!result.data!.result.length) empty.add(key);
    }
    // Exactly the panels listed as needing cAdvisor come back empty (and every one of them does).
    for (const key of empty) if (!NEEDS_CADVISOR.has(key)) problems.push(`${key}: no data`);
    for (const key of NEEDS_CADVISOR)
      if (!empty.has(key))
        problems.push(`${key} is listed as needing cAdvisor but returned data (or does not exist)`);

    // The rules as deployed here, and SpeedtestBelowFloor over several tests in a row as well.
    const params = alertRuleParams(config);
    const rules = [
      ...alertRuleGroups(params).flatMap((group) => group.rules),
      ...alertRuleGroups({ ...params, consecutiveBelowFloor: 3 })
        .flatMap((group) => group.rules)
        .filter((rule) => rule.alert === 'SpeedtestBelowFloor'),
    ];
    for (const alert of ['SpeedtestPingHigh', 'SpeedtestBufferbloatHigh', 'ProbeOutage'])
      assert.ok(
        rules.some((rule) => rule.alert === alert),
        alert,
      );
    for (const rule of rules) {
      const full = await query(rule.expr);
      if (full.status !== 'success') problems.push(`rule ${rule.alert}: ${full.error}`);
      const probe = await query(rule.probe);
      if (probe.status !== 'success') problems.push(`rule ${rule.alert} probe: ${probe.error}`);
      else if (!probe.data!.result.length && rule.needs === undefined)
        problems.push(`rule ${rule.alert}: ${rule.probe} returns no data`);
      else if (probe.data!.result.length && rule.needs !== undefined)
        problems.push(`rule ${rule.alert} needs ${rule.needs}, yet returned data`);
    }
    // The check can fail: a misspelt metric parses and returns nothing; broken syntax does not parse.
    assert.equal((await query('refresher_task_runs_totl')).data?.result.length, 0);
    assert.equal((await query('sum by (task (up)')).status, 'error');
    assert.deepEqual(problems, []);
  });

  test('every SQL query of every PostgreSQL panel and variable runs as Grafana reader and returns the shape its panel reads', async () => {
    const dashboards = allDashboards(dashboardParams(config));
    const panels = panelQueries(dashboards, {
      postgres: DATASOURCES.postgres.uid,
      prometheus: DATASOURCES.prometheus.uid,
    }).filter((q) => q.datasource === 'postgres');
    const variables = variableQueries(dashboards, DATASOURCES.postgres.uid);
    assert.ok(panels.length >= 30, `${panels.length} SQL panel queries`);
    const to = new Date(Date.now() + 60_000);
    const from = new Date(to.getTime() - 7 * 86_400_000);
    const all = (dashboard: string): Record<string, Selection> =>
      Object.fromEntries(
        variables
          .filter((v) => v.dashboard === dashboard)
          .map((v) => [v.name, { all: true, allValue: v.allValue ?? '' } satisfies Selection]),
      );
    const run = (sql: string, dashboard: string, chosen: Record<string, Selection> = {}) =>
      reader!.query(
        expandSql(sql, { from, to, interval: '1h', variables: { ...all(dashboard), ...chosen } }),
      );

    // Each variable's options (with the others at "All"), then one of them chosen on its own.
    const selections: { dashboard: string; variables: Record<string, Selection> }[] = [];
    for (const variable of variables) {
      const result = await run(variable.sql, variable.dashboard);
      assert.ok(result.rows.length > 0, `${variable.dashboard} $${variable.name}: no options`);
      const valueField = result.fields.some((f) => f.name === '__value')
        ? '__value'
        : result.fields[0]!.name;
      const textField = result.fields.some((f) => f.name === '__text') ? '__text' : valueField;
      // An option the stored fixtures have rows for in every panel (the first one otherwise).
      const row = result.rows.find((r) => PREFERRED.test(String(r[textField]))) ?? result.rows[0];
      const value = String(row[valueField]);
      selections.push({
        dashboard: variable.dashboard,
        variables: { [variable.name]: { all: false, values: [value] } },
      });
    }

    const NUMERIC = new Set([20, 21, 23, 700, 701, 1700]); // int8, int2, int4, float4, float8, numeric
    const TIME = new Set([1114, 1184]); // timestamp, timestamptz
    for (const q of panels) {
      const key = `${q.dashboard}/${q.panel}`;
      for (const chosen of [
        {},
        ...selections.filter((s) => s.dashboard === q.dashboard).map((s) => s.variables),
      ]) {
        const label = `${key} with ${JSON.stringify(chosen)}`;
        const result = await run(q.text, q.dashboard, chosen);
        assert.ok(result.rows.length > 0, `${label}: no rows`);
        const fields = result.fields;
        if (q.format === 'time_series') {
          assert.equal(fields[0]!.name, 'time', `${label}: the first column is "time"`);
          assert.ok(
            TIME.has(fields[0]!.dataTypeID) || NUMERIC.has(fields[0]!.dataTypeID),
            `${label}: time is a time`,
          );
          const values = fields.slice(1).filter((f) => f.name !== 'metric');
          assert.ok(
            values.length > 0 && values.every((f) => NUMERIC.has(f.dataTypeID)),
            `${label}: numeric values`,
          );
        } else {
          const names = fields.map((f) => f.name);
          for (const needed of fieldsPanelNeeds(q.panelJson))
            assert.ok(
              names.includes(needed),
              `${label}: the panel reads "${needed}", the query returns ${names.join(', ')}`,
            );
          if (q.panelType === 'stat')
            assert.ok(
              fields.every((f) => NUMERIC.has(f.dataTypeID)),
              `${label}: a stat shows numbers`,
            );
          if (q.panelType === 'geomap')
            for (const column of ['Latitude', 'Longitude'])
              assert.ok(
                NUMERIC.has(fields.find((f) => f.name === column)!.dataTypeID),
                `${label}: ${column} is a number`,
              );
        }
      }
    }
    // The links of the results table: each result URL as stored.
    const results = panels.find((q) => q.panel === 'Results')!;
    const rows = (await run(results.text, results.dashboard)).rows as { Result: string | null }[];
    assert.ok(rows.some((row) => row.Result === 'https://www.speedtest.net/result/c/fixture-3'));

    // The bufferbloat and its grade as the table computes them: the fixtures rise 5 ms (A), 35 (B),
    // 65 to 155 (C).
    const graded = (await run(results.text, results.dashboard)).rows.map((row) =>
      [Math.round(Number(row.Bufferbloat)), row.Grade].join(' '),
    );
    for (const expected of ['5 A', '35 B', '65 C', '155 C'])
      assert.ok(graded.includes(expected), `${expected} in ${graded.join(', ')}`);
    // The outages table: the ongoing one first, then the one that ended.
    const outages = panels.find((q) => q.panel === 'Outages')!;
    const listed = (await run(outages.text, outages.dashboard)).rows as {
      Probe: string;
      State: string;
    }[];
    assert.deepEqual(
      listed.filter((row) => row.Probe !== 'web role').map((row) => [row.Probe, row.State]),
      [
        ['website', 'ongoing'],
        ['gateway', 'over'],
      ],
    );

    // The role reads only what Grafana needs, and nothing can be changed through it.
    await assert.rejects(reader!.query('SELECT * FROM users'), /permission denied/);
    await assert.rejects(
      reader!.query('DELETE FROM speedtests'),
      /read-only transaction|permission denied/,
    );
    // And the expansion itself fails loudly on what it does not know.
    assert.throws(
      () => expandSql('SELECT $nope', { from, to, interval: '1h', variables: {} }),
      /unexpanded/,
    );
  });
});
