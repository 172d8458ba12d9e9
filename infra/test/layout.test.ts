// The layer graph is written once, in .dependency-cruiser.cjs, and `npm run lint` enforces it
// (docs/architecture.md). A rule whose pattern has drifted from the tree passes for ever without
// checking anything, so this file breaks the graph on purpose and expects the cruiser to name the
// rule that was broken, and shows that imports the graph allows still pass.
// The probes are cruised in a throwaway overlay of the repo in the temp folder (each real file a
// symlink, the probes real files beside them), with the repo's own config: the tree itself is never
// written, so a probe cannot be left behind in it, nor seen by a tsc or eslint run meanwhile.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { REPO_ROOT } from '../../contract/paths.ts';
const CONFIG = join(REPO_ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(REPO_ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

/**
 * A file that breaks the graph: its path, its one import, the rule it breaks and where the import
 * resolves to (for a package, its folder: which file of it is the package's business).
 */
interface Breach {
  probe: string;
  source: string;
  rule: string;
  to: string;
}

const BREACHES: Breach[] = [
  {
    probe: 'app/src/__layer_probe__.ts',
    source: "import { loadDeploymentConfig } from '../../templates/config.ts';",
    rule: 'app-imports-only-contract',
    to: 'templates/config.ts',
  },
  {
    probe: 'templates/__layer_probe__.ts',
    source: "import { loadConfig } from '../app/src/config.ts';",
    rule: 'templates-import-only-contract-and-sources',
    to: 'app/src/config.ts',
  },
  {
    probe: 'infra/__layer_probe__.ts',
    source: "import { loadConfig } from '../app/src/config.ts';",
    rule: 'infra-imports-only-templates-build-library-and-contract',
    to: 'app/src/config.ts',
  },
  {
    probe: 'scripts/lib/__layer_probe__.ts',
    source: "import { App } from 'cdktf';",
    rule: 'only-infra-imports-cdktf',
    to: 'node_modules/cdktf/',
  },
  {
    // A root file is no layer, and still may not import cdktf.
    probe: '__layer_probe__.ts',
    source: "import { Construct } from 'constructs';",
    rule: 'only-infra-imports-cdktf',
    to: 'node_modules/constructs/',
  },
  {
    probe: 'app/test/__layer_probe__.test.ts',
    source: "import { bundleApp } from '../../scripts/lib/bundle.ts';",
    rule: 'app-tests-import-only-app-contract-and-testing',
    to: 'scripts/lib/bundle.ts',
  },
  {
    // Not even the templates' test helpers: the app's tests see templates/ not at all.
    probe: 'app/test/__layer_probe_helpers__.test.ts',
    source: "import { configFixture } from '../../templates/test/helpers/deployment.ts';",
    rule: 'app-tests-import-only-app-contract-and-testing',
    to: 'templates/test/helpers/deployment.ts',
  },
  {
    probe: 'contract/__layer_probe__.ts',
    source: "import { stringify } from 'yaml';",
    rule: 'contract-imports-only-zod-and-node',
    to: 'node_modules/yaml/',
  },
];

/** Files whose imports the graph allows: each must come out without a violation. */
const ALLOWED: Record<string, string> = {
  'contract/__layer_probe_allowed__.ts': [
    "import { z } from 'zod';",
    "import { join } from 'node:path';",
    "import { PORTS } from './ports.ts';",
  ].join('\n'),
  'infra/test/__layer_probe_allowed__.test.ts': [
    "import { App } from 'cdktf';",
    "import { configFixture } from '../../templates/test/helpers/deployment.ts';",
    "import { bundleApp } from '../../scripts/lib/bundle.ts';",
    "import { waitFor } from '../../testing/wait.ts';",
  ].join('\n'),
  'app/bench/__layer_probe_allowed__.ts': [
    "import { createTestEnv } from '../test/helpers/env.ts';",
    "import { loadConfig } from '../src/config.ts';",
    "import { freePort } from '../../testing/ports.ts';",
  ].join('\n'),
};

/** The folders above a path, outermost first: app/src/x.ts -> app, app/src. */
function folders(path: string): string[] {
  const parts = path.split('/').slice(0, -1);
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

/**
 * The repo as seen from `root`: every folder a probe goes into is a real folder there, everything
 * else a symlink to the repo's own file or folder. Returns the probes' paths as written.
 */
function overlay(root: string, probes: Record<string, string>): string[] {
  const paths = Object.keys(probes);
  const real = ['', ...new Set(paths.flatMap(folders))];
  for (const folder of real) mkdirSync(join(root, folder), { recursive: true });
  for (const folder of real) {
    const inRepo = join(REPO_ROOT, folder);
    if (!existsSync(inRepo)) continue;
    for (const name of readdirSync(inRepo)) {
      const path = folder ? `${folder}/${name}` : name;
      if (name === '.git' || real.includes(path) || paths.includes(path)) continue;
      symlinkSync(join(inRepo, name), join(root, path));
    }
  }
  for (const [path, source] of Object.entries(probes)) {
    // Never through a symlink into the tree.
    assert.equal(realpathSync(dirname(join(root, path))), join(realpathSync(root), dirname(path)));
    writeFileSync(join(root, path), `${source}\n`, { flag: 'wx' });
  }
  return paths;
}

interface Run {
  status: number;
  output: string;
  /** `rule: from → to`, one per violation the cruiser reported. */
  violations: string[];
}

/** depcruise with the repo's config, as `npm run lint` runs it, from `cwd`. */
function depcruise(cwd: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [DEPCRUISE, '--config', CONFIG, '--no-progress', ...args],
      { cwd, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const status = error ? error.code : 0;
        if (typeof status !== 'number') return reject(error ?? new Error('no exit status'));
        const output = `${stdout}${stderr}`;
        const violations = [...output.matchAll(/^\s*(?:error|warn|info) (\S+: \S+ → \S+)$/gm)]
          .map((match) => match[1] ?? '')
          .sort();
        resolve({ status, output, violations });
      },
    );
  });
}

describe('layout', () => {
  const root = mkdtempSync(join(tmpdir(), 'refresher-layers-'));
  let probes: Run;
  let tree: Run;

  before(async () => {
    const sources = Object.fromEntries(BREACHES.map((breach) => [breach.probe, breach.source]));
    const files = overlay(root, { ...sources, ...ALLOWED });
    // --preserve-symlinks: modules keep their overlay paths (app/src/…), which the rules match.
    // --max-depth 1: the probes' own imports only, not what the files they import import.
    [probes, tree] = await Promise.all([
      depcruise(root, ['--preserve-symlinks', '--max-depth', '1', ...files]),
      depcruise(REPO_ROOT, ['.']),
    ]);
  });

  after(() => rmSync(root, { recursive: true, force: true }));

  test('an import that breaks the graph fails, naming the rule', () => {
    assert.notEqual(probes.status, 0, probes.output);
    for (const { probe, rule, to } of BREACHES) {
      assert.ok(
        probes.violations.some((line) => line.startsWith(`${rule}: ${probe} → ${to}`)),
        `${probe} → ${to} should break ${rule}:\n${probes.output}`,
      );
    }
  });

  test('imports the graph allows pass, and each breach breaks one rule only', () => {
    const from = probes.violations.map((line) => line.split(' ')[1]).sort();
    assert.deepEqual(from, BREACHES.map(({ probe }) => probe).sort(), probes.output);
  });

  test('the tree keeps to the graph', () => {
    assert.deepEqual(tree.violations, [], tree.output);
    assert.equal(tree.status, 0, tree.output);
    // The cruise saw the tree, tests and benches included.
    const cruised = /(\d+) modules, (\d+) dependencies cruised/.exec(tree.output);
    assert.ok(cruised && Number(cruised[1]) > 200, tree.output);
  });
});
