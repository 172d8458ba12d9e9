// One check of one target, without root: a TCP connect (the time of the handshake, one round trip)
// or an HTTP GET on a fresh connection (the handshake plus the request, to the response's status
// line). The name is resolved first and untimed, so a cached lookup and a slow resolver read the
// same; a name that does not resolve is a failure like any other.
import { lookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, isIP } from 'node:net';
import { errorCode } from '../errors.ts';
import type { SocketSource } from '../speedtest/source.ts';
import { parseTcpTarget } from './definition.ts';

export type CheckResult = { ok: true; ms: number } | { ok: false; error: string };

export interface CheckOptions {
  timeoutMs: number;
  source?: SocketSource;
}

const describe = (error: unknown) => errorCode(error) ?? (error as Error).message;

async function resolve(host: string, family: 4 | 6 | undefined): Promise<string> {
  const bare = host.replace(/^\[|\]$/g, '');
  if (isIP(bare)) return bare;
  return (await lookup(bare, { family: family ?? 0 })).address;
}

/** Runs `work` against a deadline; `abort` must end what it started. */
function withDeadline(
  timeoutMs: number,
  work: (settle: (result: CheckResult) => void) => () => void,
): Promise<CheckResult> {
  return new Promise((done) => {
    let finished = false;
    const settle = (result: CheckResult) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      abort();
      done(result);
    };
    let abort = () => undefined as void;
    const timer = setTimeout(
      () => settle({ ok: false, error: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    abort = work(settle);
  });
}

async function checkTcp(target: string, options: CheckOptions): Promise<CheckResult> {
  const parsed = parseTcpTarget(target);
  if (!parsed) return { ok: false, error: `"${target}" is not host:port` };
  const started = performance.now();
  let address: string;
  try {
    address = await resolve(parsed.host, options.source?.family);
  } catch (error) {
    return { ok: false, error: `${parsed.host}: ${describe(error)}` };
  }
  const left = options.timeoutMs - (performance.now() - started);
  if (left <= 0) return { ok: false, error: `no answer within ${options.timeoutMs} ms` };
  return withDeadline(Math.ceil(left), (settle) => {
    const connectedFrom = performance.now();
    const socket = connect({
      host: address,
      port: parsed.port,
      ...(options.source?.localAddress ? { localAddress: options.source.localAddress } : {}),
    });
    socket.once('connect', () => settle({ ok: true, ms: performance.now() - connectedFrom }));
    socket.once('error', (error) => settle({ ok: false, error: describe(error) }));
    return () => socket.destroy();
  });
}

function checkHttp(target: string, options: CheckOptions): Promise<CheckResult> {
  const url = new URL(target);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return withDeadline(options.timeoutMs, (settle) => {
    const started = performance.now();
    const request = send(url, {
      agent: false,
      headers: { 'user-agent': 'refresher-probe', 'cache-control': 'no-store' },
      ...(options.source?.localAddress ? { localAddress: options.source.localAddress } : {}),
      ...(options.source?.family ? { family: options.source.family } : {}),
    });
    request.once('response', (response) => {
      const ms = performance.now() - started;
      response.resume();
      const status = response.statusCode ?? 0;
      settle(status >= 500 ? { ok: false, error: `HTTP ${status}` } : { ok: true, ms });
    });
    request.once('error', (error) => settle({ ok: false, error: describe(error) }));
    request.end();
    return () => request.destroy();
  });
}

export function checkTarget(
  kind: 'tcp' | 'http',
  target: string,
  options: CheckOptions,
): Promise<CheckResult> {
  return kind === 'tcp' ? checkTcp(target, options) : checkHttp(target, options);
}
