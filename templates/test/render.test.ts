// Rendering as a whole: deterministic output, secrets kept apart, `npm run render` on a fresh
// checkout, and bad input that writes nothing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { REPO_ROOT } from '../../contract/paths.ts';
import { renderAll, writeRendered } from '../render.ts';
import {
  generateSecrets,
  htpasswdLine,
  loadOrCreateSecrets,
  secretEnvName,
  SecretsError,
  SECRET_NAMES,
} from '../secrets.ts';
import { configFixture, validInput } from './helpers/deployment.ts';

const fixture = configFixture();
after(() => fixture.remove());

function render(args: string[]) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/render.ts', ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Every file under a directory with its content, by relative path. */
function tree(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (sub: string) => {
    for (const entry of readdirSync(join(dir, sub), { withFileTypes: true })) {
      const rel = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(rel);
      else files.set(rel, readFileSync(join(dir, rel), 'utf8'));
    }
  };
  walk('');
  return files;
}

describe('rendering', () => {
  test('same configuration and secrets: the same bytes; other secrets change only secret files', () => {
    const config = fixture.config();
    const secrets = generateSecrets();
    const first = renderAll(config, secrets);
    assert.deepEqual(renderAll(fixture.config(), { ...secrets }), first);

    const other = renderAll(config, generateSecrets());
    assert.deepEqual(
      other.map((file) => file.path),
      first.map((file) => file.path),
    );
    for (const [i, file] of first.entries()) {
      if (file.secret)
        assert.notEqual(other[i]!.content, file.content, `${file.path} holds a secret`);
      else assert.equal(other[i]!.content, file.content, `${file.path} must not depend on secrets`);
    }
    // No secret value is in any file that is not marked secret.
    for (const file of first.filter((f) => !f.secret))
      for (const name of SECRET_NAMES)
        assert.ok(!file.content.includes(secrets[name]), `${name} leaked into ${file.path}`);
  });

  test('the output: every expected file, secrets 0600 and the folder private', () => {
    const config = fixture.config();
    const files = renderAll(config, generateSecrets());
    assert.deepEqual(
      files.map((file) => file.path),
      [
        'alertmanager/alertmanager.yml',
        'cloud-init/user-data.yaml',
        'compose/docker-compose.yml',
        'compose/secrets/grafana-db-role.env',
        'compose/secrets/grafana.env',
        'compose/secrets/migrate.env',
        'compose/secrets/postgres-exporter.env',
        'compose/secrets/postgres.env',
        'compose/secrets/scheduler.env',
        'compose/secrets/web.env',
        'compose/secrets/worker.env',
        'grafana/dashboards/containers.json',
        'grafana/dashboards/host.json',
        'grafana/dashboards/postgresql.json',
        'grafana/dashboards/probes.json',
        'grafana/dashboards/redis.json',
        'grafana/dashboards/speedtester.json',
        'grafana/dashboards/tasks.json',
        'grafana/provisioning/dashboards/refresher.yaml',
        'grafana/provisioning/datasources/refresher.yaml',
        'postgres/grafana-reader-role.sql',
        'prometheus/prometheus.yml',
        'prometheus/rules/refresher.rules.yml',
        'swag/certificate-gate.py',
        'swag/proxy-confs/grafana.subdomain.conf',
        'swag/proxy-confs/prometheus.subdomain.conf',
        'swag/proxy-confs/speed.subdomain.conf',
        'swag/refresher.htpasswd',
      ],
    );
    const out = join(fixture.path, 'out');
    writeRendered(out, files);
    assert.equal(statSync(out).mode & 0o777, 0o700);
    assert.equal(statSync(join(out, 'compose/secrets/web.env')).mode & 0o777, 0o600);
    assert.equal(statSync(join(out, 'compose/docker-compose.yml')).mode & 0o777, 0o644);
    // Rendering again replaces the folder as a whole: nothing stale survives.
    writeFileSync(join(out, 'stale.txt'), 'old');
    writeRendered(out, files);
    assert.ok(!existsSync(join(out, 'stale.txt')));
    assert.deepEqual(
      readdirSync(fixture.path).filter(
        (name) => name.includes('.rendering-') || name.includes('.previous-'),
      ),
      [],
    );
  });

  test('htpasswd: a bcrypt line that checks against the password, the same for the same secret', () => {
    const line = htpasswdLine('ops', 'correct horse battery staple 123');
    assert.match(line, /^ops:\$2b\$10\$[./A-Za-z0-9]{53}\n$/);
    const hash = line.trim().split(':')[1]!;
    assert.ok(bcrypt.compareSync('correct horse battery staple 123', hash));
    assert.ok(!bcrypt.compareSync('correct horse battery staple 124', hash));
    assert.equal(htpasswdLine('ops', 'correct horse battery staple 123'), line);
    assert.notEqual(htpasswdLine('ops', 'another password entirely 456'), line);
  });

  test('secrets: generated once into a 0600 file, reused, overridden by the environment', () => {
    const file = join(fixture.path, 'secrets', 'deploy.json');
    const first = loadOrCreateSecrets(file, {});
    assert.equal(first.created, true);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const again = loadOrCreateSecrets(file, {});
    assert.equal(again.created, false);
    assert.deepEqual(again.secrets, first.secrets);

    assert.equal(secretEnvName('postgresPassword'), 'REFRESHER_POSTGRES_PASSWORD');
    const overridden = loadOrCreateSecrets(file, {
      REFRESHER_POSTGRES_PASSWORD: 'from-the-environment-0123456789',
    });
    assert.equal(overridden.secrets.postgresPassword, 'from-the-environment-0123456789');
    assert.equal(
      JSON.parse(readFileSync(file, 'utf8')).postgresPassword,
      first.secrets.postgresPassword,
    );

    assert.throws(
      () => loadOrCreateSecrets(file, { REFRESHER_SESSION_SECRET: 'short' }),
      (error: Error) =>
        error instanceof SecretsError &&
        /sessionSecret: expected at least 24/.test(error.message) &&
        !error.message.includes('short'),
    );
    const broken = join(fixture.path, 'broken.json');
    writeFileSync(broken, '{"postgresPassword": "x"');
    assert.throws(() => loadOrCreateSecrets(broken, {}), /is not JSON/);
  });

  test('npm run render: the committed example on a fresh checkout, then the same bytes again', () => {
    const out = join(fixture.path, 'render-example');
    const secrets = join(fixture.path, 'example-secrets.json');
    const first = render(['--out', out, '--secrets', secrets]);
    assert.equal(first.status, 0, first.output);
    if (!existsSync(join(REPO_ROOT, 'infra/deploy.config.ts')))
      assert.match(first.output, /config: {2}infra\/deploy\.config\.example\.ts/);
    assert.match(first.output, /\(generated now\)/);
    assert.match(first.output, /swag\/proxy-confs\/speed\.subdomain\.conf/);
    assert.match(first.output, /prometheus\/prometheus\.yml/);
    assert.match(first.output, /grafana\/dashboards\/speedtester\.json/);
    assert.match(first.output, /prometheus\/prometheus\.yml/);
    assert.match(first.output, /grafana\/dashboards\/speedtester\.json/);
    const before = tree(out);
    assert.ok(before.has('cloud-init/user-data.yaml'));
    const secretValues = Object.values(
      JSON.parse(readFileSync(secrets, 'utf8')) as Record<string, string>,
    );
    for (const value of secretValues)
      assert.ok(!first.output.includes(value), 'a secret was printed');

    const second = render(['--out', out, '--secrets', secrets]);
    assert.equal(second.status, 0, second.output);
    assert.doesNotMatch(second.output, /generated now/);
    assert.deepEqual(tree(out), before);
  });

  test('bad input: every field named, exit status 1, nothing written or replaced', () => {
    const bad = fixture.writeJson(
      'bad.json',
      validInput(fixture.keyPath, {
        domain: 'nope',
        vm: { sshAllowedCidrs: ['1.2.3.4'] },
        timezone: 'Nowhere',
      }),
    );
    const fresh = join(fixture.path, 'never-written');
    const result = render([
      '--out',
      fresh,
      '--config',
      bad,
      '--secrets',
      join(fixture.path, 'bad-secrets.json'),
    ]);
    assert.equal(result.status, 1, result.output);
    assert.match(result.output, /^ {2}domain: /m);
    assert.match(result.output, /^ {2}vm\.sshAllowedCidrs\.0: /m);
    assert.match(result.output, /^ {2}timezone: /m);
    assert.match(result.output, /nothing was written/);
    assert.ok(!existsSync(fresh));
    assert.ok(
      !existsSync(join(fixture.path, 'bad-secrets.json')),
      'no secrets generated for a bad config',
    );

    const existing = join(fixture.path, 'existing');
    mkdirSync(existing);
    writeFileSync(join(existing, 'keep.txt'), 'previous render');
    assert.equal(render(['--out', existing, '--config', bad]).status, 1);
    assert.deepEqual(tree(existing), new Map([['keep.txt', 'previous render']]));

    const usage = render(['--config', bad]);
    assert.equal(usage.status, 2);
    assert.match(usage.output, /--out DIR is required/);
  });
});
