// app/Dockerfile without a Docker engine (none runs here): its instructions are read and checked
// for what the image must be (pinned Node 24 base, multi-stage, non-root, an init process, a
// health check, labels, the classic builder's syntax only), and the Ookla stage's shell script
// runs for real against stand-ins for dpkg, apt-get and curl: the licence gate and the checksum
// check do what they say. Building the image itself is left to a machine with Docker.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { OOKLA_BIN_IN_IMAGE } from '../../contract/paths.ts';
import { PORTS } from '../../contract/ports.ts';
import { tempDir } from '../../testing/files.ts';
import { BUNDLE_FILE, REPO_ROOT } from '../../contract/paths.ts';
import {
  parseDockerfile,
  stageArgs,
  type Instruction,
  type Stage,
} from '../../testing/dockerfile.ts';

const TEXT = readFileSync(join(REPO_ROOT, 'app/Dockerfile'), 'utf8');
const dockerfile = parseDockerfile(TEXT);
const final = dockerfile.stages.at(-1)!;
const stage = (name: string): Stage => {
  const found = dockerfile.stages.find((s) => s.name === name);
  assert.ok(found, `a stage named ${name}`);
  return found;
};
const all = (s: Stage, keyword: string): Instruction[] =>
  s.instructions.filter((i) => i.keyword === keyword);

const dir = tempDir('refresher-dockerfile-');
after(() => dir.remove());

describe('app/Dockerfile', () => {
  test('multi-stage, every stage on a pinned Node 24 LTS base', () => {
    assert.ok(dockerfile.stages.length >= 3, 'deps, ookla and the runtime');
    const nodeMajor = readFileSync(join(REPO_ROOT, '.nvmrc'), 'utf8').trim();
    for (const s of dockerfile.stages) {
      const pinned =
        /@sha256:[a-f0-9]{64}$/.test(s.from) ||
        new RegExp(`^node:${nodeMajor}\\.\\d+\\.\\d+-[a-z]+-slim$`).test(s.from);
      assert.ok(pinned, `FROM ${s.from || '(empty)'} is Node ${nodeMajor} at a full version`);
    }
  });

  test('the runtime: non-root, tini as PID 1 running the bundle, a health check, OCI labels', () => {
    const user = all(final, 'USER').at(-1);
    assert.ok(user, 'a USER');
    assert.ok(!/^(root|0)(:|$)/.test(user.args), `runs as ${user.args}`);
    const entrypoint = JSON.parse(all(final, 'ENTRYPOINT').at(-1)!.args) as string[];
    assert.deepEqual(entrypoint.slice(0, 2), ['/usr/bin/tini', '--'], 'tini is PID 1');
    assert.deepEqual(entrypoint.slice(2), ['node', `/app/${BUNDLE_FILE}`]);
    assert.equal(all(final, 'WORKDIR').at(-1)!.args, '/app');
    const install = all(final, 'RUN')
      .map((i) => i.args)
      .join(' ');
    assert.match(install, /apt-get install .*\btini\b/);
    assert.match(install, /apt-get install .*\bprocps\b/, 'speedtest-net stops the CLI with ps');
    assert.match(install, /rm -rf \/var\/lib\/apt\/lists/);

    const health = all(final, 'HEALTHCHECK').at(-1);
    assert.ok(health && !/^NONE\b/.test(health.args), 'a HEALTHCHECK');
    assert.match(health.args, /--interval=\d+s --timeout=\d+s --start-period=\d+s --retries=\d+/);
    assert.match(health.args, new RegExp(`METRICS_PORT \\|\\| ${PORTS.metrics}\\) \\+ '/metrics'`));
    const exposed = all(final, 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map(Number));
    assert.deepEqual(exposed.sort(), [PORTS.web, PORTS.metrics].sort());

    const labels = all(final, 'LABEL')
      .map((i) => i.args)
      .join(' ');
    for (const key of ['title', 'description', 'version', 'licenses'])
      assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${key}=`), key);
    assert.match(labels, /org\.opencontainers\.image\.version="\$\{APP_VERSION\}"/);
  });

  test('only what the bundle cannot hold is installed: the pruned lockfile, no scripts, no dev', () => {
    const deps = stage('deps');
    const copies = all(deps, 'COPY').map((i) => i.args);
    assert.deepEqual(copies, ['package.json package-lock.json ./']);
    assert.match(all(deps, 'RUN')[0]!.args, /^npm ci --omit=dev --ignore-scripts\b/);
    const finalCopies = all(final, 'COPY').map((i) => i.args);
    assert.ok(finalCopies.includes('--from=deps /app/node_modules ./node_modules'));
    assert.ok(finalCopies.includes(`package.json ${BUNDLE_FILE} ./`));
    assert.ok(
      finalCopies.includes('assets ./assets'),
      'the portal finds its assets next to the bundle',
    );
  });

  test('the Ookla CLI lands where the app looks for it', () => {
    const copy = all(final, 'COPY').find((i) => i.args.startsWith('--from=ookla '));
    assert.ok(copy);
    const [, from, to] = copy.args.split(/\s+/);
    assert.equal(from, '/out/');
    const script = all(stage('ookla'), 'RUN')[0]!.args;
    assert.match(script, /tar -xzf \S+ -C \/out speedtest;/);
    assert.equal(`${to}speedtest`, OOKLA_BIN_IN_IMAGE);
  });

  test('the classic builder can build it (what the Terraform docker provider uses)', () => {
    assert.deepEqual(dockerfile.directives, [], 'no # syntax= directive');
    assert.doesNotMatch(TEXT, /^\s*RUN\s+--mount/m, 'no RUN --mount');
    assert.doesNotMatch(TEXT, /<<-?\s*['"]?[A-Z]+/, 'no heredocs');
    assert.doesNotMatch(
      TEXT,
      /--checksum|--link|--chmod|--parents|--exclude/,
      'no BuildKit-only flags',
    );
    assert.doesNotMatch(TEXT, /\$\{?(TARGETARCH|TARGETPLATFORM|BUILDPLATFORM|TARGETOS)\b/);
    assert.doesNotMatch(TEXT, /^\s*ADD\s/m, 'COPY, not ADD');
    assert.doesNotMatch(TEXT, /:latest\b/);
    // The final stage re-declares the global ARG it uses in a label.
    assert.ok(stageArgs(final).has('NODE_IMAGE'));
  });
});

describe("app/Dockerfile's Ookla stage, run with stand-ins", () => {
  const ookla = stage('ookla');
  const args = stageArgs(ookla);
  const script = all(ookla, 'RUN')[0]!.args;

  test('its version and checksums are pinned', () => {
    assert.match(args.get('OOKLA_VERSION')!, /^\d+\.\d+\.\d+$/);
    assert.match(args.get('OOKLA_SHA256_X86_64')!, /^[a-f0-9]{64}$/);
    assert.match(args.get('OOKLA_SHA256_AARCH64')!, /^[a-f0-9]{64}$/);
    assert.equal(args.get('OOKLA_ACCEPT_LICENSE'), 'false', 'not installed unless accepted');
    assert.match(script, /sha256sum -c -/);
    assert.ok(
      script.indexOf('OOKLA_ACCEPT_LICENSE') < script.indexOf('curl '),
      'the licence is checked before anything is downloaded',
    );
  });

  // A fake archive with a `speedtest` in it, and stand-ins that log what they were asked.
  const bin = join(dir.path, 'bin');
  const log = join(dir.path, 'calls.log');
  const archive = join(dir.path, 'fake.tgz');
  mkdirSync(bin, { recursive: true });
  mkdirSync(join(dir.path, 'src'));
  writeFileSync(join(dir.path, 'src', 'speedtest'), '#!/bin/sh\necho fake speedtest\n');
  writeFileSync(join(dir.path, 'src', 'speedtest.md'), 'readme\n');
  spawnSync('tar', ['-czf', archive, '-C', join(dir.path, 'src'), 'speedtest', 'speedtest.md']);
  const fakeSum = createHash('sha256').update(readFileSync(archive)).digest('hex');
  const stub = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} $*" >> "${log}"\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  stub('dpkg', 'echo "$FAKE_ARCH"');
  stub('apt-get', 'exit 0');
  stub(
    'curl',
    `while [ $# -gt 0 ]; do if [ "$1" = -o ]; then out="$2"; shift; fi; shift; done; cp "${archive}" "$out"`,
  );

  function runStage(env: Record<string, string>) {
    const out = join(dir.path, 'out');
    const download = join(dir.path, 'ookla.tgz');
    rmSync(out, { recursive: true, force: true });
    rmSync(download, { force: true });
    rmSync(log, { force: true });
    const local = script
      .replace(/\/tmp\/ookla\.tgz/g, download)
      .replace(/(?<![\w/.-])\/out\b/g, out);
    const result = spawnSync('sh', ['-c', local], {
      encoding: 'utf8',
      env: {
        PATH: `${bin}:${process.env.PATH ?? ''}`,
        FAKE_ARCH: 'amd64',
        ...Object.fromEntries(args),
        ...env,
      },
    });
    return {
      status: result.status,
      output: `${result.stdout}${result.stderr}`,
      calls: existsSync(log) ? readFileSync(log, 'utf8') : '',
      installed: existsSync(out) ? readdirSync(out) : [],
      out,
    };
  }

  test('without the licence accepted nothing is downloaded or installed', () => {
    const result = runStage({});
    assert.equal(result.status, 0, result.output);
    assert.match(result.output, /not installed/);
    assert.deepEqual(result.installed, []);
    assert.equal(result.calls, '', 'no apt-get, no curl');
  });

  test('with it, an archive that does not match the pinned checksum is refused', () => {
    const result = runStage({ OOKLA_ACCEPT_LICENSE: 'true' });
    assert.notEqual(result.status, 0, result.output);
    assert.match(result.output, /FAILED|did NOT match/);
    assert.deepEqual(result.installed, []);
    assert.match(
      result.calls,
      /curl .*https:\/\/install\.speedtest\.net\/app\/cli\/ookla-speedtest-1\.2\.0-linux-x86_64\.tgz/,
    );
  });

  test('and one that matches is unpacked: only the speedtest binary, executable', () => {
    const result = runStage({ OOKLA_ACCEPT_LICENSE: 'true', OOKLA_SHA256_X86_64: fakeSum });
    assert.equal(result.status, 0, result.output);
    assert.deepEqual(result.installed, ['speedtest']);
    assert.equal(statSync(join(result.out, 'speedtest')).mode & 0o777, 0o755);
  });

  test('arm64 gets the aarch64 build and its own checksum; other machines are refused', () => {
    const arm = runStage({
      OOKLA_ACCEPT_LICENSE: 'true',
      FAKE_ARCH: 'arm64',
      OOKLA_SHA256_AARCH64: fakeSum,
    });
    assert.equal(arm.status, 0, arm.output);
    assert.match(arm.calls, /linux-aarch64\.tgz/);
    const other = runStage({ OOKLA_ACCEPT_LICENSE: 'true', FAKE_ARCH: 'riscv64' });
    assert.notEqual(other.status, 0);
    assert.match(other.output, /no Ookla CLI build for riscv64/);
    assert.doesNotMatch(other.calls, /curl/);
  });
});
