// npm run stack:up / stack:down without Docker: a clear message, exit status 1, nothing rendered.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { REPO_ROOT } from '../../contract/paths.ts';
import { tempDir } from '../../testing/files.ts';

const dir = tempDir();
after(() => dir.remove());

function stack(args: string[], path: string) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/stack.ts', ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { PATH: path, HOME: process.env.HOME ?? '/root' },
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('stack:up and stack:down', () => {
  test('without a docker command: says how to get Docker, exits 1, renders nothing', () => {
    const out = join(dir.path, 'no-docker');
    for (const action of ['up', 'down']) {
      // PATH holds only node's folder: no docker there (unless node sits next to one).
      const nodeDir = dirname(process.execPath);
      if (existsSync(join(nodeDir, 'docker'))) return;
      const result = stack([action, '--dir', out], nodeDir);
      assert.equal(result.status, 1, result.output);
      assert.match(result.output, /Docker is not installed here \(no `docker` on PATH\)/);
      assert.match(result.output, /npm start/);
      assert.ok(!existsSync(out), 'nothing rendered');
    }
  });

  test('with a docker command but no daemon: names the daemon, exits 1, renders nothing', (t) => {
    const info = spawnSync('docker', ['info'], { encoding: 'utf8' });
    if (info.error || info.status === 0) {
      t.skip(
        info.error
          ? 'no docker command here'
          : 'a Docker daemon runs here: this case cannot be made',
      );
      return;
    }
    const out = join(dir.path, 'no-daemon');
    const result = stack(['up', '--dir', out], process.env.PATH ?? '');
    assert.equal(result.status, 1, result.output);
    assert.match(result.output, /the Docker daemon does not answer/);
    assert.ok(!existsSync(out));
  });

  test('usage errors exit 2', () => {
    const result = stack(['sideways'], dirname(process.execPath));
    assert.equal(result.status, 2);
    assert.match(result.output, /expected "up" or "down"/);
  });
});
