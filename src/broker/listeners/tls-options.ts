import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { createSecureContext, type TLSSocket, type TlsOptions } from 'node:tls';
import type { ListenerTlsOptions } from './listener.js';

/**
 * Checks a listener's TLS material piece by piece, so that a mistake is reported as "the key does not match the
 * certificate" rather than as an OpenSSL error code, and returns the options for `tls.createServer` and
 * `setSecureContext`.
 */
export function secureContextOptions(tls: ListenerTlsOptions): TlsOptions {
  const cert = pem(tls.cert);
  const key = pem(tls.key);
  const ca = tls.ca === undefined ? undefined : pem(tls.ca);
  const crl = tls.crl === undefined ? undefined : pem(tls.crl);
  const certificate = attempt('certificate (cert) is not a PEM certificate', () => new X509Certificate(cert));
  const keyObject = attempt<KeyObject>('private key (key) is not a PEM private key', () => createPrivateKey(key));
  if (!certificate.checkPrivateKey(keyObject)) {
    throw new Error('TLS private key (key) does not match the certificate (cert)');
  }
  if (ca !== undefined) checkCaBundle(ca);
  if (crl !== undefined) attempt('CRL (crl) is not a valid PEM CRL', () => createSecureContext({ crl }));
  const options: TlsOptions = { cert, key, ca, crl, minVersion: tls.minVersion ?? 'TLSv1.2' };
  attempt('material is not usable', () => createSecureContext(options));
  return options;
}

/** Server options: whether to ask for client certificates and whether to fail the handshake without a valid one. */
export function clientCertificateOptions(tls: ListenerTlsOptions): TlsOptions {
  const require = tls.requireCertificate === true;
  return { requestCert: require || tls.requestCertificate === true, rejectUnauthorized: require };
}

/** OpenSSL skips unreadable CA entries silently; a CA bundle that trusts nobody should be an error instead. */
function checkCaBundle(ca: string | Buffer): void {
  const blocks = ca.toString().match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g);
  if (!blocks) throw new Error('TLS CA bundle (ca) holds no PEM certificate');
  for (const [index, block] of blocks.entries()) {
    attempt(`CA bundle (ca) certificate ${index + 1} is not valid`, () => new X509Certificate(block));
  }
}

function pem(value: string | Uint8Array): string | Buffer {
  return typeof value === 'string' ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function attempt<T>(what: string, make: () => T): T {
  try {
    return make();
  } catch (error) {
    throw new Error(`TLS ${what}: ${(error as Error).message}`, { cause: error });
  }
}

/** OpenSSL's words for a peer that does not speak TLS at all, in the words of someone reading the log. */
const NOT_TLS: Record<string, string> = {
  ERR_SSL_HTTP_REQUEST: 'the client sent a plain HTTP request to a TLS port',
  ERR_SSL_WRONG_VERSION_NUMBER: 'the client sent bytes that are not TLS (a plain MQTT client on a TLS port?)',
};

/**
 * Why a TLS handshake failed. A client certificate that does not verify makes Node drop the connection with a
 * bare "socket hang up"; the verification error it recorded says more. OpenSSL's own message names its source
 * file, which helps nobody reading the log: its short reason is used instead.
 */
export function handshakeError(error: Error, socket: TLSSocket): Error {
  const verifyError = socket.authorizationError;
  if (verifyError) return new Error(`client certificate refused: ${String(verifyError)}`, { cause: error });
  const { code, reason } = error as Error & { code?: string; reason?: string };
  const why = (code !== undefined ? NOT_TLS[code] : undefined) ?? reason ?? error.message;
  return new Error(`TLS handshake failed: ${why}`, { cause: error });
}
