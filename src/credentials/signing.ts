import { createHmac, timingSafeEqual } from 'node:crypto';

/** Digest names as node:crypto spells them. */
export type HmacAlgorithm = 'md5' | 'sha1' | 'sha256';

export function hmac(algorithm: HmacAlgorithm, key: string | Uint8Array, message: string): Buffer {
  return createHmac(algorithm, key).update(message, 'utf8').digest();
}

/** Constant-time comparison; inputs of different lengths are unequal (length is not secret). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Constant-time comparison of two strings' UTF-8 bytes. */
export function textEqual(a: string, b: string): boolean {
  return bytesEqual(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const HEX = /^(?:[0-9a-fA-F]{2})+$/;

/** Hex of either case to bytes; undefined when the text is not whole bytes of hex. */
export function decodeHex(text: string): Buffer | undefined {
  return HEX.test(text) ? Buffer.from(text, 'hex') : undefined;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Canonical padded base64 to bytes; undefined for anything else (Buffer.from silently skips junk). */
export function decodeBase64(text: string): Buffer | undefined {
  return text.length > 0 && BASE64.test(text) ? Buffer.from(text, 'base64') : undefined;
}
