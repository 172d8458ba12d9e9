// Where the CPU went during a measured run: each container's CPU time from the engine's stats API
// (the cgroup's cumulative usage), grouped by service; the Docker engine's own processes and this
// bench's; and the whole machine's busy time from /proc/stat, whose remainder is everything else
// on the machine (other tenants' work). On a 2-core machine shared by PostgreSQL, Redis, the proxy,
// the app and this bench, a ratio of two throughputs means little without knowing this.
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus } from 'node:os';

function engineJson<T>(path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    request({ socketPath: '/var/run/docker.sock', path }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        try {
          resolve(JSON.parse(body) as T);
        } catch (error) {
          reject(new Error(`engine ${path}: ${body.slice(0, 200)}`, { cause: error }));
        }
      });
    })
      .on('error', reject)
      .end();
  });
}

/** Linux's USER_HZ, the unit of /proc/stat and /proc/PID/stat (100 on every common build). */
const TICK_S = 0.01;

/** The machine's CPU seconds: all, busy (not idle or iowait), and stolen by the hypervisor. */
function hostSeconds(): { total: number; busy: number; steal: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields.map(Number) as number[];
  const total = user! + nice! + system! + idle! + iowait! + irq! + softirq! + steal!;
  return {
    total: total * TICK_S,
    busy: (total - idle! - iowait!) * TICK_S,
    steal: steal! * TICK_S,
  };
}

/** dockerd, containerd, the shims and docker-proxy: the engine's log and port plumbing. */
const ENGINE = /^(dockerd|containerd|containerd-shim|docker-proxy)$/;

/** CPU seconds of the engine's processes now alive, by pid. */
function engineSeconds(): Map<number, number> {
  const found = new Map<number, number>();
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone since the listing
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (!ENGINE.test(comm)) continue;
    // After the command: state is field 3, utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    found.set(Number(pid), (Number(rest[11]) + Number(rest[12])) * TICK_S);
  }
  return found;
}

export interface CpuSnapshot {
  at: number;
  /** CPU seconds by container id, with the container's service group. */
  containers: Map<string, { group: string; s: number }>;
  engine: Map<number, number>;
  bench: number;
  host: ReturnType<typeof hostSeconds>;
}

/** The group a container's CPU is counted under: the web twin is the web role. */
const groupOf = (service: string) => (service.startsWith('web') ? 'web' : service);

export async function cpuSnapshot(project: string): Promise<CpuSnapshot> {
  const filters = encodeURIComponent(
    JSON.stringify({ label: [`com.docker.compose.project=${project}`] }),
  );
  const list = await engineJson<{ Id: string; Labels: Record<string, string> }[]>(
    `/containers/json?filters=${filters}`,
  );
  const stats = await Promise.all(
    list.map((c) =>
      engineJson<{ cpu_stats: { cpu_usage: { total_usage: number } } }>(
        `/containers/${c.Id}/stats?stream=false&one-shot=true`,
      ),
    ),
  );
  const self = process.cpuUsage();
  return {
    at: performance.now(),
    containers: new Map(
      list.map((c, i) => [
        c.Id,
        {
          group: groupOf(c.Labels['com.docker.compose.service'] ?? '?'),
          s: stats[i]!.cpu_stats.cpu_usage.total_usage / 1e9,
        },
      ]),
    ),
    engine: engineSeconds(),
    bench: (self.user + self.system) / 1e6,
    host: hostSeconds(),
  };
}

/** CPU seconds spent between two snapshots (or over several such spans, added up). */
export interface CpuSpent {
  wall_s: number;
  groups: Record<string, number>;
  engine: number;
  bench: number;
  host: { total: number; busy: number; steal: number };
}

export function cpuSpent(before: CpuSnapshot, after: CpuSnapshot): CpuSpent {
  const groups: Record<string, number> = {};
  // A container started during the span counts from 0; one that stopped is not seen at all.
  for (const [id, { group, s }] of after.containers)
    groups[group] = (groups[group] ?? 0) + s - (before.containers.get(id)?.s ?? 0);
  let engine = 0;
  for (const [pid, s] of after.engine) engine += s - (before.engine.get(pid) ?? 0);
  return {
    wall_s: (after.at - before.at) / 1000,
    groups,
    engine,
    bench: after.bench - before.bench,
    host: {
      total: after.host.total - before.host.total,
      busy: after.host.busy - before.host.busy,
      steal: after.host.steal - before.host.steal,
    },
  };
}

export function addSpent(a: CpuSpent, b: CpuSpent): CpuSpent {
  const groups = { ...a.groups };
  for (const [group, s] of Object.entries(b.groups)) groups[group] = (groups[group] ?? 0) + s;
  return {
    wall_s: a.wall_s + b.wall_s,
    groups,
    engine: a.engine + b.engine,
    bench: a.bench + b.bench,
    host: {
      total: a.host.total + b.host.total,
      busy: a.host.busy + b.host.busy,
      steal: a.host.steal + b.host.steal,
    },
  };
}

const round = (value: number, digits = 2) => Number(value.toFixed(digits));

/** The report of a span: shares are of the machine's capacity (wall time × cores). */
export function describeCpu(spent: CpuSpent, jobs: number) {
  const containers = Object.values(spent.groups).reduce((sum, s) => sum + s, 0);
  const share = (s: number) => round(s / spent.host.total);
  const perJob = (s: number) => round((s * 1000) / jobs, 3);
  return {
    cpus: cpus().length,
    cpu_s: Object.fromEntries(
      Object.entries(spent.groups)
        .filter(([, s]) => s >= 0.005)
        .sort(([, a], [, b]) => b - a)
        .map(([group, s]) => [group, round(s)]),
    ),
    cpu_ms_per_job: {
      containers: perJob(containers),
      worker: perJob(spent.groups.worker ?? 0),
      postgres: perJob(spent.groups.postgres ?? 0),
      web: perJob(spent.groups.web ?? 0),
      redis: perJob(spent.groups.redis ?? 0),
    },
    host_busy_share: share(spent.host.busy),
    containers_share: share(containers),
    postgres_share: share(spent.groups.postgres ?? 0),
    engine_share: share(spent.engine),
    bench_share: share(spent.bench),
    // What is left of the busy time: processes outside the stack and this bench (other tenants).
    other_share: share(Math.max(0, spent.host.busy - containers - spent.engine - spent.bench)),
    steal_share: round(spent.host.steal / spent.host.total, 3),
  };
}
