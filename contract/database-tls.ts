// The TLS parameters of DATABASE_URL, in libpq's words (sslmode, sslrootcert), so that a URL copied
// from psql or from the cloud's portal means here what it means there. The env schema checks them
// (contract/env.ts) and the app connects by them (app/src/db/tls.ts); both read them from here.
//
// Where this differs from libpq, it refuses rather than guesses:
// - no sslmode means disable (libpq: prefer), as it always did here; a managed server needs one;
// - allow and prefer are refused: they fall back to plain text when TLS fails, which node-postgres
//   cannot do, and quietly making them `require` would break a server without TLS instead;
// - without sslrootcert, verify-ca and verify-full check against Node's built-in roots (libpq:
//   ~/.postgresql/root.crt), which hold the roots Azure's PostgreSQL Flexible Server chains to,
//   before and after its certificate rotation: DigiCert Global Root G2 and Microsoft RSA Root
//   Certificate Authority 2017 (app/test/database-tls.test.ts checks the Node it runs on). Its
//   China regions' DigiCert Global Root CA is in Node 20's list, but old roots are phased out of
//   Mozilla's, which Node's follows: there, name a bundle with sslrootcert;
// - any other ssl* parameter (sslcert, sslkey, sslcrl, …) is refused, not ignored: a TLS setting
//   that silently does nothing is worse than an error.

export const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** What the connections do: encrypt or not, what to check, and against which CAs. */
export interface DatabaseTls {
  /** The effective mode (require with a CA file checks the chain, as libpq's does). */
  mode: SslMode;
  /** The CA bundle (PEM) file; undefined: Node's built-in roots. */
  rootCertFile: string | undefined;
}

const UNSUPPORTED_MODES: Record<string, string> = {
  allow: 'sslmode=allow is not supported (it tries plain text first): use disable or require',
  prefer:
    'sslmode=prefer is not supported (libpq falls back to plain text when TLS fails, node-postgres cannot): use require, verify-full or disable',
};

/** The URL's TLS settings, or what is wrong with them (each problem names its parameter). */
export function databaseTls(url: URL): { tls: DatabaseTls } | { problems: string[] } {
  const problems: string[] = [];
  const once = (name: string): string | null => {
    const values = url.searchParams.getAll(name);
    if (values.length > 1) problems.push(`${name} is given ${values.length} times; give it once`);
    return values[0] ?? null;
  };
  for (const name of new Set(url.searchParams.keys())) {
    if (/^ssl/i.test(name) && name !== 'sslmode' && name !== 'sslrootcert') {
      problems.push(
        `${name} is not supported (only sslmode and sslrootcert are read; no client certificates)`,
      );
    }
  }
  const given = once('sslmode');
  const rootCert = once('sslrootcert');

  let mode: SslMode = 'disable';
  if (given !== null) {
    if ((SSL_MODES as readonly string[]).includes(given)) mode = given as SslMode;
    else
      problems.push(
        (Object.hasOwn(UNSUPPORTED_MODES, given) ? UNSUPPORTED_MODES[given] : undefined) ??
          `sslmode=${given}: expected disable, require, verify-ca or verify-full`,
      );
  }
  // libpq 16's `system` (here Node's built-in roots), and nothing weaker than verify-full with it.
  if (rootCert === 'system') {
    if (given === null) mode = 'verify-full';
    else if (mode !== 'verify-full' && (SSL_MODES as readonly string[]).includes(given))
      problems.push(`sslrootcert=system needs sslmode=verify-full (as in libpq), not ${given}`);
  } else if (rootCert !== null) {
    if (!rootCert.startsWith('/'))
      problems.push(
        `sslrootcert=${rootCert}: expected an absolute path to a CA bundle (PEM), or system`,
      );
    else if (mode === 'disable')
      problems.push(
        `sslrootcert is set but sslmode is ${given ?? 'missing (disable)'}: set sslmode=verify-full or verify-ca`,
      );
    // libpq's rule for a root certificate that is present: require checks the chain too.
    else if (mode === 'require') mode = 'verify-ca';
  }
  if (problems.length) return { problems };
  return {
    tls: { mode, rootCertFile: rootCert === null || rootCert === 'system' ? undefined : rootCert },
  };
}
