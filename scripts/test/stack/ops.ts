// The ops scripts against the stack under test, the way they reach a VM: over SSH as the deploy
// user, through a real sshd on 127.0.0.1 with the drop-in cloud-init writes, with the
// deployment's key (the stack's configuration names it) and the deploy's ssh options. Each
// script runs as a person runs it (node --import tsx scripts/<name>.ts), with a known_hosts and
// a control socket of the test's own (REFRESHER_SSH_KNOWN_HOSTS, REFRESHER_SSH_CONTROL_PATH).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../contract/paths.ts';
import { DEPLOY_USER, renderSshdDropIn } from '../../../templates/ssh.ts';
import { docker, run, type CommandResult } from './docker.ts';
import type { StackUnderTest } from './harness.ts';
import {
  ensureDeployUser,
  ensureRunSshd,
  keygen,
  openToDeployUser,
  startTestSshd,
  stopTestSshd,
  type Server,
} from './sshd.ts';

export class OpsHost {
  readonly dir: string;
  private readonly stack: StackUnderTest;
  private servers: Server[] = [];
  private madeRunSshd = false;
  server!: Server;

  constructor(stack: StackUnderTest) {
    this.stack = stack;
    this.dir = join(stack.dir, 'ops');
  }

  /** The deploy user, sshd with the VM's drop-in, the stack's key authorized. */
  async start(): Promise<void> {
    await ensureDeployUser();
    this.madeRunSshd = await ensureRunSshd();
    mkdirSync(join(this.dir, 'cm'), { recursive: true, mode: 0o700 });
    openToDeployUser(this.stack.dir);
    openToDeployUser(this.dir);
    await keygen('vm', join(this.dir, 'host_ed25519'));
    writeFileSync(
      join(this.dir, 'authorized_keys'),
      readFileSync(this.stack.config.vm.sshPublicKeyPath.path),
      { mode: 0o644 },
    );
    this.server = await this.sshd('vm', renderSshdDropIn('azureuser'));
  }

  /** Another sshd in the same folder, e.g. with a setting that breaks something on purpose. */
  async sshd(name: string, config: string): Promise<Server> {
    const server = await startTestSshd(this.dir, name, config);
    this.servers.push(server);
    return server;
  }

  host(server: Server = this.server): string {
    return `${DEPLOY_USER}@127.0.0.1:${server.port}`;
  }

  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      REFRESHER_SSH_KNOWN_HOSTS: join(this.dir, 'known_hosts'),
      REFRESHER_SSH_CONTROL_PATH: join(this.dir, 'cm', '%C'),
      ...extra,
    };
  }

  /** `npm run <script> -- --config <the stack's> --host <the sshd> <args>`, as a person runs it. */
  async script(
    name: string,
    args: string[] = [],
    options: { host?: string | false; env?: NodeJS.ProcessEnv } = {},
  ): Promise<CommandResult & { output: string }> {
    const host = options.host === false ? [] : ['--host', options.host ?? this.host()];
    const result = await run(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'scripts', `${name}.ts`), '--config', this.stack.configFile, ...host, ...args],
      { cwd: REPO_ROOT, env: this.env(options.env) },
    ); // prettier-ignore
    return { ...result, output: `${result.stdout}${result.stderr}` };
  }

  /** The same, left running (logs --follow); the caller kills it. */
  spawnScript(name: string, args: string[]): ChildProcess {
    return spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'scripts', `${name}.ts`), '--config', this.stack.configFile, '--host', this.host(), ...args],
      { cwd: REPO_ROOT, env: this.env(), stdio: ['ignore', 'pipe', 'pipe'] },
    ); // prettier-ignore
  }

  async stop(): Promise<void> {
    for (const server of this.servers) {
      await run('ssh', ['-o', `ControlPath=${join(this.dir, 'cm', '%C')}`, '-p', String(server.port), '-O', 'exit', `${DEPLOY_USER}@127.0.0.1`]); // prettier-ignore
      await stopTestSshd(server);
    }
    if (this.madeRunSshd) await run('rmdir', ['/run/sshd']);
  }
}

/**
 * A checksum of every table of the public schema, row by row in a fixed order: equal checksums
 * mean equal contents.
 */
export async function tableChecksums(stack: StackUnderTest): Promise<Record<string, string>> {
  const sql =
    "SELECT json_object_agg(table_name, (xpath('/row/h/text()', query_to_xml(format('SELECT md5(coalesce(string_agg(t::text, %L ORDER BY t::text), %L)) AS h FROM public.%I t', '|', '', table_name), false, true, '')))[1]::text ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE';";
  const out = await docker('exec', stack.container('postgres'), 'psql', '-X', '-q', '-A', '-t', '-U', 'refresher', '-d', 'refresher', '-c', sql); // prettier-ignore
  return JSON.parse(out.trim() || '{}') as Record<string, string>;
}

/** SQL in the stack's database as the app's user. */
export async function psql(stack: StackUnderTest, sql: string): Promise<string> {
  return docker('exec', stack.container('postgres'), 'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-U', 'refresher', '-d', 'refresher', '-c', sql); // prettier-ignore
}
