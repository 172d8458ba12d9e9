// system.http_check: GET a URL and record the status, the latency and, for https, when the
// certificate expires. Useful on its own (uptime of anything) and as a smoke test of the pipeline.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { z } from 'zod';
import { defineTask } from './registry.ts';

export interface HttpCheckResult {
  url: string;
  status: number;
  ok: boolean;
  latencyMs: number;
  tlsExpiresAt?: string;
  tlsDaysLeft?: number;
}

const kwargs = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
    timeoutMs: z.int().min(100).max(120_000).default(10_000),
    /** Status codes counted as healthy; anything else fails the task (and so is retried). */
    expectStatus: z.array(z.int().min(100).max(599)).min(1).default([200]),
    /** Accept self-signed certificates (the expiry is still recorded). */
    insecure: z.boolean().default(false),
  })
  .strict();

export function httpCheckTask(defaultUrl: () => string) {
  return defineTask({
    name: 'system.http_check',
    description: 'GET a URL; record status, latency and TLS certificate expiry.',
    queue: 'default',
    kwargs,
    allowed: 'admins',
    attempts: 3,
    backoffMs: 2_000,
    timeoutMs: 30_000,
    async run(args, context): Promise<HttpCheckResult> {
      const url = args.url ?? defaultUrl();
      const result = await check(url, args.timeoutMs, args.insecure, context.signal);
      context.log(`GET ${url} -> ${result.status} in ${result.latencyMs.toFixed(1)} ms`);
      if (!args.expectStatus.includes(result.status)) {
        throw new Error(
          `GET ${url} answered ${result.status}, expected ${args.expectStatus.join(' or ')}`,
        );
      }
      return result;
    },
  });
}

function check(
  url: string,
  timeoutMs: number,
  insecure: boolean,
  signal: AbortSignal,
): Promise<HttpCheckResult> {
  const https = url.startsWith('https:');
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const request = (https ? httpsRequest : httpRequest)(
      url,
      {
        method: 'GET',
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
        headers: { 'user-agent': 'refresher-http-check' },
        ...(https ? { rejectUnauthorized: !insecure, agent: false } : {}),
      },
      (response) => {
        const certificate = https ? (response.socket as TLSSocket).getPeerCertificate() : undefined;
        response.resume();
        response.on('end', () => {
          const result: HttpCheckResult = {
            url,
            status: response.statusCode ?? 0,
            ok: (response.statusCode ?? 0) < 400,
            latencyMs: performance.now() - started,
          };
          if (certificate?.valid_to) {
            const expires = new Date(certificate.valid_to);
            result.tlsExpiresAt = expires.toISOString();
            result.tlsDaysLeft = Math.floor((expires.getTime() - Date.now()) / 86_400_000);
          }
          resolve(result);
        });
        response.on('error', (error) => reject(failure(url, error, timeoutMs, signal)));
      },
    );
    request.on('error', (error) => reject(failure(url, error, timeoutMs, signal)));
    request.end();
  });
}

function failure(url: string, error: Error, timeoutMs: number, signal: AbortSignal): Error {
  const aborted = error.name === 'AbortError' || error.name === 'TimeoutError';
  const reason = !aborted
    ? error.message
    : signal.aborted
      ? 'aborted'
      : `no answer within ${timeoutMs} ms`;
  return new Error(`GET ${url} failed: ${reason}`, { cause: error });
}
