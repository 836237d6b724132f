import { hmac, textEqual } from './signing.js';
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
 * Alibaba Cloud MQ for IoT: client id `{GroupID}@@@{DeviceID}`; Signature mode username
 * `Signature|{AccessKeyId}|{InstanceId}` with password base64(HMAC-SHA1(AccessKeySecret, clientId)); Token mode
 * username `Token|{AccessKeyId}|{InstanceId}` with password `{type}|{token}[|{type}|{token}…]`.
 */

export type AliyunMqTokenType = 'R' | 'W' | 'RW';
export interface AliyunMqToken {
  type: AliyunMqTokenType;
  token: string;
}

const TOKEN_TYPES: readonly string[] = ['R', 'W', 'RW'];
const SEPARATOR = '@@@';

export interface AliyunMqCredentialOptions {
  groupId: string;
  deviceId: string;
  accessKeyId: string;
  instanceId: string;
  /** AccessKeySecret: Signature mode. */
  secretKey?: string;
  /** Tokens issued by the vendor's token service: Token mode (takes precedence over `secretKey`). */
  tokens?: readonly AliyunMqToken[];
}

export function aliyunMqClientId(groupId: string, deviceId: string): string {
  if (!groupId || !deviceId || groupId.includes(SEPARATOR)) throw new Error(`aliyun-mq: bad group id '${groupId}' or device id '${deviceId}'`);
  return `${groupId}${SEPARATOR}${deviceId}`;
}

export function aliyunMqSignature(secretKey: string, clientId: string): string {
  return hmac('sha1', secretKey, clientId).toString('base64');
}

export function aliyunMqCredentials(options: AliyunMqCredentialOptions): DeviceCredentials & { password: string } {
  const clientId = aliyunMqClientId(options.groupId, options.deviceId);
  const { accessKeyId, instanceId, tokens } = options;
  if (!accessKeyId || !instanceId || accessKeyId.includes('|') || instanceId.includes('|')) {
    throw new Error('aliyun-mq: accessKeyId and instanceId are required and may not contain |');
  }
  if (tokens !== undefined) {
    if (tokens.length === 0) throw new Error('aliyun-mq: Token mode needs at least one token');
    for (const { type, token } of tokens) {
      if (!TOKEN_TYPES.includes(type) || !token || token.includes('|')) throw new Error(`aliyun-mq: bad ${type} token`);
    }
    return { clientId, username: `Token|${accessKeyId}|${instanceId}`, password: tokens.map((t) => `${t.type}|${t.token}`).join('|') };
  }
  if (!options.secretKey) throw new Error('aliyun-mq: secretKey (Signature mode) or tokens (Token mode) is required');
  return { clientId, username: `Signature|${accessKeyId}|${instanceId}`, password: aliyunMqSignature(options.secretKey, clientId) };
}

/** The topic that delivers to one client without it subscribing: `{parent}/p2p/{clientId}`. */
export function aliyunMqP2pTopic(parentTopic: string, targetClientId: string): string {
  if (!parentTopic || /[/+#]/.test(parentTopic)) throw new Error(`aliyun-mq: parent topic '${parentTopic}' must be one level`);
  if (!targetClientId || /[/+#]/.test(targetClientId)) throw new Error(`aliyun-mq: bad target client id '${targetClientId}'`);
  return `${parentTopic}/p2p/${targetClientId}`;
}

/** The target of a P2P topic, or undefined when the topic is not one. */
export function parseAliyunMqP2pTopic(topic: string): { parentTopic: string; targetClientId: string } | undefined {
  const levels = topic.split('/');
  if (levels.length !== 3 || levels[1] !== 'p2p' || !levels[0] || !levels[2]) return undefined;
  return { parentTopic: levels[0], targetClientId: levels[2] };
}

/** What the token service knows about an issued token. */
export interface AliyunMqTokenGrant {
  /** The type it was issued for; a token presented as another type is refused. */
  type?: AliyunMqTokenType;
  /** Epoch ms; `aliyunMqProfile` warns a connection holding the token before, and disconnects it then. */
  expiresAt?: number;
}

export interface AliyunMqVerifyOptions {
  /** AccessKeySecret(s) of an AccessKeyId (Signature mode). */
  secretKeys?: SecretLookup<{ accessKeyId: string; instanceId: string }, string>;
  /** Grants of issued tokens (Token mode); absent disables Token mode. */
  tokens?: (token: string, context: { accessKeyId: string; instanceId: string; type: AliyunMqTokenType }) =>
    | AliyunMqTokenGrant
    | undefined
    | Promise<AliyunMqTokenGrant | undefined>;
  /** Only this instance is served; default any. */
  instanceId?: string;
  /** Clock, epoch ms; default Date.now(). */
  now?: number;
}

export interface AliyunMqIdentity {
  mode: 'Signature' | 'Token';
  groupId: string;
  deviceId: string;
  accessKeyId: string;
  instanceId: string;
  /** Token mode: what the tokens allow. */
  canRead?: boolean;
  canWrite?: boolean;
  /** Token mode: each token's type and, when its grant has one, its expiry (epoch ms). */
  tokens?: { type: AliyunMqTokenType; expiresAt?: number }[];
}

function parseTokens(password: string): AliyunMqToken[] | string {
  const parts = password.split('|');
  if (parts.length % 2 !== 0) return 'Token mode password is not {type}|{token} pairs';
  const tokens: AliyunMqToken[] = [];
  for (let i = 0; i < parts.length; i += 2) {
    const type = parts[i]!;
    if (!TOKEN_TYPES.includes(type) || !parts[i + 1]) return `Token mode password has a bad pair '${type}|…'`;
    tokens.push({ type: type as AliyunMqTokenType, token: parts[i + 1]! });
  }
  return tokens;
}

/** Verifies a CONNECT in Signature mode (HMAC-SHA1 of the client id) or Token mode (every token must be valid). */
export async function verifyAliyunMq(credentials: ConnectCredentials, options: AliyunMqVerifyOptions): Promise<Verification<AliyunMqIdentity>> {
  const { clientId } = credentials;
  const cut = clientId.indexOf(SEPARATOR);
  const groupId = clientId.slice(0, cut);
  const deviceId = clientId.slice(cut + SEPARATOR.length);
  if (cut <= 0 || deviceId === '') return refuse('malformed', `client id '${clientId}' is not {GroupID}@@@{DeviceID}`);
  const fields = credentials.username?.split('|');
  if (fields?.length !== 3 || !fields[1] || !fields[2]) return refuse('malformed', 'username is not {mode}|{AccessKeyId}|{InstanceId}');
  const [mode, accessKeyId, instanceId] = fields as [string, string, string];
  if (options.instanceId !== undefined && instanceId !== options.instanceId) return refuse('identity-mismatch', `instance '${instanceId}' is not served`);
  const password = passwordText(credentials.password);
  if (!password) return refuse('malformed', 'password is missing');
  const identity = { groupId, deviceId, accessKeyId, instanceId };

  if (mode === 'Signature') {
    if (!options.secretKeys) return refuse('unsupported', 'Signature mode is not enabled');
    const secrets = await secretsOf(options.secretKeys, { accessKeyId, instanceId });
    if (secrets.length === 0) return refuse('unknown-identity', `no secret for AccessKeyId '${accessKeyId}'`);
    if (!secrets.some((secret) => textEqual(aliyunMqSignature(secret, clientId), password))) return refuse('bad-signature', 'signature does not match');
    return { ok: true, identity: { mode, ...identity } };
  }
  if (mode !== 'Token') return refuse('unsupported', `unknown mode '${mode}'`);
  if (!options.tokens) return refuse('unsupported', 'Token mode is not enabled');
  const tokens = parseTokens(password);
  if (typeof tokens === 'string') return refuse('malformed', tokens);
  const now = options.now ?? Date.now();
  let expiresAt: number | undefined;
  const held: { type: AliyunMqTokenType; expiresAt?: number }[] = [];
  for (const { type, token } of tokens) {
    const grant = await options.tokens(token, { accessKeyId, instanceId, type });
    if (grant === undefined) return refuse('bad-signature', `${type} token is not valid`);
    if (grant.type !== undefined && grant.type !== type) return refuse('identity-mismatch', `${type} token was issued as ${grant.type}`);
    if (grant.expiresAt === undefined) held.push({ type });
    else {
      if (grant.expiresAt <= now) return refuse('expired', `${type} token expired at ${new Date(grant.expiresAt).toISOString()}`);
      expiresAt = Math.min(expiresAt ?? Infinity, grant.expiresAt);
      held.push({ type, expiresAt: grant.expiresAt });
    }
  }
  const canRead = tokens.some((t) => t.type !== 'W');
  const canWrite = tokens.some((t) => t.type !== 'R');
  const accepted: Verification<AliyunMqIdentity> = { ok: true, identity: { mode, ...identity, canRead, canWrite, tokens: held } };
  if (expiresAt !== undefined) accepted.expiresAt = expiresAt;
  return accepted;
}
