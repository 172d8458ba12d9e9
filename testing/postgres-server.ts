// A private PostgreSQL cluster on a free port, for tests that need a server configured unlike the
// shared one (TLS on, only hostssl lines in pg_hba.conf). initdb into a temporary folder, then the
// postgres binary as a child process. PostgreSQL refuses to run as root, so when the tests are root
// both run as the `postgres` account (Debian's packages create it) and its files are handed to it.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { tempDir, type TempDir } from './files.ts';
import { freePort } from './ports.ts';
import { waitFor } from './wait.ts';

export interface PostgresServerOptions {
  /** The server's certificate and key (PEM); TLS is on when given. */
  tls?: { certFile: string; keyFile: string };
  /** pg_hba.conf lines; by default trust for everyone over TCP from loopback, TLS or not. */
  hba?: string[];
  /** The superuser initdb creates; the user the tests connect as. */
  superuser?: string;
}

export interface PostgresServer {
  host: string;
  port: number;
  superuser: string;
  /** Where the server keeps everything (removed by stop()). */
  dataDir: string;
  /** The folder of its Unix socket: a `host` for pg that pg_hba.conf's TCP lines do not govern. */
  socketDir: string;
  stop(): Promise<void>;
}

/** The PostgreSQL binaries' folder: pg_config says where, else Debian's place for 15. */
function binDir(): string {
  const found = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const dir = found.status === 0 ? found.stdout.trim() : '';
  return dir && existsSync(join(dir, 'postgres')) ? dir : '/usr/lib/postgresql/15/bin';
}

/** uid and gid to run the server as: our own, or postgres's when we are root. */
function serverAccount(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }));
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error('running as root, and there is no postgres account to run PostgreSQL as');
  }
}

export async function startPostgresServer(
  options: PostgresServerOptions = {},
): Promise<PostgresServer> {
  const superuser = options.superuser ?? 'root';
  const account = serverAccount();
  const dir: TempDir = tempDir('refresher-pg-');
  const dataDir = join(dir.path, 'data');
  const own = (path: string) => account && chownSync(path, account.uid, account.gid);
  own(dir.path);
  const bin = binDir();
  let child: ChildProcess | null = null;
  try {
    const init = spawnSync(
      join(bin, 'initdb'),
      ['-D', dataDir, '-U', superuser, '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      { encoding: 'utf8', ...account },
    );
    if (init.status !== 0) throw new Error(`initdb failed:\n${init.stdout}${init.stderr}`);

    const port = await freePort();
    const settings = [
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir.path}'`,
      'fsync = off',
      'max_connections = 30',
      'shared_buffers = 16MB',
    ];
    if (options.tls) {
      // The server reads its key only if no one else can: a copy of its own, mode 0600.
      const cert = join(dataDir, 'server.crt');
      const key = join(dataDir, 'server.key');
      copyFileSync(options.tls.certFile, cert);
      copyFileSync(options.tls.keyFile, key);
      chmodSync(key, 0o600);
      own(cert);
      own(key);
      settings.push('ssl = on', "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'");
    }
    writeFileSync(join(dataDir, 'postgresql.auto.conf'), `${settings.join('\n')}\n`);
    const hba = options.hba ?? ['host all all 127.0.0.1/32 trust'];
    writeFileSync(join(dataDir, 'pg_hba.conf'), `local all all trust\n${hba.join('\n')}\n`);
    own(join(dataDir, 'postgresql.auto.conf'));
    own(join(dataDir, 'pg_hba.conf'));

    let output = '';
    child = spawn(join(bin, 'postgres'), ['-D', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...account,
    });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const started = child;
    await waitFor(
      async () => {
        if (started.exitCode !== null) throw new Error(`postgres exited:\n${output}`);
        // Over the socket: whatever pg_hba.conf demands of TCP, this only asks "are you up?".
        const probe = new pg.Client({
          host: dir.path,
          port,
          user: superuser,
          database: 'postgres',
        });
        try {
          await probe.connect();
          return true;
        } finally {
          await probe.end().catch(() => undefined);
        }
      },
      { what: `PostgreSQL on port ${port}`, timeoutMs: 30_000 },
    );

    return {
      host: '127.0.0.1',
      port,
      superuser,
      dataDir,
      socketDir: dir.path,
      async stop() {
        const running = child;
        child = null;
        if (running && running.exitCode === null) {
          // SIGINT is PostgreSQL's fast shutdown: sessions are ended, nothing is waited for.
          await new Promise((resolve) => {
            running.once('exit', resolve);
            running.kill('SIGINT');
          });
        }
        dir.remove();
      },
    };
  } catch (error) {
    child?.kill('SIGKILL');
    dir.remove();
    throw error;
  }
}
