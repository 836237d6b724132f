/**
 * A bridge's login on the remote: a fixed user name and password, or a cloud platform's device credentials
 * (`culex/credentials`), signed afresh for every connection. Credentials that expire (an Azure SAS token) say when,
 * and the bridge connects again with new ones before they do.
 */
import {
  aliyunIotCredentials,
  aliyunMqCredentials,
  azureCredentials,
  tencentCredentials,
  type AliyunIotCredentialOptions,
  type AliyunMqCredentialOptions,
  type AzureCredentialOptions,
  type TencentCredentialOptions,
} from '../credentials/index.js';

/** A cloud platform's device identity for the bridge's remote side. */
export type CloudCredentials =
  /** Azure IoT Hub (or a Culex hub): client id, user name and SAS token from a connection string or a key. */
  | ({ type: 'azure' } & Omit<AzureCredentialOptions, 'expiry' | 'now'>)
  | ({ type: 'tencent' } & Omit<TencentCredentialOptions, 'now' | 'random' | 'expiry'> & { ttl?: number })
  | ({ type: 'aliyun-iot' } & Omit<AliyunIotCredentialOptions, 'now' | 'timestamp'>)
  | ({ type: 'aliyun-mq' } & AliyunMqCredentialOptions);

export const cloudTypes: ReadonlyArray<CloudCredentials['type']> = ['azure', 'tencent', 'aliyun-iot', 'aliyun-mq'];

/** One connection's identity. */
export interface Login {
  clientId: string;
  username: string | undefined;
  password: Uint8Array | undefined;
  /** Epoch ms after which the remote refuses these credentials, when they expire. */
  expiresAt: number | undefined;
}

/** How long a Tencent signature is valid by default, seconds (the platform's SDKs use an hour). */
const TENCENT_TTL = 3600;

/** Signs the login for one connection. Throws (with the platform's message) when the credentials are unusable. */
export function login(clientId: string, username: string | undefined, password: string | undefined, cloud: CloudCredentials | undefined): Login {
  const text = (value: string | undefined): Uint8Array | undefined => (value === undefined ? undefined : Buffer.from(value));
  if (cloud === undefined) return { clientId, username, password: text(password), expiresAt: undefined };
  switch (cloud.type) {
    case 'azure': {
      const { type: _type, ...options } = cloud;
      const signed = azureCredentials(options);
      return { clientId: signed.clientId, username: signed.username, password: text(signed.password), expiresAt: signed.expiresAt };
    }
    case 'tencent': {
      const { type: _type, ttl = TENCENT_TTL, ...options } = cloud;
      const expiry = Math.floor(Date.now() / 1000) + ttl;
      const signed = tencentCredentials({ ...options, expiry });
      return { clientId: signed.clientId, username: signed.username, password: text(signed.password), expiresAt: expiry * 1000 };
    }
    case 'aliyun-iot': {
      const { type: _type, ...options } = cloud;
      const signed = aliyunIotCredentials(options);
      return { clientId: signed.clientId, username: signed.username, password: text(signed.password), expiresAt: undefined };
    }
    case 'aliyun-mq': {
      const { type: _type, ...options } = cloud;
      const signed = aliyunMqCredentials(options);
      return { clientId: signed.clientId, username: signed.username, password: text(signed.password), expiresAt: undefined };
    }
  }
}

/** Longest wait before renewing (setTimeout's limit); a later renewal waits in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Ms from now until the bridge should reconnect with fresh credentials: a fifth of their remaining life before
 * they expire, at least 1 s and at most 10 minutes before; undefined when they do not expire.
 */
export function renewIn(expiresAt: number | undefined, now: number): number | undefined {
  if (expiresAt === undefined) return undefined;
  const left = expiresAt - now;
  const margin = Math.min(10 * 60_000, Math.max(1000, left / 5));
  return Math.min(MAX_TIMER_MS, Math.max(0, left - margin));
}
