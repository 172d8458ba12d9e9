// sqlmap (Debian's) against two filtered list endpoints, the API's and the portal's task results,
// whose `task` filter is the one free-text value that reaches a WHERE clause. Boolean-blind,
// error-based, UNION and stacked queries at level 1, risk 1; time-based blind is left out: it
// costs minutes of sleeps per parameter, and the techniques above find any concatenated value in
// these queries. A deliberately injectable route, served beside the app on the same database, is
// scanned first, so the suite proves that this sqlmap run finds what it is there to find.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import { QueryTypes } from 'sequelize';
import { createApiToken } from '../src/web/auth/tokens.ts';
import { createUser } from '../src/web/auth/users.ts';
import { freePort } from '../../testing/ports.ts';
import { createTestEnv, type TestEnv } from './helpers/env.ts';
import { CookieClient } from './helpers/http-client.ts';
import { serveWebApp, type ServedWebApp } from './helpers/web.ts';

const PASSWORD = 'a sufficiently long password';

interface Scan {
  injectable: boolean;
  output: string;
}

/** One sqlmap run on one parameter; its verdict read from what it prints. */
function sqlmap(url: string, parameter: string, headers: string[], output: string): Promise<Scan> {
  const args = [
    '-u',
    url,
    '-p',
    parameter,
    ...headers.flatMap((header) => ['--headers', header]),
    '--batch',
    '--level=1',
    '--risk=1',
    '--technique=BEUS',
    '--dbms=PostgreSQL',
    '--flush-session',
    '--disable-coloring',
    '--output-dir',
    output,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('sqlmap', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk));
    child.once('error', (error) =>
      reject(new Error(`cannot run sqlmap (bash .ci/run installs it): ${error.message}`)),
    );
    child.once('close', () =>
      resolve({
        injectable: /Parameter: \S+ \(GET\)|is vulnerable|appears to be '.+' injectable/.test(text),
        output: text,
      }),
    );
  });
}

describe('sqlmap against the filtered lists', { timeout: 5 * 60_000 }, () => {
  let env: TestEnv;
  let web: ServedWebApp;
  let control: Server;
  let controlOrigin: string;
  let token: string;
  let cookie: string;
  let output: string;

  before(async () => {
    env = await createTestEnv();
    await createUser(env.db, { username: 'ivan', password: PASSWORD, isAdmin: true });
    token = (await createApiToken(env.db, 1, { name: 'sqlmap' })).token;
    web = await serveWebApp(env);
    const browser = new CookieClient(web.origin);
    assert.equal((await browser.signIn('ivan', PASSWORD)).status, 303);
    cookie = [...browser.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    output = mkdtempSync(join(tmpdir(), 'refresher-sqlmap-'));

    // The control: the same table, with the filter pasted into the SQL, as nobody should write it.
    const app = express();
    app.get('/task-results', (request, response, next) => {
      env.db.sequelize
        .query(`SELECT id, task FROM task_results WHERE task = '${String(request.query.task)}'`, {
          type: QueryTypes.SELECT,
        })
        .then((rows) => response.json({ items: rows }), next);
    });
    app.use(((_error, _request, response, _next) => {
      response.status(500).json({ error: 'failed' });
    }) as express.ErrorRequestHandler);
    const port = await freePort();
    control = createServer(app);
    await new Promise<void>((resolve) => control.listen(port, '127.0.0.1', resolve));
    controlOrigin = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    control?.closeAllConnections();
    await new Promise((resolve) => control?.close(resolve));
    await web?.close();
    await env?.cleanup();
    if (output) rmSync(output, { recursive: true, force: true });
  });

  test('the control: an injectable copy of the list is found injectable', async () => {
    const scan = await sqlmap(`${controlOrigin}/task-results?task=x`, 'task', [], output);
    assert.ok(scan.injectable, `sqlmap missed the pasted filter:\n${scan.output.slice(-2_000)}`);
  });

  test('GET /api/v1/task-results?task= with a bearer token: not injectable', async () => {
    const scan = await sqlmap(
      `${web.origin}/api/v1/task-results?task=x&status=queued`,
      'task',
      [`Authorization: Bearer ${token}`],
      output,
    );
    assert.match(scan.output, /testing 'Boolean-based blind/, 'sqlmap ran its tests');
    assert.ok(!scan.injectable, scan.output.slice(-2_000));
  });

  test('GET /admin/task-results?task= with a session: not injectable', async () => {
    const scan = await sqlmap(
      `${web.origin}/admin/task-results?task=x`,
      'task',
      [`Cookie: ${cookie}`],
      output,
    );
    assert.match(scan.output, /testing 'Boolean-based blind/, 'sqlmap ran its tests');
    assert.doesNotMatch(scan.output, /redirect|login/i, 'the session held: the page was scanned');
    assert.ok(!scan.injectable, scan.output.slice(-2_000));
  });
});
