// npm run backup: the deployment's PostgreSQL database, dumped in custom format by pg_dump inside
// the postgres container and streamed over SSH to this machine: nothing is written on the VM.
// A manifest beside the dump records what it holds, counted in the dump's own snapshot (one
// session exports a snapshot and counts every table in it; pg_dump --snapshot dumps exactly that
// state while the app keeps writing), and how to check it is whole (bytes, sha256).
//
//   npm run backup [-- --out DIR] [--with-secrets [--secrets FILE]] [--host …|--local] [--config FILE]
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { displayPath, parseCommandLine, runCommand, UsageError } from '../contract/cli.ts';
import { DATABASE_NAME, DATABASE_USER } from '../contract/database.ts';
import { REPO_ROOT } from '../contract/paths.ts';
import { DATABASE_SIZE_SQL, SERVER_VERSION_SQL, SNAPSHOT_SQL } from '../templates/backup.ts';
import { shellWords } from '../templates/ssh.ts';
import {
  manifestSchema,
  MANIFEST_FORMAT,
  MIGRATIONS_SQL,
  psqlCommand,
  ROW_COUNTS_SQL,
  sha256OfFile,
  type Manifest,
} from './lib/backup-archive.ts';
import { defaultSecretsFile } from './lib/deployment.ts';
import {
  appVersion,
  containerOf,
  containers,
  EXIT,
  formatBytes,
  openTarget,
  OPS_ERRORS,
  OpsError,
  progress,
  spawnFailure,
  spawnOnHost,
  TARGET_FLAGS,
  TARGET_USAGE,
  type Target,
} from './lib/ops.ts';

/** How the secrets copy is encrypted: openssl's own format, so `openssl enc -d` reads it back. */
const SECRETS_CIPHER = ['enc', '-aes-256-cbc', '-pbkdf2', '-iter', '600000', '-salt'];
export const PASSPHRASE_ENV = 'REFRESHER_BACKUP_PASSPHRASE';

const USAGE = `usage: npm run backup [-- --out DIR] [--with-secrets [--secrets FILE]]
  --out           where the dump and its manifest go (default: backups/, git-ignored)
  --with-secrets  also keep the generated secrets, encrypted with openssl (AES-256, PBKDF2) under
                  the passphrase in ${PASSPHRASE_ENV}
  --secrets       the secrets file to keep (default: .secrets/<name>.json)
${TARGET_USAGE}`;

/** UTC time as a file name wants it: 20261203T145000Z. */
const stamp = (date: Date) =>
  date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

/**
 * A psql session holding a repeatable-read transaction open: it exports its snapshot, answers
 * the counts in it, and lets go when `end` is called (after pg_dump has read the same snapshot).
 */
async function snapshotSession(target: Target, postgres: string) {
  const child = spawnOnHost(target, shellWords(psqlCommand(postgres)), ['pipe', 'pipe', 'pipe']);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  const answers: Record<string, string> = {};
  const waiting = new Map<string, () => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const match = /^([a-z]+)=(.*)$/.exec(line.trim());
    if (!match) return;
    answers[match[1]!] = match[2]!;
    waiting.get(match[1]!)?.();
  });
  const ask = (tag: string, sql: string) =>
    new Promise<string>((resolve, reject) => {
      waiting.set(tag, () => resolve(answers[tag]!));
      void closed.then((code) =>
        reject(
          spawnFailure(target, code, stderr) ??
            new OpsError(
              `psql in ${postgres} ended (exit ${code}): ${stderr.trim().split('\n').at(-1) ?? ''}`,
            ),
        ),
      );
      child.stdin!.write(`${sql}\n`);
    });
  child.stdin!.write('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\n');
  const snapshot = await ask('snapshot', SNAPSHOT_SQL);
  const rows = JSON.parse(await ask('rows', ROW_COUNTS_SQL)) as Record<string, number>;
  const migrations = JSON.parse(await ask('migrations', MIGRATIONS_SQL)) as string[];
  const serverVersion = JSON.parse(await ask('server', SERVER_VERSION_SQL)) as string;
  const size = Number(await ask('size', DATABASE_SIZE_SQL));
  return {
    snapshot, rows, migrations, serverVersion, size,
    async end() {
      child.stdin!.end('COMMIT;\n');
      await closed;
    },
  }; // prettier-ignore
}

/** pg_dump of the snapshot into `partial`, hashed and counted on the way; returns bytes and sha256. */
async function dumpTo(target: Target, postgres: string, snapshot: string, partial: string, estimate: number) {
  const command = ['docker', 'exec', postgres, 'pg_dump', '--format=custom', `--snapshot=${snapshot}`, '-U', DATABASE_USER, '-d', DATABASE_NAME];
  const child = spawnOnHost(target, shellWords(command), ['ignore', 'pipe', 'pipe']);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const hash = createHash('sha256');
  const out = createWriteStream(partial, { mode: 0o600 });
  const shown = progress('backup:');
  let bytes = 0;
  child.stdout!.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
    // The custom format is compressed: the database's size on disk bounds it from above.
    shown.update(`${formatBytes(bytes)} received (database ${formatBytes(estimate)} on disk)`);
  });
  child.stdout!.pipe(out);
  const [code] = await Promise.all([
    new Promise<number | null>((resolve) => child.on('close', resolve)),
    new Promise<void>((resolve, reject) => out.on('finish', () => resolve()).on('error', reject)),
  ]);
  if (code !== 0)
    throw spawnFailure(target, code, stderr) ?? new OpsError(`pg_dump failed (exit ${code}): ${stderr.trim().split('\n').at(-1) ?? ''}`);
  shown.done(`${formatBytes(bytes)} received`);
  return { bytes, sha256: hash.digest('hex') };
} // prettier-ignore

async function encryptSecrets(source: string, destination: string): Promise<string> {
  if (!existsSync(source)) throw new OpsError(`no secrets file ${displayPath(source)} to keep (--secrets names another)`);
  if (!process.env[PASSPHRASE_ENV]) throw new OpsError(`--with-secrets encrypts them under a passphrase: set ${PASSPHRASE_ENV} (and keep it apart from the backup)`);
  const child = spawn('openssl', [...SECRETS_CIPHER, '-in', source, '-out', destination, '-pass', `env:${PASSPHRASE_ENV}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve).on('error', () => resolve(127)));
  if (code !== 0) throw new OpsError(`openssl could not encrypt the secrets (exit ${code}): ${stderr.trim()}`);
  return sha256OfFile(destination);
} // prettier-ignore

async function main(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, {
    ...TARGET_FLAGS,
    out: { type: 'string' },
    'with-secrets': { type: 'boolean' },
    secrets: { type: 'string' },
  });
  if (values.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  if (values.secrets && !values['with-secrets']) throw new UsageError('--secrets goes with --with-secrets');
  const target = await openTarget(values);
  const outDir = resolve(values.out ?? join(REPO_ROOT, 'backups'));
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const found = await containers(target);
  const postgres = containerOf(found, 'postgres').name;
  const createdAt = new Date();
  const base = join(outDir, `${target.config.name}-${stamp(createdAt)}`);
  const files = { dump: `${base}.dump`, manifest: `${base}.manifest.json`, secrets: `${base}.secrets.json.enc` };
  const partial = `${files.dump}.partial`;

  const session = await snapshotSession(target, postgres);
  console.error(`backup: ${Object.values(session.rows).reduce((a, b) => a + b, 0)} rows in ${Object.keys(session.rows).length} tables at migration ${session.migrations.at(-1) ?? '(none)'}; dumping`);
  let dumped: { bytes: number; sha256: string };
  try {
    dumped = await dumpTo(target, postgres, session.snapshot, partial, session.size);
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    await session.end();
  }
  renameSync(partial, files.dump);
  const manifest: Manifest = manifestSchema.parse({
    format: MANIFEST_FORMAT,
    deployment: target.config.name,
    createdAt: createdAt.toISOString(),
    host: target.ssh?.host ?? 'local',
    appVersion: (await appVersion(target, found.get('web'))) ?? 'unknown',
    postgres: { serverVersion: session.serverVersion, database: DATABASE_NAME },
    migrations: session.migrations,
    rows: session.rows,
    dump: { file: basename(files.dump), ...dumped },
    ...(values['with-secrets']
      ? { secrets: { file: basename(files.secrets), sha256: await encryptSecrets(resolve(values.secrets ?? defaultSecretsFile(target.config)), files.secrets), encryption: `openssl ${SECRETS_CIPHER.join(' ')}` } }
      : {}),
  }); // prettier-ignore
  writeFileSync(files.manifest, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  console.error(`backup: ${displayPath(files.dump)} (${formatBytes(dumped.bytes)}, sha256 ${dumped.sha256.slice(0, 12)}…)`);
  console.error(`backup: ${displayPath(files.manifest)}`);
  if (manifest.secrets) console.error(`backup: ${displayPath(files.secrets)} (decrypt: openssl ${SECRETS_CIPHER.join(' ')} -d -in FILE -pass env:${PASSPHRASE_ENV})`);
  console.log(files.manifest);
  return EXIT.ok;
} // prettier-ignore

await runCommand('backup', USAGE, () => main(process.argv.slice(2)), { expected: OPS_ERRORS });
