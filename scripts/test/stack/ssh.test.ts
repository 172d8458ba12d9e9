// The deploy's SSH path against a real sshd (npm run test:stack): Debian's OpenSSH server on a
// free 127.0.0.1 port, configured with the drop-in cloud-init writes on the VM, a `deploy` user in
// the docker group that logs in with a key only, and this machine's Docker Engine behind it, as
// on the VM. The client is ssh with templates/ssh.ts's options, as the docker provider and the
// vm-ready check run it. Each claim is paired with the case that fails without it, so no check
// can pass vacuously: the stock limits drop parallel connections, the default MaxSessions
// refuses multiplexed sessions, and without IdentitiesOnly an agent with three other keys uses up
// MaxAuthTries.
//
// Needs root (sshd switches to the deploy user), openssh-server and docker.io (bash .ci/run
// installs them). It creates the deploy user when it is missing and leaves it (useradd, once:
// later runs find it); everything else it starts or writes is stopped or removed afterwards.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT } from '../../../contract/paths.ts';
import { validInput } from '../../../templates/test/helpers/deployment.ts';
import { tempDir, type TempDir } from '../../../testing/files.ts';
import { waitFor } from '../../../testing/wait.ts';
import {
  DEPLOY_USER,
  renderSshdDropIn,
  shellWords,
  SSHD_LIMITS,
  sshClientOptions,
} from '../../../templates/ssh.ts';
import { ensureEngine, must, run, type Engine } from './docker.ts';
import { ensureDeployUser, keygen, SSHD, startTestSshd, type Server } from './sshd.ts';

const PARALLEL = 50;
/** A Unix socket path holds 108 bytes on Linux (104 on macOS); ssh binds to path + 17 first. */
const SOCKET_PATH_MAX = 104;

interface Outcome {
  code: number;
  stderr: string;
}

let engine: Engine | undefined;
let temp: TempDir | undefined;
let createdRunSshd = false;
const servers: Server[] = [];
const agents: ChildProcess[] = [];
/** The options and ports whose master connections `after` closes with `ssh -O exit`. */
const masters: { options: string[]; port: number }[] = [];

const file = (name: string) => join(temp!.path, name);

/** The environment of every client: no agent unless a test adds one, Docker's config here. */
function clientEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DOCKER_CONFIG: file('docker-config'),
    ...extra,
  };
}

/** Runs a command with a deadline; a command past it is killed and counts as failed. */
function runFor(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 90_000,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: 127, stderr: String(error) });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stderr: stderr || (code === null ? 'killed after timeout' : '') });
    });
  });
}

/**
 * A folder whose `ssh` is the system's ssh with `options` first, which is how the docker provider
 * runs it (`ssh <ssh_opts> -- host docker system dial-stdio`); docker's own options come after
 * and lose to them (ssh keeps the first value of each).
 */
function sshWith(name: string, options: string[]): string {
  const bin = file(`bin-${name}`);
  mkdirSync(bin);
  writeFileSync(join(bin, 'ssh'), `#!/bin/sh\nexec /usr/bin/ssh ${shellWords(options)} "$@"\n`, {
    mode: 0o755,
  });
  return bin;
}

/** How long a burst waits for every command to hold a session (or give up) before it ends them. */
const HOLD_DEADLINE_MS = 60_000;

/**
 * A running container to `docker wait` on, which holds each command's session until the test
 * stops the container. It stays (stopped) until every command has returned: a `docker wait` that
 * reaches the engine after the stop still finds it and returns at once. Its image is this
 * machine's `sleep` and the libraries it loads, imported from a tar: no registry, nothing to build.
 */
async function sleeper(): Promise<string> {
  const image = 'refresher-test/sleeper';
  if ((await run('docker', ['image', 'inspect', image])).code !== 0) {
    const libraries = (await must('ldd', ['/usr/bin/sleep']))
      .split('\n')
      .map((line) => /(\/\S+)/.exec(line)?.[1])
      .filter((path): path is string => path !== undefined);
    await must('sh', [
      '-c',
      `tar -ch -f - ${shellWords(['/usr/bin/sleep', ...libraries])} 2>/dev/null | docker import - ${image}`,
    ]);
  }
  return (
    await must('docker', ['run', '-d', '--network', 'none', image, '/usr/bin/sleep', 'infinity'])
  ).trim();
}

/**
 * `PARALLEL` docker commands over SSH at once, through the ssh in `bin`, each holding its session
 * (`docker wait` on a running container) until every one of them holds one or has failed, as
 * terraform's calls overlap while images build and containers start; then the container stops and
 * all of them return. Counts, meanwhile, the deploy user's `docker system dial-stdio` processes:
 * one per session open on the "VM". The release does not depend on timing, so a slow machine
 * cannot make the sessions miss each other.
 */
async function dockerBurst(
  server: Server,
  bin: string,
): Promise<{ outcomes: Outcome[]; peakSessions: number }> {
  const env = clientEnv({ PATH: `${bin}:${process.env.PATH}` });
  const container = await sleeper();
  let peakSessions = 0;
  let settled = 0;
  const commands = Promise.all(
    Array.from({ length: PARALLEL }, () =>
      runFor(
        'docker',
        ['-H', `ssh://${DEPLOY_USER}@127.0.0.1:${server.port}`, 'wait', container],
        env,
      ).then((outcome) => {
        settled++;
        return outcome;
      }),
    ),
  );
  const deadline = Date.now() + HOLD_DEADLINE_MS;
  for (;;) {
    // The docker process itself, not the login shell that started it (`sh -c docker system …`).
    const count = await run('pgrep', [
      '-c',
      '-u',
      DEPLOY_USER,
      '-f',
      '^(\\S*/)?docker system dial-stdio$',
    ]);
    const open = Number(count.stdout.trim()) || 0;
    peakSessions = Math.max(peakSessions, open);
    if (open + settled >= PARALLEL || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await must('docker', ['kill', container]);
  const outcomes = await commands;
  await must('docker', ['rm', container]);
  return { outcomes, peakSessions };
}

/** `options` less the `-o Name=…` pairs of `names`. */
function without(options: string[], ...names: string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < options.length; i += 2)
    if (!names.includes(options[i + 1]!.split('=')[0]!)) kept.push(options[i]!, options[i + 1]!);
  return kept;
}
const SHARING = ['ControlMaster', 'ControlPath', 'ControlPersist'];

const failures = (outcomes: Outcome[]) => outcomes.filter((o) => o.code !== 0);
const summary = (outcomes: Outcome[]) =>
  [...new Set(failures(outcomes).map((o) => o.stderr.trim().split('\n').at(-1)))].join('\n  ');

/** Counts the lines of the server's log that match each of `patterns` while `body` runs. */
async function logged<T>(
  server: Server,
  patterns: Record<string, RegExp>,
  body: () => Promise<T>,
): Promise<{ result: T; counts: Record<string, number> }> {
  const before = readFileSync(server.log, 'utf8').length;
  const result = await body();
  // sshd writes its last lines a moment after the clients have gone.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const lines = readFileSync(server.log, 'utf8').slice(before).split('\n');
  const counts = Object.fromEntries(
    Object.entries(patterns).map(([key, pattern]) => [
      key,
      lines.filter((line) => pattern.test(line)).length,
    ]),
  );
  return { result, counts };
}

const CONNECTIONS = /^Connection from 127\.0\.0\.1/;
const NO_MORE_SESSIONS = /no more sessions/;
const PAST_MAX_STARTUPS = /past MaxStartups/;

/** An sshd of the test's own (sshd.ts), remembered so that `after` stops it. */
async function startSshd(name: string, dropIn: string): Promise<Server> {
  const server = await startTestSshd(temp!.path, name, dropIn);
  servers.push(server);
  return server;
}

describe(
  'SSH to the VM: the rendered sshd drop-in and the deploy’s ssh options',
  { timeout: 10 * 60_000 },
  () => {
    let hardened: Server;
    let stock: Server;
    let deployOptions: string[];

    before(async () => {
      if (process.getuid?.() !== 0)
        throw new Error(
          'the SSH test runs sshd, which switches to the deploy user: run it as root',
        );
      if (!existsSync(SSHD))
        throw new Error(`no ${SSHD}: install openssh-server (bash .ci/run does)`);
      engine = await ensureEngine();
      await ensureDeployUser();
      // sshd's privilege separation folder (ssh.service makes it; nothing does here, as on the
      // VM's first boot, which is why cloud-init's runcmd makes it before `sshd -t`).
      if (!existsSync('/run/sshd')) {
        await must('install', ['-d', '-m', '0755', '/run/sshd']);
        createdRunSshd = true;
      }
      temp = tempDir('rf-ssh-');
      // sshd reads the authorized keys file as the deploy user.
      chmodSync(temp.path, 0o755);
      mkdirSync(file('cm'), { mode: 0o700 });
      mkdirSync(file('docker-config'));
      const controlPath = file('cm/%C');
      assert.ok(
        controlPath.length - 2 + 40 + 17 <= SOCKET_PATH_MAX,
        `the control socket path ${controlPath} is too long for a Unix socket: set TMPDIR to a shorter folder`,
      );
      await keygen('vm', file('host_ed25519'));
      await keygen('deploy', file('id_deploy'));
      writeFileSync(file('authorized_keys'), readFileSync(file('id_deploy.pub')), { mode: 0o644 });

      const dropIn = renderSshdDropIn('azureuser');
      hardened = await startSshd('hardened', dropIn);
      // The same drop-in without its limits: sshd's defaults, which are Ubuntu 24.04's too.
      stock = await startSshd(
        'stock-limits',
        dropIn
          .split('\n')
          .filter((line) => !/^(MaxSessions|MaxStartups) /.test(line))
          .join('\n'),
      );
      deployOptions = sshClientOptions({
        privateKeyPath: file('id_deploy'),
        controlPath,
        knownHostsFile: file('known_hosts'),
      });
      masters.push(
        { options: deployOptions, port: hardened.port },
        { options: deployOptions, port: stock.port },
      );

      // Not shared: the first test starts without a master connection.
      const where = await run(
        'ssh',
        [
          ...without(deployOptions, ...SHARING),
          '-p',
          String(hardened.port),
          `${DEPLOY_USER}@127.0.0.1`,
          'command -v docker',
        ],
        clientEnv(),
      );
      assert.equal(
        where.code,
        0,
        `the deploy user cannot log in, or its PATH has no docker CLI (docker over ssh runs \`docker system dial-stdio\` there): ${where.stderr}`,
      );
    });

    after(async () => {
      for (const { options, port } of masters)
        await run(
          'ssh',
          [...options, '-p', String(port), '-O', 'exit', `${DEPLOY_USER}@127.0.0.1`],
          clientEnv(),
        );
      for (const child of [...servers.map((s) => s.process), ...agents]) {
        if (child.exitCode !== null || child.signalCode !== null) continue;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      temp?.remove();
      if (createdRunSshd) await run('rmdir', ['/run/sshd']);
      await engine?.release();
    });

    test('the drop-in passes sshd -t, and sshd applies it: keys only, no root, the limits', async () => {
      const effective = await must(SSHD, [
        '-T',
        '-f',
        hardened.config,
        '-C',
        `user=${DEPLOY_USER},host=localhost,addr=127.0.0.1`,
      ]);
      for (const line of [
        'passwordauthentication no',
        'kbdinteractiveauthentication no',
        'permitrootlogin no',
        'maxauthtries 3',
        `maxsessions ${SSHD_LIMITS.maxSessions}`,
        `maxstartups ${SSHD_LIMITS.maxStartups}`,
        `allowusers azureuser`,
        `allowusers ${DEPLOY_USER}`,
      ])
        assert.ok(effective.split('\n').includes(line), `sshd -T has no "${line}"`);
    });

    test(`${PARALLEL} parallel docker -H ssh:// commands with the deploy’s options: 0 failures, first without a master connection, then with it`, async () => {
      const bin = sshWith('deploy', deployOptions);
      for (const round of ['no master yet', 'master up']) {
        const { result, counts } = await logged(
          hardened,
          { connections: CONNECTIONS, refused: NO_MORE_SESSIONS, dropped: PAST_MAX_STARTUPS },
          () => dockerBurst(hardened, bin),
        );
        const { outcomes, peakSessions } = result;
        console.log(
          `# drop-in limits, shared, ${round}: ${failures(outcomes).length} of ${PARALLEL} failed, ${peakSessions} sessions at once, ${JSON.stringify(counts)}`,
        );
        assert.equal(failures(outcomes).length, 0, `${round}:\n  ${summary(outcomes)}`);
        assert.ok(
          peakSessions > 10,
          `only ${peakSessions} sessions were open at once: the burst did not test more than sshd's default allows`,
        );
        assert.equal(
          counts.refused,
          0,
          'sshd refused a session: MaxSessions is too low for the client',
        );
        // With no master yet, every ssh that starts before the first one has bound the control
        // socket opens a connection of its own (ControlMaster=auto is first come, first served):
        // how many depends on the machine's speed, and MaxStartups is what lets them all in.
        // Once a master is up, the commands must be its sessions.
        if (round === 'master up')
          assert.ok(
            counts.connections! < PARALLEL / 2,
            `${counts.connections} connections for ${PARALLEL} commands with a master up: they do not share it`,
          );
      }
      const check = await run(
        'ssh',
        [...deployOptions, '-p', String(hardened.port), '-O', 'check', `${DEPLOY_USER}@127.0.0.1`],
        clientEnv(),
      );
      assert.match(check.stderr, /Master running/, 'ControlPersist keeps the master connection up');
    });

    test('without connection sharing, sshd’s stock MaxStartups 10:30:100 drops logins of a burst; the drop-in’s 64:30:128 lets all 50 in', async () => {
      const unshared = without(deployOptions, ...SHARING);
      // Plain ssh: each login fails or succeeds on its own (docker's client retries some reads
      // on a new connection and would hide a few drops).
      const logins = (server: Server) =>
        Promise.all(
          Array.from({ length: PARALLEL }, () =>
            runFor(
              'ssh',
              [...unshared, '-p', String(server.port), `${DEPLOY_USER}@127.0.0.1`, 'true'],
              clientEnv(),
            ),
          ),
        );
      // A random 30 % of the connections beyond 10 pending are dropped: nearly always some of 50;
      // up to three rounds make a pass by chance vanishingly unlikely.
      let stockFailures = 0;
      let dropped = 0;
      for (let round = 0; round < 3 && stockFailures === 0; round++) {
        const { result, counts } = await logged(stock, { dropped: PAST_MAX_STARTUPS }, () =>
          logins(stock),
        );
        stockFailures += failures(result).length;
        dropped += counts.dropped!;
        console.log(
          `# stock limits, ${PARALLEL} unshared logins: ${failures(result).length} failed, ${counts.dropped} dropped past MaxStartups (${summary(result)})`,
        );
      }
      assert.ok(stockFailures > 0, 'the stock limits dropped nothing: this check shows nothing');
      assert.ok(dropped > 0, 'sshd logged no "past MaxStartups"');

      const { result, counts } = await logged(hardened, { dropped: PAST_MAX_STARTUPS }, () =>
        logins(hardened),
      );
      console.log(
        `# drop-in limits, ${PARALLEL} unshared logins: ${failures(result).length} failed, ${counts.dropped} dropped`,
      );
      assert.equal(
        failures(result).length,
        0,
        `with the drop-in's MaxStartups:\n  ${summary(result)}`,
      );
      const burst = await dockerBurst(hardened, sshWith('unshared', unshared));
      assert.equal(
        failures(burst.outcomes).length,
        0,
        `docker, unshared, with the drop-in's MaxStartups:\n  ${summary(burst.outcomes)}`,
      );
    });

    test('with sshd’s default MaxSessions 10, a refused session falls back to a connection of its own, which MaxStartups may drop: sharing alone is not enough', async () => {
      const env = clientEnv();
      // 30 plain ssh sessions held for 2 s, all at once, over the master connection (made first,
      // so that every one asks it for a session); ssh's own messages show what becomes of them.
      const sessions = async (server: Server) => {
        const destination = ['-p', String(server.port), `${DEPLOY_USER}@127.0.0.1`];
        await must('ssh', [...deployOptions, ...destination, 'true'], { env });
        return logged(
          server,
          { connections: CONNECTIONS, refused: NO_MORE_SESSIONS, dropped: PAST_MAX_STARTUPS },
          () =>
            Promise.all(
              Array.from({ length: 30 }, () =>
                runFor('ssh', [...deployOptions, ...destination, 'sleep 2'], env),
              ),
            ),
        );
      };
      const { result, counts } = await sessions(stock);
      const refused = result.filter((o) => /Session open refused by peer/.test(o.stderr));
      const fellBack = refused.filter((o) => o.code === 0);
      console.log(
        `# stock limits, 30 shared sessions: ${refused.length} refused, ${fellBack.length} of them fell back and succeeded, ${failures(result).length} failed, ${JSON.stringify(counts)}`,
      );
      assert.ok(counts.refused! >= 20, `sshd refused ${counts.refused} of 30 sessions, not 20`);
      assert.ok(refused.length >= 20, 'ssh did not report the refused sessions');
      assert.ok(
        fellBack.length > 0,
        'no command whose session was refused succeeded: a refused session would fail instead of falling back',
      );
      assert.ok(counts.connections! > 0, 'the fallbacks opened no connection of their own');

      const hardenedRun = await sessions(hardened);
      assert.equal(hardenedRun.counts.refused, 0, 'the drop-in refused sessions');
      assert.equal(failures(hardenedRun.result).length, 0, summary(hardenedRun.result));

      // docker's client hides ssh's messages; sshd's log shows the same refusals under it.
      const burst = await logged(
        stock,
        { refused: NO_MORE_SESSIONS, dropped: PAST_MAX_STARTUPS },
        () => dockerBurst(stock, sshWith('deploy-stock', deployOptions)),
      );
      console.log(
        `# stock limits, shared, docker: ${failures(burst.result.outcomes).length} of ${PARALLEL} failed, ${JSON.stringify(burst.counts)}`,
      );
      assert.ok(burst.counts.refused! > 0, 'sshd refused none of the docker sessions');
    });

    test('an ops script over this sshd: a host without the deployment, and a key the host refuses, each one line with its exit code', async () => {
      // A deployment of this key pair; nothing of it runs behind this sshd.
      const config = file('ops.config.json');
      writeFileSync(
        config,
        JSON.stringify(validInput(file('id_deploy.pub'), { name: 'refresher-ssh-test' })),
      );
      await keygen('stranger', file('id_stranger'));
      const strangerConfig = file('stranger.config.json');
      writeFileSync(
        strangerConfig,
        JSON.stringify(validInput(file('id_stranger.pub'), { name: 'refresher-ssh-test' })),
      );
      const status = (configFile: string, controlDir: string) => {
        mkdirSync(file(controlDir), { recursive: true, mode: 0o700 });
        return run(
          process.execPath,
          ['--import', 'tsx', join(REPO_ROOT, 'scripts/status.ts'), '--config', configFile, '--host', `${DEPLOY_USER}@127.0.0.1:${hardened.port}`],
          { cwd: REPO_ROOT, env: { ...clientEnv(), REFRESHER_SSH_KNOWN_HOSTS: file('known_hosts'), REFRESHER_SSH_CONTROL_PATH: file(`${controlDir}/%C`) } },
        );
      }; // prettier-ignore
      const empty = await status(config, 'cm-ops');
      assert.equal(empty.code, 4, empty.stderr);
      assert.match(
        empty.stderr,
        /^status: no container of the deployment "refresher-ssh-test" on 127\.0\.0\.1: deploy it first/m,
      );
      const refused = await status(strangerConfig, 'cm-stranger');
      assert.equal(refused.code, 3, refused.stderr);
      assert.match(
        refused.stderr,
        /^status: deploy@127\.0\.0\.1:\d+ refused the key .*id_stranger: is it the private half of vm\.sshPublicKeyPath/m,
      );
      await run('ssh', [
        '-o',
        `ControlPath=${file('cm-ops/%C')}`,
        '-p',
        String(hardened.port),
        '-O',
        'exit',
        `${DEPLOY_USER}@127.0.0.1`,
      ]);
    });

    test('MaxAuthTries 3: with three other keys in an agent, only IdentitiesOnly gets the deploy key tried', async () => {
      const socket = file('agent.sock');
      const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
      agents.push(agent);
      await waitFor(() => existsSync(socket), { what: 'ssh-agent' });
      for (const n of [1, 2, 3]) {
        const key = file(`id_other${n}`);
        await keygen(`other${n}`, key);
        await must('ssh-add', ['-q', key], { env: { ...clientEnv(), SSH_AUTH_SOCK: socket } });
      }
      const env = clientEnv({ SSH_AUTH_SOCK: socket });
      const login = (options: string[]) =>
        runFor(
          'ssh',
          [...options, '-p', String(hardened.port), `${DEPLOY_USER}@127.0.0.1`, 'true'],
          env,
        );

      // Without sharing, so that each login authenticates for itself.
      const unshared = without(deployOptions, ...SHARING);
      const agentFirst = await login(without(unshared, 'IdentitiesOnly'));
      assert.notEqual(
        agentFirst.code,
        0,
        'logged in although the agent offered three other keys first',
      );
      assert.match(agentFirst.stderr, /Too many authentication failures/);

      const onlyTheKey = await login(unshared);
      assert.equal(onlyTheKey.code, 0, onlyTheKey.stderr);
    });
  },
);
