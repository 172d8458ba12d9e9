// A backup as npm run backup and the VM's timer write it and npm run restore reads it: the dump in
// PostgreSQL's custom format (<base>.dump) and a manifest beside it (<base>.manifest.json) that
// says what the dump holds (rows per table, migration level, app version) and how to tell it is
// whole (bytes, sha256). The manifest's schema is the one source of both the type and the checks;
// templates/backup.ts has the format's name and the SQL both writers run.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { DATABASE_NAME, DATABASE_USER } from '../../contract/database.ts';
import { MANIFEST_FORMAT } from '../../templates/backup.ts';
import { OpsError } from './ops.ts';

export { MANIFEST_FORMAT, MIGRATIONS_SQL, ROW_COUNTS_SQL } from '../../templates/backup.ts';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in hex (64 characters)');

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  deployment: z.string().min(1),
  createdAt: z.iso.datetime(),
  host: z.string(),
  appVersion: z.string(),
  postgres: z.object({ serverVersion: z.string(), database: z.string() }),
  /** The migrations applied in the dumped database, in order: the last is its level. */
  migrations: z.array(z.string()),
  /** Rows per table of the public schema, counted in the dump's own snapshot. */
  rows: z.record(z.string(), z.number().int().nonnegative()),
  dump: z.object({
    file: z.string().min(1),
    bytes: z.number().int().positive(),
    sha256: sha256Hex,
  }),
  secrets: z
    .object({ file: z.string().min(1), sha256: sha256Hex, encryption: z.string() })
    .optional(),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** The manifest's file beside a dump, and the dump's beside a manifest. */
export function archivePaths(file: string): { dump: string; manifest: string } {
  if (file.endsWith('.manifest.json')) {
    const base = file.slice(0, -'.manifest.json'.length);
    return { dump: `${base}.dump`, manifest: file };
  }
  const base = file.endsWith('.dump') ? file.slice(0, -'.dump'.length) : file;
  return { dump: `${base}.dump`, manifest: `${base}.manifest.json` };
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Reads and checks an archive before anything touches a database: manifest, size, sha256. */
export async function readArchive(file: string): Promise<{ manifest: Manifest; dump: string }> {
  const paths = archivePaths(file);
  if (!existsSync(paths.manifest))
    throw new OpsError(`no manifest ${paths.manifest} beside the dump: npm run backup writes both; a dump alone is not restored`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(paths.manifest, 'utf8'));
  } catch (error) {
    throw new OpsError(`${paths.manifest} is not JSON: ${(error as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new OpsError(`${paths.manifest} is not a ${MANIFEST_FORMAT} manifest: ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  const manifest = parsed.data;
  const dump = join(dirname(paths.manifest), basename(manifest.dump.file));
  if (!existsSync(dump)) throw new OpsError(`the dump ${dump} named by the manifest is missing`);
  const bytes = statSync(dump).size;
  if (bytes !== manifest.dump.bytes)
    throw new OpsError(`${dump} has ${bytes} bytes, the manifest says ${manifest.dump.bytes}: the archive is truncated or not this one; nothing was touched`);
  const sha256 = await sha256OfFile(dump);
  if (sha256 !== manifest.dump.sha256)
    throw new OpsError(`${dump}'s sha256 is ${sha256}, the manifest says ${manifest.dump.sha256}: the archive is damaged; nothing was touched`);
  return { manifest, dump };
} // prettier-ignore

/** psql in the postgres container as the app's user: the socket inside trusts local users. */
export function psqlCommand(container: string, extra: string[] = []): string[] {
  return ['docker', 'exec', '-i', container, 'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
    ...extra, '-U', DATABASE_USER, '-d', DATABASE_NAME]; // prettier-ignore
}

/** Pulls `tag=value` answers out of psql's unaligned output. */
export function tagged(output: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const line of output.split('\n')) {
    const match = /^([a-z]+)=(.*)$/.exec(line.trim());
    if (match) found[match[1]!] = match[2]!;
  }
  return found;
}

/** The archive's level against the app's: a level the app does not know is refused. */
export function migrationProblem(archive: string[], known: string[]): string | undefined {
  const unknown = archive.filter((name) => !known.includes(name));
  if (unknown.length)
    return `the archive is at migration ${archive.at(-1)}, which this app does not know (it knows up to ${known.at(-1) ?? 'none'}; unknown: ${unknown.join(', ')}): upgrade the app first (npm run upgrade), then restore`;
  return undefined;
}

export function rowDifferences(
  expected: Record<string, number>,
  actual: Record<string, number>,
): string[] {
  const tables = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  return tables
    .filter((table) => expected[table] !== actual[table])
    .map(
      (table) =>
        `${table}: ${actual[table] ?? 'missing'} rows, the manifest says ${expected[table] ?? 'none'}`,
    );
}
