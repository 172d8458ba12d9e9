// The SSH facts of templates/ssh.ts: the client's options, written as ssh and a shell read them,
// and the private key's place in the deployment configuration. The drop-in and the options meet
// a real sshd in scripts/test/stack/ssh.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DeploymentConfigError, parseDeploymentConfig } from '../config.ts';
import {
  CONTROL_PATH,
  renderSshdDropIn,
  shellWords,
  sshClientArgs,
  sshClientOptions,
} from '../ssh.ts';
import { configFixture, validInput } from './helpers/deployment.ts';

const fixture = configFixture();
after(() => fixture.remove());

/** -o Name=value pairs as a map. */
function pairs(options: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i < options.length; i += 2) {
    assert.equal(options[i], '-o');
    const [name, ...value] = options[i + 1]!.split('=');
    map.set(name!, value.join('='));
  }
  return map;
}

describe('SSH client options', () => {
  test('the configured key only, one shared connection, no prompt, a bounded wait', () => {
    const options = pairs(sshClientOptions({ privateKeyPath: '/home/me/.ssh/id_ed25519' }));
    assert.deepEqual(Object.fromEntries(options), {
      BatchMode: 'yes',
      StrictHostKeyChecking: 'accept-new',
      IdentityFile: '/home/me/.ssh/id_ed25519',
      IdentitiesOnly: 'yes',
      ControlMaster: 'auto',
      ControlPath: '~/.ssh/cm-%C',
      ControlPersist: '300',
      ServerAliveInterval: '30',
      ConnectTimeout: '10',
    });
    const own = pairs(
      sshClientOptions({ privateKeyPath: '/k', controlPath: '/t/cm/%C', knownHostsFile: '/t/kh' }),
    );
    assert.equal(own.get('ControlPath'), '/t/cm/%C');
    assert.equal(own.get('UserKnownHostsFile'), '/t/kh');
  });

  test('the control socket path fits a Unix socket for a home folder of up to 38 characters', () => {
    // ssh binds to the path plus 17 characters, then renames; %C is 40 hex digits. macOS allows
    // 104 bytes (Linux 108): /Users/ and a user name of up to 31 characters.
    const home = `/Users/${'a'.repeat(31)}`;
    const path = `${home}${CONTROL_PATH.slice(1)}`.replace('%C', 'f'.repeat(40));
    assert.ok(path.length + 17 <= 104, `${path.length + 17} bytes`);
  });

  test('a key path with spaces is quoted for ssh, and every word survives the shell', () => {
    const options = sshClientOptions({ privateKeyPath: "/home/Jo Smith/it's key" });
    assert.ok(options.includes(`IdentityFile="/home/Jo Smith/it's key"`));
    assert.throws(() => sshClientOptions({ privateKeyPath: '/a"b' }), /double quote/);
    const words = [...options, 'deploy@${self.input.address}', 'echo "$HOME" | tail -n 1'];
    const echoed = spawnSync('sh', ['-c', `printf '%s\\n' ${shellWords(words)}`], {
      encoding: 'utf8',
    });
    assert.deepEqual(echoed.stdout.split('\n').slice(0, -1), words);
    // Safe words stay bare, so the command reads as it would be typed.
    assert.equal(shellWords(['-o', 'BatchMode=yes']), '-o BatchMode=yes');
    assert.equal(shellWords(['ControlPath=~/.ssh/cm-%C']), "'ControlPath=~/.ssh/cm-%C'");
  });

  test('the drop-in names the admin and the deploy user, and the limits with their reasons', () => {
    const lines = renderSshdDropIn('ops_admin').split('\n');
    assert.ok(lines.includes('AllowUsers ops_admin deploy'));
    for (const directive of ['MaxAuthTries', 'MaxSessions', 'MaxStartups']) {
      const at = lines.findIndex((line) => line.startsWith(`${directive} `));
      assert.ok(at > 0 && lines[at - 1]!.startsWith('#'), `${directive} says why`);
    }
  });
});

describe('vm.sshPrivateKeyPath', () => {
  const parse = (vm: Record<string, unknown>) =>
    parseDeploymentConfig(
      validInput(fixture.keyPath, { vm: { ...(validInput(fixture.keyPath).vm as object), ...vm } }),
      join(fixture.path, 'deploy.config.json'),
    );

  test('defaults to the public key without .pub, and need not exist to render or synth', () => {
    const config = parse({});
    assert.equal(config.vm.sshPrivateKeyPath, join(fixture.path, 'admin'));
    assert.deepEqual(sshClientArgs(config).slice(4, 6), [
      '-o',
      `IdentityFile=${join(fixture.path, 'admin')}`,
    ]);
  });

  test('resolves ~ and paths relative to the configuration file, like the public key', () => {
    assert.equal(
      parse({ sshPrivateKeyPath: '~/.ssh/deploy_ed25519' }).vm.sshPrivateKeyPath,
      join(homedir(), '.ssh/deploy_ed25519'),
    );
    assert.equal(
      parse({ sshPrivateKeyPath: 'keys/deploy' }).vm.sshPrivateKeyPath,
      join(fixture.path, 'keys/deploy'),
    );
    assert.equal(parse({ sshPrivateKeyPath: '/abs/key' }).vm.sshPrivateKeyPath, '/abs/key');
  });

  test('no .pub to strip is refused by field; the public key named as the private one means an agent key', () => {
    const problem = (vm: Record<string, unknown>, input = validInput(fixture.keyPath)) => {
      try {
        parseDeploymentConfig(
          { ...input, vm: { ...(input.vm as object), ...vm } },
          join(fixture.path, 'deploy.config.json'),
        );
      } catch (error) {
        assert.ok(error instanceof DeploymentConfigError);
        return error.problems;
      }
      assert.fail('accepted');
    };
    assert.equal(
      parse({ sshPrivateKeyPath: fixture.keyPath }).vm.sshPrivateKeyPath,
      fixture.keyPath,
    );
    // A public key under a name without .pub.
    const noPub = join(fixture.path, 'admin-key.txt');
    copyFileSync(fixture.keyPath, noPub);
    assert.deepEqual(problem({ sshPublicKeyPath: noPub }), [
      {
        field: 'vm.sshPublicKeyPath',
        message: `${noPub} does not end in .pub: name the private key with vm.sshPrivateKeyPath (or this same file, when only your ssh-agent holds the key)`,
      },
    ]);
    assert.equal(
      parse({ sshPublicKeyPath: noPub, sshPrivateKeyPath: './admin' }).vm.sshPrivateKeyPath,
      join(fixture.path, 'admin'),
    );
  });
});
