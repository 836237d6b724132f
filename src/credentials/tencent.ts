import { KeyObject, X509Certificate, createPrivateKey, createPublicKey, randomBytes, sign, verify } from 'node:crypto';
import { bytesEqual, decodeBase64, decodeHex, hmac } from './signing.js';
import {
  type ConnectCredentials,
  type DeviceCredentials,
  type Refused,
  type SecretLookup,
  type Verification,
  passwordText,
  refuse,
  secretsOf,
} from './verification.js';

/**
 * Tencent IoT Hub / IoT Explorer: client id `{productId}{deviceName}`, username
 * `{clientId};{sdkappid};{connid};{expiry}`, password `{hex signature over the username};{method}` where the
 * signature is HMAC-SHA1/SHA256 keyed with the base64-decoded device secret, or RSA-SHA256 with the device's key.
 */

export type TencentSignMethod = 'hmacsha1' | 'hmacsha256' | 'rsa-sha256';
/** How a device proved itself: a signed password, or a TLS client certificate. */
export type TencentAuthMethod = TencentSignMethod | 'certificate';
export type TencentTransport = 'tcp' | 'tls' | 'ws' | 'wss';

const METHODS: readonly TencentSignMethod[] = ['hmacsha1', 'hmacsha256', 'rsa-sha256'];
const DEFAULT_SDKAPPID = '12010126';
const DEFAULT_TTL_S = 3600;
const CONNID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const WEBSOCKET_PATH = '/mqtt';

export interface TencentCredentialOptions {
  productId: string;
  deviceName: string;
  /** Base64 device secret (key devices). */
  deviceSecret?: string;
  /** PEM private key (certificate devices); signs with RSA-SHA256. */
  privateKey?: string | Uint8Array | KeyObject;
  /** HMAC for key devices; default hmacsha256. */
  method?: 'hmacsha1' | 'hmacsha256';
  sdkappid?: string | number;
  /** Connection id; default 5 random letters and digits. */
  connid?: string;
  /** Expiry exactly as it goes in the username (unix seconds in the docs); default now + 3600 s. */
  expiry?: string | number;
  /** Clock, epoch ms; default Date.now(). */
  now?: number;
  /** Randomness for the connection id; default crypto.randomBytes. */
  random?: (size: number) => Uint8Array;
  /** Default `tcp` for key devices, `wss` for certificate devices. */
  transport?: TencentTransport;
  /** Region in the WebSocket host name; default ap-guangzhou. */
  region?: string;
}

export interface TencentCredentials extends DeviceCredentials {
  password: string;
  url: string;
  port: number;
  websocketPath: string;
}

function randomConnid(random: (size: number) => Uint8Array): string {
  let id = '';
  for (const byte of random(5)) id += CONNID_ALPHABET[byte % CONNID_ALPHABET.length];
  return id;
}

function endpoint(productId: string, transport: TencentTransport, region: string): { url: string; port: number } {
  const tcpHost = `${productId}.iotcloud.tencentdevices.com`;
  const wsHost = `${productId}.${region}.iothub.tencentdevices.com`;
  switch (transport) {
    case 'tcp':
      return { url: `mqtt://${tcpHost}:1883`, port: 1883 };
    case 'tls':
      return { url: `mqtts://${tcpHost}:8883`, port: 8883 };
    case 'ws':
      return { url: `ws://${wsHost}:80${WEBSOCKET_PATH}`, port: 80 };
    case 'wss':
      return { url: `wss://${wsHost}:443${WEBSOCKET_PATH}`, port: 443 };
  }
}

/** Credentials for a key device (HMAC) or, given `privateKey`, a certificate device (RSA-SHA256). */
export function tencentCredentials(options: TencentCredentialOptions): TencentCredentials {
  const { productId, deviceName } = options;
  if (!productId || !deviceName) throw new Error('tencent: productId and deviceName are required');
  const clientId = productId + deviceName;
  const sdkappid = String(options.sdkappid ?? DEFAULT_SDKAPPID);
  const connid = options.connid ?? randomConnid(options.random ?? randomBytes);
  const expiry = String(options.expiry ?? Math.floor((options.now ?? Date.now()) / 1000) + DEFAULT_TTL_S);
  if (!/^\d+$/.test(sdkappid)) throw new Error(`tencent: sdkappid '${sdkappid}' is not a number`);
  if (!/^\d+$/.test(expiry)) throw new Error(`tencent: expiry '${expiry}' is not a number`);
  if (connid === '' || connid.includes(';')) throw new Error(`tencent: connid '${connid}' is empty or contains ';'`);
  const username = `${clientId};${sdkappid};${connid};${expiry}`;
  let password: string;
  if (options.privateKey !== undefined) {
    const key = options.privateKey instanceof KeyObject ? options.privateKey : createPrivateKey(Buffer.from(options.privateKey));
    password = `${sign('sha256', Buffer.from(username, 'utf8'), key).toString('hex')};rsa-sha256`;
  } else {
    const secret = options.deviceSecret === undefined ? undefined : decodeBase64(options.deviceSecret);
    if (secret === undefined) throw new Error('tencent: a base64 deviceSecret or a privateKey is required');
    const method = options.method ?? 'hmacsha256';
    password = `${hmac(method === 'hmacsha1' ? 'sha1' : 'sha256', secret, username).toString('hex')};${method}`;
  }
  const transport = options.transport ?? (options.privateKey !== undefined ? 'wss' : 'tcp');
  return { clientId, username, password, ...endpoint(productId, transport, options.region ?? 'ap-guangzhou'), websocketPath: WEBSOCKET_PATH };
}

/** What the lookup returns for a device: its base64 secret, or its certificate / public key (PEM) for RSA. */
export type TencentDeviceKey = { deviceSecret: string } | { publicKey: string | Uint8Array | KeyObject };

export interface TencentVerifyOptions {
  keys: SecretLookup<{ productId: string; deviceName: string }, TencentDeviceKey>;
  /** Length of the product id at the start of the client id; Tencent product ids have 10 characters. */
  productIdLength?: number;
  /** Methods accepted: the password's sign methods and `certificate` (TLS client certificate); default all four. */
  methods?: readonly TencentAuthMethod[];
  /**
   * How long past its expiry a credential is still accepted, ms; default 300 000. The vendor's Python SDK sends
   * its current clock as the "expiry", so only clearly past expiries can be refused.
   */
  expiryGraceMs?: number;
  /** Clock, epoch ms; default Date.now(). */
  now?: number;
}

export interface TencentIdentity {
  productId: string;
  deviceName: string;
  sdkappid: string;
  connid: string;
  method: TencentAuthMethod;
  /** Epoch ms of the expiry field, absent for "never" sentinels (C SDK `LONG_MAX`). */
  expiry?: number;
}

/** Expiry field to epoch ms: seconds below 1e11, milliseconds below 1e14, larger values mean "never". */
export function tencentExpiryMs(field: string): number | undefined {
  const value = Number(field);
  if (value < 1e11) return value * 1000;
  if (value < 1e14) return value;
  return undefined;
}

function publicKeyOf(key: string | Uint8Array | KeyObject): KeyObject {
  return key instanceof KeyObject ? key : createPublicKey(Buffer.from(key));
}

function signatureMatches(key: TencentDeviceKey, method: TencentSignMethod, username: string, signature: Buffer): boolean {
  if (method === 'rsa-sha256') {
    return 'publicKey' in key && verify('sha256', Buffer.from(username, 'utf8'), publicKeyOf(key.publicKey), signature);
  }
  if (!('deviceSecret' in key)) return false;
  const secret = decodeBase64(key.deviceSecret);
  return secret !== undefined && bytesEqual(hmac(method === 'hmacsha1' ? 'sha1' : 'sha256', secret, username), signature);
}

/** The identity a username names, or why it names none. */
type NamedDevice = Omit<TencentIdentity, 'method' | 'expiry'> & { expiryField: string };

function parseIdentity(credentials: ConnectCredentials, pidLength: number): NamedDevice | Refused {
  const { clientId, username } = credentials;
  if (clientId.length <= pidLength) return refuse('malformed', `client id '${clientId}' is not {productId}{deviceName}`);
  if (username === undefined) return refuse('malformed', 'username is missing');
  const fields = username.split(';');
  if (fields.length !== 4) return refuse('malformed', 'username is not {clientId};{sdkappid};{connid};{expiry}');
  const [userClientId, sdkappid, connid, expiryField] = fields as [string, string, string, string];
  if (userClientId !== clientId) return refuse('identity-mismatch', `username names '${userClientId}', client id is '${clientId}'`);
  if (!/^\d{1,20}$/.test(expiryField)) return refuse('malformed', `expiry '${expiryField}' is not a number`);
  return { productId: clientId.slice(0, pidLength), deviceName: clientId.slice(pidLength), sdkappid, connid, expiryField };
}

/** The identity, once its credential checked out and unless its expiry is clearly past. */
function accept(device: NamedDevice, method: TencentIdentity['method'], options: TencentVerifyOptions): Verification<TencentIdentity> {
  const { expiryField, ...named } = device;
  const expiry = tencentExpiryMs(expiryField);
  if (expiry !== undefined && expiry + (options.expiryGraceMs ?? 300_000) <= (options.now ?? Date.now())) {
    return refuse('expired', `credential expired at ${new Date(expiry).toISOString()}`);
  }
  const identity: TencentIdentity = { ...named, method };
  if (expiry !== undefined) identity.expiry = expiry;
  return { ok: true, identity };
}

/**
 * Verifies a CONNECT: the signature is recomputed over the whole username as received, hex of either case is
 * accepted, any sdkappid and connid are accepted, and the expiry may be seconds, milliseconds or a "never" sentinel.
 * Expiry is checked at connect only (Tencent does not end connections when it passes). Certificate devices on
 * MQTT/TLS, whose password is ignored, go through `verifyTencentCertificate`.
 */
export async function verifyTencent(credentials: ConnectCredentials, options: TencentVerifyOptions): Promise<Verification<TencentIdentity>> {
  const device = parseIdentity(credentials, options.productIdLength ?? 10);
  if ('ok' in device) return device;
  const password = passwordText(credentials.password);
  const cut = password?.lastIndexOf(';') ?? -1;
  if (password === undefined || cut < 0) return refuse('malformed', 'password is not {signature};{method}');
  const method = password.slice(cut + 1).toLowerCase() as TencentSignMethod;
  if (!METHODS.includes(method)) return refuse('unsupported', `unknown sign method '${password.slice(cut + 1)}'`);
  if (options.methods && !options.methods.includes(method)) return refuse('unsupported', `sign method '${method}' is not enabled`);
  const signature = decodeHex(password.slice(0, cut));
  if (signature === undefined) return refuse('malformed', 'signature is not hex');

  const { productId, deviceName } = device;
  const keys = await secretsOf(options.keys, { productId, deviceName });
  if (keys.length === 0) return refuse('unknown-identity', `no key for device '${productId}/${deviceName}'`);
  if (!keys.some((key) => signatureMatches(key, method, credentials.username!, signature))) {
    return refuse('bad-signature', `${method} signature does not match`);
  }
  return accept(device, method, options);
}

/**
 * Verifies a certificate device on MQTT/TLS (the vendor's docs: "password: any value"): the username names the
 * device as for key devices, and the client certificate the TLS handshake proved the device holds must carry a
 * public key registered for it (`{ publicKey }`: the key or the device certificate, PEM).
 */
export async function verifyTencentCertificate(
  credentials: ConnectCredentials,
  certificate: Uint8Array,
  options: TencentVerifyOptions,
): Promise<Verification<TencentIdentity>> {
  const device = parseIdentity(credentials, options.productIdLength ?? 10);
  if ('ok' in device) return device;
  if (options.methods && !options.methods.includes('certificate')) return refuse('unsupported', 'certificate devices are not enabled');
  let presented: KeyObject;
  try {
    presented = new X509Certificate(Buffer.from(certificate)).publicKey;
  } catch {
    return refuse('malformed', 'the client certificate cannot be read');
  }
  const { productId, deviceName } = device;
  const keys = await secretsOf(options.keys, { productId, deviceName });
  if (keys.length === 0) return refuse('unknown-identity', `no key for device '${productId}/${deviceName}'`);
  if (!keys.some((key) => 'publicKey' in key && publicKeyOf(key.publicKey).equals(presented))) {
    return refuse('bad-signature', 'the client certificate does not carry the device\'s public key');
  }
  return accept(device, 'certificate', options);
}
