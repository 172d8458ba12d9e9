// A private redis-server on a free port, for tests that stop and restart Redis, or that need one
// set up as a managed Redis is: TLS only, a password, cluster mode (slots enforced).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { tempDir } from './files.ts';
import { freePort } from './ports.ts';
import { waitFor } from './wait.ts';

export interface RedisServerOptions {
  /**
   * TLS only (`--port 0`): the server's certificate and key, and the CA it names to clients.
   * Clients are not asked for certificates (`--tls-auth-clients no`), as with a managed Redis.
   */
  tls?: { certFile: string; keyFile: string; caFile: string };
  /** `--requirepass`: clients authenticate with it, as with an access key. */
  password?: string;
  /**
   * A one-node cluster owning every slot: commands and scripts whose keys are in different slots
   * fail with CROSSSLOT, as on a clustered Redis, while a plain client needs no redirections.
   */
  cluster?: boolean;
}

export interface RedisServer {
  url: string;
  port: number;
  /** Kills the server (SIGKILL: no persistence, everything in it is lost) and starts a new one. */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedisServer(
  extraArgs: string[] = [],
  options: RedisServerOptions = {},
): Promise<RedisServer> {
  const port = await freePort();
  // The certificate is for a name, so a TLS client connects by that name.
  const host = options.tls ? 'localhost' : '127.0.0.1';
  const scheme = options.tls ? 'rediss' : 'redis';
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : '';
  const url = `${scheme}://${auth}${host}:${port}`;
  const dir = options.cluster ? tempDir('refresher-redis-') : null;
  const args = [
    ...(options.tls
      ? ['--port', '0', '--tls-port', String(port), '--tls-auth-clients', 'no']
      : ['--port', String(port)]),
    ...(options.tls
      ? ['--tls-cert-file', options.tls.certFile, '--tls-key-file', options.tls.keyFile]
      : []),
    ...(options.tls ? ['--tls-ca-cert-file', options.tls.caFile] : []),
    ...(options.password ? ['--requirepass', options.password] : []),
    ...(dir
      ? ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir.path, 'nodes.conf')]
      : []),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    ...extraArgs,
  ];
  const tls = options.tls ? { ca: readFileSync(options.tls.caFile, 'utf8') } : undefined;
  let child: ChildProcess | null = null;

  async function start() {
    child = spawn('redis-server', args, { stdio: 'ignore', cwd: dir?.path });
    await waitFor(
      async () => {
        const probe = new Redis(url, {
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
          ...(tls ? { tls } : {}),
        });
        try {
          await probe.connect();
          if (!dir) return (await probe.ping()) === 'PONG';
          const info = String(await probe.call('CLUSTER', 'INFO'));
          if (/cluster_slots_assigned:0\b/.test(info))
            await probe.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
          return /cluster_state:ok/.test(info);
        } finally {
          probe.disconnect();
        }
      },
      { what: `redis-server on port ${port}` },
    );
  }
  async function stop() {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null) return;
    await new Promise((resolve) => {
      running.once('exit', resolve);
      running.kill('SIGKILL');
    });
  }

  await start();
  return {
    url,
    port,
    async restart(downMs = 500) {
      await stop();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await start();
    },
    async stop() {
      await stop();
      dir?.remove();
    },
  };
}
