// npm run speedtest-now: queues a speed test through the deployment's API, as any API client
// would (a Bearer token made in the portal's "API tokens" page), waits for the worker to run it,
// and prints the stored result. The token is read from REFRESHER_API_TOKEN or a file, never from
// the command line, where other users of the machine could read it in the process list.
//
//   REFRESHER_API_TOKEN=rf_… npm run speedtest-now [-- --engine E] [--server S]... [--json]
//                                                 [--url URL] [--connect-to ADDRESS] [--timeout S]
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseCommandLine, runCommand, UsageError } from '../contract/cli.ts';
import { DeploymentConfigError, loadDeploymentConfig, publicHosts } from '../templates/config.ts';
import { resolve } from 'node:path';
import { defaultConfigFile } from './lib/deployment.ts';
import { EXIT, OpsError, progress } from './lib/ops.ts';

export const TOKEN_ENV = 'REFRESHER_API_TOKEN';
const TASK = 'speedtester.run_speedtest';

const USAGE = `usage: ${TOKEN_ENV}=rf_… npm run speedtest-now [-- OPTIONS]
  --engine librespeed|ookla   the engine (default: the deployment's SPEEDTEST_ENGINE)
  --server URL|ID             a server to test against (repeatable; default: the deployment's)
  --json                      the stored result as JSON
  --token-file FILE           read the API token from FILE instead of ${TOKEN_ENV}
  --url URL                   the service (default: https://<speedtester name> of --config)
  --connect-to ADDRESS        connect there instead of resolving the name (TLS still checks the name)
  --timeout SECONDS           how long to wait for the result (default: 300)
  --config FILE               the deployment configuration (default: infra/deploy.config.ts)
A CA of your own (a staging certificate, a test): NODE_EXTRA_CA_CERTS=ca.pem.
exit: 0 a result, 1 the test failed or timed out, 3 the service does not answer or refuses the token`;

interface Reply {
  status: number;
  body: string;
}

function client(base: URL, token: string, connectTo?: string) {
  const request = base.protocol === 'https:' ? httpsRequest : httpRequest;
  return (method: string, path: string, body?: unknown): Promise<unknown> =>
    new Promise((resolvePromise, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          host: connectTo ?? base.hostname,
          port: base.port || undefined,
          servername: base.hostname,
          path: `${base.pathname.replace(/\/$/, '')}/api/v1${path}`,
          method,
          timeout: 30_000,
          headers: {
            host: base.host,
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json' } : {}),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            const reply: Reply = { status: res.statusCode ?? 0, body: text };
            if (reply.status === 401 || reply.status === 403)
              return reject(new OpsError(`${base.origin} refused the token (${reply.status}): make one in the portal (API tokens) and set ${TOKEN_ENV}`, EXIT.unreachable));
            if (reply.status >= 300)
              return reject(new OpsError(`${method} ${path}: ${reply.status} ${text.slice(0, 300)}`));
            try {
              resolvePromise(JSON.parse(text));
            } catch {
              reject(new OpsError(`${method} ${path}: the answer is not JSON: ${text.slice(0, 200)}`));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer in 30 s')));
      req.on('error', (error) =>
        reject(new OpsError(`${base.origin} does not answer${connectTo ? ` at ${connectTo}` : ''}: ${error.message}`, EXIT.unreachable)),
      );
      req.end(payload);
    });
} // prettier-ignore

interface TaskResult {
  jobId: string;
  status: string;
  error: string | null;
  result: { speedtestId?: string } | null;
}
interface Speedtest {
  id: string;
  startedAt: string;
  engine: string;
  serverName: string | null;
  downloadBps: number | null;
  uploadBps: number | null;
  pingMs: number | null;
  jitterMs: number | null;
  packetLoss: number | null;
  resultUrl: string | null;
}

const mbps = (bps: number | null) => (bps === null ? '-' : (bps / 1e6).toFixed(1));
const ms = (value: number | null) => (value === null ? '-' : value.toFixed(1));

function readToken(file: string | undefined): string {
  let token = process.env[TOKEN_ENV];
  if (file) {
    try {
      token = readFileSync(file, 'utf8');
    } catch (error) {
      throw new UsageError(`--token-file ${file}: ${(error as Error).message}`);
    }
  }
  token = token?.trim();
  if (!token) throw new UsageError(`no API token: set ${TOKEN_ENV} (make one in the portal under API tokens) or pass --token-file`);
  if (!/^rf_[A-Za-z0-9_-]+$/.test(token)) throw new UsageError(`the API token does not look like one of this service's (rf_…)`);
  return token;
} // prettier-ignore

async function main(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, {
    engine: { type: 'string' },
    server: { type: 'string', multiple: true },
    json: { type: 'boolean' },
    'token-file': { type: 'string' },
    url: { type: 'string' },
    'connect-to': { type: 'string' },
    timeout: { type: 'string' },
    config: { type: 'string' },
  });
  if (values.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  const timeout = Number(values.timeout ?? 300);
  if (!Number.isInteger(timeout) || timeout < 1) throw new UsageError(`--timeout "${values.timeout}" is not a positive whole number of seconds`);
  if (values.engine !== undefined && !['librespeed', 'ookla'].includes(values.engine)) throw new UsageError(`--engine must be librespeed or ookla (got "${values.engine}")`);
  const token = readToken(values['token-file']);
  let base: URL;
  if (values.url) {
    try {
      base = new URL(values.url);
    } catch {
      throw new UsageError(`--url "${values.url}" is not a URL`);
    }
    if (!['http:', 'https:'].includes(base.protocol)) throw new UsageError(`--url must be http(s) (got ${base.protocol})`);
  } else {
    const config = await loadDeploymentConfig(resolve(values.config ?? (process.env.REFRESHER_DEPLOY_CONFIG || defaultConfigFile())));
    base = new URL(`https://${publicHosts(config).find((host) => host.site === 'speedtester')!.fqdn}/`);
  }
  const api = client(base, token, values['connect-to']);
  const kwargs = { ...(values.engine ? { engine: values.engine } : {}), ...(values.server ? { servers: values.server } : {}) };
  const { jobId } = (await api('POST', `/tasks/${TASK}/run`, { kwargs })) as { jobId: string };
  const shown = progress('speedtest-now:');
  shown.update(`queued as job ${jobId}`);
  const deadline = Date.now() + timeout * 1000;
  let run: TaskResult | undefined;
  for (;;) {
    const page = (await api('GET', `/task-results?task=${TASK}&limit=50`)) as { items: TaskResult[] };
    run = page.items.find((item) => item.jobId === jobId);
    if (run && ['succeeded', 'failed'].includes(run.status)) break;
    if (Date.now() > deadline) throw new OpsError(`job ${jobId} is still ${run?.status ?? 'queued'} after ${timeout} s (npm run logs -- worker)`);
    shown.update(`job ${jobId}: ${run?.status ?? 'queued'}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  if (run.status === 'failed' || !run.result?.speedtestId) {
    shown.done(`job ${jobId} failed`);
    throw new OpsError(`the speed test failed: ${run.error ?? 'no result'}`);
  }
  const test = (await api('GET', `/speedtests/${run.result.speedtestId}`)) as Speedtest;
  shown.done(`job ${jobId} succeeded`);
  if (values.json) console.log(JSON.stringify(test, null, 2));
  else
    console.log(
      `${test.engine} against ${test.serverName ?? 'an unnamed server'}: ${mbps(test.downloadBps)} Mbit/s down, ${mbps(test.uploadBps)} Mbit/s up, ping ${ms(test.pingMs)} ms, jitter ${ms(test.jitterMs)} ms\n` +
        `stored as speed test ${test.id}: ${new URL(`admin/speedtests/${test.id}`, base).href}`,
    );
  return EXIT.ok;
} // prettier-ignore

await runCommand('speedtest-now', USAGE, () => main(process.argv.slice(2)), {
  expected: [OpsError, DeploymentConfigError],
});
