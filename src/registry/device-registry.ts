import { createHash, randomBytes } from 'node:crypto';
import type { PeerInfo } from '../transport/index.js';
import { CodedError } from './coded-error.js';
import type { KeyValueStore } from './kv-store.js';

/**
 * Device and module identities, shaped like Azure IoT Hub's registry: each has a status and one way to
 * authenticate (symmetric keys, X.509 thumbprints, or any certificate a trusted CA signed for its id).
 */

export type AuthenticationType = 'sas' | 'selfSigned' | 'certificateAuthority';

export interface DeviceAuthentication {
  type: AuthenticationType;
  /** Base64 keys (sas). */
  symmetricKey?: { primaryKey: string; secondaryKey: string };
  /** SHA-1 or SHA-256 hex thumbprints of the device certificate (selfSigned). */
  x509Thumbprint?: { primaryThumbprint: string; secondaryThumbprint?: string };
}

export interface DeviceIdentity {
  deviceId: string;
  /** Set for a module identity (`{deviceId}/{moduleId}`). */
  moduleId?: string;
  status: 'enabled' | 'disabled';
  statusReason?: string;
  authentication: DeviceAuthentication;
  /** Changes on every update (optimistic concurrency). */
  etag: string;
  /** Differs between two identities that had the same id at different times. */
  generationId: string;
  createdTime: string;
  lastUpdatedTime: string;
}

/** What a caller may set when creating or updating an identity; keys are generated when absent. */
export interface DeviceIdentityInput {
  deviceId: string;
  moduleId?: string;
  status?: 'enabled' | 'disabled';
  statusReason?: string;
  authentication?: Partial<DeviceAuthentication>;
}

/** Azure's id rule: up to 128 of letters, digits and `-.%_*?!(),:=@$'`. */
const ID = /^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$/;
const PREFIX = 'identity/';

/** `dev1` or `dev1/mod1`, the MQTT client id of an identity. */
export function identityKey(deviceId: string, moduleId?: string): string {
  return moduleId ? `${deviceId}/${moduleId}` : deviceId;
}

export function generateKey(): string {
  return randomBytes(32).toString('base64');
}

function normalizeThumbprint(text: string): string {
  return text.replace(/[:\s]/g, '').toLowerCase();
}

function checkAuthentication(input: Partial<DeviceAuthentication> | undefined): DeviceAuthentication {
  const type = input?.type ?? (input?.x509Thumbprint ? 'selfSigned' : 'sas');
  if (type === 'sas') {
    const primaryKey = input?.symmetricKey?.primaryKey || generateKey();
    const secondaryKey = input?.symmetricKey?.secondaryKey || generateKey();
    for (const key of [primaryKey, secondaryKey]) {
      const bytes = Buffer.from(key, 'base64');
      if (bytes.length < 16 || bytes.length > 64 || bytes.toString('base64') !== key) {
        throw new CodedError(400, 400004, 'ArgumentInvalid', 'symmetric keys must be base64 of 16 to 64 bytes');
      }
    }
    return { type, symmetricKey: { primaryKey, secondaryKey } };
  }
  if (type === 'selfSigned') {
    const primary = input?.x509Thumbprint?.primaryThumbprint;
    if (!primary) throw new CodedError(400, 400004, 'ArgumentInvalid', 'selfSigned authentication needs x509Thumbprint.primaryThumbprint');
    const secondary = input?.x509Thumbprint?.secondaryThumbprint;
    const x509Thumbprint: { primaryThumbprint: string; secondaryThumbprint?: string } = { primaryThumbprint: normalizeThumbprint(primary) };
    if (secondary) x509Thumbprint.secondaryThumbprint = normalizeThumbprint(secondary);
    return { type, x509Thumbprint };
  }
  if (type === 'certificateAuthority') return { type };
  throw new CodedError(400, 400004, 'ArgumentInvalid', `unknown authentication type '${String(type)}'`);
}

/** The certificate's SHA-1 and SHA-256 thumbprints, lower-case hex. */
function thumbprints(raw: Uint8Array): [string, string] {
  return [createHash('sha1').update(raw).digest('hex'), createHash('sha256').update(raw).digest('hex')];
}

/**
 * The registry: identities cached in memory (the broker asks on every CONNECT) and written through to a store.
 */
export class DeviceRegistry {
  private readonly identities = new Map<string, DeviceIdentity>();

  constructor(private readonly store: KeyValueStore) {}

  /** Loads every identity; call once after the store is open. */
  async load(): Promise<void> {
    for (const [, value] of await this.store.list(PREFIX)) {
      const identity = value as DeviceIdentity;
      this.identities.set(identityKey(identity.deviceId, identity.moduleId), identity);
    }
  }

  get(deviceId: string, moduleId?: string): DeviceIdentity | undefined {
    return this.identities.get(identityKey(deviceId, moduleId));
  }

  /** Devices (no modules), or the modules of one device. */
  list(options: { deviceId?: string } = {}): DeviceIdentity[] {
    const found: DeviceIdentity[] = [];
    for (const identity of this.identities.values()) {
      if (options.deviceId === undefined ? identity.moduleId === undefined : identity.moduleId !== undefined && identity.deviceId === options.deviceId) {
        found.push(identity);
      }
    }
    return found.sort((a, b) => (a.deviceId + (a.moduleId ?? '') < b.deviceId + (b.moduleId ?? '') ? -1 : 1));
  }

  /**
   * Creates or updates an identity. `ifMatch` (an etag, or `*`) makes an update conditional; keys and the
   * authentication type stay as they were unless the input names them. Returns the identity and whether it is new.
   */
  async put(input: DeviceIdentityInput, ifMatch?: string): Promise<{ identity: DeviceIdentity; created: boolean }> {
    if (!ID.test(input.deviceId)) throw new CodedError(400, 400004, 'ArgumentInvalid', `invalid device id '${input.deviceId}'`);
    if (input.moduleId !== undefined && !ID.test(input.moduleId)) throw new CodedError(400, 400004, 'ArgumentInvalid', `invalid module id '${input.moduleId}'`);
    if (input.moduleId !== undefined && this.get(input.deviceId) === undefined) {
      throw new CodedError(404, 404001, 'DeviceNotFound', `device '${input.deviceId}' does not exist`);
    }
    if (input.status !== undefined && input.status !== 'enabled' && input.status !== 'disabled') {
      throw new CodedError(400, 400004, 'ArgumentInvalid', "status must be 'enabled' or 'disabled'");
    }
    const key = identityKey(input.deviceId, input.moduleId);
    const existing = this.identities.get(key);
    if (ifMatch !== undefined && ifMatch !== '*' && existing?.etag !== ifMatch) {
      throw new CodedError(412, 412002, 'PreconditionFailed', `etag does not match the current identity '${key}'`);
    }
    const now = new Date().toISOString();
    const authentication =
      input.authentication === undefined && existing !== undefined ? existing.authentication : checkAuthentication(input.authentication);
    const identity: DeviceIdentity = {
      deviceId: input.deviceId,
      status: input.status ?? existing?.status ?? 'enabled',
      authentication,
      etag: randomBytes(6).toString('base64'),
      generationId: existing?.generationId ?? randomBytes(9).toString('base64url'),
      createdTime: existing?.createdTime ?? now,
      lastUpdatedTime: now,
    };
    if (input.moduleId !== undefined) identity.moduleId = input.moduleId;
    const statusReason = input.statusReason ?? existing?.statusReason;
    if (statusReason !== undefined) identity.statusReason = statusReason;
    await this.store.write([{ type: 'put', key: PREFIX + key, value: identity }]);
    this.identities.set(key, identity);
    return { identity, created: existing === undefined };
  }

  /** Removes an identity (a device with its modules); returns the removed identity keys. */
  async remove(deviceId: string, moduleId?: string, ifMatch?: string): Promise<string[]> {
    const key = identityKey(deviceId, moduleId);
    const existing = this.identities.get(key);
    if (existing === undefined) {
      throw new CodedError(404, moduleId ? 404010 : 404001, moduleId ? 'ModuleNotFound' : 'DeviceNotFound', `'${key}' does not exist`);
    }
    if (ifMatch !== undefined && ifMatch !== '*' && existing.etag !== ifMatch) {
      throw new CodedError(412, 412002, 'PreconditionFailed', `etag does not match the current identity '${key}'`);
    }
    const keys = moduleId ? [key] : [key, ...this.list({ deviceId }).map((m) => identityKey(m.deviceId, m.moduleId))];
    await this.store.write(keys.map((k) => ({ type: 'del' as const, key: PREFIX + k })));
    for (const k of keys) this.identities.delete(k);
    return keys;
  }

  /** Keys that may sign an enabled identity's SAS tokens (primary and secondary); undefined otherwise. */
  keysOf(deviceId: string, moduleId?: string): string[] | undefined {
    const identity = this.get(deviceId, moduleId);
    if (identity === undefined || identity.status !== 'enabled') return undefined;
    const keys = identity.authentication.symmetricKey;
    return keys === undefined ? undefined : [keys.primaryKey, keys.secondaryKey];
  }

  /**
   * Whether a verified client certificate proves an enabled identity: by thumbprint (selfSigned), or for
   * certificateAuthority identities by a subject common name equal to the identity's client id.
   */
  acceptsCertificate(deviceId: string, moduleId: string | undefined, certificate: PeerInfo['peerCertificate']): boolean {
    const identity = this.get(deviceId, moduleId);
    if (identity === undefined || identity.status !== 'enabled' || certificate === undefined) return false;
    const auth = identity.authentication;
    if (auth.type === 'certificateAuthority') {
      const cn = certificate.subject['CN'];
      return (Array.isArray(cn) ? cn : [cn]).includes(identityKey(deviceId, moduleId));
    }
    if (auth.type !== 'selfSigned' || certificate.raw === undefined) return false;
    const wanted = [auth.x509Thumbprint?.primaryThumbprint, auth.x509Thumbprint?.secondaryThumbprint];
    return thumbprints(certificate.raw).some((print) => wanted.includes(print));
  }
}
