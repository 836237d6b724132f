import { type HmacAlgorithm, bytesEqual, decodeHex, hmac } from './signing.js';
import {
  type ConnectCredentials,
  type DeviceCredentials,
  type SecretLookup,
  type Verification,
  passwordText,
  refuse,
  secretsOf,
} from './verification.js';

/**
 * Alibaba Cloud IoT Platform (Link SDK): MQTT client id `{clientId}|securemode=…,signmethod=…,timestamp=…|`,
 * username `{deviceName}&{productKey}`, password hex(HMAC(deviceSecret, sorted name+value pairs of clientId,
 * deviceName, productKey, timestamp)).
 */

export type AliyunIotSignMethod = 'hmacmd5' | 'hmacsha1' | 'hmacsha256';

const ALGORITHMS: Record<AliyunIotSignMethod, HmacAlgorithm> = { hmacmd5: 'md5', hmacsha1: 'sha1', hmacsha256: 'sha256' };

function algorithmOf(method: string): HmacAlgorithm | undefined {
  return Object.hasOwn(ALGORITHMS, method) ? ALGORITHMS[method as AliyunIotSignMethod] : undefined;
}

export interface AliyunIotCredentialOptions {
  productKey: string;
  deviceName: string;
  deviceSecret: string;
  /** Default `{productKey}&{deviceName}` as the vendor's Node SDK. */
  clientId?: string;
  /** Epoch ms as text or number; default `now`. */
  timestamp?: number | string;
  /** Clock, epoch ms; default Date.now(). */
  now?: number;
  /** Default hmacsha256. */
  signMethod?: AliyunIotSignMethod;
  /** 2 = TLS, 3 = TCP (default). */
  secureMode?: 2 | 3;
  /** Region (`cn-shanghai`, …): when given, the vendor URL is included. */
  region?: string;
}

/** The signed text: the parameters present, sorted by name, each name followed by its value. */
export function aliyunIotSignContent(fields: { clientId?: string; deviceName: string; productKey: string; timestamp?: string }): string {
  let content = fields.clientId === undefined ? '' : `clientId${fields.clientId}`;
  content += `deviceName${fields.deviceName}productKey${fields.productKey}`;
  return fields.timestamp === undefined ? content : `${content}timestamp${fields.timestamp}`;
}

export function aliyunIotCredentials(options: AliyunIotCredentialOptions): DeviceCredentials & { password: string } {
  const { productKey, deviceName, deviceSecret } = options;
  if (!productKey || !deviceName || !deviceSecret) throw new Error('aliyun-iot: productKey, deviceName and deviceSecret are required');
  if (deviceName.includes('&') || productKey.includes('&')) throw new Error("aliyun-iot: productKey and deviceName may not contain '&'");
  const clientId = options.clientId ?? `${productKey}&${deviceName}`;
  if (clientId === '' || /[|,]/.test(clientId)) throw new Error(`aliyun-iot: client id '${clientId}' is empty or contains '|' or ','`);
  const timestamp = String(options.timestamp ?? options.now ?? Date.now());
  if (!/^\d+$/.test(timestamp)) throw new Error(`aliyun-iot: timestamp '${timestamp}' is not a number`);
  const signMethod = options.signMethod ?? 'hmacsha256';
  const algorithm = algorithmOf(signMethod);
  if (algorithm === undefined) throw new Error(`aliyun-iot: unknown sign method '${signMethod}'`);
  const secureMode = options.secureMode ?? 3;
  const password = hmac(algorithm, deviceSecret, aliyunIotSignContent({ clientId, deviceName, productKey, timestamp })).toString('hex');
  const credentials: DeviceCredentials & { password: string } = {
    clientId: `${clientId}|securemode=${secureMode},signmethod=${signMethod},timestamp=${timestamp}|`,
    username: `${deviceName}&${productKey}`,
    password,
  };
  if (options.region !== undefined) {
    credentials.url = `${secureMode === 2 ? 'mqtts' : 'mqtt'}://${productKey}.iot-as-mqtt.${options.region}.aliyuncs.com:1883`;
    credentials.port = 1883;
  }
  return credentials;
}

export interface AliyunIotVerifyOptions {
  /** Device secret(s) as text (used as UTF-8, not decoded). */
  secrets: SecretLookup<{ productKey: string; deviceName: string }, string>;
  /** Methods accepted; default all three. */
  signMethods?: readonly AliyunIotSignMethod[];
  /**
   * Accept an HMAC-SHA1 password announced as hmacsha256: the vendor's Node SDK 1.2.8 sends that when asked for
   * SHA-256. Default false.
   */
  acceptSdkSha1Quirk?: boolean;
  /** When set, a timestamp further than this from `now` (either way) is refused; the platform itself does not check. */
  maxTimestampSkewMs?: number;
  /** Clock, epoch ms; default Date.now(). */
  now?: number;
}

export interface AliyunIotIdentity {
  productKey: string;
  deviceName: string;
  /** The device's own client id (before the first `|`). */
  clientId: string;
  signMethod: AliyunIotSignMethod;
  secureMode?: string;
  timestamp?: string;
  /** Every parameter between the `|`s (`securemode`, `signmethod`, `timestamp`, `lan`, `_v`, …). */
  parameters: Record<string, string>;
}

function parseClientId(mqttClientId: string): { clientId: string; parameters: Record<string, string> } | string {
  const cut = mqttClientId.indexOf('|');
  if (cut < 0) return `client id '${mqttClientId}' has no |…| parameters`;
  const inner = mqttClientId.endsWith('|') && mqttClientId.length > cut + 1 ? mqttClientId.slice(cut + 1, -1) : mqttClientId.slice(cut + 1);
  const parameters: Record<string, string> = {};
  for (const pair of inner.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) return `client id parameter '${pair}' is not name=value`;
    parameters[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { clientId: mqttClientId.slice(0, cut), parameters };
}

/**
 * Verifies a CONNECT: hex of either case; the signed content may include or leave out the optional clientId and
 * timestamp (the docs allow both), but values that are signed are those of the MQTT client id.
 */
export async function verifyAliyunIot(credentials: ConnectCredentials, options: AliyunIotVerifyOptions): Promise<Verification<AliyunIotIdentity>> {
  const parsed = parseClientId(credentials.clientId);
  if (typeof parsed === 'string') return refuse('malformed', parsed);
  const { clientId, parameters } = parsed;
  const signMethod = parameters['signmethod']?.toLowerCase() as AliyunIotSignMethod | undefined;
  if (signMethod === undefined) return refuse('malformed', 'client id has no signmethod');
  const algorithm = algorithmOf(signMethod);
  if (algorithm === undefined) return refuse('unsupported', `unknown sign method '${parameters['signmethod']}'`);
  if (options.signMethods && !options.signMethods.includes(signMethod)) return refuse('unsupported', `sign method '${signMethod}' is not enabled`);
  const names = credentials.username?.split('&');
  if (names?.length !== 2 || !names[0] || !names[1]) return refuse('malformed', 'username is not {deviceName}&{productKey}');
  const [deviceName, productKey] = names as [string, string];
  const signature = decodeHex(passwordText(credentials.password) ?? '');
  if (signature === undefined) return refuse('malformed', 'password is not hex');
  const timestamp = parameters['timestamp'];
  if (timestamp !== undefined && options.maxTimestampSkewMs !== undefined) {
    const skew = Math.abs(Number(timestamp) - (options.now ?? Date.now()));
    if (!(skew <= options.maxTimestampSkewMs)) return refuse('expired', `timestamp '${timestamp}' is too far from now`);
  }

  const secrets = await secretsOf(options.secrets, { productKey, deviceName });
  if (secrets.length === 0) return refuse('unknown-identity', `no secret for device '${productKey}/${deviceName}'`);
  const contents = [aliyunIotSignContent({ clientId, deviceName, productKey, ...(timestamp === undefined ? {} : { timestamp }) })];
  contents.push(aliyunIotSignContent({ deviceName, productKey, ...(timestamp === undefined ? {} : { timestamp }) }));
  if (timestamp !== undefined) contents.push(aliyunIotSignContent({ clientId, deviceName, productKey }), aliyunIotSignContent({ deviceName, productKey }));
  const algorithms: HmacAlgorithm[] = [algorithm];
  if (signMethod === 'hmacsha256' && options.acceptSdkSha1Quirk) algorithms.push('sha1');
  const signed = secrets.some((secret) =>
    algorithms.some((alg) => contents.some((content) => bytesEqual(hmac(alg, secret, content), signature))),
  );
  if (!signed) return refuse('bad-signature', `${signMethod} signature does not match`);

  const identity: AliyunIotIdentity = { productKey, deviceName, clientId, signMethod, parameters };
  if (parameters['securemode'] !== undefined) identity.secureMode = parameters['securemode'];
  if (timestamp !== undefined) identity.timestamp = timestamp;
  return { ok: true, identity };
}
