import { parseAzureConnectionString } from './azure-connection-string.js';
import { azureKeyBytes, createSasToken, parseSasToken, sasSignature } from './azure-sas.js';
import { textEqual } from './signing.js';
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
 * Azure IoT Hub device-facing MQTT: client id `{deviceId}` or `{deviceId}/{moduleId}`, username
 * `{hub}/{clientId}/?api-version=…`, password a SAS token scoped to the device or module resource.
 */

const API_VERSION = '2021-04-12';
const MQTTS_PORT = 8883;
const WEBSOCKET_PATH = '/$iothub/websocket';
const DEFAULT_TTL_S = 3600;

export interface AzureCredentialOptions {
  /** Device or module connection string; the other fields override what it says. */
  connectionString?: string;
  hostName?: string;
  deviceId?: string;
  moduleId?: string;
  /** Base64 key of the device or module (or of `policyName`), or its bytes. */
  key?: string | Uint8Array;
  /** Sign with a shared access policy key (adds `skn`). */
  policyName?: string;
  /** Token expiry, unix seconds; default `now + ttl`. */
  expiry?: number;
  /** Seconds; default 3600 as the Azure SDKs. */
  ttl?: number;
  /** Clock, epoch ms; default Date.now(). */
  now?: number;
  apiVersion?: string;
  /** IoT Plug and Play model id, sent raw as the SDKs do. */
  modelId?: string;
  /** Host dialled instead of the hub (Edge gateway, local hub), optionally `host:port`. */
  gatewayHostName?: string;
}

export interface AzureCredentials extends DeviceCredentials {
  url: string;
  port: number;
  websocketPath: string;
  /** Epoch ms at which the SAS token expires (absent for X.509 identities). */
  expiresAt?: number;
}

/** Client id, username and SAS password for a device or module; X.509 identities get no password. */
export function azureCredentials(options: AzureCredentialOptions): AzureCredentials {
  const parsed = options.connectionString === undefined ? undefined : parseAzureConnectionString(options.connectionString);
  const hostName = options.hostName ?? parsed?.hostName;
  const deviceId = options.deviceId ?? parsed?.deviceId;
  if (!hostName) throw new Error('azure: hostName is required');
  if (!deviceId) throw new Error('azure: deviceId is required');
  const moduleId = options.moduleId ?? parsed?.moduleId;
  const clientId = moduleId ? `${deviceId}/${moduleId}` : deviceId;
  const modelId = options.modelId === undefined ? '' : `&model-id=${options.modelId}`;
  const dialled = options.gatewayHostName ?? parsed?.gatewayHostName ?? hostName;
  const withPort = /^(.+):(\d{1,5})$/.exec(dialled);
  const port = withPort ? Number(withPort[2]) : MQTTS_PORT;
  const key = options.key ?? parsed?.sharedAccessKey;
  let password: string | undefined;
  let expiresAt: number | undefined;
  if (key !== undefined) {
    const expiry = options.expiry ?? Math.floor((options.now ?? Date.now()) / 1000) + (options.ttl ?? DEFAULT_TTL_S);
    const policyName = options.policyName ?? parsed?.sharedAccessKeyName;
    const resourceUri = `${hostName}/devices/${deviceId}${moduleId ? `/modules/${moduleId}` : ''}`;
    password = createSasToken({ resourceUri, key, expiry, ...(policyName ? { policyName } : {}) });
    expiresAt = expiry * 1000;
  } else if (parsed?.sharedAccessSignature !== undefined) {
    const token = parseSasToken(parsed.sharedAccessSignature);
    if (typeof token === 'string') throw new Error(`azure: ${token}`);
    password = parsed.sharedAccessSignature;
    expiresAt = token.expiry * 1000;
  } else if (!parsed?.x509) {
    throw new Error('azure: a key, a connection string with a key or SAS token, or x509=true is required');
  }
  const credentials: AzureCredentials = {
    clientId,
    username: `${hostName}/${clientId}/?api-version=${options.apiVersion ?? API_VERSION}${modelId}`,
    ...(password === undefined ? {} : { password }),
    url: `mqtts://${withPort ? withPort[1] : dialled}:${port}`,
    port,
    websocketPath: WEBSOCKET_PATH,
  };
  if (expiresAt !== undefined) credentials.expiresAt = expiresAt;
  return credentials;
}

/** What `connect` needs for an Azure identity, with tokens signed afresh at every connect. */
export interface AzureConnectOptions {
  url: string;
  clientId: string;
  username: string;
  /** Signs a new token (from now, for `ttl`) at each call; a fixed SAS token or X.509 identity gives a fixed value. */
  password?: string | (() => string);
  /** Expiry of the token the last `password` call signed: the client renews the connection before it. */
  credentialsExpireAt?: () => number | undefined;
  websocket: { path: string };
}

/**
 * Options to spread into `connect` for a device or module: with a key, each (re)connect signs a new token and the
 * client reconnects with a fresh one before the current one expires, as Azure's device SDKs do. A connection string
 * holding only a SAS token cannot be renewed: the hub disconnects the device when that token expires.
 */
export function azureConnectOptions(options: Omit<AzureCredentialOptions, 'expiry' | 'now'>): AzureConnectOptions {
  const first = azureCredentials(options);
  const result: AzureConnectOptions = {
    url: first.url,
    clientId: first.clientId,
    username: first.username,
    websocket: { path: first.websocketPath },
  };
  // Only a key can sign new tokens; a connection string's own SAS token is fixed.
  const key = options.key ?? (options.connectionString === undefined ? undefined : parseAzureConnectionString(options.connectionString).sharedAccessKey);
  if (key === undefined) {
    if (first.password !== undefined) result.password = first.password;
    return result;
  }
  let expiresAt = first.expiresAt;
  result.password = () => {
    const signed = azureCredentials(options);
    expiresAt = signed.expiresAt;
    return signed.password!;
  };
  result.credentialsExpireAt = () => expiresAt;
  return result;
}

/** Whose key signs a token: the device or module itself, or a shared access policy (`skn`). */
export type AzureKeySubject = { kind: 'device'; deviceId: string; moduleId?: string } | { kind: 'policy'; policyName: string };

export interface AzureVerifyOptions {
  /** Base64 keys (or key bytes) of a device, module or policy; return both primary and secondary to accept either. */
  keys: SecretLookup<AzureKeySubject, string | Uint8Array>;
  /** The hub's host name; when set, usernames and tokens for other hubs are refused. Case-insensitive. */
  hostName?: string;
  /** Clock, epoch ms; default Date.now(). */
  now?: number;
}

export interface AzureIdentity {
  hostName: string;
  deviceId: string;
  moduleId?: string;
  /** Set when a shared access policy token was used. */
  policyName?: string;
  apiVersion: string;
  modelId?: string;
  /** Every username query parameter (`api-version`, `model-id`, `DeviceClientType`, …), decoded. */
  parameters: Record<string, string>;
}

interface ParsedUsername {
  hostName: string;
  parameters: Record<string, string>;
}

/** `{hub}/{clientId}/?{query}` or the older `{hub}/{clientId}/api-version=…`. */
function parseUsername(username: string, clientId: string): ParsedUsername | string {
  let cut = username.indexOf('/?');
  let query = username.slice(cut + 2);
  if (cut < 0) {
    cut = username.indexOf('/api-version=');
    query = username.slice(cut + 1);
  }
  if (cut < 0) return 'username has no api-version';
  const prefix = username.slice(0, cut);
  if (!prefix.endsWith(`/${clientId}`)) return `username '${prefix}' is not {hub}/${clientId}`;
  const hostName = prefix.slice(0, prefix.length - clientId.length - 1);
  if (hostName === '' || hostName.includes('/')) return `username '${prefix}' is not {hub}/${clientId}`;
  const parameters = Object.fromEntries(new URLSearchParams(query));
  if (!parameters['api-version']) return 'username has no api-version';
  return { hostName, parameters };
}

/**
 * Verifies a CONNECT as IoT Hub does: the HMAC is computed over `sr` exactly as received, the decoded resource is
 * then compared case-insensitively. A device or module key token must name exactly the connecting identity; a
 * policy token (`skn`) may name the hub or any resource above it by whole segments (the lookup decides whether
 * that policy may connect devices).
 */
export async function verifyAzure(credentials: ConnectCredentials, options: AzureVerifyOptions): Promise<Verification<AzureIdentity>> {
  const { clientId } = credentials;
  const ids = clientId.split('/');
  if (ids.length > 2 || ids.some((id) => id === '')) return refuse('malformed', `client id '${clientId}' is not {device}[/{module}]`);
  const [deviceId, moduleId] = ids as [string, string | undefined];
  if (credentials.username === undefined) return refuse('malformed', 'username is missing');
  const user = parseUsername(credentials.username, clientId);
  if (typeof user === 'string') return refuse('malformed', user);
  const hub = user.hostName.toLowerCase();
  if (options.hostName !== undefined && hub !== options.hostName.toLowerCase()) {
    return refuse('identity-mismatch', `username names hub '${user.hostName}'`);
  }
  const password = passwordText(credentials.password);
  if (password === undefined) return refuse('malformed', 'password (SAS token) is missing');
  const token = parseSasToken(password);
  if (typeof token === 'string') return refuse('malformed', token);

  const identityResource = `${hub}/devices/${deviceId.toLowerCase()}${moduleId ? `/modules/${moduleId.toLowerCase()}` : ''}`;
  const resource = token.resourceUri.toLowerCase();
  const { policyName } = token;
  const covered =
    policyName === undefined
      ? resource === identityResource
      : resource === identityResource || identityResource.startsWith(`${resource}/`);
  if (!covered) return refuse('identity-mismatch', `token resource '${token.resourceUri}' does not cover '${clientId}'`);

  const subject: AzureKeySubject =
    policyName !== undefined
      ? { kind: 'policy', policyName }
      : moduleId
        ? { kind: 'device', deviceId, moduleId }
        : { kind: 'device', deviceId };
  const keys = await secretsOf(options.keys, subject);
  if (keys.length === 0) return refuse('unknown-identity', policyName ? `no key for policy '${policyName}'` : `no key for '${clientId}'`);
  const signed = keys.some((key) => textEqual(sasSignature(azureKeyBytes(key), token.rawResource, token.rawExpiry), token.signature));
  if (!signed) return refuse('bad-signature', 'SAS signature does not match');
  const expiresAt = token.expiry * 1000;
  if (expiresAt <= (options.now ?? Date.now())) return refuse('expired', `SAS token expired at ${new Date(expiresAt).toISOString()}`);

  const identity: AzureIdentity = { hostName: user.hostName, deviceId, apiVersion: user.parameters['api-version']!, parameters: user.parameters };
  if (moduleId) identity.moduleId = moduleId;
  if (policyName !== undefined) identity.policyName = policyName;
  const modelId = user.parameters['model-id'] ?? user.parameters['digital-twin-model-id'];
  if (modelId !== undefined) identity.modelId = modelId;
  return { ok: true, identity, expiresAt };
}
