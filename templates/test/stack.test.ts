// npm run stack:up / stack:down without Docker, without its daemon, with a bad configuration: a
// clear message, exit status 1, nothing rendered or started. (A port already taken needs a
// daemon: the stack test checks it, scripts/test/stack/stack.test.ts.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { REPO_ROOT } from '../../contract/paths.ts';
import { tempDir } from '../../testing/files.ts';

const dir = tempDir();
after(() => dir.remove());

function stack(args: string[], path: string, env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/stack.ts', ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { PATH: path, HOME: process.env.HOME ?? '/root', ...env },
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** A PATH with node and nothing else (node's own folder may hold docker: /usr/bin does). */
function onlyNode(): string {
  const bin = join(dir.path, 'only-node');
  if (!existsSync(bin)) {
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
  }
  return bin;
}

describe('stack:up and stack:down', () => {
  test('without a docker command: says how to get Docker, exits 1, renders nothing', () => {
    const out = join(dir.path, 'no-docker');
    for (const action of ['up', 'down']) {
      const result = stack([action, '--dir', out], onlyNode());
      assert.equal(result.status, 1, result.output);
      assert.match(result.output, /Docker is not installed here \(no `docker` on PATH\)/);
      assert.match(result.output, /npm start/);
      assert.ok(!existsSync(out), 'nothing rendered');
    }
  });

  test('with a docker command but no daemon: names the daemon, exits 1, renders nothing', (t) => {
    if (spawnSync('docker', ['--version']).error) {
      t.skip('no docker command here');
      return;
    }
    const out = join(dir.path, 'no-daemon');
    // DOCKER_HOST at a socket nobody listens on: no daemon, whether or not one runs here.
    const result = stack(['up', '--dir', out], process.env.PATH ?? '', {
      DOCKER_HOST: `unix://${join(dir.path, 'no-daemon.sock')}`,
    });
    assert.equal(result.status, 1, result.output);
    assert.match(result.output, /the Docker daemon does not answer/);
    assert.ok(!existsSync(out));
  });

  test('a configuration that fails validation: names the field, exits 1, renders nothing, even without Docker', () => {
    const config = join(dir.path, 'bad.config.ts');
    writeFileSync(
      config,
      `import example from ${JSON.stringify(join(REPO_ROOT, 'infra/deploy.config.example.ts'))};\n` +
        "export default { ...example, domain: 'not a domain' };\n",
    );
    const out = join(dir.path, 'bad-config');
    const result = stack(['up', '--config', config, '--dir', out], onlyNode());
    assert.equal(result.status, 1, result.output);
    assert.match(result.output, /^stack: Invalid deployment configuration /m);
    assert.match(result.output, /^\s+domain: /m);
    assert.doesNotMatch(result.output, /Docker is not installed/);
    assert.ok(!existsSync(out));
  });

  test('usage errors exit 2', () => {
    const result = stack(['sideways'], onlyNode());
    assert.equal(result.status, 2);
    assert.match(result.output, /expected "up" or "down"/);
  });
});
