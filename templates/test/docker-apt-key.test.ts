// The Docker apt key embedded in the user-data is Docker's, checked by gpg itself: one primary
// key with the published fingerprint, and every signature on it good. A copy with one character
// changed is refused, so the check can fail.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../../testing/files.ts';
import { DOCKER_APT_KEY_FILE, DOCKER_APT_KEY_FINGERPRINT } from '../cloud-init.ts';

const home = tempDir('refresher-gpg-');
after(() => home.remove());

function gpg(...args: string[]) {
  const result = spawnSync('gpg', ['--batch', '--no-tty', '--homedir', home.path, ...args], {
    encoding: 'utf8',
  });
  if (result.error)
    throw new Error(`gpg cannot run (${result.error.message}): install gnupg (bash .ci/run does)`);
  return { ok: result.status === 0, stdout: result.stdout, stderr: result.stderr };
}

/** The colon-separated records of `gpg --with-colons` output: [type, ...fields]. */
const records = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(':'));

describe("Docker's apt key", () => {
  const file = fileURLToPath(DOCKER_APT_KEY_FILE);

  test('holds exactly the key with the published fingerprint, with good signatures', () => {
    const shown = gpg('--show-keys', '--with-colons', '--with-fingerprint', file);
    assert.ok(shown.ok, shown.stderr);
    const lines = records(shown.stdout);
    const primaries = lines.filter(([type]) => type === 'pub');
    assert.equal(primaries.length, 1, 'one primary key');
    // The fpr record right after "pub" is the primary key's fingerprint (field 10).
    const fingerprint = lines[lines.findIndex(([type]) => type === 'pub') + 1]!;
    assert.equal(fingerprint[0], 'fpr');
    assert.equal(fingerprint[9], DOCKER_APT_KEY_FINGERPRINT);
    assert.ok(
      lines.some(
        ([type, , , , , , , , , uid]) =>
          type === 'uid' && uid === 'Docker Release (CE deb) <docker@docker.com>',
      ),
    );
    // The human form, as `gpg --show-keys --with-fingerprint` prints it for a person checking.
    const human = gpg('--show-keys', '--with-fingerprint', file);
    assert.match(human.stdout, /9DC8 5822 9FC7 DD38 854A {2}E2D8 8D81 803C 0EBF CD88/);

    const imported = gpg('--import', file);
    assert.ok(imported.ok, imported.stderr);
    const checked = gpg('--check-sigs', '--with-colons', DOCKER_APT_KEY_FINGERPRINT);
    assert.ok(checked.ok, checked.stderr);
    const sigs = records(checked.stdout).filter(([type]) => type === 'sig');
    assert.ok(sigs.length >= 2, 'the user id and the signing subkey are signed');
    assert.ok(
      sigs.every(([, validity]) => validity === '!'),
      `a signature is not good: ${checked.stdout}`,
    );
  });

  test('a copy with one character changed is refused', () => {
    const text = readFileSync(file, 'utf8');
    const at = text.indexOf('\n\n') + 200;
    const tampered = `${text.slice(0, at)}${text[at] === 'A' ? 'B' : 'A'}${text.slice(at + 1)}`;
    const copy = join(home.path, 'tampered.asc');
    writeFileSync(copy, tampered);
    const shown = gpg('--show-keys', '--with-colons', '--with-fingerprint', copy);
    const fingerprints = records(shown.stdout).filter(([type]) => type === 'fpr');
    assert.ok(
      !shown.ok || !fingerprints.some((record) => record[9] === DOCKER_APT_KEY_FINGERPRINT),
      'gpg accepted a changed key as the same key',
    );
  });
});
