// npm run stack:up / stack:down: the whole stack on this machine with Docker Compose, from the
// rendered compose file (templates/compose.ts), so it runs the same images and configs as the VM.
//
//   npm run stack:up [-- --with-swag] [--config FILE] [--dir DIR]
//   npm run stack:down [-- --volumes] [--config FILE] [--dir DIR]
//
// Without Docker it says so and changes nothing; `npm start` runs the app without containers.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseCommandLine, runCommand, UsageError } from '../contract/cli.ts';
import { $, which } from 'zx';
import { DeploymentConfigError, loadDeploymentConfig } from '../templates/config.ts';
import { RENDERED } from '../contract/paths.ts';
import { image } from '../templates/catalogue/index.ts';
import { SecretsError } from '../templates/secrets.ts';
import { bundleApp } from './lib/bundle.ts';
import { REPO_ROOT } from '../contract/paths.ts';
import { defaultConfigFile, renderDeployment } from './lib/deployment.ts';

const USAGE = `usage: npm run stack:up [-- --with-swag] [--config FILE] [--dir DIR]
       npm run stack:down [-- --volumes] [--config FILE] [--dir DIR]
  --with-swag   also start swag (needs public DNS for the domain and ports 80/443)
  --volumes     stack:down also deletes the volumes (the database, metrics, certificates)
  --config      the deployment configuration (default: infra/deploy.config.ts, else the example)
  --dir         where the rendered files go (default: .stack, git-ignored)`;

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

async function main(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    argv,
    {
      'with-swag': { type: 'boolean' },
      volumes: { type: 'boolean' },
      config: { type: 'string' },
      dir: { type: 'string' },
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
  const configFile = parsed.values.config ?? defaultConfigFile();
  const dir = resolve(parsed.values.dir ?? join(REPO_ROOT, '.stack'));

  await requireDocker();
  const compose = await composeCommand();
  const config = await loadDeploymentConfig(configFile);
  const composeFile = join(dir, RENDERED.compose);
  const base = [...compose, '-p', config.name, '-f', composeFile];

  if (action === 'down') {
    if (!existsSync(composeFile)) await renderDeployment({ configFile, outDir: dir });
    await $({
      stdio: 'inherit',
    })`${base} --profile proxy down ${parsed.values.volumes ? ['--volumes'] : []}`;
    return 0;
  }

  const rendered = await renderDeployment({ configFile, outDir: dir });
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
    await $({
      stdio: 'inherit',
    })`docker build -t ${appImage} --build-arg APP_VERSION=${bundled.manifest.version} --build-arg OOKLA_ACCEPT_LICENSE=${ookla} ${bundled.dir}`;
  }
  const profile = parsed.values['with-swag'] ? ['--profile', 'proxy'] : [];
  await $({ stdio: 'inherit' })`${base} ${profile} up -d`;
  console.log(
    'up: web http://127.0.0.1:3000, grafana http://127.0.0.1:3001, prometheus http://127.0.0.1:9090',
  );
  console.log(
    `sign in as "${config.admin.username}" with appAdminPassword from ${rendered.secretsFile}`,
  );
  return 0;
}

await runCommand('stack', USAGE, () => main(process.argv.slice(2)), {
  expected: [StackError, DeploymentConfigError, SecretsError],
});
