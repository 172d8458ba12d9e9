// The whole stack in a real Docker engine (npm run test:stack): every container of the rendered
// compose file built or forged, started by `npm run stack:up`, healthy, wired, and surviving the
// faults a VM sees. The steps run in order over one stack; each names what it shows. The test
// talks to the stack only through ports published on 127.0.0.1 (and the docker CLI for faults and
// for the answers of its DNS server). It starts as a first deploy does: the public names resolve
// to nothing yet.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { tempDir, type TempDir } from '../../../testing/files.ts';
import { sleep, waitFor } from '../../../testing/wait.ts';
import { docker, ensureEngine, run, type Engine } from './docker.ts';
import { forge } from './forge.ts';
import { image } from '../../../templates/catalogue/index.ts';
import { renderBackupScript } from '../../../templates/backup.ts';
import { DEPLOY_USER, renderSshdDropIn } from '../../../templates/ssh.ts';
import { freePort } from '../../../testing/ports.ts';
import { StackUnderTest, TEST_CERT_RETRY_SECONDS, type HttpReply } from './harness.ts';
import { OpsHost, psql, tableChecksums } from './ops.ts';

const MINUTE = 60_000;
let engine: Engine | undefined;
let temp: TempDir | undefined;
let stack: StackUnderTest;
let token = '';
let scheduleId = 0;
let sessionCookie = '';
let ops: OpsHost;

interface StatusJson {
  ok: boolean;
  containers: { service: string; state: string; health: string | null; ok: boolean }[];
  alerts: { name: string; state: string }[] | null;
  problems: string[];
  lastSpeedtest: { engine: string } | null;
  nextRuns: { name: string | null; at: string }[];
  certificate: { notAfter: string; daysLeft: number; issuer: string } | null;
}

async function opsStatus(): Promise<{ code: number; json: StatusJson; output: string }> {
  const result = await ops.script('status', ['--json']);
  return {
    code: result.code,
    json: JSON.parse(result.stdout) as StatusJson,
    output: result.output,
  };
}

/** The session cookie an answer sets (a sign-in also sets the device cookie, for /login only). */
const cookieOf = (reply: HttpReply) =>
  [reply.headers['set-cookie'] ?? []]
    .flat()
    .map((cookie) => cookie.split(';')[0]!)
    .find((cookie) => cookie.startsWith('refresher.sid=')) ?? '';

interface TaskResult {
  id: string;
  jobId: string;
  status: string;
  attempts: number;
  periodicTaskId: number | null;
  scheduledFor: string | null;
  startedAt: string | null;
  result: unknown;
  worker: string | null;
}
interface Speedtest {
  id: string;
  engine: string;
  downloadBps: number | null;
  selfTest: boolean;
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const reply = await stack.https(`/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (reply.status >= 300) throw new Error(`${method} ${path}: ${reply.status} ${reply.body}`);
  return JSON.parse(reply.body) as T;
}

const taskResults = async (query = '') =>
  (await api<{ items: TaskResult[] }>('GET', `/task-results?limit=500${query}`)).items;
const speedtests = async () =>
  (await api<{ items: Speedtest[] }>('GET', '/speedtests?limit=500')).items;

/** Queues one speed test now and waits until the worker has started it. */
async function startSpeedtest(durationMs: number): Promise<TaskResult> {
  const { jobId } = await api<{ jobId: string }>('POST', '/tasks/speedtester.run_speedtest/run', {
    kwargs: { durationMs, warmupMs: 500 },
  });
  return waitFor(
    async () => (await taskResults()).find((r) => r.jobId === jobId && r.status === 'started'),
    { timeoutMs: MINUTE, intervalMs: 250, what: `speed test ${jobId} started` },
  );
}

async function finished(jobId: string, timeoutMs = 2 * MINUTE): Promise<TaskResult> {
  return waitFor(
    async () =>
      (await taskResults()).find(
        (r) => r.jobId === jobId && ['succeeded', 'failed'].includes(r.status),
      ),
    { timeoutMs, intervalMs: 500, what: `job ${jobId} finished` },
  );
}

/** A container's state, exit code, and health (undefined without a health check). */
async function containerState(service: string) {
  const format =
    '{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}';
  const [status, exitCode, health] = (
    await docker('inspect', '--format', format, stack.container(service))
  )
    .trim()
    .split(' ');
  return { status, exitCode: Number(exitCode), health: health || undefined };
}

const APP_ROLES = ['worker', 'scheduler', 'web'];

/** Every app role's container has this state field (health or status), named when one has not. */
async function appRolesAre(field: 'health' | 'status', value: string): Promise<void> {
  for (const role of APP_ROLES) assert.equal((await containerState(role))[field], value, role);
}

/** An image FROM the app image with these Dockerfile lines after it; returns its id. */
async function appImageVariant(tag: string, lines: string[]): Promise<string> {
  const dir = join(temp!.path, tag.replace(/\W/g, '-'));
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'Dockerfile'),
    [`FROM ${image(stack.config, 'app')}`, ...lines, ''].join('\n'),
  );
  return (await docker('build', '-q', '-t', tag, dir)).trim();
}

describe('the stack in Docker', { timeout: 25 * MINUTE }, () => {
  before(async () => {
    engine = await ensureEngine();
    const started = Date.now();
    const reports = await forge((line) => console.log(`# ${line}`));
    const built = reports.filter((r) => r.built).length;
    console.log(
      `# forge: ${built} of ${reports.length} images built in ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
    temp = tempDir('refresher-stack-');
    stack = new StackUnderTest(temp.path, [], 'none');
    await stack.prepare();
    ops = new OpsHost(stack);
    await ops.start();
  });

  after(async () => {
    // STACK_TEST_KEEP=1 leaves the stack running to be looked at (docs/testing.md).
    await ops?.stop();
    if (process.env.STACK_TEST_KEEP === '1') return;
    if (stack?.config)
      await run('sh', [
        '-c',
        `docker ps -aq --filter label=com.docker.compose.project=${stack.config.name} | xargs -r docker rm -f; docker volume ls -q --filter label=com.docker.compose.project=${stack.config.name} | xargs -r docker volume rm; docker network rm ${stack.config.name}`,
      ]);
    temp?.remove();
    await engine?.release();
  });

  test('stack:up with a port already taken on 127.0.0.1: one line naming it, nothing started', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(9093, '127.0.0.1', resolve));
    try {
      await assert.rejects(stack.stack('up', '--with-swag'), (error: Error) => {
        assert.match(
          error.message,
          /^stack: port 127\.0\.0\.1:9093 \(alertmanager\) already in use by another program: stop it/m,
        );
        return true;
      });
      const label = `label=com.docker.compose.project=${stack.config.name}`;
      assert.equal((await docker('ps', '-aq', '--filter', label)).trim(), '');
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  let up: Promise<string>;

  test('a first boot before DNS is right: swag waits, fails once where the CA still sees the wrong address, and recovers by itself in the same container', async () => {
    // stack:up waits for every container, swag too: it runs while the test changes the answers.
    up = stack.stack('up', '--with-swag', '--timeout', '600');
    up.catch(() => {});
    const gateSays = (pattern: RegExp, what: string) =>
      waitFor(async () => pattern.test(await stack.logs('swag')), {
        timeoutMs: 4 * MINUTE,
        intervalMs: 500,
        what: `swag's log: ${what}`,
      });
    const { swag: right, dns: wrong } = stack.addresses;
    const names = [stack.fqdn('speedtester'), stack.fqdn('grafana')];
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

    // 1. The zone is not delegated yet: no address, and no attempt.
    await gateSays(/waiting for DNS \(.*: no address/, 'no address yet');
    const id = (await docker('inspect', '--format', '{{.Id}}', stack.container('swag'))).trim();
    // 2. An old record: the wrong address (a container with nothing on port 80).
    await stack.dnsAnswer('swag', wrong);
    await stack.dnsAnswer('ca', wrong);
    await gateSays(
      new RegExp(`${escape(names[0]!)}: ${escape(wrong)} \\(expected ${escape(right)}\\)`),
      'the wrong address named',
    );
    // 3. This machine's resolver has the new record; the CA's resolvers still the old one.
    await stack.dnsAnswer('swag', right);
    await gateSays(/Cert does not exist! Please see the validation error above/, "SWAG's failure");
    // npm run status, over SSH, sees it too: swag is not ready, so the deployment is not.
    const early = await opsStatus();
    assert.equal(early.code, 1, early.output);
    const swagNow = early.json.containers.find((c) => c.service === 'swag');
    assert.equal(swagNow?.ok, false, JSON.stringify(swagNow));
    assert.ok(
      early.json.problems.some((p) => p.startsWith('swag is ')),
      early.output,
    );
    // 4. The CA sees the right address too; nobody touches swag.
    await stack.dnsAnswer('ca', right);
    await gateSays(/New certificate generated; starting nginx/, 'a certificate');
    const logs = await stack.logs('swag');
    // Each step after the one before; the lines of one group come together, in either order:
    // the gate writes to the container's stdout and s6 to its stderr, within the same
    // millisecond, and Docker reads the two pipes apart.
    const steps: RegExp[][] = [
      [/waiting for DNS/],
      [/resolve to /],
      [/SWAG asks for one for .* \(attempt 1\)/],
      [/Cert does not exist!/],
      [
        /restarting swag for attempt 2/,
        /ending SWAG's certificate step \(init-certbot-config\)/,
        /s6-rc: warning: unable to start service init-certbot-config: command crashed with signal 15/,
        /rc\.init: fatal: stopping the container\./,
      ],
      [/\(attempt 2\)/],
      [/New certificate generated/],
    ];
    let at = 0;
    for (const group of steps) {
      const found = group.map((step) => {
        const match = step.exec(logs.slice(at));
        assert.ok(match, `swag's log has ${step} after offset ${at}:\n${logs}`);
        return at + match.index;
      });
      at = Math.max(...found);
    }
    // The retry came no sooner than the interval after the attempt (Docker's times of the lines).
    const timed = (await run('sh', ['-c', `docker logs -t ${stack.container('swag')} 2>&1`]))
      .stdout;
    const when = (pattern: RegExp) => {
      const line = timed.split('\n').find((l) => pattern.test(l));
      assert.ok(line, `${pattern} in ${timed}`);
      return Date.parse(line.split(' ')[0]!);
    };
    const waited = (when(/restarting swag for attempt 2/) - when(/\(attempt 1\)/)) / 1000;
    assert.ok(waited >= TEST_CERT_RETRY_SECONDS - 1, `retried after ${waited} s`);
    // The same container, restarted by Docker (restart: unless-stopped), never recreated.
    const [sameId, restarts, capAdd] = (
      await docker(
        'inspect',
        '--format',
        '{{.Id}} {{.RestartCount}} {{json .HostConfig.CapAdd}}',
        stack.container('swag'),
      )
    )
      .trim()
      .split(' ');
    assert.equal(sameId, id, 'swag was not recreated');
    assert.equal(restarts, '1', 'Docker restarted it once');
    assert.deepEqual(JSON.parse(capAdd!), ['CAP_NET_ADMIN'], "fail2ban's capability");
    const label = `label=com.docker.compose.service=swag`;
    assert.equal((await docker('ps', '-aq', '--filter', label)).trim().split('\n').length, 1);
    console.log(`# swag: attempt 2 ${waited.toFixed(0)} s after attempt 1, in the same container`);
  });

  test('stack:up then reports every container ready: the long-running ones healthy (swag with its certificate), the one-shots exited 0', async () => {
    const output = await up;
    const ready = /up: (\d+) containers ready in ([\d.]+) s/.exec(output);
    assert.ok(ready, output);
    console.log(`# stack:up: ${ready[1]} containers ready in ${ready[2]} s after compose up`);
    const rendered = parse(
      readFileSync(join(stack.dir, 'stack/compose/docker-compose.yml'), 'utf8'),
    ) as { services: Record<string, { restart: string; healthcheck?: unknown }> };
    for (const [name, service] of Object.entries(rendered.services)) {
      const { status, exitCode, health } = await containerState(name);
      if (service.restart === 'no') assert.deepEqual([name, status, exitCode], [name, 'exited', 0]);
      else {
        assert.equal(status, 'running', name);
        assert.equal(health, service.healthcheck ? 'healthy' : undefined, name);
      }
    }
  });

  test('Prometheus scrapes every target and loads every rule group; Alertmanager is ready; the Grafana stand-in ran every panel query', async () => {
    const targets = (await (await fetch('http://127.0.0.1:9090/api/v1/targets')).json()) as {
      data: { activeTargets: { labels: { job: string }; health: string; lastError: string }[] };
    };
    const scrape = parse(
      readFileSync(join(stack.dir, 'stack/prometheus/prometheus.yml'), 'utf8'),
    ) as {
      scrape_configs: { job_name: string }[];
    };
    // A target scraped before its container listened is "down" until the next scrape.
    await waitFor(
      async () => {
        const body = (await (
          await fetch('http://127.0.0.1:9090/api/v1/targets')
        ).json()) as typeof targets;
        return body.data.activeTargets.every((t) => t.health === 'up');
      },
      { timeoutMs: MINUTE, intervalMs: 2000, what: 'every target up' },
    );
    assert.deepEqual(
      targets.data.activeTargets.map((t) => t.labels.job).sort(),
      scrape.scrape_configs.map((c) => c.job_name).sort(),
    );
    const rules = (await (await fetch('http://127.0.0.1:9090/api/v1/rules')).json()) as {
      data: { groups: { name: string; rules: unknown[] }[] };
    };
    const ruleFile = parse(
      readFileSync(join(stack.dir, 'stack/prometheus/rules/refresher.rules.yml'), 'utf8'),
    ) as { groups: { name: string; rules: unknown[] }[] };
    const shape = (groups: { name: string; rules: unknown[] }[]) =>
      groups.map((g) => `${g.name}: ${g.rules.length}`).sort();
    assert.deepEqual(shape(rules.data.groups), shape(ruleFile.groups));
    assert.equal((await fetch('http://127.0.0.1:9093/-/ready')).status, 200);
    const grafana = await fetch('http://127.0.0.1:3001/api/health');
    const health = (await grafana.json()) as { standIn: string; problems: string[] };
    assert.equal(health.standIn, 'grafana-provisioning-checker');
    assert.deepEqual(health.problems, []);
    assert.equal(grafana.status, 200);
  });

  test("swag's certificate: pebble's, for every public name", async () => {
    const ca = await stack.issuerRoot();
    for (const name of [stack.fqdn('speedtester'), stack.fqdn('grafana')]) {
      const peer = await new Promise<PeerCertificate>((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: 443, servername: name, ca }, () => {
          resolve(socket.getPeerCertificate());
          socket.end();
        }).on('error', reject);
      });
      assert.match(peer.subjectaltname ?? '', new RegExp(`DNS:${name.replace(/\./g, '\\.')}`));
      assert.match(String(peer.issuer.CN), /Pebble/i);
    }
    const health = JSON.parse(
      await docker('inspect', '--format', '{{json .State.Health}}', stack.container('swag')),
    ) as { Status: string; Log: { Output: string }[] };
    assert.equal(health.Status, 'healthy');
    assert.match(health.Log.at(-1)!.Output, /certificate present; nginx on port 80: HTTP 301/);
  });

  test('through swag on 443 with a certificate pebble issued over HTTP-01: sign in to the portal and make an API token', async () => {
    // Port 80 only redirects, as the site conf says.
    const plain = await fetch('http://127.0.0.1/login', {
      headers: { host: stack.fqdn('speedtester') },
      redirect: 'manual',
    });
    assert.equal(plain.status, 301);
    // The certificate does not verify against any other root.
    await assert.rejects(stack.https('/login', { ca: stack.pebbleRoot }), /certificate/);
    const page = await stack.https('/login');
    assert.equal(page.status, 200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
    assert.ok(csrf);
    const signIn = await stack.https('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieOf(page) },
      body: new URLSearchParams({
        username: stack.config.admin.username,
        password: stack.secrets.appAdminPassword,
        _csrf: csrf,
        next: '/admin',
      }).toString(),
    });
    assert.equal(signIn.status, 303, signIn.body);
    const session = cookieOf(signIn);
    const account = await stack.https('/admin/account', { headers: { cookie: session } });
    const accountCsrf = /name="_csrf" value="([^"]+)"/.exec(account.body)?.[1];
    assert.ok(accountCsrf, account.body.slice(0, 500));
    const created = await stack.https('/admin/account/tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session },
      body: new URLSearchParams({ name: 'stack-test', _csrf: accountCsrf }).toString(),
    });
    token = /\b(rf_[A-Za-z0-9_-]+)/.exec(created.body)?.[1] ?? '';
    assert.ok(token, created.body.slice(0, 500));
    sessionCookie = session;
  });

  test('a schedule made through the API runs a speed test in the worker container against the web container; the portal shows it', async () => {
    const made = await api<{ id: number }>('POST', '/periodic-tasks', {
      name: 'stack test: every 20 s',
      task: 'speedtester.run_speedtest',
      kwargs: { durationMs: 2000, warmupMs: 500 },
      schedule: { type: 'interval', every: 20, period: 'seconds' },
    });
    scheduleId = made.id;
    const result = await waitFor(
      async () =>
        (await taskResults(`&periodicTaskId=${scheduleId}`)).find((r) => r.status === 'succeeded'),
      { timeoutMs: 2 * MINUTE, intervalMs: 1000, what: 'a scheduled speed test' },
    );
    assert.match(result.worker ?? '', /./);
    const tests = await speedtests();
    assert.ok(tests.length >= 1);
    const newest = tests[0]!;
    assert.equal(newest.engine, 'librespeed');
    assert.ok(newest.selfTest, 'against the web container’s own target');
    assert.ok((newest.downloadBps ?? 0) > 1e6, `download ${newest.downloadBps} bit/s`);
    const detail = await stack.https(`/admin/speedtests/${newest.id}`, {
      headers: { cookie: sessionCookie },
    });
    assert.equal(detail.status, 200);
    assert.match(detail.body, /librespeed/i);
  });

  test('docker kill of the worker during a speed test: the run is retried and recorded once', async () => {
    const running = await startSpeedtest(4000);
    // `docker kill` counts as a manual stop for the restart policy (unless-stopped does not bring
    // the container back, as it would after a crash): start it again, as an operator would.
    await docker('kill', stack.container('worker'));
    await sleep(1000);
    if ((await containerState('worker')).status !== 'running')
      await docker('start', stack.container('worker'));
    const done = await finished(running.jobId, 3 * MINUTE);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.equal(done.attempts, 2, `the killed attempt counts: ${JSON.stringify(done)}`);
    const rows = (await taskResults()).filter((r) => r.jobId === running.jobId);
    assert.equal(rows.length, 1, 'one task result for the job');
  });

  test('docker restart of postgres and of redis while schedules run: the roles recover by themselves, no scheduled run lost or doubled', async () => {
    // The kill above held the speed-test queue until the dead worker's lock expired (30 s): slots
    // due meanwhile were skipped, by design (missed runs are not caught up: docs/scheduler.md).
    // Start from a schedule that runs on time again: its newest run started within 5 s of its slot.
    const onTime = async () => {
      const runs = await taskResults(`&periodicTaskId=${scheduleId}&status=succeeded`);
      const newest = runs[0];
      return (
        newest &&
        Date.parse(newest.startedAt ?? '') - Date.parse(newest.scheduledFor ?? '') < 5000 &&
        Date.now() - Date.parse(newest.scheduledFor ?? '') < 20_000
      );
    };
    await waitFor(onTime, {
      timeoutMs: 2 * MINUTE,
      intervalMs: 1000,
      what: 'the schedule on time',
    });
    const before = await taskResults(`&periodicTaskId=${scheduleId}`);
    const restartsOf = async (role: string) =>
      (await docker('inspect', '--format', '{{.RestartCount}}', stack.container(role))).trim();
    const roles = ['web', 'worker', 'scheduler'];
    const restartsBefore = await Promise.all(roles.map(restartsOf));
    const restartedAt = new Date().toISOString();
    for (const service of ['postgres', 'redis']) {
      await docker('restart', stack.container(service));
      await sleep(5000);
    }
    // The slots after the newest one seen before the restarts: three of them, each run.
    const last = Math.max(...before.map((r) => Date.parse(r.scheduledFor ?? '')));
    const later = async () =>
      (await taskResults(`&periodicTaskId=${scheduleId}`)).filter(
        (r) => r.status === 'succeeded' && Date.parse(r.scheduledFor ?? '') > last,
      );
    await waitFor(async () => (await later()).length >= 3, {
      timeoutMs: 3 * MINUTE,
      intervalMs: 2000,
      what: 'three scheduled runs after the restarts',
    });
    assert.deepEqual(await Promise.all(roles.map(restartsOf)), restartsBefore, 'no role restarted');
    for (const role of roles) assert.equal((await containerState(role)).status, 'running', role);
    const runs = await taskResults(`&periodicTaskId=${scheduleId}`);
    const slots = runs.map((r) => r.scheduledFor).filter(Boolean);
    assert.equal(new Set(slots).size, slots.length, 'no scheduled slot ran twice');
    // No slot lost: from the newest slot before the restarts on, every 20 s slot has its run.
    const since = [last, ...(await later()).map((r) => Date.parse(r.scheduledFor!))].sort(
      (x, y) => x - y,
    );
    const gaps = since.slice(1).map((at, i) => (at - since[i]!) / 1000);
    if (gaps.some((gap) => gap !== 20)) {
      // What a lost slot needs to be understood: the runs and what the roles said meanwhile.
      const logs = await Promise.all(
        ['scheduler', 'worker'].map((role) =>
          run('docker', ['logs', '--since', restartedAt, stack.container(role)]),
        ),
      );
      const table = runs.map((r) => [r.scheduledFor, r.status, r.attempts, r.jobId].join(' '));
      assert.fail(
        `seconds between scheduled slots: ${gaps}\n${table.join('\n')}\n${logs.map((l) => l.stdout + l.stderr).join('\n')}`,
      );
    }
  });

  test('docker stop of the worker with a job running: it drains within its grace period; TargetDown reaches the webhook', async () => {
    // About 10 s in all (two directions, warm-up, pings): inside SHUTDOWN_TIMEOUT_MS (20 s).
    const running = await startSpeedtest(3000);
    try {
      const stopped = Date.now();
      await docker('stop', stack.container('worker'));
      const seconds = (Date.now() - stopped) / 1000;
      assert.ok(seconds < 30, `stopped in ${seconds} s, inside the 30 s grace`);
      const { status, exitCode } = await containerState('worker');
      assert.deepEqual({ status, exitCode }, { status: 'exited', exitCode: 0 });
      const done = await finished(running.jobId, 10_000);
      assert.equal(done.status, 'succeeded', JSON.stringify(done));
      assert.equal(done.attempts, 1, 'finished by the stopping worker');

      const alert = await waitFor(
        async () =>
          (await stack.webhookReceived())
            .flatMap((message) => message.body.alerts ?? [])
            .find(
              (a) =>
                a.labels.alertname === 'TargetDown' &&
                a.labels.job === 'worker' &&
                a.status === 'firing',
            ),
        {
          timeoutMs: 5 * MINUTE,
          intervalMs: 5000,
          what: 'TargetDown for the worker at the webhook',
        },
      );
      assert.equal(alert.labels.severity, 'critical');
      // npm run status over SSH: the stopped worker and the firing alert, as such, exit 1.
      const seen = await opsStatus();
      assert.equal(seen.code, 1, seen.output);
      const worker = seen.json.containers.find((c) => c.service === 'worker');
      assert.deepEqual([worker?.state, worker?.ok], ['exited (0)', false]);
      assert.ok(
        seen.json.alerts?.some((a) => a.name === 'TargetDown' && a.state === 'active'),
        seen.output,
      );
      assert.ok(seen.json.problems.includes('worker is exited (0)'), seen.output);
      assert.ok(
        seen.json.problems.some((p) => p.startsWith('alert TargetDown is firing')),
        seen.output,
      );
      // The rest of the picture: the last speed test, the next runs, swag's certificate.
      assert.equal(seen.json.lastSpeedtest?.engine, 'librespeed');
      assert.ok(
        seen.json.nextRuns.some((run) => run.name === 'stack test: every 20 s'),
        seen.output,
      );
      assert.match(seen.json.certificate?.issuer ?? '', /Pebble/);
      assert.ok((seen.json.certificate?.daysLeft ?? 0) > 14, seen.output);
      const lines = await ops.script('status');
      assert.match(lines.stdout, /✗ worker +exited \(0\)/);
      assert.match(lines.stdout, /✗ TargetDown \(critical\)/);
    } finally {
      // Started again whatever failed above: the tests after this one need a worker.
      await docker('start', stack.container('worker'));
    }
  });

  test('npm run logs over SSH: one role pretty-printed, several merged in time order, a bad role or --since named', async () => {
    const web = await ops.script('logs', ['web', '--since', '60m']);
    assert.equal(web.code, 0, web.output);
    assert.match(
      web.stdout,
      /INFO: web role listening/,
      'pino-pretty turned the JSON line into text',
    );
    assert.doesNotMatch(web.stdout, /^\{"level"/m, 'no raw JSON line');
    assert.doesNotMatch(web.stdout, /^web +\|/m, 'one role: no lead column');
    const all = await ops.script('logs', ['--tail', '20']);
    assert.equal(all.code, 0, all.output);
    for (const role of ['web', 'worker', 'scheduler'])
      assert.match(all.stdout, new RegExp(`^${role} +\\| `, 'm'), `a line of ${role}`);
    const json = await ops.script('logs', ['scheduler', '--tail', '5', '--json']);
    assert.match(json.stdout, /^\{"level":\d+/m, '--json keeps the lines as they are');
    // --follow: the last line, then new ones as the worker writes them (the 20 s schedule runs).
    const follow = ops.spawnScript('logs', ['worker', '--follow', '--tail', '1']);
    let followed = '';
    follow.stdout!.setEncoding('utf8').on('data', (chunk: string) => (followed += chunk));
    try {
      await waitFor(() => followed.split('\n').filter(Boolean).length >= 3, {
        timeoutMs: MINUTE,
        intervalMs: 500,
        what: 'new lines from logs --follow',
      });
    } finally {
      follow.kill('SIGINT');
    }
    const ended = await new Promise<number | null>((resolve) => follow.on('exit', resolve));
    assert.equal(ended, 0, 'Ctrl-C ends the follow normally');
    assert.match(followed, /INFO: /);
    const unknown = await ops.script('logs', ['nosuch']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /"nosuch" is not a service of the deployment/);
    const since = await ops.script('logs', ['web', '--since', 'yesterday']);
    assert.equal(since.code, 2);
    assert.match(since.stderr, /--since "yesterday" is neither a duration/);
  });

  test('npm run ssh runs a command on the host as the deploy user, and refuses a shell without a terminal', async () => {
    const ran = await ops.script('ssh', [
      '--',
      'sh',
      '-c',
      'whoami; docker ps --format "{{.Names}}"',
    ]);
    assert.equal(ran.code, 0, ran.output);
    assert.match(ran.stdout, /^deploy\n/);
    assert.match(ran.stdout, new RegExp(`^${stack.container('web')}$`, 'm'));
    const failing = await ops.script('ssh', ['--', 'exit', '7']);
    assert.equal(failing.code, 7, "the command's own exit code");
    const shell = await ops.script('ssh');
    assert.equal(shell.code, 2);
    assert.match(shell.stderr, /no terminal for a shell: give a command after --/);
  });

  test('npm run speedtest-now: queued through the API with a token, waited for, the stored result printed', async () => {
    const ca = join(temp!.path, 'issuer-root.pem');
    writeFileSync(ca, await stack.issuerRoot());
    const args = ['--connect-to', '127.0.0.1', '--engine', 'librespeed'];
    const env = { REFRESHER_API_TOKEN: token, NODE_EXTRA_CA_CERTS: ca };
    const now = await ops.script('speedtest-now', args, { host: false, env });
    assert.equal(now.code, 0, now.output);
    const printed =
      /^librespeed against .+: ([\d.]+) Mbit\/s down, ([\d.]+) Mbit\/s up, ping [\d.]+ ms, jitter [\d.-]+ ms\nstored as speed test (\d+): https:\/\/\S+\/admin\/speedtests\/\3$/m.exec(
        now.stdout,
      );
    assert.ok(printed, now.stdout);
    const stored = await api<Speedtest>('GET', `/speedtests/${printed[3]}`);
    assert.equal((stored.downloadBps! / 1e6).toFixed(1), printed[1]);
    const refused = await ops.script('speedtest-now', args, {
      host: false,
      env: { ...env, REFRESHER_API_TOKEN: 'rf_not-a-token' },
    });
    assert.equal(refused.code, 3, refused.output);
    assert.match(refused.stderr, /refused the token \(401\)/);
    const none = await ops.script('speedtest-now', args, {
      host: false,
      env: { NODE_EXTRA_CA_CERTS: ca },
    });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no API token: set REFRESHER_API_TOKEN/);
  });

  // The periodic tasks enabled before the backup tests, to be enabled again after them.
  let paused: number[] = [];

  test('npm run backup then a wiped database then npm run restore: every table as it was, row for row', async () => {
    // Nothing may write meanwhile, or "as it was" has no meaning: every schedule off, the queue idle.
    const tasks = (
      await api<{ items: { id: number; enabled: boolean }[] }>('GET', '/periodic-tasks?limit=200')
    ).items;
    paused = tasks.filter((t) => t.enabled).map((t) => t.id);
    for (const id of paused) await api('PATCH', `/periodic-tasks/${id}`, { enabled: false });
    await waitFor(
      async () => !(await taskResults()).some((r) => ['queued', 'started'].includes(r.status)),
      { timeoutMs: 2 * MINUTE, intervalMs: 1000, what: 'an idle queue' },
    );
    await sleep(2000);
    const before = await tableChecksums(stack);
    const out = join(temp!.path, 'backups');
    const backup = await ops.script('backup', ['--out', out]);
    assert.equal(backup.code, 0, backup.output);
    const manifestFile = backup.stdout.trim().split('\n').at(-1)!;
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as {
      rows: Record<string, number>;
      migrations: string[];
      dump: { file: string; sha256: string };
    };
    assert.ok(
      manifest.rows.speedtests! >= 1 && manifest.rows.task_results! >= 1,
      JSON.stringify(manifest.rows),
    );
    assert.equal(
      manifest.migrations.length,
      Number(await psql(stack, 'SELECT count(*) FROM schema_migrations')),
    );
    assert.deepEqual(await tableChecksums(stack), before, 'the backup changed nothing');

    await psql(stack, 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
    assert.deepEqual(await tableChecksums(stack), {});
    const restore = await ops.script('restore', [join(out, manifest.dump.file), '--yes']);
    assert.equal(restore.code, 0, restore.output);
    assert.match(restore.stderr, /rows in \d+ tables, as the manifest says/);
    assert.deepEqual(await tableChecksums(stack), before, 'every table as it was');
    await appRolesAre('health', 'healthy');
  });

  test("npm run restore refuses a truncated archive, one from a newer migration and one whose rows are not the manifest's, with the database untouched; without --yes and a terminal, it asks nobody and refuses", async () => {
    const out = join(temp!.path, 'backups');
    const manifestFile = readdirSync(out).find((f) => f.endsWith('.manifest.json'))!;
    const manifest = JSON.parse(readFileSync(join(out, manifestFile), 'utf8')) as {
      migrations: string[];
      dump: { file: string };
    };
    const before = await tableChecksums(stack);
    const bad = join(temp!.path, 'bad-backups');
    mkdirSync(bad);
    // Truncated: the first half of the dump, with its manifest.
    const dump = readFileSync(join(out, manifest.dump.file));
    writeFileSync(join(bad, 'cut.dump'), dump.subarray(0, Math.floor(dump.length / 2)));
    writeFileSync(
      join(bad, 'cut.manifest.json'),
      JSON.stringify({ ...manifest, dump: { ...manifest.dump, file: 'cut.dump' } }),
    );
    const cut = await ops.script('restore', [join(bad, 'cut.dump'), '--yes']);
    assert.equal(cut.code, 1, cut.output);
    assert.match(
      cut.stderr,
      /has \d+ bytes, the manifest says \d+: the archive is truncated or not this one; nothing was touched/,
    );
    // From the future: a migration this app does not know.
    writeFileSync(join(bad, 'future.dump'), dump);
    writeFileSync(
      join(bad, 'future.manifest.json'),
      JSON.stringify({
        ...manifest,
        migrations: [...manifest.migrations, '9999-from-a-newer-app'],
        dump: { ...manifest.dump, file: 'future.dump' },
      }),
    );
    const future = await ops.script('restore', [join(bad, 'future.dump'), '--yes']);
    assert.equal(future.code, 1, future.output);
    assert.match(
      future.stderr,
      /at migration 9999-from-a-newer-app, which this app does not know .*: upgrade the app first/,
    );
    // A whole dump whose manifest promises one more speed test: loaded, counted inside the
    // transaction, rolled back.
    writeFileSync(join(bad, 'short.dump'), dump);
    const rows = (manifest as unknown as { rows: Record<string, number> }).rows;
    writeFileSync(
      join(bad, 'short.manifest.json'),
      JSON.stringify({
        ...manifest,
        rows: { ...rows, speedtests: rows.speedtests! + 1 },
        dump: { ...manifest.dump, file: 'short.dump' },
      }),
    );
    const short = await ops.script('restore', [join(bad, 'short.dump'), '--yes']);
    assert.equal(short.code, 1, short.output);
    assert.match(
      short.stderr,
      /the restore failed and was rolled back, the database is as it was .*the dump restores \d+ rows into speedtests, the manifest says \d+: rolled back/,
    );
    const unasked = await ops.script('restore', [join(out, manifest.dump.file)]);
    assert.equal(unasked.code, 1, unasked.output);
    assert.match(unasked.stderr, /without a terminal to ask, pass --yes/);
    assert.deepEqual(await tableChecksums(stack), before, 'untouched');
    await appRolesAre('status', 'running');
  });

  test("the VM's nightly backup script makes an archive npm run restore takes; a restore while the worker runs a speed test lets it finish first", async () => {
    const nightly = join(temp!.path, 'nightly');
    mkdirSync(nightly);
    writeFileSync(
      join(nightly, `${stack.config.name}-20200101T000000Z.dump`),
      'an archive past retention',
    );
    utimesSync(
      join(nightly, `${stack.config.name}-20200101T000000Z.dump`),
      new Date('2020-01-01'),
      new Date('2020-01-01'),
    );
    writeFileSync(join(nightly, 'unrelated-20200101.dump'), "not this deployment's");
    utimesSync(
      join(nightly, 'unrelated-20200101.dump'),
      new Date('2020-01-01'),
      new Date('2020-01-01'),
    );
    const script = renderBackupScript(stack.config);
    const made = await run('bash', ['-c', script], {
      env: { ...process.env, REFRESHER_BACKUP_DIR: nightly },
    });
    assert.equal(made.code, 0, made.stderr);
    const files = readdirSync(nightly).sort();
    assert.ok(
      !files.includes(`${stack.config.name}-20200101T000000Z.dump`),
      `retention deleted the old archive: ${files}`,
    );
    assert.ok(files.includes('unrelated-20200101.dump'), 'and nothing of anyone else');
    const dumpFile = files.find((f) => /^refresher-\d{8}T\d{6}Z\.dump$/.test(f));
    assert.ok(
      dumpFile && files.includes(dumpFile.replace('.dump', '.manifest.json')),
      files.join(' '),
    );

    const running = await startSpeedtest(4000);
    const restore = await ops.script('restore', [join(nightly, dumpFile), '--yes']);
    assert.equal(restore.code, 0, restore.output);
    assert.match(restore.stderr, /as the manifest says/);
    // The worker got SIGTERM with the test running and finished it (its result line comes after
    // "shutting down") before the database was replaced: the job was not killed half-way.
    const worker = (
      await run('sh', ['-c', `docker logs --since 3m ${stack.container('worker')} 2>&1`])
    ).stdout.split('\n');
    const started = worker.findIndex((line) => line.includes(`"jobId":"${running.jobId}"`));
    const stopping = worker.findIndex(
      (line, i) => i > started && line.includes('"msg":"shutting down"'),
    );
    const result = worker.findIndex(
      (line) => line.includes(`"jobId":"${running.jobId}"`) && line.includes('Mbit/s down'),
    );
    assert.ok(
      started >= 0 && stopping > started && result > stopping,
      `the result after the SIGTERM:\n${worker.slice(-30).join('\n')}`,
    );
  });

  test('npm run upgrade with an image whose roles cannot start: it stops at the first role, puts it back, and the others never stop', async () => {
    for (const id of paused) await api('PATCH', `/periodic-tasks/${id}`, { enabled: true });
    const ids = async () =>
      Object.fromEntries(
        await Promise.all(
          ['worker', 'scheduler', 'web'].map(async (r) => [
            r,
            (
              await docker(
                'inspect',
                '--format',
                '{{.Id}} {{.State.StartedAt}}',
                stack.container(r),
              )
            ).trim(),
          ]),
        ),
      );
    const before = await ids();
    await appImageVariant('refresher-test/broken-app', [
      '# Migrates as the app does; every role exits at once.',
      'ENTRYPOINT ["/bin/sh", "-c", "if [ \\"$1\\" = migrate ]; then exec /usr/bin/tini -- node /app/refresher.mjs migrate; fi; echo \\"this build cannot start $1\\" >&2; exit 1", "--"]',
    ]);
    const upgrade = await ops.script('upgrade', [
      '--image',
      'refresher-test/broken-app',
      '--timeout',
      '60',
    ]);
    assert.equal(upgrade.code, 1, upgrade.output);
    assert.match(upgrade.stderr, /worker failed on the new image and is back on its previous one/);
    assert.match(upgrade.stderr, /this build cannot start worker/);
    assert.match(upgrade.stderr, /stopped there: scheduler, web kept running untouched/);
    const after = await ids();
    assert.equal(after.scheduler, before.scheduler, 'the scheduler never stopped');
    assert.equal(after.web, before.web, 'the web role never stopped');
    assert.equal(
      after.worker!.split(' ')[0],
      before.worker!.split(' ')[0],
      'the worker is its previous container again',
    );
    await appRolesAre('health', 'healthy');
  });

  test('npm run upgrade with a good image: each role replaced in turn and healthy, settings kept', async () => {
    const id = await appImageVariant('refresher-test/good-app', [
      'LABEL io.refresher.test=upgraded',
    ]);
    // The environment as a sorted list (Docker keeps no order); compared without printing it, as
    // it holds the deployment's secrets.
    const environment = async () =>
      (
        JSON.parse(
          await docker('inspect', '--format', '{{json .Config.Env}}', stack.container('web')),
        ) as string[]
      ).sort();
    const envBefore = await environment();
    const upgrade = await ops.script('upgrade', ['--image', 'refresher-test/good-app']);
    assert.equal(upgrade.code, 0, upgrade.output);
    assert.match(
      upgrade.stderr,
      /replacing worker[\s\S]*✓ worker[\s\S]*replacing scheduler[\s\S]*✓ scheduler[\s\S]*replacing web[\s\S]*✓ web/,
    );
    for (const role of ['worker', 'scheduler', 'web']) {
      assert.equal(
        (await docker('inspect', '--format', '{{.Image}}', stack.container(role))).trim(),
        id,
        role,
      );
      assert.equal((await containerState(role)).health, 'healthy', role);
    }
    const envAfter = await environment();
    assert.deepEqual(
      envAfter.map((v) => v.split('=')[0]),
      envBefore.map((v) => v.split('=')[0]),
      'the same variables',
    );
    assert.ok(
      envAfter.every((v, i) => v === envBefore[i]),
      'with the same values',
    );
    // Reached through swag as before: the network alias and the fixed address came along.
    assert.equal((await stack.https('/healthz')).status, 200);
  });

  test('npm run doctor over SSH: ssh and docker pass; a closed port and a Docker the deploy user cannot reach each fail with the fix', async () => {
    const fine = await ops.script('doctor', ['--json']);
    const checks = JSON.parse(fine.stdout) as {
      name: string;
      state: string;
      detail: string;
      fix?: string;
    }[];
    const by = (name: string, list = checks) => list.find((c) => c.name === name)!;
    assert.equal(by('ssh').state, 'ok', fine.stdout);
    assert.equal(by('docker').state, 'ok', fine.stdout);
    assert.match(by('docker').detail, /containers of refresher running/);
    const closed = await ops.script('doctor', ['--json'], {
      host: `${DEPLOY_USER}@127.0.0.1:${await freePort()}`,
    });
    assert.equal(closed.code, 1);
    const closedChecks = JSON.parse(closed.stdout) as typeof checks;
    assert.equal(by('ssh', closedChecks).state, 'fail');
    assert.match(by('ssh', closedChecks).detail, /refuses connections/);
    assert.equal(by('docker', closedChecks).state, 'skip');
    const noDocker = await ops.sshd(
      'no-docker',
      `${renderSshdDropIn('azureuser')}SetEnv DOCKER_HOST=unix:///nonexistent/docker.sock\n`,
    );
    const broken = await ops.script('doctor', ['--json'], { host: ops.host(noDocker) });
    const brokenChecks = JSON.parse(broken.stdout) as typeof checks;
    assert.equal(by('ssh', brokenChecks).state, 'ok');
    assert.equal(by('docker', brokenChecks).state, 'fail', broken.stdout);
    assert.match(by('docker', brokenChecks).fix ?? '', /docker group/);
    const status = await ops.script('status', [], { host: ops.host(noDocker) });
    assert.equal(status.code, 4, status.output);
    assert.match(status.stderr, /docker does not answer on the host/);
  });

  test('stack:down then stack:up keeps every row', async () => {
    await api('PATCH', `/periodic-tasks/${scheduleId}`, { enabled: false });
    const results = (await taskResults()).map((r) => r.id);
    const tests = (await speedtests()).map((t) => t.id);
    await stack.stack('down');
    await stack.stack('up', '--with-swag');
    const after = new Set((await taskResults()).map((r) => r.id));
    for (const id of results) assert.ok(after.has(id), `task result ${id} kept`);
    const afterTests = new Set((await speedtests()).map((t) => t.id));
    for (const id of tests) assert.ok(afterTests.has(id), `speed test ${id} kept`);
  });

  test('stack:down --volumes leaves no container, volume or network behind', async () => {
    await stack.stack('down', '--volumes');
    const label = `label=com.docker.compose.project=${stack.config.name}`;
    assert.equal((await docker('ps', '-aq', '--filter', label)).trim(), '');
    assert.equal((await docker('volume', 'ls', '-q', '--filter', label)).trim(), '');
    assert.equal((await run('docker', ['network', 'inspect', stack.config.name])).code, 1);
  });
});
