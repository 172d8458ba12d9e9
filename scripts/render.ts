// npm run render -- --out DIR [--config FILE] [--secrets FILE]
// Renders every file of a deployment into DIR for inspection (and for `stack:up`): the SWAG site
// confs and htpasswd, the cloud-init user-data, the compose file and its secret env files.
// Without --config: infra/deploy.config.ts when it exists, else the committed example.
import { parseCommandLine, runCommand, UsageError } from '../contract/cli.ts';
import { DeploymentConfigError } from '../templates/config.ts';
import { SecretsError } from '../templates/secrets.ts';
import { defaultConfigFile, renderDeployment } from './lib/deployment.ts';

const USAGE = `usage: npm run render -- --out DIR [--config FILE] [--secrets FILE]
  --out DIR        where to write (replaced as a whole; created if missing)
  --config FILE    the deployment configuration (default: infra/deploy.config.ts, else
                   infra/deploy.config.example.ts)
  --secrets FILE   the generated secrets (default: .secrets/<name>.json, created if missing;
                   REFRESHER_* environment variables override single values)`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, {
    out: { type: 'string' },
    config: { type: 'string' },
    secrets: { type: 'string' },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.out) throw new UsageError('--out DIR is required');
  const configFile = values.config ?? defaultConfigFile();
  {
    const result = await renderDeployment({
      configFile,
      outDir: values.out,
      secretsFile: values.secrets,
    });
    console.log(`config:  ${result.configFile}`);
    console.log(`secrets: ${result.secretsFile}${result.secretsCreated ? ' (generated now)' : ''}`);
    console.log(`wrote ${result.files.length} files to ${result.outDir}:`);
    for (const file of result.files)
      console.log(`  ${file.path}${file.secret ? '  (secret)' : ''}`);
    return 0;
  }
}

await runCommand('render', USAGE, () => main(process.argv.slice(2)), {
  expected: [DeploymentConfigError, SecretsError],
  describe: (error) => `${error.message}\nnothing was written.`,
});
