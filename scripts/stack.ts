// npm run stack:up / stack:down: the whole stack on this machine with Docker Compose, from the
// rendered compose file (templates/compose.ts), so it runs the same images and configs as the VM.
//
//   npm run stack:up [-- --with-swag] [--config FILE] [--secrets FILE] [--dir DIR]
//                    [--override FILE]... [--timeout SECONDS]
//   npm run stack:down [-- --volumes] [--config FILE] [--secrets FILE] [--dir DIR] [--override FILE]...
//
// `up` builds the app image if it is missing, starts everything, and waits until every
// long-running container is healthy and every one-shot container has exited 0, printing how long
// that took. Before it starts anything it checks Docker, the configuration and the ports; when
// `up` fails, it stops what it started. Without Docker it says so and changes nothing; `npm start`
// runs the app without containers.
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { parseCommandLine, runCommand, UsageError } from '../contract/cli.ts';
import { $, which } from 'zx';
import { DeploymentConfigError, loadDeploymentConfig } from '../templates/config.ts';
import { RENDERED } from '../contract/paths.ts';
import { image, serviceCatalogue, type ServiceSpec } from '../templates/catalogue/index.ts';
import { SecretsError } from '../templates/secrets.ts';
import { bundleApp } from './lib/bundle.ts';
import { REPO_ROOT } from '../contract/paths.ts';
import { defaultConfigFile, renderDeployment } from './lib/deployment.ts';

const USAGE = `usage: npm run stack:up [-- --with-swag] [--config FILE] [--secrets FILE] [--dir DIR] [--override FILE]... [--timeout SECONDS]
       npm run stack:down [-- --volumes] [--config FILE] [--secrets FILE] [--dir DIR] [--override FILE]...
  --with-swag   also start swag (needs public DNS for the domain and ports 80/443)
  --volumes     stack:down also deletes the volumes (the database, metrics, certificates)
  --config      the deployment configuration (default: infra/deploy.config.ts, else the example)
  --secrets     the generated secrets (default: .secrets/<name>.json, created if missing)
  --dir         where the rendered files go (default: .stack, git-ignored)
  --override    a compose file merged over the rendered one (repeatable; for local changes)
  --timeout     how long up waits for every container to be healthy (default: 300)`;

const DEFAULT_TIMEOUT_SECONDS = 300;

class StackError extends Error {}

/** The compose command of this machine: the Docker CLI plugin, else the standalone v1 binary. */
async function composeCommand(): Promise<string[]> {
  if ((await $({ nothrow: true, quiet: true })`docker compose version`).exitCode === 0)
    return ['docker', 'compose'];
  if (await which('docker-compose', { nothrow: true })) return ['docker-compose'];
  throw new StackError(
    'neither `docker compose` (the Compose plugin) nor `docker-compose` is installed: install the Compose plugin (https://docs.docker.com/compose/install/).',
  );
}

async function requireDocker(): Promise<void> {
  if (!(await which('docker', { nothrow: true })))
    throw new StackError(
      'Docker is not installed here (no `docker` on PATH). Install Docker Engine or Docker Desktop (https://docs.docker.com/get-docker/) to run the stack in containers, or run the app without them: npm start.',
    );
  const info = await $({ nothrow: true, quiet: true })`docker info --format {{.ServerVersion}}`;
  if (info.exitCode !== 0) {
    const reason = info.stderr.trim().split('\n').at(-1) ?? '';
    throw new StackError(
      `the Docker daemon does not answer (${reason}). Start Docker (systemctl start docker, or open Docker Desktop) and try again.`,
    );
  }
}

/** Runs a command with its output shown; a failure becomes a StackError naming the step. */
async function step(what: string, command: string[]): Promise<void> {
  const result = await $({ stdio: 'inherit', nothrow: true })`${command}`;
  if (result.exitCode !== 0)
    throw new StackError(`${what} failed (exit ${result.exitCode}): see the output above.`);
}

interface ContainerState {
  service: string;
  status: string;
  health?: string;
  exitCode: number;
  oneShot: boolean;
}

async function projectContainers(project: string): Promise<ContainerState[]> {
  const ids = (
    await $({ quiet: true })`docker ps -aq --filter label=com.docker.compose.project=${project}`
  ).stdout
    .split('\n')
    .filter(Boolean);
  if (!ids.length) return [];
  const format =
    '{{index .Config.Labels "com.docker.compose.service"}}|{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}|{{.State.ExitCode}}|{{.HostConfig.RestartPolicy.Name}}';
  const lines = (await $({ quiet: true })`docker inspect --format ${format} ${ids}`).stdout
    .split('\n')
    .filter(Boolean);
  return lines.map((line) => {
    const [service = '', status = '', health = '', exitCode = '0', restart = ''] = line.split('|');
    return {
      service,
      status,
      health: health || undefined,
      exitCode: Number(exitCode),
      oneShot: restart === 'no',
    };
  });
}

/** What keeps a service from being ready, or undefined when it is (one-shots: exited 0). */
function notReady(state: ContainerState | undefined): string | undefined {
  if (!state) return 'not created';
  if (state.oneShot)
    return state.status === 'exited' && state.exitCode === 0 ? undefined : state.status;
  if (state.status !== 'running') return state.status;
  if (state.health && state.health !== 'healthy') return state.health;
  return undefined;
}

async function waitReady(
  project: string,
  services: ServiceSpec[],
  timeoutSeconds: number,
): Promise<void> {
  const started = Date.now();
  for (;;) {
    const states = new Map((await projectContainers(project)).map((s) => [s.service, s]));
    const failed = services.filter((service) => {
      const state = states.get(service.name);
      return state?.oneShot && state.status === 'exited' && state.exitCode !== 0;
    });
    if (failed.length)
      throw new StackError(
        `${failed.map((s) => s.name).join(', ')} exited with an error: docker compose -p ${project} logs ${failed[0]!.name}`,
      );
    const waiting = services
      .map((service) => [service.name, notReady(states.get(service.name))] as const)
      .filter(([, reason]) => reason);
    if (!waiting.length) return;
    if (Date.now() - started > timeoutSeconds * 1000)
      throw new StackError(
        `not ready after ${timeoutSeconds} s: ${waiting.map(([name, reason]) => `${name} (${reason})`).join(', ')}. Look at their logs: docker compose -p ${project} logs ${waiting[0]![0]}`,
      );
    await new Promise((done) => setTimeout(done, 1000));
  }
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => done(true)));
  });
}

/** Ports the stack publishes that another program holds (checked only when none of ours run). */
async function takenPorts(services: ServiceSpec[]): Promise<string[]> {
  const wanted = services.flatMap((service) => [
    ...service.localPorts.map((port) => ({ service, host: '127.0.0.1', port: port.host })),
    ...service.publicPorts.map((port) => ({ service, host: '0.0.0.0', port: port.host })),
  ]);
  const taken: string[] = [];
  for (const { service, host, port } of wanted)
    if (!(await portFree(host, port))) taken.push(`${host}:${port} (${service.name})`);
  return taken;
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      'with-swag': { type: 'boolean' },
      volumes: { type: 'boolean' },
      config: { type: 'string' },
      secrets: { type: 'string' },
      dir: { type: 'string' },
      override: { type: 'string', multiple: true },
      timeout: { type: 'string' },
    },
    true,
  );
  const [action, ...extra] = parsed.positionals;
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if ((action !== 'up' && action !== 'down') || extra.length)
    throw new UsageError('expected "up" or "down"');
  const timeout = Number(parsed.values.timeout ?? DEFAULT_TIMEOUT_SECONDS);
  if (!Number.isInteger(timeout) || timeout < 1)
    throw new UsageError(
      `--timeout: expected a whole number of seconds, got "${parsed.values.timeout}"`,
    );
  const overrides = (parsed.values.override ?? []).map((file) => resolve(file));
  for (const file of overrides)
    if (!existsSync(file)) throw new UsageError(`--override: ${file} does not exist`);
  const configFile = parsed.values.config ?? defaultConfigFile();
  const dir = resolve(parsed.values.dir ?? join(REPO_ROOT, '.stack'));
  const renderOptions = { configFile, outDir: dir, secretsFile: parsed.values.secrets };

  // The configuration first: a typo in it is reported even where Docker is missing.
  const config = await loadDeploymentConfig(configFile);
  await requireDocker();
  const compose = await composeCommand();
  const composeFile = join(dir, RENDERED.compose);
  const base = [
    ...compose,
    '-p',
    config.name,
    '-f',
    composeFile,
    ...overrides.flatMap((file) => ['-f', file]),
  ];

  if (action === 'down') {
    if (!existsSync(composeFile)) await renderDeployment(renderOptions);
    await step('docker compose down', [
      ...base,
      '--profile',
      'proxy',
      'down',
      ...(parsed.values.volumes ? ['--volumes'] : []),
    ]);
    return 0;
  }

  const withSwag = parsed.values['with-swag'] ?? false;
  const services = serviceCatalogue(config).filter(
    (service) => withSwag || service.composeProfile !== 'proxy',
  );
  const runningBefore = (await projectContainers(config.name)).filter(
    (state) => state.status === 'running',
  );
  if (!runningBefore.length) {
    const taken = await takenPorts(services);
    if (taken.length)
      throw new StackError(
        `port${taken.length > 1 ? 's' : ''} ${taken.join(', ')} already in use by another program: stop it, or change the port in templates/catalogue/, then run stack:up again.`,
      );
  }

  const rendered = await renderDeployment(renderOptions);
  console.log(
    `rendered ${rendered.files.length} files from ${rendered.configFile} into ${rendered.outDir}`,
  );
  const appImage = image(config, 'app');
  const missing =
    (await $({ nothrow: true, quiet: true })`docker image inspect ${appImage}`).exitCode !== 0;
  // A pulled app image (pullAppImage) comes from its registry with `up`, like the others.
  if (missing && !config.pullAppImage) {
    if (!existsSync(join(REPO_ROOT, 'app/Dockerfile')))
      throw new StackError(
        `the app image ${appImage} does not exist and there is no app/Dockerfile to build it from.`,
      );
    // The image's build context is the bundle (docs/image.md), as on the VM.
    const bundled = await bundleApp();
    console.log(`building ${appImage} from app/Dockerfile with the bundle in ${bundled.dir}`);
    const ookla = String(config.speedtest.acceptOoklaLicense);
    await step(`building ${appImage}`, [
      'docker', 'build', '-t', appImage, '--build-arg', `APP_VERSION=${bundled.manifest.version}`,
      '--build-arg', `OOKLA_ACCEPT_LICENSE=${ookla}`, bundled.dir,
    ]); // prettier-ignore
  }
  const profile = withSwag ? ['--profile', 'proxy'] : [];
  let seconds: number;
  try {
    const started = Date.now();
    await step('docker compose up', [...base, ...profile, 'up', '-d']);
    // Counted from `up`: compose itself waits for the health of what others depend on.
    await waitReady(config.name, services, timeout);
    seconds = (Date.now() - started) / 1000;
  } catch (error) {
    // Nothing half-started: what this command started, it stops (a stack that was already
    // running stays as it was, to be looked at).
    if (!runningBefore.length) {
      console.error('stack: stopping what was started');
      await $({ stdio: 'inherit', nothrow: true })`${base} --profile proxy down`;
    }
    throw error;
  }
  console.log(`up: ${services.length} containers ready in ${seconds.toFixed(1)} s`);
  console.log(
    'web http://127.0.0.1:3000, grafana http://127.0.0.1:3001, prometheus http://127.0.0.1:9090, alertmanager http://127.0.0.1:9093',
  );
  console.log(
    `sign in as "${config.admin.username}" with appAdminPassword from ${rendered.secretsFile}`,
  );
  return 0;
}

await runCommand('stack', USAGE, () => main(process.argv.slice(2)), {
  expected: [StackError, DeploymentConfigError, SecretsError],
});
