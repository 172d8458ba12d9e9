// npm run status: the deployment at a glance, read on its host over SSH: every container with its
// health, image and uptime; the app's version; the last speed test and the next scheduled runs
// (from BullMQ's job schedulers in Redis, which is what will really run); the alerts firing
// (Alertmanager's API, through amtool in its container); the volumes' disk use; the certificate's
// expiry. --json prints the same as one object for scripts. Exit 0 when everything is ready and
// nothing fires, 1 when something does not (the lines marked ✗ say what).
//
//   npm run status [-- --json] [--host …|--local] [--config FILE]
import { parseCommandLine, runCommand } from '../contract/cli.ts';
import { DEFAULT_QUEUE_PREFIX, QUEUE_NAMES } from '../contract/queues.ts';
import { serviceCatalogue } from '../templates/catalogue/index.ts';
import { shellWords } from '../templates/ssh.ts';
import { psqlCommand, tagged } from './lib/backup-archive.ts';
import { inspectHealth, isReady } from './lib/health.ts';
import { oneShotServices } from './lib/one-shot.ts';
import {
  appVersion,
  containers,
  EXIT,
  onHost,
  openTarget,
  OPS_ERRORS,
  TARGET_FLAGS,
  TARGET_USAGE,
  type Container,
  type Target,
} from './lib/ops.ts';

const USAGE = `usage: npm run status [-- --json]
  --json   one JSON object (the same facts) instead of lines
${TARGET_USAGE}
exit: 0 all ready and no alert firing, 1 something is not, 3 host unreachable, 4 no stack there`;

export interface ContainerStatus {
  service: string;
  container: string;
  state: string;
  health: string | null;
  image: string;
  startedAt: string | null;
  uptimeSeconds: number | null;
  /** Running and healthy; for a one-shot (migrations), exited 0. */
  ok: boolean;
}

export interface Status {
  deployment: string;
  host: string;
  ok: boolean;
  appVersion: string | null;
  containers: ContainerStatus[];
  lastSpeedtest: {
    startedAt: string;
    engine: string;
    downloadMbps: number | null;
    uploadMbps: number | null;
    pingMs: number | null;
    /** Against the deployment's own web role (no servers configured): it measures the VM, not the line. */
    selfTest: boolean;
  } | null;
  nextRuns: { queue: string; periodicTaskId: number; name: string | null; at: string }[];
  alerts: { name: string; severity: string | null; state: string; since: string; summary: string | null }[] | null;
  volumes: { name: string; size: string }[];
  certificate: { notAfter: string; daysLeft: number; issuer: string } | null;
  problems: string[];
} // prettier-ignore

async function containerStatuses(target: Target, found: Map<string, Container>): Promise<ContainerStatus[]> {
  const oneShots = new Set(oneShotServices(target.config));
  const list = [...found.values()].sort((a, b) => a.service.localeCompare(b.service));
  const states = await inspectHealth(target, list.map((c) => c.name));
  return list.map((container, i) => {
    const state = states[i]!;
    const started = state.status === 'running' && state.startedAt ? new Date(state.startedAt) : null;
    return {
      service: container.service,
      container: container.name,
      state: state.status === 'exited' ? `exited (${state.exitCode})` : state.status,
      // Docker keeps the last health of a stopped container (and a one-shot has the app image's
      // check): only a running container's health says anything.
      health: state.status === 'running' ? (state.health ?? null) : null,
      image: state.image,
      startedAt: started?.toISOString() ?? null,
      uptimeSeconds: started ? Math.round((Date.now() - started.getTime()) / 1000) : null,
      ok: oneShots.has(container.service) ? state.status === 'exited' && state.exitCode === 0 : isReady(state),
    };
  });
} // prettier-ignore

const LAST_SPEEDTEST_SQL =
  "SELECT 'last=' || coalesce((SELECT json_build_object('startedAt', started_at, 'engine', engine, 'downloadMbps', round((download_bps / 1e6)::numeric, 1), 'uploadMbps', round((upload_bps / 1e6)::numeric, 1), 'pingMs', round(ping_ms::numeric, 1), 'selfTest', self_test) FROM speedtests ORDER BY started_at DESC LIMIT 1)::text, 'null');";
const TASK_NAMES_SQL =
  "SELECT 'names=' || coalesce(json_object_agg(id, name), '{}') FROM periodic_tasks;";

async function fromDatabase(target: Target, postgres: Container | undefined) {
  if (!postgres) return { last: null, names: {} as Record<string, string>, problem: 'no postgres container' };
  const out = await onHost(target, `printf '%s\\n' ${shellWords([LAST_SPEEDTEST_SQL, TASK_NAMES_SQL])} | ${shellWords(psqlCommand(postgres.name))}`);
  if (out.exitCode !== 0) return { last: null, names: {}, problem: `PostgreSQL does not answer: ${out.stderr.trim().split('\n').at(-1) ?? ''}` };
  const answers = tagged(out.stdout);
  return {
    last: JSON.parse(answers.last ?? 'null') as Status['lastSpeedtest'],
    names: JSON.parse(answers.names ?? '{}') as Record<string, string>,
    problem: undefined,
  };
} // prettier-ignore

/** The next run of every job scheduler, from the sorted set BullMQ keeps them in (score: next run, ms). */
async function nextRuns(target: Target, redis: Container | undefined, names: Record<string, string>) {
  if (!redis) return { runs: [], problem: 'no redis container' };
  const worker = serviceCatalogue(target.config).find((s) => s.name === 'worker');
  const prefixValue = worker?.environment.QUEUE_PREFIX;
  const prefix = typeof prefixValue === 'string' ? prefixValue : DEFAULT_QUEUE_PREFIX;
  const runs: Status['nextRuns'] = [];
  for (const queue of QUEUE_NAMES) {
    const out = await onHost(target, shellWords(['docker', 'exec', redis.name, 'redis-cli', '--raw', 'ZRANGE', `${prefix}:${queue}:repeat`, '0', '-1', 'WITHSCORES']));
    if (out.exitCode !== 0) return { runs, problem: `Redis does not answer: ${out.stderr.trim().split('\n').at(-1) ?? ''}` };
    const words = out.stdout.split('\n').filter(Boolean);
    for (let i = 0; i + 1 < words.length; i += 2) {
      const id = Number(/^periodic:(\d+):/.exec(words[i]!)?.[1]);
      runs.push({ queue, periodicTaskId: id, name: names[String(id)] ?? null, at: new Date(Number(words[i + 1])).toISOString() });
    }
  }
  runs.sort((a, b) => a.at.localeCompare(b.at));
  return { runs, problem: undefined };
} // prettier-ignore

interface AmtoolAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt: string;
  status?: { state?: string };
}

async function firingAlerts(target: Target, alertmanager: Container | undefined) {
  if (!alertmanager) return { alerts: null, problem: 'no alertmanager container' };
  const out = await onHost(target, shellWords(['docker', 'exec', alertmanager.name, 'amtool', 'alert', 'query', '--output=json', '--alertmanager.url=http://127.0.0.1:9093']));
  if (out.exitCode !== 0) return { alerts: null, problem: `Alertmanager does not answer: ${out.stderr.trim().split('\n').at(-1) ?? ''}` };
  const alerts = (JSON.parse(out.stdout || '[]') as AmtoolAlert[]).map((alert) => ({
    name: alert.labels.alertname ?? '(unnamed)',
    severity: alert.labels.severity ?? null,
    state: alert.status?.state ?? 'active',
    since: alert.startsAt,
    summary: alert.annotations?.summary ?? null,
  }));
  return { alerts, problem: undefined };
} // prettier-ignore

async function volumes(target: Target): Promise<Status['volumes']> {
  const out = await onHost(
    target,
    shellWords(['docker', 'system', 'df', '-v', '--format', '{{json .Volumes}}']),
  );
  if (out.exitCode !== 0) return [];
  const all = JSON.parse(out.stdout.trim() || '[]') as { Name: string; Size: string }[];
  return all
    .filter((volume) => volume.Name.startsWith(`${target.config.name}_`))
    .map((volume) => ({ name: volume.Name, size: volume.Size }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** swag's certificate, read in its container (/config/keys/cert.crt points at the live one). */
async function certificate(target: Target, swag: Container | undefined) {
  if (!swag) return { certificate: null, problem: undefined };
  const out = await onHost(target, shellWords(['docker', 'exec', swag.name, 'openssl', 'x509', '-noout', '-enddate', '-issuer', '-in', '/config/keys/cert.crt']));
  if (out.exitCode !== 0) return { certificate: null, problem: 'swag has no certificate yet (npm run logs -- swag)' };
  const end = /notAfter=(.+)/.exec(out.stdout)?.[1]?.trim();
  const issuer = /issuer=\s*(.+)/.exec(out.stdout)?.[1]?.trim() ?? '';
  if (!end) return { certificate: null, problem: 'swag has no certificate yet (npm run logs -- swag)' };
  const notAfter = new Date(end);
  const daysLeft = Math.floor((notAfter.getTime() - Date.now()) / 86_400_000);
  return {
    certificate: { notAfter: notAfter.toISOString(), daysLeft, issuer },
    // SWAG renews 30 days ahead: fewer than 14 left means renewal has failed for two weeks.
    problem: daysLeft < 14 ? `the certificate expires in ${daysLeft} days: renewal is failing (npm run logs -- swag)` : undefined,
  };
} // prettier-ignore

async function readStatus(target: Target): Promise<Status> {
  const found = await containers(target);
  const list = await containerStatuses(target, found);
  const [version, db, alerts, disk, cert] = await Promise.all([
    appVersion(target, found.get('web')),
    fromDatabase(target, found.get('postgres')),
    firingAlerts(target, found.get('alertmanager')),
    volumes(target),
    certificate(target, found.get('swag')),
  ]);
  const runs = await nextRuns(target, found.get('redis'), db.names);
  const problems = [
    ...list.filter((c) => !c.ok).map((c) => `${c.service} is ${c.health ?? c.state}`),
    ...(alerts.alerts ?? []).filter((a) => a.state === 'active').map((a) => `alert ${a.name} is firing${a.summary ? `: ${a.summary}` : ''}`),
    ...[db.problem, runs.problem, alerts.problem, cert.problem].filter((p): p is string => Boolean(p)),
  ]; // prettier-ignore
  return {
    deployment: target.config.name,
    host: target.ssh?.host ?? 'local',
    ok: problems.length === 0,
    appVersion: version,
    containers: list,
    lastSpeedtest: db.last,
    nextRuns: runs.runs,
    alerts: alerts.alerts,
    volumes: disk,
    certificate: cert.certificate,
    problems,
  };
}

function duration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}

function printStatus(status: Status): void {
  const mark = (ok: boolean) => (ok ? '✓' : '✗');
  console.log(`${status.deployment} on ${status.host}: ${status.ok ? 'all ready' : `${status.problems.length} problem(s)`}; app ${status.appVersion ?? 'unknown'}`);
  console.log('\ncontainers');
  const width = Math.max(...status.containers.map((c) => c.service.length));
  for (const c of status.containers)
    console.log(`  ${mark(c.ok)} ${c.service.padEnd(width)}  ${(c.health ?? c.state).padEnd(10)} ${c.uptimeSeconds === null ? '' : `up ${duration(c.uptimeSeconds)}`.padEnd(10)} ${c.image}`);
  const last = status.lastSpeedtest;
  console.log(`\nlast speed test: ${last ? `${last.startedAt} ${last.engine}: ${last.downloadMbps ?? '-'} Mbit/s down, ${last.uploadMbps ?? '-'} up, ping ${last.pingMs ?? '-'} ms${last.selfTest ? ' (self-test)' : ''}` : 'none yet'}`);
  console.log('next runs');
  if (!status.nextRuns.length) console.log('  none scheduled');
  for (const run of status.nextRuns.slice(0, 5)) console.log(`  ${run.at}  ${run.name ?? `periodic task ${run.periodicTaskId}`} (${run.queue})`);
  console.log('alerts');
  if (status.alerts === null) console.log('  unknown (Alertmanager does not answer)');
  else if (!status.alerts.length) console.log('  ✓ none firing');
  for (const alert of status.alerts ?? []) console.log(`  ✗ ${alert.name} (${alert.severity ?? 'no severity'}) since ${alert.since}${alert.summary ? `: ${alert.summary}` : ''}`);
  console.log('volumes');
  for (const volume of status.volumes) console.log(`  ${volume.name.padEnd(40)} ${volume.size}`);
  const cert = status.certificate;
  console.log(`certificate: ${cert ? `until ${cert.notAfter} (${cert.daysLeft} days), ${cert.issuer}` : 'none'}`);
  if (status.problems.length) {
    console.log('\nproblems');
    for (const problem of status.problems) console.log(`  ✗ ${problem}`);
  }
} // prettier-ignore

async function main(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, { ...TARGET_FLAGS, json: { type: 'boolean' } });
  if (values.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  const status = await readStatus(await openTarget(values));
  if (values.json) console.log(JSON.stringify(status, null, 2));
  else printStatus(status);
  return status.ok ? EXIT.ok : EXIT.problem;
}

await runCommand('status', USAGE, () => main(process.argv.slice(2)), { expected: OPS_ERRORS });
