// The monitoring files as rendered: Prometheus's configuration and rules checked by promtool (and
// the rules' unit tests run), Alertmanager's configuration by amtool with every kind of receiver,
// the dashboards against what Grafana needs of a provisioned file, the catalogue mounting exactly
// these files, and bad settings refused by name with nothing written. Each check is also shown a
// broken input once, so it is known to be able to fail.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../contract/paths.ts';
import { DATASOURCES } from '../../grafana/lib.ts';
import { alertRuleGroups, type AlertRuleParams } from '../../prometheus/rules.ts';
import { renderAlertmanagerConfig } from '../alertmanager.ts';
import { GRAFANA_READER_PASSWORD_ENV } from '../../contract/database.ts';
import { RENDERED } from '../../contract/paths.ts';
import { resolveEnvironment, serviceCatalogue } from '../catalogue/index.ts';
import { renderAll, writeRendered, type RenderedFile } from '../render.ts';
import { renderPrometheusRules, ruleFileDocument } from '../prometheus.ts';
import { generateSecrets, loadOrCreateSecrets, SECRET_NAMES } from '../secrets.ts';
import { dashboardSchema } from './helpers/dashboard-schema.ts';
import { configFixture, validInput } from './helpers/deployment.ts';
import { stringify } from 'yaml';

const fixture = configFixture();
after(() => fixture.remove());

/** The rule unit test files (prometheus/tests/) and the settings each header says it is for. */
const RULE_TESTS = {
  'alerts.test.yml': {
    downloadFloorMbps: 50,
    uploadFloorMbps: 10,
    speedtestIntervalMinutes: 30,
    consecutiveBelowFloor: 1,
    pingCeilingMs: 100,
    jitterCeilingMs: 30,
    packetLossCeilingPercent: 1,
    bufferbloatCeilingMs: 60,
  },
  'consecutive.test.yml': {
    downloadFloorMbps: 50,
    uploadFloorMbps: 10,
    speedtestIntervalMinutes: 30,
    consecutiveBelowFloor: 3,
  },
} satisfies Record<string, AlertRuleParams>;

function run(command: string, args: string[], cwd?: string) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
  return {
    ok: result.status === 0,
    stdout: result.stdout,
    output: `${result.stdout}${result.stderr}`,
  };
}

/** Writes the files into a fresh folder under the fixture; returns it. */
let folders = 0;
function written(files: RenderedFile[]): string {
  const out = join(fixture.path, `out-${++folders}`);
  writeRendered(out, files);
  return out;
}

const replaced = (files: RenderedFile[], path: string, change: (text: string) => string) =>
  files.map((file) => (file.path === path ? { ...file, content: change(file.content) } : file));

/** Secret files for every kind of receiver, and a configuration that uses them all. */
function receiverFiles() {
  const dir = join(fixture.path, 'credentials');
  mkdirSync(dir, { recursive: true });
  const write = (name: string, content: string) => {
    writeFileSync(join(dir, name), `${content}\n`, { mode: 0o600 });
    return join(dir, name);
  };
  const secrets = {
    smtp: 'smtp-password-that-is-secret',
    webhook: 'https://hooks.example.test/alerts?token=webhook-token-secret',
    slack: 'https://hooks.slack.com/services/T000/B000/slack-token-secret',
    discord: 'https://discord.com/api/webhooks/123/discord-token-secret',
    telegram: '123456:telegram-token-secret',
  };
  return {
    secrets,
    receivers: [
      {
        type: 'email',
        to: ['ops@example.test', 'oncall@example.test'],
        from: 'alerts@example.test',
        smarthost: 'smtp.example.test:587',
        username: 'alerts@example.test',
        passwordFile: write('smtp', secrets.smtp),
      },
      { type: 'webhook', urlFile: write('webhook', secrets.webhook) },
      {
        type: 'slack',
        webhookUrlFile: write('slack', secrets.slack),
        channel: '#alerts',
        minSeverity: 'critical',
      },
      { type: 'discord', webhookUrlFile: write('discord', secrets.discord) },
      {
        type: 'telegram',
        botTokenFile: write('telegram', secrets.telegram),
        chatId: -1001234567890,
        sendResolved: false,
      },
    ],
  };
}

describe('monitoring files', () => {
  test('promtool check config and check rules accept the rendered files, and refuse broken ones', () => {
    const files = renderAll(fixture.config(), generateSecrets());
    const out = written(files);
    const config = run('promtool', ['check', 'config', join(out, RENDERED.prometheusConfig)]);
    assert.ok(config.ok, config.output);
    assert.match(config.output, /SUCCESS: 1 rule files found/);
    const rules = run('promtool', ['check', 'rules', join(out, RENDERED.prometheusRules)]);
    assert.ok(rules.ok, rules.output);
    // The ceilings are unset in the fixture: no rule for them.
    assert.match(rules.output, /SUCCESS: 17 rules found/);

    const brokenConfig = written(
      replaced(files, RENDERED.prometheusConfig, (text) =>
        text.replace('scrape_interval: 15s', 'scrape_interval: fifteen'),
      ),
    );
    assert.equal(
      run('promtool', ['check', 'config', join(brokenConfig, RENDERED.prometheusConfig)]).ok,
      false,
    );
    const brokenRules = written(
      replaced(files, RENDERED.prometheusRules, (text) =>
        text.replace('expr: up == 0', 'expr: up == == 0'),
      ),
    );
    assert.equal(
      run('promtool', ['check', 'rules', join(brokenRules, RENDERED.prometheusRules)]).ok,
      false,
    );
  });

  test('the scrape jobs: every metrics port of the catalogue, Alertmanager as the alert target', () => {
    const config = fixture.config();
    const files = renderAll(config, generateSecrets());
    const doc = parse(files.find((f) => f.path === RENDERED.prometheusConfig)!.content) as {
      global: Record<string, unknown>;
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
      alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
      rule_files: string[];
    };
    assert.deepEqual(
      Object.fromEntries(doc.scrape_configs.map((c) => [c.job_name, c.static_configs[0]!.targets])),
      {
        web: ['web:9464'],
        worker: ['worker:9464'],
        scheduler: ['scheduler:9464'],
        alertmanager: ['alertmanager:9093'],
        prometheus: ['prometheus:9090'],
        'node-exporter': ['node-exporter:9100'],
        cadvisor: ['cadvisor:8080'],
        'postgres-exporter': ['postgres-exporter:9187'],
        'redis-exporter': ['redis-exporter:9121'],
      },
    );
    assert.deepEqual(doc.alerting.alertmanagers[0]!.static_configs[0]!.targets, [
      'alertmanager:9093',
    ]);
    assert.equal(doc.global.scrape_interval, '15s');
    assert.deepEqual(doc.global.external_labels, { deployment: 'refresher-test' });
    assert.deepEqual(doc.rule_files, ['rules/*.yml']);
    // Retention comes from the configuration, as a flag of the container.
    const prometheus = serviceCatalogue(fixture.config({ retention: { prometheusDays: 9 } })).find(
      (s) => s.name === 'prometheus',
    )!;
    assert.ok(prometheus.command!.includes('--storage.tsdb.retention.time=9d'));
  });

  test('promtool test rules: the unit tests of every alert pass, and fail for other settings', () => {
    const groups = alertRuleGroups({ ...RULE_TESTS['alerts.test.yml'], consecutiveBelowFloor: 3 });
    const alerts = new Set(groups.flatMap((g) => g.rules.map((r) => r.alert)));
    const tests = Object.keys(RULE_TESTS)
      .map((file) => readFileSync(join(REPO_ROOT, 'prometheus/tests', file), 'utf8'))
      .join('\n');
    for (const alert of alerts)
      assert.match(tests, new RegExp(`alertname: ${alert}\\b`), `${alert} has a unit test`);

    let runs = 0;
    const unit = (file: keyof typeof RULE_TESTS, change: Partial<AlertRuleParams> = {}) => {
      const dir = join(fixture.path, `rule-tests-${++runs}`);
      mkdirSync(dir, { recursive: true });
      const rules = alertRuleGroups({ ...RULE_TESTS[file], ...change });
      writeFileSync(join(dir, 'refresher.rules.yml'), stringify(ruleFileDocument(rules)));
      copyFileSync(join(REPO_ROOT, 'prometheus/tests', file), join(dir, 'tests.yml'));
      return run('promtool', ['test', 'rules', 'tests.yml'], dir);
    };
    for (const file of Object.keys(RULE_TESTS) as (keyof typeof RULE_TESTS)[]) {
      const good = unit(file);
      assert.ok(good.ok, `${file}: ${good.output}`);
    }
    const floor = unit('alerts.test.yml', { downloadFloorMbps: 30 });
    assert.equal(floor.ok, false, 'a floor of 30 Mbit/s must not alert at 40');
    assert.match(floor.output, /SpeedtestBelowFloor/);
    const ping = unit('alerts.test.yml', { pingCeilingMs: 150 });
    assert.equal(ping.ok, false, 'a ceiling of 150 ms must not alert at 120');
    assert.match(ping.output, /SpeedtestPingHigh/);
    const two = unit('consecutive.test.yml', { consecutiveBelowFloor: 2 });
    assert.equal(two.ok, false, 'two tests in a row must not be enough for three');
    assert.match(two.output, /SpeedtestBelowFloor/);
  });

  test('the consecutive and ceiling settings reach the rendered rules; unset ceilings render none', () => {
    const names = (config: ReturnType<typeof fixture.config>) =>
      (
        parse(renderPrometheusRules(config)) as {
          groups: { name: string; rules: { alert: string; expr: string }[] }[];
        }
      ).groups.flatMap((g) => g.rules);
    const plain = names(fixture.config());
    for (const alert of [
      'SpeedtestPingHigh',
      'SpeedtestJitterHigh',
      'SpeedtestPacketLossHigh',
      'SpeedtestBufferbloatHigh',
    ])
      assert.ok(!plain.some((r) => r.alert === alert), `${alert} without its ceiling`);
    // One test (the default) is today's rule, on the latest figure alone.
    const below = plain.filter((r) => r.alert === 'SpeedtestBelowFloor');
    assert.equal(below.length, 2);
    for (const rule of below) assert.doesNotMatch(rule.expr, /max_over_time|changes/);

    const set = names(
      fixture.config({
        speedtest: { engine: 'librespeed', intervalMinutes: 5 },
        alerts: {
          downloadFloorMbps: 50,
          uploadFloorMbps: 10,
          consecutiveBelowFloor: 4,
          pingCeilingMs: 80.5,
          jitterCeilingMs: 20,
          packetLossCeilingPercent: 0,
          bufferbloatCeilingMs: 30,
        },
      }),
    );
    const expr = (alert: string) => set.find((r) => r.alert === alert)!.expr;
    // 3.5 periods of 5 minutes: 1050 s.
    assert.match(expr('SpeedtestBelowFloor'), /max_over_time\(\S+\[1050s\]\) \* 8 \/ 1e6 < 50\n/);
    assert.match(expr('SpeedtestBelowFloor'), /changes\(\S+\[1050s\]\) >= 3\n/);
    assert.match(expr('SpeedtestPingHigh'), /\* 1000 > 80\.5\n/);
    assert.match(expr('SpeedtestJitterHigh'), /\* 1000 > 20\n/);
    assert.match(expr('SpeedtestPacketLossHigh'), /\* 100 > 0\n/);
    assert.match(expr('SpeedtestBufferbloatHigh'), /\* 1000 > 30\n/);
  });

  test('amtool check-config accepts every kind of receiver; routes follow the severity', () => {
    const { receivers, secrets } = receiverFiles();
    const config = fixture.config({ alerts: { receivers } });
    const files = renderAll(config, generateSecrets());
    const file = files.find((f) => f.path === RENDERED.alertmanagerConfig)!;
    assert.equal(file.secret, true, 'it holds the credentials');
    assert.equal(file.mode, 0o644, 'Alertmanager (nobody) reads it through a bind mount');
    for (const value of Object.values(secrets)) {
      assert.ok(file.content.includes(value), 'the credential reaches Alertmanager');
      for (const other of files.filter((f) => !f.secret))
        assert.ok(!other.content.includes(value), `a credential leaked into ${other.path}`);
    }
    const out = written(files);
    const path = join(out, RENDERED.alertmanagerConfig);
    const check = run('amtool', ['check-config', path]);
    assert.ok(check.ok, check.output);
    assert.match(check.output, /3 inhibit rules/);

    const doc = parse(file.content) as {
      receivers: { name: string; [kind: string]: unknown }[];
    };
    const kinds = (name: string) =>
      Object.keys(doc.receivers.find((r) => r.name === name)!)
        .filter((key) => key !== 'name')
        .sort();
    assert.deepEqual(kinds('notify-critical'), [
      'discord_configs',
      'email_configs',
      'slack_configs',
      'telegram_configs',
      'webhook_configs',
    ]);
    // Slack asked for critical alerts only.
    assert.deepEqual(kinds('notify-warning'), [
      'discord_configs',
      'email_configs',
      'telegram_configs',
      'webhook_configs',
    ]);
    const route = (labels: string[]) =>
      run('amtool', ['config', 'routes', 'test', `--config.file=${path}`, ...labels]).stdout.trim();
    assert.equal(route(['alertname=TargetDown', 'severity=critical']), 'notify-critical');
    assert.equal(route(['alertname=SpeedtestBelowFloor', 'severity=warning']), 'notify-warning');

    const broken = written(
      replaced(files, RENDERED.alertmanagerConfig, (text) =>
        text.replace('group_wait: 30s', 'group_wait: soon'),
      ),
    );
    assert.equal(
      run('amtool', ['check-config', join(broken, RENDERED.alertmanagerConfig)]).ok,
      false,
    );
  });

  test('without receivers: a valid configuration that only lists the alerts, not secret', () => {
    const files = renderAll(fixture.config(), generateSecrets());
    const file = files.find((f) => f.path === RENDERED.alertmanagerConfig)!;
    assert.equal(file.secret, false);
    const check = run('amtool', [
      'check-config',
      join(written(files), RENDERED.alertmanagerConfig),
    ]);
    assert.ok(check.ok, check.output);
    // The shortened waits of the live test are the only difference it uses.
    const short = renderAlertmanagerConfig(fixture.config(), {
      groupWait: '1s',
      groupInterval: '1s',
    });
    assert.equal(
      short
        .replace('group_wait: 1s', 'group_wait: 30s')
        .replace('group_interval: 1s', 'group_interval: 5m'),
      file.content,
    );
  });

  test('dashboards: what Grafana needs of a provisioned file, the provisioned datasources only', () => {
    const files = renderAll(fixture.config(), generateSecrets());
    const dashboards = files.filter((f) => f.path.startsWith('grafana/dashboards/'));
    assert.deepEqual(
      dashboards.map((f) => f.path.split('/').at(-1)),
      [
        'containers.json',
        'host.json',
        'postgresql.json',
        'probes.json',
        'redis.json',
        'speedtester.json',
        'tasks.json',
      ],
    );
    const uids = new Set<string>();
    const titles = new Set<string>();
    const datasources = parse(
      files.find((f) => f.path === RENDERED.grafanaDatasources)!.content,
    ) as { datasources: { uid: string; type: string }[] };
    const provisioned = new Set(datasources.datasources.map((d) => `${d.type}/${d.uid}`));
    for (const file of dashboards) {
      const json = JSON.parse(file.content) as Record<string, unknown>;
      const parsed = dashboardSchema.safeParse(json);
      assert.ok(parsed.success, `${file.path}: ${parsed.error?.message}`);
      uids.add(json.uid as string);
      titles.add(json.title as string);
      // Every datasource reference is one the provisioning file creates (or Grafana's own).
      for (const match of file.content.matchAll(
        /"datasource": \{\s*"type": "([^"]+)",\s*"uid": "([^"]+)"/g,
      ))
        assert.ok(
          provisioned.has(`${match[1]}/${match[2]}`) || match[1] === 'grafana',
          `${file.path} uses datasource ${match[1]}/${match[2]}`,
        );
    }
    assert.equal(uids.size, dashboards.length, 'uids are unique');
    assert.equal(titles.size, dashboards.length, 'titles are unique (one folder)');

    // The schema can fail: a panel past the grid, a query without refId, an undefined variable.
    const speedtester = JSON.parse(
      dashboards.find((f) => f.path.endsWith('speedtester.json'))!.content,
    );
    const broken = structuredClone(speedtester);
    broken.panels[1].gridPos.x = 20;
    broken.panels[2].targets[0].refId = '';
    broken.templating.list = broken.templating.list.filter(
      (v: { name: string }) => v.name !== 'country',
    );
    const result = dashboardSchema.safeParse(broken);
    assert.equal(result.success, false);
    const messages = result.error!.issues.map((issue) => issue.message).join('\n');
    assert.match(messages, /past the 24th column/);
    assert.match(messages, /refId/);
    assert.match(messages, /\$country is used but not defined/);
  });

  test('Grafana provisioning: credentials only as $__env references the container resolves', () => {
    const config = fixture.config();
    const secrets = generateSecrets();
    const files = renderAll(config, secrets);
    const text = files.find((f) => f.path === RENDERED.grafanaDatasources)!.content;
    const doc = parse(text) as {
      datasources: {
        uid: string;
        type: string;
        url: string;
        user?: string;
        jsonData: Record<string, unknown>;
        secureJsonData?: Record<string, string>;
      }[];
    };
    const postgres = doc.datasources.find((d) => d.uid === DATASOURCES.postgres.uid)!;
    assert.equal(postgres.type, 'grafana-postgresql-datasource');
    assert.equal(postgres.user, 'grafana_reader');
    assert.equal(postgres.jsonData.database, 'refresher');
    assert.equal(postgres.secureJsonData!.password, `$__env{${GRAFANA_READER_PASSWORD_ENV}}`);
    const prometheus = doc.datasources.find((d) => d.uid === DATASOURCES.prometheus.uid)!;
    assert.equal(prometheus.url, 'http://prometheus:9090');
    assert.equal(prometheus.jsonData.timeInterval, '15s');
    for (const name of SECRET_NAMES) assert.ok(!text.includes(secrets[name]));

    const byName = new Map(serviceCatalogue(config).map((s) => [s.name, s]));
    const grafanaEnv = resolveEnvironment(byName.get('grafana')!, secrets);
    assert.equal(grafanaEnv[GRAFANA_READER_PASSWORD_ENV], secrets.grafanaDbPassword);
    const roleEnv = resolveEnvironment(byName.get('grafana-db-role')!, secrets);
    assert.equal(roleEnv[GRAFANA_READER_PASSWORD_ENV], secrets.grafanaDbPassword);
    assert.equal(roleEnv.PGPASSWORD, secrets.postgresPassword);
    const envFile = files.find((f) => f.path === RENDERED.composeEnv('grafana'))!;
    assert.match(envFile.content, new RegExp(`^${GRAFANA_READER_PASSWORD_ENV}=`, 'm'));
  });

  test('the catalogue mounts exactly the rendered monitoring files, each where the image reads it', () => {
    const { receivers } = receiverFiles();
    const config = fixture.config({ alerts: { receivers } });
    const files = renderAll(config, generateSecrets());
    const monitoring = files
      .map((f) => f.path)
      .filter((path) => /^(prometheus|alertmanager|grafana|postgres)\//.test(path))
      .sort();
    const byName = new Map(serviceCatalogue(config).map((s) => [s.name, s]));
    const mounts = (name: string) =>
      byName.get(name)!.files.map((f) => `${f.source} -> ${f.target}`);
    assert.deepEqual(mounts('prometheus'), [
      'prometheus/prometheus.yml -> /etc/prometheus/prometheus.yml',
      'prometheus/rules/refresher.rules.yml -> /etc/prometheus/rules/refresher.rules.yml',
    ]);
    assert.deepEqual(mounts('alertmanager'), [
      'alertmanager/alertmanager.yml -> /etc/alertmanager/alertmanager.yml',
    ]);
    assert.ok(byName.get('alertmanager')!.files[0]!.secret);
    assert.deepEqual(mounts('grafana-db-role'), [
      'postgres/grafana-reader-role.sql -> /refresher/grafana-reader-role.sql',
    ]);
    assert.deepEqual(mounts('grafana').slice(0, 2), [
      'grafana/provisioning/datasources/refresher.yaml -> /etc/grafana/provisioning/datasources/refresher.yaml',
      'grafana/provisioning/dashboards/refresher.yaml -> /etc/grafana/provisioning/dashboards/refresher.yaml',
    ]);
    const provider = parse(
      files.find((f) => f.path === RENDERED.grafanaDashboardProvider)!.content,
    ) as {
      providers: { options: { path: string } }[];
    };
    for (const mount of mounts('grafana').slice(2))
      assert.match(
        mount,
        new RegExp(
          `^grafana/dashboards/(\\w+)\\.json -> ${provider.providers[0]!.options.path}/\\1\\.json$`,
        ),
      );
    const mounted = [...byName.values()].flatMap((s) => s.files.map((f) => f.source));
    assert.deepEqual(
      monitoring,
      mounted.filter((path) => monitoring.includes(path)).sort(),
      'every monitoring file is mounted by some container',
    );
    // Prometheus reads rules relative to its configuration file: the same layout in both places.
    assert.equal(
      RENDERED.prometheusRules.replace(/^prometheus\//, '/etc/prometheus/'),
      byName.get('prometheus')!.files[1]!.target,
    );
    const alertmanager = byName.get('alertmanager')!;
    assert.ok(alertmanager.image.startsWith('prom/alertmanager:v'));
    assert.ok(alertmanager.healthcheck);
    assert.ok(alertmanager.command!.includes('--cluster.listen-address='));
    assert.ok(alertmanager.memoryLimitMb <= 256);
  });

  test('bad alert settings: every field named, credentials never shown, nothing written', () => {
    const { secrets } = receiverFiles();
    const dir = join(fixture.path, 'credentials');
    writeFileSync(join(dir, 'not-a-url'), 'hooks.example.test/no-scheme\n');
    writeFileSync(join(dir, 'empty'), '\n');
    const bad = fixture.writeJson(
      'bad-alerts.json',
      validInput(fixture.keyPath, {
        alerts: {
          downloadFloorMbps: -5,
          uploadFloorMbps: 'ten',
          consecutiveBelowFloor: 21,
          pingCeilingMs: -20,
          jitterCeilingMs: 'low',
          packetLossCeilingPercent: 100,
          bufferbloatCeilingMs: 0,
          repeatHours: 0,
          receivers: [
            { type: 'webhook', urlFile: join(dir, 'missing') },
            { type: 'slack', webhookUrlFile: join(dir, 'not-a-url') },
            { type: 'telegram', botTokenFile: join(dir, 'empty'), chatId: 'my chat' },
            { type: 'email', to: [], from: 'nobody', smarthost: 'smtp.example.test' },
            { type: 'pager', url: 'https://example.test' },
            { type: 'discord', webhookUrlFile: join(dir, 'discord'), minSeverity: 'urgent' },
          ],
        },
        retention: { prometheusDays: 0 },
      }),
    );
    const out = join(fixture.path, 'never-written');
    const result = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'scripts/render.ts',
        '--out',
        out,
        '--config',
        bad,
        '--secrets',
        join(fixture.path, 'bad-secrets.json'),
      ],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    );
    const output = `${result.stdout}${result.stderr}`;
    assert.equal(result.status, 1, output);
    for (const field of [
      'alerts.downloadFloorMbps',
      'alerts.uploadFloorMbps',
      'alerts.consecutiveBelowFloor',
      'alerts.pingCeilingMs',
      'alerts.jitterCeilingMs',
      'alerts.packetLossCeilingPercent',
      'alerts.bufferbloatCeilingMs',
      'alerts.repeatHours',
      'alerts.receivers.0.urlFile',
      'alerts.receivers.1.webhookUrlFile',
      'alerts.receivers.2.botTokenFile',
      'alerts.receivers.2.chatId',
      'alerts.receivers.3.to',
      'alerts.receivers.3.from',
      'alerts.receivers.3.smarthost',
      'alerts.receivers.4.type',
      'alerts.receivers.5.minSeverity',
      'retention.prometheusDays',
    ])
      assert.match(output, new RegExp(`^ {2}${field.replace(/\./g, '\\.')}: `, 'm'), field);
    assert.match(output, /alerts\.consecutiveBelowFloor: expected at most 20 \(tests in a row\)/);
    assert.match(output, /alerts\.pingCeilingMs: expected more than 0 \(ms\)/);
    assert.match(output, /alerts\.packetLossCeilingPercent: expected less than 100 \(percent\)/);
    assert.match(output, /alerts\.bufferbloatCeilingMs: expected more than 0 \(ms\)/);
    assert.match(output, /missing does not exist/);
    assert.match(output, /not-a-url does not hold a URL/);
    assert.match(output, /nothing was written/);
    for (const value of [...Object.values(secrets), 'hooks.example.test/no-scheme'])
      assert.ok(!output.includes(value), 'a credential was printed');
    assert.ok(!existsSync(out));
  });

  test('an older secrets file gains the new secrets and keeps its own', () => {
    const file = join(fixture.path, 'old-secrets.json');
    const old = generateSecrets() as Record<string, string>;
    delete old.grafanaDbPassword;
    writeFileSync(file, JSON.stringify(old), { mode: 0o600 });
    const { secrets, created } = loadOrCreateSecrets(file, {});
    assert.equal(created, false);
    assert.equal(secrets.postgresPassword, old.postgresPassword);
    assert.match(secrets.grafanaDbPassword, /^[\w-]{43}$/);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    assert.equal(stored.grafanaDbPassword, secrets.grafanaDbPassword);
    assert.equal(
      loadOrCreateSecrets(file, {}).secrets.grafanaDbPassword,
      secrets.grafanaDbPassword,
    );
  });
});
