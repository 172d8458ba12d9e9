// npm run logs: the roles' logs, read through pino-pretty (pino's own pretty printer) so that one
// JSON line per event reads as a line of text, in colour on a terminal; lines that are not
// pino's JSON (nginx, PostgreSQL) pass as they are. Several services are merged in time order,
// each line led by its service.
//
//   npm run logs [-- ROLE...] [--follow] [--since 10m] [--tail N] [--json] [--host …|--local]
import { prettyFactory } from 'pino-pretty';
import { createInterface } from 'node:readline';
import { parseCommandLine, runCommand, UsageError } from '../contract/cli.ts';
import { serviceCatalogue } from '../templates/catalogue/index.ts';
import { shellWords } from '../templates/ssh.ts';
import {
  containerOf,
  containers,
  EXIT,
  onHost,
  openTarget,
  OPS_ERRORS,
  OpsError,
  spawnFailure,
  spawnOnHost,
  TARGET_FLAGS,
  TARGET_USAGE,
  type Target,
} from './lib/ops.ts';

const APP_ROLES = ['web', 'worker', 'scheduler'];

const USAGE = `usage: npm run logs [-- ROLE...] [--follow] [--since DURATION|TIME] [--tail N] [--json]
  ROLE            a service of the deployment (default: ${APP_ROLES.join(' ')}); "all" for every one
  --follow, -f    keep printing new lines until Ctrl-C
  --since         only lines newer than this: 30s, 10m, 2h, or a time such as 2026-12-03T10:00
  --tail          the last N lines of each (default 100 without --since)
  --json          the lines as they are, without pretty-printing
${TARGET_USAGE}`;

/** Docker's --since takes durations and times; anything else is refused here, by name. */
function checkSince(since: string): string {
  if (/^\d+(s|m|h)$/.test(since) || /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2})?)?$/.test(since))
    return since;
  throw new UsageError(`--since "${since}" is neither a duration (30s, 10m, 2h) nor a time (2026-12-03T10:00)`);
} // prettier-ignore

function checkTail(tail: string): string {
  if (/^\d+$/.test(tail) && Number(tail) > 0) return tail;
  throw new UsageError(`--tail "${tail}" is not a positive whole number`);
}

/** Turns one line of `docker logs --timestamps` into its time and its text, pretty when it is pino's. */
function formatter(options: { json: boolean; colour: boolean }) {
  const pretty = prettyFactory({
    colorize: options.colour,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true,
  });
  return (line: string): { time: string; text: string } => {
    const space = line.indexOf(' ');
    const time = space > 0 ? line.slice(0, space) : '';
    const text = space > 0 ? line.slice(space + 1) : line;
    if (options.json || !text.startsWith('{')) return { time, text };
    try {
      const event = JSON.parse(text) as Record<string, unknown>;
      if (typeof event.level !== 'number') return { time, text };
      return { time, text: pretty(event).trimEnd() };
    } catch {
      return { time, text };
    }
  };
}

function dockerLogs(
  name: string,
  flags: { since?: string; tail?: string; follow?: boolean },
): string {
  const args = ['docker', 'logs', '--timestamps'];
  if (flags.since) args.push('--since', flags.since);
  if (flags.tail) args.push('--tail', flags.tail);
  if (flags.follow) args.push('--follow');
  return `${shellWords([...args, name])} 2>&1`;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(
    argv,
    {
      ...TARGET_FLAGS,
      follow: { type: 'boolean', short: 'f' },
      since: { type: 'string' },
      tail: { type: 'string' },
      json: { type: 'boolean' },
    },
    true,
  );
  if (values.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  const since = values.since === undefined ? undefined : checkSince(values.since);
  const tail = values.tail === undefined ? (since ? undefined : '100') : checkTail(values.tail);
  const target = await openTarget(values);
  const known = serviceCatalogue(target.config).map((service) => service.name);
  const roles = positionals.includes('all') ? known : positionals.length ? positionals : APP_ROLES;
  for (const role of roles)
    if (!known.includes(role))
      throw new UsageError(`"${role}" is not a service of the deployment (${known.join(', ')}, or all)`);
  const found = await containers(target);
  // A service asked for by name must be there; of the defaults and "all", those that are.
  if (positionals.length && !positionals.includes('all')) for (const role of roles) containerOf(found, role);
  const names = roles.filter((role) => found.has(role));
  const format = formatter({ json: values.json ?? false, colour: Boolean(process.stdout.isTTY) });
  const lead = (role: string) => (names.length > 1 ? `${role.padEnd(Math.max(...names.map((n) => n.length)))} | ` : '');
  if (values.follow) return follow(target, names.map((role) => [role, found.get(role)!.name]), { since, tail }, format, lead);

  const lines: { time: string; role: string; text: string }[] = [];
  for (const role of names) {
    const out = await onHost(target, dockerLogs(found.get(role)!.name, { since, tail }));
    if (out.exitCode !== 0) throw new OpsError(`docker logs ${role} failed: ${out.stdout.trim().split('\n').at(-1)}`);
    for (const line of out.stdout.split('\n').filter(Boolean)) lines.push({ role, ...format(line) });
  }
  // Docker's RFC 3339 times with nanoseconds sort as text; the sort is stable within a service.
  lines.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  for (const line of lines) console.log(`${lead(line.role)}${line.text}`);
  return EXIT.ok;
} // prettier-ignore

async function follow(
  target: Target,
  streams: [string, string][],
  flags: { since?: string; tail?: string },
  format: ReturnType<typeof formatter>,
  lead: (role: string) => string,
): Promise<number> {
  // Ctrl-C (or a SIGTERM from a wrapper) ends the follow: the ssh children go too, and it is a
  // normal end (exit 0), not a failure.
  const children: ReturnType<typeof spawnOnHost>[] = [];
  let stopped = false;
  const stop = () => {
    stopped = true;
    for (const child of children) child.kill('SIGTERM');
  };
  process.once('SIGINT', stop).once('SIGTERM', stop);
  const codes = await Promise.all(
    streams.map(([role, name]) => {
      const child = spawnOnHost(target, dockerLogs(name, { ...flags, follow: true }), ['ignore', 'pipe', 'pipe']);
      children.push(child);
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      createInterface({ input: child.stdout! }).on('line', (line) => console.log(`${lead(role)}${format(line).text}`));
      return new Promise<number>((resolve, reject) =>
        child.on('close', (code) => {
          if (stopped) return resolve(EXIT.ok);
          const failure = spawnFailure(target, code, stderr);
          if (failure) reject(failure);
          else resolve(code ?? EXIT.ok);
        }),
      );
    }),
  );
  return codes.find((code) => code !== 0) ?? EXIT.ok;
} // prettier-ignore

await runCommand('logs', USAGE, () => main(process.argv.slice(2)), { expected: OPS_ERRORS });
