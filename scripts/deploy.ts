// npm run deploy: a deployment from this laptop, end to end, without the cdktf CLI. It checks the
// configuration, synthesizes both stacks, then drives Terraform in each stack's folder: the azure
// stack (VM, network, DNS records), then a wait until the public names resolve to the VM, then the
// services stack (the containers, swag last), then a wait for swag's certificate. Each stack is
// planned to a file, the plan is shown, and exactly that plan is applied. It stops at the first
// failure and says which step failed and what to do; running it again resumes where it stopped.
//
//   npm run deploy [-- --plan] [--yes] [--staging] [--config FILE] [--secrets FILE]
//                  [--dns-server ADDR]... [--dns-timeout MIN] [--dns-interval S] [--no-dns-wait]
//                  [--cert-timeout MIN]
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseCommandLine, runCommand } from '../contract/cli.ts';
import { $, which } from 'zx';
import { DeploymentConfigError, publicHosts } from '../templates/config.ts';
import { loadAnyDeploymentConfig } from '../templates/container-apps.ts';
import { CONTAINER_LABELS, serviceCatalogue } from '../templates/catalogue/index.ts';
import { DEPLOY_USER } from '../templates/cloud-init.ts';
import { shellWords, sshClientArgs } from '../templates/ssh.ts';
import {
  checkNames,
  dnsInstructions,
  makeResolver,
  recordsInUse,
  zoneTakeoverProblem,
  type NameState,
} from './lib/dns-check.ts';
import { deployContainerApps } from './lib/deploy-container-apps.ts';
import { defaultConfigFile } from './lib/deployment.ts';
import { deployRefusals } from './lib/preflight.ts';
import {
  confirm,
  openRollout,
  positiveNumber,
  preciousLosses,
  printPlan,
  RolloutError,
  synth,
  type Rollout,
} from './lib/rollout.ts';
import { TerraformError, type PlanSummary } from './lib/terraform.ts';

const USAGE = `usage: npm run deploy [-- --plan] [--yes] [--staging] [--config FILE] [--secrets FILE]
                         [--dns-server ADDR]... [--dns-timeout MIN] [--dns-interval S]
                         [--no-dns-wait] [--cert-timeout MIN]
  --plan          synth and plan only: show what would change, change nothing
  --yes           do not ask before a plan that destroys a VM, disk, address, zone or volume
  --staging       certificates from Let's Encrypt's staging CA for this deploy (a first run);
                  the next deploy without it switches swag to real certificates
  --config        the deployment configuration (default: infra/deploy.config.ts)
  --secrets       the generated secrets (default: .secrets/<name>.json, created if missing)
  --dns-server    a DNS server to check the public names with, e.g. 1.1.1.1 (repeatable;
                  default: this machine's)
  --dns-timeout   minutes to wait for the names to resolve to the VM (default: 60)
  --dns-interval  seconds between two DNS checks (default: 15)
  --no-dns-wait   start the services without waiting for DNS (swag's certificate then waits)
  --cert-timeout  minutes to wait for swag's certificate (default: 10)`;

const STEPS = ['check', 'synth', 'azure', 'dns', 'services', 'https'] as const;
type Step = (typeof STEPS)[number];

function log(step: Step, line: string): void {
  console.error(`deploy [${STEPS.indexOf(step) + 1}/${STEPS.length} ${step}] ${line}`);
}

async function check(rollout: Rollout, resolverServers: string[]): Promise<void> {
  const { config, configFile } = rollout;
  const problems = deployRefusals(config, configFile);
  const privateKey = config.vm.sshPrivateKeyPath;
  if (privateKey === config.vm.sshPublicKeyPath.path) {
    // The key lives in an agent only: it must be there now.
    const blob = config.vm.sshPublicKeyPath.key.split(' ')[1]!;
    const listed = await $({ nothrow: true, quiet: true })`ssh-add -L`;
    if (listed.exitCode !== 0 || !listed.stdout.includes(blob))
      problems.push(
        `vm.sshPrivateKeyPath: names the public key, so the key must be in your ssh-agent, which does not hold it now (ssh-add -L): unlock the agent or ssh-add the key`,
      );
  } else if (!existsSync(privateKey))
    problems.push(
      `vm.sshPrivateKeyPath: ${privateKey} does not exist: the deploy logs in to the VM with the private half of ${config.vm.sshPublicKeyPath.path} (or name the .pub itself when only your ssh-agent holds the key)`,
    );
  for (const tool of ['terraform', 'ssh'])
    if (!(await which(tool, { nothrow: true })))
      problems.push(
        tool === 'terraform'
          ? 'terraform is not installed: https://developer.hashicorp.com/terraform/install (1.5 or later)'
          : 'ssh (OpenSSH) is not installed: the services stack reaches the VM through it',
      );
  const resolver = makeResolver(resolverServers);
  const takeover = await zoneTakeoverProblem(resolver, config);
  if (takeover) problems.push(`dns.mode: ${takeover}`);
  const inUse = await recordsInUse(resolver, config);
  if (inUse.length)
    log(
      'check',
      `warning: ${config.domain} has records today that stop resolving once its name servers are Azure's, unless you make them in the new zone first: ${inUse.join('; ')}`,
    );
  if (problems.length)
    throw new RolloutError(
      'check',
      `${configFile} cannot be deployed as it is:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      'fix these in the configuration and run npm run deploy again; nothing was created',
    );
  log(
    'check',
    `${configFile}: ${config.name}, ${publicHosts(config)
      .map((h) => h.fqdn)
      .join(', ')}`,
  );
}

/** Failed one-shot containers (migrate) in the services state: replaced, so a fix deploys. */
async function failedOneShots(rollout: Rollout): Promise<string[]> {
  const oneShots = new Set(
    serviceCatalogue(rollout.config)
      .filter((service) => service.restart === 'no')
      .map((service) => service.name),
  );
  return (await rollout.services.state())
    .filter(
      (resource) =>
        resource.type === 'docker_container' &&
        oneShots.has(String(resource.values?.name)) &&
        typeof resource.values?.exit_code === 'number' &&
        resource.values.exit_code !== 0,
    )
    .map((resource) => resource.address);
}

async function planStack(rollout: Rollout, step: 'azure' | 'services'): Promise<PlanSummary> {
  const stack = rollout[step];
  log(step, `terraform init in ${stack.dir}`);
  await stack.init();
  const replace = step === 'services' ? await failedOneShots(rollout) : [];
  if (replace.length) log(step, `replacing what failed last time: ${replace.join(', ')}`);
  const summary = await stack.plan({ replace });
  printPlan((line) => log(step, line), step, summary);
  return summary;
}

async function applyStack(
  rollout: Rollout,
  step: 'azure' | 'services',
  summary: PlanSummary,
  yes: boolean,
): Promise<void> {
  const stack = rollout[step];
  if (!summary.changed) {
    stack.forgetPlan();
    return;
  }
  const losses = preciousLosses(summary);
  if (losses.length) {
    try {
      await confirm(`The ${step} plan destroys ${losses.join(', ')}: what they hold is lost.`, {
        yes,
        step,
      });
    } catch (error) {
      stack.forgetPlan();
      throw error;
    }
  }
  log(step, 'terraform apply of that plan');
  await stack.apply();
}

function describeStates(states: NameState[]): string {
  return states
    .map((state) => `${state.fqdn} ${state.problem ?? `-> ${state.addresses.join(', ')}`}`)
    .join('; ');
}

async function waitForDns(
  rollout: Rollout,
  facts: { address: string; nameServers?: string[] },
  options: { servers: string[]; timeoutMinutes: number; intervalSeconds: number },
): Promise<void> {
  const { config } = rollout;
  const resolver = makeResolver(options.servers);
  const deadline = Date.now() + options.timeoutMinutes * 60_000;
  let states = await checkNames(resolver, config, facts.address);
  if (states.every((state) => !state.problem)) {
    log('dns', `every name resolves to ${facts.address}`);
    return;
  }
  for (const line of dnsInstructions(config, facts)) log('dns', line);
  log('dns', `waiting up to ${options.timeoutMinutes} min: ${describeStates(states)}`);
  let last = describeStates(states);
  for (;;) {
    if (Date.now() >= deadline)
      throw new RolloutError(
        'dns',
        `the public names do not resolve to ${facts.address} after ${options.timeoutMinutes} min: ${last}`,
        `set the records above, then run npm run deploy again: the azure stack is done, and the deploy goes on from this wait (the services stack waits for it, and swag's certificate gate asks Let's Encrypt only once the names resolve)`,
      );
    await sleep(options.intervalSeconds * 1000);
    states = await checkNames(resolver, config, facts.address);
    const now = describeStates(states);
    if (states.every((state) => !state.problem)) {
      log('dns', `every name resolves to ${facts.address}: ${now}`);
      return;
    }
    if (now !== last) log('dns', `still waiting: ${now}`);
    last = now;
  }
}

/** A command on the VM as the deploy user, over SSH with the deployment's options. */
function onVm(rollout: Rollout, address: string, command: string) {
  return $({ nothrow: true, quiet: true, env: rollout.env })`ssh ${sshClientArgs(
    rollout.config,
  )} ${`${DEPLOY_USER}@${address}`} ${command}`;
}

/**
 * Containers that npm run upgrade made in place of Terraform's: Terraform no longer finds the ones
 * in its state and plans to create them again, which the new ones' names would block. They go
 * just before the apply, which creates the roles again from this checkout.
 */
async function handBackUpgraded(rollout: Rollout, address: string): Promise<void> {
  const filters = [
    `label=${CONTAINER_LABELS.deployment}=${rollout.config.name}`,
    `label=${CONTAINER_LABELS.upgradedFrom}`,
  ].flatMap((filter) => ['--filter', filter]);
  const listed = await onVm(
    rollout,
    address,
    shellWords(['docker', 'ps', '-a', ...filters, '--format', '{{.Names}}']),
  );
  if (listed.exitCode !== 0)
    throw new RolloutError(
      'services',
      `could not list the containers npm run upgrade made: ${listed.stderr.trim()}`,
      'npm run doctor checks SSH and Docker on the VM; then npm run deploy again',
    );
  const names = listed.stdout.split('\n').filter(Boolean);
  if (!names.length) return;
  log(
    'services',
    `${names.join(', ')} came from npm run upgrade: removed so that Terraform makes them again`,
  );
  const removed = await onVm(rollout, address, shellWords(['docker', 'rm', '--force', ...names]));
  if (removed.exitCode !== 0)
    throw new RolloutError(
      'services',
      `could not remove ${names.join(', ')}: ${removed.stderr.trim()}`,
      'npm run deploy again',
    );
}

/** swag's health on the VM. */
async function swagHealth(rollout: Rollout, address: string): Promise<string> {
  const result = await onVm(
    rollout,
    address,
    "docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' swag",
  );
  return result.exitCode === 0
    ? result.stdout.trim()
    : `unknown (ssh: ${result.stderr.trim().split('\n').at(-1) ?? result.exitCode})`;
}

async function swagLogs(rollout: Rollout, address: string): Promise<string> {
  return (await onVm(rollout, address, 'docker logs --tail 25 swag 2>&1')).stdout.trim();
}

async function waitForCertificate(
  rollout: Rollout,
  address: string,
  timeoutMinutes: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMinutes * 60_000;
  let health = await swagHealth(rollout, address);
  log('https', `swag is ${health}; waiting up to ${timeoutMinutes} min for its certificate`);
  while (health !== 'healthy' && Date.now() < deadline) {
    await sleep(10_000);
    const now = await swagHealth(rollout, address);
    if (now !== health) log('https', `swag is ${now}`);
    health = now;
  }
  if (health !== 'healthy') {
    const logs = await swagLogs(rollout, address);
    throw new RolloutError(
      'https',
      `swag has no certificate after ${timeoutMinutes} min (health: ${health}). Its last log lines:\n${logs.replace(/^/gm, '    ')}`,
      'swag asks again by itself, at most every 20 minutes, once the names resolve to the VM (docs/swag.md, "First boot: the certificate gate"); check that port 80 reaches the VM from outside, then npm run deploy again to wait once more',
    );
  }
  for (const host of publicHosts(rollout.config))
    log('https', `${host.site}: https://${host.fqdn}/`);
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, {
    plan: { type: 'boolean' },
    yes: { type: 'boolean' },
    staging: { type: 'boolean' },
    config: { type: 'string' },
    secrets: { type: 'string' },
    'dns-server': { type: 'string', multiple: true },
    'dns-timeout': { type: 'string' },
    'dns-interval': { type: 'string' },
    'no-dns-wait': { type: 'boolean' },
    'cert-timeout': { type: 'string' },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const dnsTimeout = positiveNumber('dns-timeout', values['dns-timeout'], 60);
  const dnsInterval = positiveNumber('dns-interval', values['dns-interval'], 15);
  const certTimeout = positiveNumber('cert-timeout', values['cert-timeout'], 10);
  const servers = values['dns-server'] ?? [];
  const yes = values.yes ?? false;

  // The second target has a flow of its own (one stack; docs/v2.md).
  const configFile = resolve(
    values.config ?? (process.env.REFRESHER_DEPLOY_CONFIG || defaultConfigFile()),
  );
  const any = await loadAnyDeploymentConfig(configFile);
  if (any.target === 'container-apps')
    return deployContainerApps({
      config: any,
      configFile,
      ...(values.secrets ? { secrets: values.secrets } : {}),
      plan: values.plan ?? false,
      yes,
    });

  const rollout = await openRollout({ config: values.config, secrets: values.secrets });
  await check(rollout, servers);

  log('synth', `bundle and synth into ${rollout.outDir}`);
  await synth(rollout, values.staging ? { REFRESHER_CERTBOT_STAGING: 'true' } : {});

  const azurePlan = await planStack(rollout, 'azure');
  if (values.plan) {
    rollout.azure.forgetPlan();
    if (azurePlan.changed) {
      log('services', 'planned after the azure stack is applied (it reads the VM from it)');
    } else {
      const servicesPlan = await planStack(rollout, 'services');
      rollout.services.forgetPlan();
      if (!servicesPlan.changed) log('services', 'nothing to do');
    }
    console.error('deploy: --plan: nothing was changed');
    return 0;
  }
  await applyStack(rollout, 'azure', azurePlan, yes);
  const outputs = await rollout.azure.outputs();
  const address = String(outputs.public_ip ?? '');
  if (!address)
    throw new RolloutError(
      'azure',
      'the azure stack has no public_ip output',
      'run npm run deploy again',
    );
  log('azure', `the VM is ready at ${address}`);

  if (values['no-dns-wait'])
    log('dns', 'not waiting (--no-dns-wait): swag waits for the names itself');
  else
    await waitForDns(
      rollout,
      {
        address,
        ...(Array.isArray(outputs.name_servers)
          ? { nameServers: outputs.name_servers.map(String) }
          : {}),
      },
      { servers, timeoutMinutes: dnsTimeout, intervalSeconds: dnsInterval },
    );

  const servicesPlan = await planStack(rollout, 'services');
  if (servicesPlan.changed) await handBackUpgraded(rollout, address);
  await applyStack(rollout, 'services', servicesPlan, yes);

  await waitForCertificate(rollout, address, certTimeout);
  const staging = values.staging
    ? ' (a staging certificate: npm run deploy again without --staging for a trusted one)'
    : rollout.config.certbot.staging
      ? ' (a staging certificate: set certbot.staging to false and deploy again for a trusted one)'
      : '';
  console.error(`deploy: done${staging}`);
  return 0;
}

await runCommand('deploy', USAGE, () => main(process.argv.slice(2)), {
  expected: [RolloutError, TerraformError, DeploymentConfigError],
  describe: (error) => {
    if (error instanceof RolloutError)
      return `step ${error.step} failed: ${error.message}\ndeploy: next: ${error.next}`;
    if (error instanceof TerraformError)
      return `step ${error.stackName} (terraform ${error.step}) failed: ${error.message}\ndeploy: next: fix what Terraform names, then npm run deploy again (${error.step === 'apply' ? 'the apply stopped part-way: what it did is in the state, and the next deploy plans again from there' : 'nothing was applied'})`;
    return `step check failed: ${error.message}\ndeploy: next: fix the configuration; nothing was created`;
  },
});
