// npm run doctor: is this laptop ready to deploy, and is the deployment reachable? One line per
// check, ✓ or ✗, and for each ✗ the fix: Node.js, Terraform, the Azure CLI's sign-in, the
// deployment configuration (valid, and not the example), the SSH key (and ssh-agent), DNS of
// every public name, SSH to the host as the deploy user, Docker there.
//
//   npm run doctor [-- --host …] [--config FILE] [--dns-server ADDRESS[:PORT]]... [--json]
import { parseCommandLine, runCommand } from '../contract/cli.ts';
import { DeploymentConfigError } from '../templates/config.ts';
import {
  checkAzure,
  checkConfig,
  checkDns,
  checkDocker,
  checkKey,
  checkNode,
  checkSsh,
  checkTerraform,
  skip,
  type CheckResult,
} from './lib/doctor-checks.ts';
import { EXIT, openTarget, OPS_ERRORS, TARGET_FLAGS, type Target } from './lib/ops.ts';

const USAGE = `usage: npm run doctor [-- --host [USER@]HOST[:PORT]] [--config FILE] [--dns-server ADDRESS]... [--json]
  --host        the deployment's host (default: REFRESHER_HOST, else the azure stack's public_ip
                in .state/, else the speedtester name)
  --config      the deployment configuration (default: infra/deploy.config.ts, else the example)
  --dns-server  ask this DNS server (repeatable; default: the system's resolver)
  --json        the results as JSON
exit: 0 every check passed, 1 one or more failed`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, {
    config: TARGET_FLAGS.config,
    host: TARGET_FLAGS.host,
    'dns-server': { type: 'string', multiple: true },
    json: { type: 'boolean' },
  });
  if (values.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  const results: CheckResult[] = [checkNode(), await checkTerraform(), await checkAzure()];
  let target: Target | undefined;
  try {
    target = await openTarget(values);
  } catch (error) {
    if (!(error instanceof DeploymentConfigError)) throw error;
    results.push({ name: 'config', state: 'fail', detail: error.message, fix: 'fix the values named above (docs/deployment-config.md)' });
  } // prettier-ignore
  const needs = 'needs a valid configuration';
  if (target) {
    results.push(checkConfig(target.config, target.configFile), await checkKey(target.config));
    // An address names the VM exactly; a host name (the speedtester name) says nothing to compare.
    const address = /^[\d.]+$/.test(target.ssh!.host) ? target.ssh!.host : undefined;
    results.push(await checkDns(target.config, address, values['dns-server'] ?? []));
    const ssh = await checkSsh(target);
    results.push(ssh, ssh.state === 'ok' ? await checkDocker(target) : skip('docker', 'needs SSH'));
  } else for (const name of ['ssh key', 'dns', 'ssh', 'docker']) results.push(skip(name, needs));

  if (values.json) console.log(JSON.stringify(results, null, 2));
  else
    for (const result of results) {
      const mark = { ok: '✓', fail: '✗', skip: '–' }[result.state];
      console.log(`${mark} ${result.name.padEnd(9)} ${result.detail}`);
      if (result.fix) console.log(`  ${''.padEnd(9)} fix: ${result.fix}`);
    }
  return results.some((r) => r.state === 'fail') ? EXIT.problem : EXIT.ok;
}

await runCommand('doctor', USAGE, () => main(process.argv.slice(2)), { expected: OPS_ERRORS });
