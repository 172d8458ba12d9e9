// npm run restore -- FILE: puts a backup of npm run backup back. Everything that can refuse the
// archive runs before anything is touched: the manifest, the dump's size and sha256, and its
// migration level against what the deployed app knows. Then the app roles stop (the worker
// drains the job it runs), the dump replaces the public schema in one transaction that commits
// only when every table has the rows the manifest says (a broken stream or a short dump rolls it
// all back), the migrations run forward with the web role's image, Grafana's reader is granted
// again, and the roles start again.
//
//   npm run restore -- FILE [--yes] [--host …|--local] [--config FILE]
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { displayPath, parseCommandLine, runCommand, UsageError } from '../contract/cli.ts';
import { shellWords } from '../templates/ssh.ts';
import {
  MIGRATIONS_SQL,
  psqlCommand,
  migrationProblem,
  readArchive,
  ROW_COUNTS_SQL,
  rowDifferences,
  tagged,
  type Manifest,
} from './lib/backup-archive.ts';
import {
  containerOf,
  containers,
  EXIT,
  formatBytes,
  mustOnHost,
  onHost,
  openTarget,
  OPS_ERRORS,
  OpsError,
  progress,
  spawnFailure,
  spawnOnHost,
  TARGET_FLAGS,
  TARGET_USAGE,
  type Container,
  type Target,
} from './lib/ops.ts';
import { waitHealthy } from './lib/health.ts';
import { imageOf, oneShotServices, runOneShotAgain, runOneShotFrom } from './lib/one-shot.ts';

/** Stopped in this order (the scheduler first: nothing new is queued while the worker drains). */
const APP_ROLES = ['scheduler', 'worker', 'web'] as const;

const USAGE = `usage: npm run restore -- FILE [--yes]
  FILE     a backup: its .dump or its .manifest.json (both must be there)
  --yes    do not ask; without a terminal, restore refuses unless given
${TARGET_USAGE}`;

/** The migrations the deployed app knows, from the app itself (refresher migrate --status). */
async function knownMigrations(target: Target, web: Container): Promise<string[]> {
  const out = await onHost(target, shellWords(['docker', 'exec', web.name, 'node', '/app/refresher.mjs', 'migrate', '--status']));
  const line = out.stdout.split('\n').reverse().find((l) => l.startsWith('{"known"'));
  if (out.exitCode !== 0 || !line)
    throw new OpsError(`could not ask the web container which migrations the app knows (exit ${out.exitCode}): is it running? ${out.stderr.trim().split('\n').at(-1) ?? ''}`);
  return (JSON.parse(line) as { known: string[] }).known;
} // prettier-ignore

async function counts(target: Target, postgres: string): Promise<{ rows: Record<string, number>; migrations: string[] }> {
  const out = await mustOnHost(target, 'counting rows', `printf '%s\\n' ${shellWords([`${ROW_COUNTS_SQL} ${MIGRATIONS_SQL}`])} | ${shellWords(psqlCommand(postgres))}`);
  const answers = tagged(out);
  return { rows: JSON.parse(answers.rows ?? '{}') as Record<string, number>, migrations: JSON.parse(answers.migrations ?? '[]') as string[] };
} // prettier-ignore

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/**
 * The dump streamed into psql in the postgres container: one transaction that drops the public
 * schema and recreates it from the dump (pg_restore turns the custom format into SQL in there).
 * COMMIT is sent only when pg_restore read the whole dump; otherwise an exception ends psql with
 * the transaction open and PostgreSQL rolls it back: the database stays as it was.
 */
async function load(target: Target, postgres: string, dump: string, rows: Record<string, number>): Promise<void> {
  const script = `{ echo 'BEGIN; DROP SCHEMA public CASCADE; CREATE SCHEMA public;' && { pg_restore --no-owner -f - && printf '%s\\n' "$REFRESHER_ROWS_CHECK" && echo 'COMMIT;' || echo 'DO $d$ BEGIN RAISE EXCEPTION $m$pg_restore could not read the whole dump: nothing was restored$m$; END $d$;'; }; } | psql -X -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" > /dev/null`;
  const child = spawnOnHost(target, shellWords(['docker', 'exec', '-i', '-e', `REFRESHER_ROWS_CHECK=${rowsCheckSql(rows)}`, postgres, 'sh', '-c', script]), ['pipe', 'ignore', 'pipe']);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const total = statSync(dump).size;
  const shown = progress('restore:');
  let sent = 0;
  const input = createReadStream(dump);
  input.on('data', (chunk) => {
    sent += chunk.length;
    shown.update(`${formatBytes(sent)} of ${formatBytes(total)} sent`);
  });
  input.pipe(child.stdin!);
  child.stdin!.on('error', () => {}); // the far end may close first on an error: its exit says why
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0)
    throw spawnFailure(target, code, stderr) ?? new OpsError(`the restore failed and was rolled back, the database is as it was (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' / ')}`);
  shown.done(`${formatBytes(total)} loaded`);
} // prettier-ignore

/**
 * A statement that fails unless every table has the rows the manifest says: run before COMMIT,
 * so a dump that does not hold what its manifest promises is rolled back like a broken one.
 */
function rowsCheckSql(rows: Record<string, number>): string {
  const expected = JSON.stringify(rows).replace(/'/g, "''");
  return `DO $check$ DECLARE expected jsonb := '${expected}'; t text; n bigint; BEGIN FOR t IN SELECT jsonb_object_keys(expected) LOOP EXECUTE format('SELECT count(*) FROM public.%I', t) INTO n; IF n <> (expected ->> t)::bigint THEN RAISE EXCEPTION 'the dump restores % rows into %, the manifest says %: rolled back', n, t, expected ->> t; END IF; END LOOP; END $check$;`;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, { ...TARGET_FLAGS, yes: { type: 'boolean' } }, true);
  if (values.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `one archive at a time (got ${positionals.length})` : 'which archive? npm run restore -- backups/<name>-<time>.dump');
  const { manifest, dump } = await readArchive(positionals[0]!);
  console.error(`restore: ${displayPath(dump)} is whole (sha256 matches the manifest): ${describe(manifest)}`);
  const target = await openTarget(values);
  const found = await containers(target);
  const postgres = containerOf(found, 'postgres');
  const problem = migrationProblem(manifest.migrations, await knownMigrations(target, containerOf(found, 'web')));
  if (problem) throw new OpsError(`${problem}; nothing was touched`);
  if (manifest.deployment !== target.config.name)
    console.error(`restore: note: the archive is of the deployment "${manifest.deployment}", restoring into "${target.config.name}"`);

  const now = await counts(target, postgres.name);
  const where = target.ssh ? target.ssh.host : 'this machine';
  const question = `Replace the database on ${where} (${total(now.rows)} rows, migration ${now.migrations.at(-1) ?? 'none'}) with this archive? The app stops meanwhile.`;
  if (!values.yes) {
    if (!process.stdin.isTTY) throw new OpsError('restore replaces the database: without a terminal to ask, pass --yes');
    if (!(await confirm(question))) {
      console.error('restore: nothing was touched');
      return EXIT.problem;
    }
  }

  const roles = APP_ROLES.filter((role) => found.has(role)).map((role) => found.get(role)!);
  console.error(`restore: stopping ${roles.map((r) => r.service).join(', ')} (the worker finishes the job it runs)`);
  // One at a time: `docker stop a b c` stops them all at once, and the web role would go while the
  // worker still finishes a job that needs it (a self-test measures against the web role).
  for (const role of roles) await mustOnHost(target, `stopping ${role.service}`, shellWords(['docker', 'stop', role.name]));
  try {
    await load(target, postgres.name, dump, manifest.rows);
    const after = await counts(target, postgres.name);
    const differences = rowDifferences(manifest.rows, after.rows);
    if (differences.length) throw new OpsError(`the restored rows differ from the manifest:\n  ${differences.join('\n  ')}`);
    console.error(`restore: ${total(after.rows)} rows in ${Object.keys(after.rows).length} tables, as the manifest says`);
    for (const name of oneShotServices(target.config).filter((service) => found.has(service))) {
      console.error(`restore: running ${name}`);
      // migrate from the image the web role runs: after npm run upgrade, the migrate container's
      // own image is the one before, which would stop at its own (older) level.
      if (name === 'migrate' && found.has('web'))
        await runOneShotFrom(target, found.get('migrate')!, await imageOf(target, found.get('web')!), 'the migrations failed after the restore');
      else await runOneShotAgain(target, found.get(name)!, `${name} failed after the restore`);
    }
  } finally {
    console.error(`restore: starting ${[...roles].reverse().map((r) => r.service).join(', ')}`);
    await mustOnHost(target, 'starting the app', shellWords(['docker', 'start', ...[...roles].reverse().map((r) => r.name)]));
  }
  await waitHealthy(target, roles);
  console.error('restore: done; the app is up');
  return EXIT.ok;
} // prettier-ignore

const total = (rows: Record<string, number>) => Object.values(rows).reduce((a, b) => a + b, 0);

function describe(manifest: Manifest): string {
  return `${manifest.deployment}, ${manifest.createdAt}, app ${manifest.appVersion}, migration ${manifest.migrations.at(-1) ?? 'none'}, ${total(manifest.rows)} rows`;
}

await runCommand('restore', USAGE, () => main(process.argv.slice(2)), { expected: OPS_ERRORS });
