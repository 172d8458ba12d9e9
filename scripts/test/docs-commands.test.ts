// Every `npm run X` that README.md and docs/ tell a reader to type exists in package.json: a
// runbook that names a script nobody can run is worse than none.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { REPO_ROOT } from '../../contract/paths.ts';

/** The npm scripts a text names (`npm run X`, `npm run -s X`), with the line each is on. */
function namedScripts(text: string): { script: string; line: number }[] {
  const found: { script: string; line: number }[] = [];
  text.split('\n').forEach((content, index) => {
    for (const match of content.matchAll(/\bnpm run(?: +-(?:s|-silent))? +([a-z][a-z0-9:_-]*)/g))
      found.push({ script: match[1]!, line: index + 1 });
  });
  return found;
}

function markdownFiles(): string[] {
  const docs = readdirSync(join(REPO_ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => join('docs', name));
  return ['README.md', ...docs];
}

describe('the commands the docs name', () => {
  const scripts = new Set(
    Object.keys(
      (
        JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
          scripts: Record<string, string>;
        }
      ).scripts,
    ),
  );

  test('the scanner finds what a reader would type, and a script that does not exist fails', () => {
    const text = 'first `npm run status`\nthen npm run -s logs -- web, and `npm run nosuch-script`';
    assert.deepEqual(namedScripts(text), [
      { script: 'status', line: 1 },
      { script: 'logs', line: 2 },
      { script: 'nosuch-script', line: 2 },
    ]);
    assert.ok(!scripts.has('nosuch-script'));
  });

  test('every npm run X in README.md and docs/ is a script of package.json', () => {
    const missing = markdownFiles().flatMap((file) =>
      namedScripts(readFileSync(join(REPO_ROOT, file), 'utf8'))
        .filter(({ script }) => !scripts.has(script))
        .map(({ script, line }) => `${file}:${line}: npm run ${script}`),
    );
    assert.deepEqual(missing, [], `scripts that do not exist:\n${missing.join('\n')}`);
  });
});
