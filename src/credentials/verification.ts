/**
 * What every verifier takes and returns. Verifiers never throw on bad input: a refusal carries a category the
 * broker maps to a CONNACK code and a reason for its log.
 */

/** The CONNECT fields a scheme reads; a ConnectPacket fits as is. */
export interface ConnectCredentials {
  clientId: string;
  username?: string;
  password?: string | Uint8Array;
}

/** Credentials a helper produces, ready for `connect`, plus the endpoint details the scheme fixes. */
export interface DeviceCredentials {
  clientId: string;
  username: string;
  /** Absent for schemes that authenticate by client certificate. */
  password?: string;
  /** Vendor endpoint, when the scheme fixes it. */
  url?: string;
  port?: number;
  /** WebSocket path the vendor serves MQTT on. */
  websocketPath?: string;
}

/**
 * Finds the secret(s) for an identity; several secrets (primary and secondary keys, rotation) are each tried.
 * Undefined (or an empty list) means the identity is unknown.
 */
export type SecretLookup<Key, Secret> = (
  key: Key,
) => Secret | readonly Secret[] | undefined | Promise<Secret | readonly Secret[] | undefined>;

export type RefusalKind =
  /** The fields do not have the scheme's shape. */
  | 'malformed'
  /** The lookup knows no secret for the identity. */
  | 'unknown-identity'
  /** The identity in one field contradicts another (client id vs username vs signed resource). */
  | 'identity-mismatch'
  /** The signature does not match any secret. */
  | 'bad-signature'
  | 'expired'
  /** A signing method or mode that is not enabled. */
  | 'unsupported';

export interface Accepted<Identity> {
  ok: true;
  identity: Identity;
  /** Epoch ms after which the credential is no longer valid (the broker may disconnect then). */
  expiresAt?: number;
}

export interface Refused {
  ok: false;
  kind: RefusalKind;
  reason: string;
}

export type Verification<Identity> = Accepted<Identity> | Refused;

export function refuse(kind: RefusalKind, reason: string): Refused {
  return { ok: false, kind, reason };
}

export function passwordText(password: string | Uint8Array | undefined): string | undefined {
  if (password === undefined || typeof password === 'string') return password;
  return Buffer.from(password.buffer, password.byteOffset, password.byteLength).toString('utf8');
}

/** Runs a lookup and flattens its answer to a list. */
export async function secretsOf<Key, Secret>(lookup: SecretLookup<Key, Secret>, key: Key): Promise<readonly Secret[]> {
  const found = await lookup(key);
  if (found === undefined) return [];
  return Array.isArray(found) ? (found as readonly Secret[]) : [found as Secret];
}
