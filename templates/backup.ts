// Backups of the deployment's database, in one format for both ways they are made: npm run backup
// on a laptop (scripts/backup.ts, streamed over SSH) and the nightly systemd timer on the VM that
// cloud-init installs (the script rendered here). An archive is a dump in PostgreSQL's custom
// format, <deployment>-<UTC time>.dump, and a manifest beside it, .manifest.json, with the rows
// per table counted in the dump's own snapshot; npm run restore reads either kind.
//
// Why a timer on the VM rather than a task of the app: pg_dump lives in the postgres image, not
// in the app's; a timer keeps backing up when the app is broken (when a backup matters most);
// and Persistent=true runs a backup missed while the VM was off as soon as it is back.
import { DATABASE_NAME, DATABASE_USER } from '../contract/database.ts';
import { CONTAINER_LABELS } from './catalogue/index.ts';
import { DATA_DIR, type DeploymentConfig } from './config.ts';
import { DEPLOY_USER } from './ssh.ts';

export const MANIFEST_FORMAT = 'refresher-backup/1';

/** Where the timer's archives go: the data disk, next to Docker's volumes. */
export const BACKUP_DIR = `${DATA_DIR}/backups`;
/** Archives older than this many days are deleted once a newer one is complete. */
export const BACKUP_KEEP_DAYS = 14;
export const BACKUP_SCRIPT_PATH = '/usr/local/sbin/refresher-backup';
export const BACKUP_UNIT = 'refresher-backup';

/**
 * One line of SQL whose answer is `rows=<json>`: rows per table of the public schema, counted in
 * the current transaction's snapshot (query_to_xml runs each count as a query of its own).
 */
export const ROW_COUNTS_SQL =
  "SELECT 'rows=' || coalesce(json_object_agg(table_name, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM public.%I', table_name), false, true, '')))[1]::text::bigint ORDER BY table_name), '{}') FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE';";

/** `migrations=<json>`: umzug's applied migrations in order; [] for a database without its table. */
export const MIGRATIONS_SQL =
  "SELECT 'migrations=' || CASE WHEN to_regclass('public.schema_migrations') IS NULL THEN '[]' ELSE (SELECT coalesce(json_agg(name ORDER BY name), '[]')::text FROM (SELECT (xpath('/row/name/text()', x))[1]::text AS name FROM unnest(xpath('/table/row', query_to_xml('SELECT name FROM public.schema_migrations', false, false, ''))) AS x) AS m) END;";

export const SNAPSHOT_SQL = "SELECT 'snapshot=' || pg_export_snapshot();";
/** `server=<json string>`. */
export const SERVER_VERSION_SQL = "SELECT 'server=' || to_json(current_setting('server_version'));";
export const DATABASE_SIZE_SQL = "SELECT 'size=' || pg_database_size(current_database());";

/** A value as a single-quoted word of bash. */
const quoted = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/**
 * The VM's backup script: the npm run backup procedure in bash. A psql session (a coprocess)
 * holds a repeatable-read transaction, exports its snapshot and counts the rows in it; pg_dump
 * dumps that snapshot; the dump is renamed into place only when whole, then the manifest is
 * written, then old archives go.
 */
export function renderBackupScript(config: DeploymentConfig): string {
  const label = (service: string) =>
    `--filter label=${CONTAINER_LABELS.deployment}=${config.name} --filter label=${CONTAINER_LABELS.service}=${service}`;
  return `#!/bin/bash
# Written by cloud-init from templates/backup.ts: the nightly backup of ${config.name}'s database
# (${BACKUP_UNIT}.timer). The same archive as npm run backup: a custom-format dump and its
# manifest, rows counted in the dump's own snapshot. Restore one from a laptop:
#   npm run -s ssh -- -- cat ${BACKUP_DIR}/<name>.dump > <name>.dump   (and its .manifest.json)
#   npm run restore -- <name>.dump
set -euo pipefail
umask 077
dir="\${REFRESHER_BACKUP_DIR:-${BACKUP_DIR}}"
keep_days="\${REFRESHER_BACKUP_KEEP_DAYS:-${BACKUP_KEEP_DAYS}}"
deployment=${quoted(config.name)}
log() { printf 'refresher-backup: %s\\n' "$*" >&2; }

pg=$(docker ps -q ${label('postgres')})
[ -n "$pg" ] || { log "no running postgres container of $deployment"; exit 1; }
web=$(docker ps -q ${label('web')})
version=unknown
[ -z "$web" ] || version=$(docker inspect --format '{{index .Config.Labels "org.opencontainers.image.version"}}' "$web")
stamp=$(date -u +%Y%m%dT%H%M%SZ)
created=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
base="$deployment-$stamp"
partial="$dir/.$base.dump.partial"
trap 'rm -f "$partial"' EXIT

coproc PSQL { docker exec -i "$pg" psql -X -q -A -t -v ON_ERROR_STOP=1 -U ${DATABASE_USER} -d ${DATABASE_NAME}; }
# ask VARIABLE TAG SQL: sends the SQL, reads lines until "TAG=…", keeps what follows "=".
ask() {
  local line
  printf '%s\\n' "$3" >&"\${PSQL[1]}"
  while IFS= read -r line <&"\${PSQL[0]}"; do
    if [ "\${line%%=*}" = "$2" ]; then
      printf -v "$1" '%s' "\${line#*=}"
      return 0
    fi
  done
  log "psql ended before answering $2"
  exit 1
}
printf '%s\\n' 'BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;' >&"\${PSQL[1]}"
ask snapshot snapshot ${quoted(SNAPSHOT_SQL)}
ask rows rows ${quoted(ROW_COUNTS_SQL)}
ask migrations migrations ${quoted(MIGRATIONS_SQL)}
ask server server ${quoted(SERVER_VERSION_SQL)}

docker exec "$pg" pg_dump --format=custom "--snapshot=$snapshot" -U ${DATABASE_USER} -d ${DATABASE_NAME} > "$partial"
printf '%s\\n' 'COMMIT;' >&"\${PSQL[1]}"
exec {PSQL[1]}>&-
wait "$PSQL_PID"

sha256=$(sha256sum "$partial" | cut -d' ' -f1)
bytes=$(stat -c %s "$partial")
mv "$partial" "$dir/$base.dump"
json() { local s=\${1//\\\\/\\\\\\\\}; s=\${s//\\"/\\\\\\"}; printf '"%s"' "$s"; }
cat > "$dir/.$base.manifest.json" <<MANIFEST
{
  "format": "${MANIFEST_FORMAT}",
  "deployment": $(json "$deployment"),
  "createdAt": "$created",
  "host": $(json "$(hostname)"),
  "appVersion": $(json "$version"),
  "postgres": { "serverVersion": $server, "database": "${DATABASE_NAME}" },
  "migrations": $migrations,
  "rows": $rows,
  "dump": { "file": "$base.dump", "bytes": $bytes, "sha256": "$sha256" }
}
MANIFEST
mv "$dir/.$base.manifest.json" "$dir/$base.manifest.json"
log "$base.dump: $bytes bytes, sha256 $sha256"

# Retention: only archives of this deployment, only once the new one is complete.
find "$dir" -maxdepth 1 -type f -name "$deployment-*" -mmin +"$((keep_days * 1440))" -print -delete | sed 's/^/refresher-backup: deleted /' >&2
`;
}

/** The service and timer units: as the deploy user (in the docker group), at night, caught up after downtime. */
export function renderBackupUnits(): { service: string; timer: string } {
  return {
    service: `# Written by cloud-init from templates/backup.ts.
[Unit]
Description=Refresher: back up the database into ${BACKUP_DIR}
Requires=docker.service
After=docker.service
RequiresMountsFor=${DATA_DIR}

[Service]
Type=oneshot
User=${DEPLOY_USER}
Group=${DEPLOY_USER}
ExecStart=${BACKUP_SCRIPT_PATH}
Nice=10
IOSchedulingClass=idle
`,
    timer: `# Written by cloud-init from templates/backup.ts.
[Unit]
Description=Refresher: nightly database backup

[Timer]
OnCalendar=*-*-* 03:17:00 UTC
RandomizedDelaySec=20min
Persistent=true

[Install]
WantedBy=timers.target
`,
  };
}
