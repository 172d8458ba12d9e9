// A signed-in session across web replicas: sign in through swag (HTTPS, the sign-in form and its
// CSRF token, as stack.test.ts does), then many requests with that one cookie, each answered by
// whichever replica swag's nginx picks. Which replica answered comes from each replica's own
// request counter (its /metrics, read inside its container), so nothing in the app had to change
// to tell them apart. Sessions live in PostgreSQL and every replica signs cookies with the same
// SESSION_SECRET, so any replica should accept a session another one created; and after signing
// out, every replica should refuse it.
import { docker } from '../../test/stack/docker.ts';
import type { HttpReply, StackUnderTest } from '../../test/stack/harness.ts';

const ME = '/api/v1/me';

const cookieOf = (reply: HttpReply) =>
  [reply.headers['set-cookie'] ?? []]
    .flat()
    .map((cookie) => cookie.split(';')[0]!)
    .find((cookie) => cookie.startsWith('refresher.sid=')) ?? '';

const csrfOf = (reply: HttpReply) => /name="_csrf" value="([^"]+)"/.exec(reply.body)?.[1] ?? '';

export interface Session {
  cookie: string;
  csrf: string;
}

export async function signIn(stack: StackUnderTest): Promise<Session> {
  const page = await stack.https('/login');
  const signedIn = await stack.https('/login', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieOf(page) },
    body: new URLSearchParams({
      username: stack.config.admin.username,
      password: stack.secrets.appAdminPassword,
      _csrf: csrfOf(page),
      next: '/admin',
    }).toString(),
  });
  const cookie = cookieOf(signedIn);
  if (signedIn.status !== 303 || !cookie)
    throw new Error(`sign-in answered ${signedIn.status}: ${signedIn.body.slice(0, 300)}`);
  // The session's own CSRF token (sign-in starts a new session), from a page's form.
  const account = await stack.https('/admin/account', { headers: { cookie } });
  const csrf = csrfOf(account);
  if (!csrf) throw new Error(`no CSRF token on /admin/account (${account.status})`);
  return { cookie, csrf };
}

/** A replica's answers to GET /api/v1/me so far, by status (401s are counted as unmatched). */
async function answers(container: string): Promise<Record<string, number>> {
  const text = await docker(
    'exec', container, 'node', '-e',
    'fetch("http://127.0.0.1:9464/metrics").then((r) => r.text()).then((t) => process.stdout.write(t))',
  ); // prettier-ignore
  const counts: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match =
      /^refresher_http_request_duration_seconds_count\{(?=[^}]*method="GET")(?=[^}]*route="([^"]*)")(?=[^}]*status="(\d+)")[^}]*\} (\d+)/.exec(
        line,
      );
    if (!match) continue;
    const [, route, status, n] = match;
    if (route === ME || (route === 'unmatched' && status === '401'))
      counts[status!] = (counts[status!] ?? 0) + Number(n);
  }
  return counts;
}

const delta = (before: Record<string, number>, after: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(after)
      .map(([status, n]) => [status, n - (before[status] ?? 0)] as const)
      .filter(([, n]) => n > 0),
  );

async function perReplica<T>(containers: string[], each: (c: string) => Promise<T>) {
  return Object.fromEntries(await Promise.all(containers.map(async (c) => [c, await each(c)])));
}

export interface SessionReport {
  requests: number;
  session_failures: number;
  /** Answers to the signed-in requests per replica container, by status. */
  answered_by: Record<string, Record<string, number>>;
  /** After signing out: requests with the old cookie, how many were still accepted, and where. */
  signed_out_requests: number;
  signed_out_accepted: number;
  signed_out_answered_by: Record<string, Record<string, number>>;
}

export async function checkSession(
  stack: StackUnderTest,
  session: Session,
  webContainers: string[],
  requests: number,
): Promise<SessionReport> {
  const ask = async () => {
    try {
      const reply = await stack.https(ME, { headers: { cookie: session.cookie } });
      const user = reply.status === 200 ? (JSON.parse(reply.body) as { username?: string }) : {};
      return user.username === stack.config.admin.username;
    } catch {
      return false; // no answer at all is a failure of the session too
    }
  };
  const counted = async (n: number) => {
    const before = await perReplica(webContainers, answers);
    let accepted = 0;
    for (let i = 0; i < n; i++) if (await ask()) accepted++;
    const after = await perReplica(webContainers, answers);
    const by = Object.fromEntries(webContainers.map((c) => [c, delta(before[c]!, after[c]!)]));
    return { accepted, by };
  };

  const signedIn = await counted(requests);
  const out = await stack.https('/logout', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session.cookie },
    body: new URLSearchParams({ _csrf: session.csrf }).toString(),
  });
  if (out.status !== 303) throw new Error(`sign-out answered ${out.status}: ${out.body}`);
  const afterOut = Math.max(20, Math.round(requests / 10));
  const signedOut = await counted(afterOut);
  return {
    requests,
    session_failures: requests - signedIn.accepted,
    answered_by: signedIn.by,
    signed_out_requests: afterOut,
    signed_out_accepted: signedOut.accepted,
    signed_out_answered_by: signedOut.by,
  };
}
