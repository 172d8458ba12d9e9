// Only infra/ imports cdktf, its constructs and the provider bindings, so moving to the community
// fork (cdktn) stays a rename inside infra/ (docs/infrastructure.md). And infra/ imports no app
// code: it only bundles app/ into an image.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { REPO_ROOT } from '../../scripts/lib/deployment.ts';

const CDKTF_IMPORT = /(?:from|import)\s*\(?\s*['"](?:cdktf|constructs|@cdktf\/[^'"]+)['"]/;
const APP_IMPORT = /(?:from|import)\s*\(?\s*['"](?:\.\.\/)+app\/(?!Dockerfile)/;

/** This file, whose samples above are not imports. */
const SELF = 'infra/test/layout.test.ts';

function sources(): string[] {
  return execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((path) => /\.(ts|mts|js|mjs)$/.test(path));
}

describe('layout', () => {
  test('the patterns see an import when there is one', () => {
    assert.match("import { App } from 'cdktf';", CDKTF_IMPORT);
    assert.match(
      "import { Image } from '@cdktf/provider-docker/lib/image/index.js';",
      CDKTF_IMPORT,
    );
    assert.match("import { Construct } from 'constructs';", CDKTF_IMPORT);
    assert.doesNotMatch("import { z } from 'zod';", CDKTF_IMPORT);
    assert.match("import { loadConfig } from '../../app/src/config.ts';", APP_IMPORT);
  });

  test('only infra/ imports cdktf, constructs or a provider binding', () => {
    const files = sources();
    assert.ok(files.length > 50, `${files.length} source files`);
    const outside = files.filter(
      (path) =>
        !path.startsWith('infra/') &&
        CDKTF_IMPORT.test(readFileSync(join(REPO_ROOT, path), 'utf8')),
    );
    assert.deepEqual(outside, []);
  });

  test('infra/ imports no app code', () => {
    const offenders = sources().filter(
      (path) =>
        path.startsWith('infra/') &&
        path !== SELF &&
        APP_IMPORT.test(readFileSync(join(REPO_ROOT, path), 'utf8')),
    );
    assert.deepEqual(offenders, []);
  });
});
