import { X509Certificate } from 'node:crypto';
import type { ClientInfo } from '../broker/index.js';

type PeerInfo = ClientInfo['peer'];

/**
 * A client certificate's subject as OpenSSL prints it with XN_FLAG_RFC2253 (Mosquitto's `use_subject_as_username`):
 * the RDNs in reverse order joined by commas, values escaped per RFC 2253 (`CN=client,O=Example,C=GB`); undefined
 * without a verified certificate.
 */
export function certificateSubject(peer: PeerInfo): string | undefined {
  const raw = peer.peerCertificate?.raw;
  if (!raw) return undefined;
  // Node prints one RDN per line in certificate order, escaped as RFC 2253 asks.
  const lines = new X509Certificate(raw).subject.split('\n').filter((line) => line !== '');
  return lines.reverse().join(',');
}

/** The certificate's first Common Name; undefined without a verified certificate or a CN. */
export function certificateCommonName(peer: PeerInfo): string | undefined {
  const cn = peer.peerCertificate?.subject['CN'];
  return (Array.isArray(cn) ? cn[0] : cn) || undefined;
}
