// What the app's two TLS clients (PostgreSQL and Redis) share: reading a CA bundle the operator
// names, and telling a refused certificate from a network failure, so that their messages can name
// the setting to fix rather than leave "unable to verify the first certificate" to be decoded.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM bundle, each checked to parse: a bundle holding only a key, or a DER
 * file, would otherwise reach the handshake as "no CAs" and fail there, far from its cause.
 */
export function readCaBundle(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new Error(`cannot read ${path} (${code ?? (error as Error).message})`, { cause: error });
  }
  const certificates = text.match(PEM_CERTIFICATE) ?? [];
  if (!certificates.length) throw new Error(`${path} holds no PEM certificate`);
  for (const [index, pem] of certificates.entries()) {
    try {
      new X509Certificate(pem);
    } catch (error) {
      throw new Error(`certificate ${index + 1} in ${path} does not parse`, { cause: error });
    }
  }
  return certificates;
}

/** What a CA bundle problem is, in words; null when the file is fine. */
export function caBundleProblem(path: string): string | null {
  try {
    readCaBundle(path);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

// OpenSSL's verification results as Node reports them, and Node's own for a name mismatch.
const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The server's certificate was refused (its chain, its dates, or its names). */
export function isCertificateError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && CERTIFICATE_CODES.has(code);
}

/** The certificate is fine but not for the name connected to. */
export function isNameMismatch(error: unknown): boolean {
  return (error as { code?: unknown })?.code === 'ERR_TLS_CERT_ALTNAME_INVALID';
}
