// NOT Grafana: the grafana stand-in of the stack test is a provisioning checker. No build of
// Grafana exists here, so this program takes its place under its pinned name and checks, from
// inside the stack's network, what Grafana would do with the files the catalogue mounts:
//   - reads /etc/grafana/provisioning/datasources/*.yaml and dashboards/*.yaml as Grafana's
//     provisioning does, with $__env{NAME} and ${NAME} replaced from its environment;
//   - connects to every datasource with its provisioned URL and credentials (Prometheus over
//     HTTP with the provisioned method; PostgreSQL with the provisioned user and password);
//   - loads every dashboard from the provider's path and runs every panel's and variable's query
//     (Grafana's macros expanded as templates/test/helpers/grafana.ts does), SQL in a read-only
//     transaction as the provisioned reader;
//   - refuses an unset or default admin password (GF_SECURITY_ADMIN_PASSWORD).
// GET /api/health on port 3000 answers 200 only when the last round passed (503 with the problems
// otherwise); rounds repeat, so it turns healthy once Prometheus and the reader role exist.
// Bundled by the forge (esbuild) into one file that runs on the node stand-in.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import pg from 'pg';
import { parse } from 'yaml';
import {
  expandPromql,
  expandSql,
  panelQueries,
  variableQueries,
  type Selection,
} from '../../../../../templates/test/helpers/grafana.ts';

const PROVISIONING = process.env.GF_PATHS_PROVISIONING ?? '/etc/grafana/provisioning';
const PORT = 3000;

interface Datasource {
  name: string;
  uid: string;
  type: string;
  url: string;
  user?: string;
  jsonData?: { database?: string; httpMethod?: string; sslmode?: string };
  secureJsonData?: { password?: string };
}

/** Grafana's provisioning-file expansion of environment variables. */
function expandEnv(text: string): string {
  return text
    .replace(/\$__env\{(\w+)\}/g, (_, name: string) => process.env[name] ?? '')
    .replace(/\$\{(\w+)\}/g, (_, name: string) => process.env[name] ?? '');
}

function yamlFiles(dir: string): unknown[] {
  return readdirSync(dir)
    .filter((file) => /\.ya?ml$/.test(file))
    .map((file) => parse(expandEnv(readFileSync(join(dir, file), 'utf8'))) as unknown);
}

function loadProvisioning() {
  const datasources = yamlFiles(join(PROVISIONING, 'datasources')).flatMap(
    (file) => (file as { datasources?: Datasource[] }).datasources ?? [],
  );
  const dashboards: Record<string, { title?: string; panels?: unknown[] }> = {};
  for (const file of yamlFiles(join(PROVISIONING, 'dashboards')))
    for (const provider of (file as { providers?: { options?: { path?: string } }[] }).providers ??
      []) {
      const path = provider.options?.path;
      if (!path) throw new Error('a dashboard provider without options.path');
      for (const name of readdirSync(path).filter((file) => file.endsWith('.json')))
        dashboards[name] = JSON.parse(readFileSync(join(path, name), 'utf8')) as {
          title?: string;
        };
    }
  return { datasources, dashboards };
}

async function prometheusQuery(source: Datasource, expr: string): Promise<string | undefined> {
  const post = (source.jsonData?.httpMethod ?? 'POST') === 'POST';
  const url = `${source.url}/api/v1/query`;
  const response = post
    ? await fetch(url, { method: 'POST', body: new URLSearchParams({ query: expr }) })
    : await fetch(`${url}?${new URLSearchParams({ query: expr })}`);
  const body = (await response.json()) as { status: string; error?: string };
  return body.status === 'success' ? undefined : (body.error ?? `HTTP ${response.status}`);
}

async function round(): Promise<string[]> {
  const problems: string[] = [];
  const admin = process.env.GF_SECURITY_ADMIN_PASSWORD;
  if (!admin || admin === 'admin')
    problems.push('GF_SECURITY_ADMIN_PASSWORD is unset or "admin" (Grafana would use admin/admin)');
  const { datasources, dashboards } = loadProvisioning();
  const prometheus = datasources.find((source) => source.type === 'prometheus');
  const postgres = datasources.find((source) => source.type === 'grafana-postgresql-datasource');
  if (!prometheus || !postgres)
    return [...problems, 'expected a Prometheus and a PostgreSQL datasource'];

  const failure = await prometheusQuery(prometheus, 'up').catch((error: Error) => error.message);
  if (failure) problems.push(`datasource ${prometheus.name} (${prometheus.url}): ${failure}`);

  const [host, port] = postgres.url.split(':');
  const client = new pg.Client({
    host,
    port: Number(port ?? 5432),
    user: postgres.user,
    password: postgres.secureJsonData?.password,
    database: postgres.jsonData?.database,
    ssl: postgres.jsonData?.sslmode && postgres.jsonData.sslmode !== 'disable' ? {} : false,
  });
  try {
    await client.connect();
  } catch (error) {
    return [
      ...problems,
      `datasource ${postgres.name} (${postgres.url}): ${(error as Error).message}`,
    ];
  }
  try {
    const uids = { postgres: postgres.uid, prometheus: prometheus.uid };
    const queries = panelQueries(dashboards, uids);
    const variables = variableQueries(dashboards, postgres.uid);
    const to = new Date();
    const from = new Date(to.getTime() - 7 * 86_400_000);
    await client.query('BEGIN READ ONLY');
    const selections: Record<string, Record<string, Selection>> = {};
    for (const variable of variables)
      (selections[variable.dashboard] ??= {})[variable.name] = {
        all: true,
        allValue: variable.allValue ?? "''",
      };
    const sql = (text: string, dashboard: string) =>
      expandSql(text, { from, to, interval: '1h', variables: selections[dashboard] ?? {} });
    for (const variable of variables)
      await client
        .query(sql(variable.sql, variable.dashboard))
        .catch((error: Error) =>
          problems.push(`${variable.dashboard} $${variable.name}: ${error.message}`),
        );
    for (const query of queries) {
      const where = `${query.dashboard}/${query.panel}`;
      if (query.datasource === 'postgres')
        await client
          .query(sql(query.text, query.dashboard))
          .catch((error: Error) => problems.push(`${where}: ${error.message}`));
      else {
        const expr = expandPromql(query.text, { interval: '1m', rateInterval: '1m', range: '1h' });
        const error = await prometheusQuery(prometheus, expr).catch((e: Error) => e.message);
        if (error) problems.push(`${where}: ${error}`);
      }
    }
    console.log(
      JSON.stringify({
        msg: 'provisioning checked',
        datasources: datasources.length,
        dashboards: Object.keys(dashboards).length,
        queries: queries.length + variables.length,
        problems: problems.length,
      }),
    );
  } finally {
    await client.query('ROLLBACK').catch(() => {});
    await client.end().catch(() => {});
  }
  return problems;
}

let last: string[] = ['not checked yet'];

async function loop(): Promise<void> {
  for (;;) {
    try {
      last = await round();
    } catch (error) {
      last = [(error as Error).message];
    }
    if (last.length) console.log(JSON.stringify({ msg: 'provisioning problems', problems: last }));
    await new Promise((resolve) => setTimeout(resolve, last.length ? 5_000 : 60_000));
  }
}

createServer((request, response) => {
  if (request.url !== '/api/health') {
    response.writeHead(404).end();
    return;
  }
  const ok = last.length === 0;
  response.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(
    JSON.stringify({
      database: ok ? 'ok' : 'failing',
      standIn: 'grafana-provisioning-checker',
      problems: last,
    }),
  );
}).listen(PORT, '0.0.0.0', () => {
  console.log(JSON.stringify({ msg: 'grafana provisioning checker (not Grafana) on :3000' }));
  void loop();
});
