// `npm run synth` as a person runs it (infra/main.ts after the bundle), in temporary places: on a
// fresh checkout it writes both stacks, the secrets' variable file and nothing else; a bad input
// stops it with the field named and leaves the previous cdktf.out/ exactly as it was.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SECRET_NAMES } from '../../templates/secrets.ts';
import { runTs } from '../../testing/child.ts';
import { tempDir } from '../../testing/files.ts';
import { validInput } from '../../templates/test/helpers/deployment.ts';
import { bundleApp } from '../../scripts/lib/bundle.ts';
import { REPO_ROOT } from '../../contract/paths.ts';
import { secretVariableName, SECRETS_TFVARS } from '../stacks/services.ts';
import { EXAMPLE_CONFIG } from './helpers.ts';

const dir = tempDir('refresher-synth-');
after(() => dir.remove());
const dist = join(dir.path, 'dist');
const secretsFile = join(dir.path, 'secrets', 'refresher.json');

function synth(out: string, env: Record<string, string> = {}) {
  const result = runTs('infra/main.ts', [], {
    CDKTF_OUTDIR: out,
    REFRESHER_DEPLOY_CONFIG: EXAMPLE_CONFIG,
    REFRESHER_SECRETS_FILE: secretsFile,
    REFRESHER_DIST: dist,
    REFRESHER_STATE_DIR: join(dir.path, 'state'),
    ...env,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Every file under a folder with its content, by relative path. */
function tree(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (sub: string) => {
    for (const entry of readdirSync(join(root, sub), { withFileTypes: true })) {
      const rel = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(rel);
      else files.set(rel, readFileSync(join(root, rel), 'utf8'));
    }
  };
  walk('');
  return files;
}

const out = join(dir.path, 'cdktf.out');
let first: { status: number | null; output: string };

before(async () => {
  await bundleApp({ outDir: dist });
  first = synth(out);
});

describe('npm run synth', () => {
  test('on a fresh checkout: both stacks, generated secrets, the variable file', () => {
    assert.equal(first.status, 0, first.output);
    assert.match(first.output, /stack azure: \d+ resources/);
    assert.match(first.output, /stack services: \d+ resources/);
    assert.match(first.output, /\(generated now\)/);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as {
      stacks: Record<string, { synthesizedStackPath: string; dependencies: string[] }>;
    };
    assert.deepEqual(Object.keys(manifest.stacks).sort(), ['azure', 'services']);
    assert.deepEqual(manifest.stacks.services!.dependencies, ['azure']);
    for (const name of ['azure', 'services'])
      assert.ok(existsSync(join(out, 'stacks', name, 'cdk.tf.json')), name);

    // The secrets: generated once (0600), and handed to Terraform only through the variable file.
    const secrets = JSON.parse(readFileSync(secretsFile, 'utf8')) as Record<string, string>;
    assert.deepEqual(Object.keys(secrets).sort(), [...SECRET_NAMES].sort());
    const tfvarsPath = join(out, 'stacks', 'services', SECRETS_TFVARS);
    const tfvars = JSON.parse(readFileSync(tfvarsPath, 'utf8')) as Record<string, string>;
    for (const name of SECRET_NAMES) assert.equal(tfvars[secretVariableName(name)], secrets[name]);
    assert.equal(statSync(tfvarsPath).mode & 0o777, 0o600);
    assert.equal(statSync(out).mode & 0o777, 0o700);
    // Local state's folder is made private before Terraform writes secrets into it; the backend
    // finds it from the stack's folder.
    assert.equal(statSync(join(dir.path, 'state')).mode & 0o777, 0o700);
    const azure = JSON.parse(readFileSync(join(out, 'stacks', 'azure', 'cdk.tf.json'), 'utf8')) as {
      terraform: { backend: { local: { path: string } } };
    };
    assert.equal(
      join(out, 'stacks', 'azure', azure.terraform.backend.local.path),
      join(dir.path, 'state', 'terraform.azure.tfstate'),
    );
    const config = readFileSync(join(out, 'stacks', 'services', 'cdk.tf.json'), 'utf8');
    for (const value of Object.values(secrets)) assert.ok(!config.includes(value));
    // The build context is the bundle just made, relative to the stack's folder.
    assert.ok(config.includes(JSON.stringify(relative(join(out, 'stacks', 'services'), dist))));
    // Nothing but the output itself is left beside it.
    assert.deepEqual(
      readdirSync(dir.path).filter((name) => name.startsWith('.')),
      [],
      'no temporary folders',
    );
  });

  test('a configuration error names the field and changes nothing', () => {
    const before = tree(out);
    const bad = join(dir.path, 'bad.json');
    const input = validInput(join(REPO_ROOT, 'infra/example-admin-key.pub'), {
      vm: {
        size: 'Standard_B2s',
        sshPublicKeyPath: join(REPO_ROOT, 'infra/example-admin-key.pub'),
        sshAllowedCidrs: ['0.0.0.0/0'],
        osDiskType: 'Gold_LRS',
      },
      dns: { mode: 'existing-zone' },
    });
    writeFileSync(bad, JSON.stringify(input));
    const result = synth(out, { REFRESHER_DEPLOY_CONFIG: bad });
    assert.equal(result.status, 1, result.output);
    assert.match(
      result.output,
      /vm\.sshAllowedCidrs\.0: refusing to open SSH to the whole internet/,
    );
    assert.match(result.output, /vm\.osDiskType: expected one of Standard_LRS/);
    assert.match(result.output, /dns\.resourceGroup/);
    assert.match(result.output, /nothing was written/);
    assert.deepEqual(tree(out), before, 'cdktf.out is unchanged');
    assert.deepEqual(
      readdirSync(dir.path).filter((name) => name.startsWith('.')),
      [],
      'no temporary folders',
    );
  });

  test('without a bundle it says how to make one, and changes nothing', () => {
    const before = tree(out);
    const result = synth(out, { REFRESHER_DIST: join(dir.path, 'no-dist') });
    assert.equal(result.status, 1, result.output);
    assert.match(result.output, /no app bundle in .*no-dist: run `npm run bundle` first/);
    assert.deepEqual(tree(out), before);
  });

  test("a new synth keeps Terraform's provider folders and lock files", () => {
    const kept = join(out, 'stacks', 'azure', '.terraform');
    mkdirSync(join(kept, 'providers'), { recursive: true });
    writeFileSync(join(kept, 'providers', 'marker'), 'azurerm');
    writeFileSync(join(out, 'stacks', 'azure', '.terraform.lock.hcl'), '# lock\n');
    const again = synth(out);
    assert.equal(again.status, 0, again.output);
    assert.doesNotMatch(again.output, /generated now/, 'the secrets are reused');
    assert.equal(readFileSync(join(kept, 'providers', 'marker'), 'utf8'), 'azurerm');
    assert.equal(
      readFileSync(join(out, 'stacks', 'azure', '.terraform.lock.hcl'), 'utf8'),
      '# lock\n',
    );
  });
});
