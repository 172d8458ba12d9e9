// The docker run arguments npm run upgrade makes a role again with (scripts/lib/recreate.ts), from
// `docker inspect` as Docker Engine prints it for a compose-made app role: what the container set
// itself comes along, what its old image brought stays with the image. The real replacement runs
// in the stack test (test:stack), against Docker.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runArguments, type InspectedContainer, type InspectedImage } from '../lib/recreate.ts';

const image: InspectedImage = {
  Config: {
    Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production', 'APP_VERSION=0.1.0'],
    Cmd: ['all'],
    Entrypoint: ['/usr/bin/tini', '--', 'node', '/app/refresher.mjs'],
    Labels: { 'org.opencontainers.image.version': '0.1.0' },
    User: 'node',
    WorkingDir: '/app',
    Healthcheck: { Test: ['CMD', 'node', '-e', 'x'], Interval: 30e9 },
  },
};

function container(changes: Partial<InspectedContainer['HostConfig']> = {}): InspectedContainer {
  return {
    Name: '/refresher_web_1',
    Config: {
      Hostname: 'web',
      User: 'node',
      Env: [...image.Config.Env!, 'DATABASE_URL=postgres://refresher@postgres/refresher', 'WEB_PORT=3000'],
      Cmd: ['web'],
      Entrypoint: image.Config.Entrypoint,
      Labels: { ...image.Config.Labels, 'com.docker.compose.service': 'web', 'io.refresher.service': 'web' },
      StopTimeout: 30,
      Healthcheck: { Test: ['CMD', 'node', '-e', "fetch('http://127.0.0.1:9464/metrics')"], Interval: 10e9, Timeout: 5e9, StartPeriod: 20e9, Retries: 3 },
      WorkingDir: '/app',
    },
    HostConfig: {
      NetworkMode: 'refresher',
      RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 },
      Memory: 384 * 1024 * 1024,
      LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } },
      CapAdd: null,
      Dns: null,
      ExtraHosts: null,
      PortBindings: { '3000/tcp': [{ HostIp: '127.0.0.1', HostPort: '3000' }] },
      ...changes,
    },
    Mounts: [{ Type: 'volume', Name: 'refresher_web-data', Source: '/var/lib/docker/volumes/x', Destination: '/data', RW: true }],
    NetworkSettings: { Networks: { refresher: { Aliases: ['web', '3f2c1a9b8d7e'], IPAMConfig: null } } },
  }; // prettier-ignore
}

/** The value after each occurrence of a flag. */
const values = (args: string[], flag: string) =>
  args.flatMap((arg, i) => (arg === flag ? [args[i + 1]!] : []));

describe('runArguments (npm run upgrade)', () => {
  test("the container's own settings come along; its old image's environment, labels and command do not", () => {
    const { args, command } = runArguments(container(), image, {
      'io.refresher.upgraded-from': 'sha256:old',
    });
    assert.deepEqual(values(args, '--name'), ['refresher_web_1']);
    assert.deepEqual(values(args, '--env'), [
      'DATABASE_URL=postgres://refresher@postgres/refresher',
      'WEB_PORT=3000',
    ]);
    assert.deepEqual(values(args, '--label').sort(), [
      'com.docker.compose.service=web',
      'io.refresher.service=web',
      'io.refresher.upgraded-from=sha256:old',
    ]);
    assert.deepEqual(values(args, '--restart'), ['unless-stopped']);
    assert.deepEqual(values(args, '--memory'), [`${384 * 1024 * 1024}b`]);
    assert.deepEqual(values(args, '--stop-timeout'), ['30']);
    assert.deepEqual(values(args, '--log-opt'), ['max-size=10m', 'max-file=3']);
    assert.deepEqual(values(args, '--publish'), ['127.0.0.1:3000:3000/tcp']);
    assert.deepEqual(values(args, '--volume'), ['refresher_web-data:/data']);
    assert.deepEqual(values(args, '--network'), ['refresher']);
    assert.deepEqual(values(args, '--network-alias'), ['web'], "not Docker's own short-id alias");
    assert.deepEqual(values(args, '--health-interval'), ['10000ms']);
    assert.match(values(args, '--health-cmd')[0]!, /^node -e 'fetch\(/);
    assert.equal(values(args, '--entrypoint').length, 0, "the image's own entry point");
    assert.equal(values(args, '--user').length, 0, "the image's own user");
    assert.deepEqual(command, ['web']);
  });

  test('settings it cannot carry over are refused, not dropped', () => {
    assert.throws(
      () => runArguments(container({ Privileged: true }), image),
      /has privileged: upgrade does not replace/,
    );
    assert.throws(() => runArguments(container({ Tmpfs: { '/tmp': '' } }), image), /has tmpfs/);
  });
});
