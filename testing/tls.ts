// Certificates made fresh for a test run by openssl: a CA of its own, and server certificates it
// signs for the names a test connects by. Fresh each run, because a checked-in one would expire and
// silently change what the tests see; EC keys, because RSA key generation is slow on small CI.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export interface TestCa {
  name: string;
  certFile: string;
  keyFile: string;
}

export interface ServerCertificate {
  certFile: string;
  keyFile: string;
}

/** A self-signed CA in `dir`, named `name` (also the file names' stem). */
export async function createCa(dir: string, name: string): Promise<TestCa> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  await run('openssl', [
    'req', '-x509', ...EC_KEY, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', keyFile, '-out', certFile,
  ]); // prettier-ignore
  return { name, certFile, keyFile };
}

/**
 * A server certificate signed by `ca` for `altNames` (openssl's form: DNS:localhost,
 * IP:127.0.0.1); clients check those, never the common name.
 */
export async function issueServerCertificate(
  ca: TestCa,
  dir: string,
  name: string,
  altNames: string[],
): Promise<ServerCertificate> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  await run('openssl', [
    'req', '-x509', ...EC_KEY, '-days', '2', '-subj', `/CN=${name}`,
    '-CA', ca.certFile, '-CAkey', ca.keyFile,
    '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'extendedKeyUsage=serverAuth',
    '-addext', `subjectAltName=${altNames.join(',')}`,
    '-keyout', keyFile, '-out', certFile,
  ]); // prettier-ignore
  return { certFile, keyFile };
}
