/**
 * The device secrets file of the cloud dialects (`dialect.secretsFile`): per platform, the identities served and
 * their secrets, read at start and again on SIGHUP. Lookups are map reads; an identity listed more than once has
 * each of its secrets tried (key rotation).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AliyunMqTokenGrant, AliyunMqTokenType, TencentDeviceKey } from '../credentials/index.js';
import { decodeBase64 } from '../credentials/internal.js';
import { ConfigError } from './config-error.js';
import { type JsonNode, parseJsonSource } from './json-source.js';
import { type Schema, checkNode } from './native-schema.js';

const text = (doc: string): Schema => ({ type: 'string', doc });

export const secretsSchema: Schema = {
  type: 'object',
  doc: 'device secrets of the cloud dialects',
  properties: {
    tencent: {
      type: 'array',
      doc: 'Tencent devices (dialect tencent)',
      items: {
        type: 'object',
        doc: 'a Tencent device',
        required: ['productId', 'deviceName', ['deviceSecret', 'publicKeyFile']],
        properties: {
          productId: text('product id'),
          deviceName: text('device name'),
          deviceSecret: text('base64 device secret (key devices)'),
          publicKeyFile: { type: 'path', doc: 'device certificate or public key, PEM (certificate devices)' },
        },
      },
    },
    aliyunIot: {
      type: 'array',
      doc: 'Alibaba Cloud IoT Platform devices (dialect aliyun-iot)',
      items: {
        type: 'object',
        doc: 'an IoT Platform device',
        required: ['productKey', 'deviceName', 'deviceSecret'],
        properties: { productKey: text('product key'), deviceName: text('device name'), deviceSecret: text('device secret') },
      },
    },
    aliyunMq: {
      type: 'object',
      doc: 'Alibaba Cloud MQ for IoT (dialect aliyun-mq)',
      properties: {
        accessKeys: {
          type: 'array',
          doc: 'Signature mode keys',
          items: {
            type: 'object',
            doc: 'an AccessKey',
            required: ['accessKeyId', 'accessKeySecret'],
            properties: {
              accessKeyId: text('AccessKeyId'),
              accessKeySecret: text('AccessKeySecret'),
              instanceId: text('the instance it is valid for (default any)'),
            },
          },
        },
        tokens: {
          type: 'array',
          doc: 'Token mode tokens',
          items: {
            type: 'object',
            doc: 'an issued token',
            required: ['token', 'type', 'accessKeyId'],
            properties: {
              token: text('the token'),
              type: { type: 'string', enum: ['R', 'W', 'RW'], doc: 'what it allows: R, W or RW' },
              accessKeyId: text('the AccessKeyId it was issued for'),
              instanceId: text('the instance it is valid for (default any)'),
              expiresAt: { type: 'instant', doc: 'when it expires: ISO 8601 or epoch ms (default never)' },
            },
          },
        },
      },
    },
  },
};

/** What the schema lets through, typed. */
interface SecretsFile {
  tencent?: Array<{ productId: string; deviceName: string; deviceSecret?: string; publicKeyFile?: string }>;
  aliyunIot?: Array<{ productKey: string; deviceName: string; deviceSecret: string }>;
  aliyunMq?: {
    accessKeys?: Array<{ accessKeyId: string; accessKeySecret: string; instanceId?: string }>;
    tokens?: Array<{ token: string; type: AliyunMqTokenType; accessKeyId: string; instanceId?: string; expiresAt?: number }>;
  };
}

interface TokenEntry {
  accessKeyId: string;
  instanceId: string | undefined;
  grant: AliyunMqTokenGrant;
}

/** One reading of the file, keyed by `identity(...)`. */
interface Tables {
  tencent: Map<string, TencentDeviceKey[]>;
  aliyunIot: Map<string, string[]>;
  /** By AccessKeyId and instance; by AccessKeyId alone for keys valid on any instance. */
  aliyunMqKeys: Map<string, string[]>;
  aliyunMqTokens: Map<string, TokenEntry[]>;
}

/** A map key of several names; MQTT strings cannot hold U+0000, so no two identities share one. */
function identity(...names: string[]): string {
  return names.join('\0');
}

function add<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** The line of the value at `path` in the parsed file (the nearest enclosing one when a step is missing). */
function lineOf(node: JsonNode, ...path: Array<string | number>): number {
  let at = node;
  for (const step of path) {
    const next = at.type === 'object' ? at.entries.find((e) => e.key === step)?.value : at.type === 'array' ? at.items[step as number] : undefined;
    if (next === undefined) break;
    at = next;
  }
  return at.line;
}

async function readPublicKey(path: string, fail: (reason: string) => never): Promise<KeyObject> {
  let pem: Buffer;
  try {
    pem = await readFile(path);
  } catch (err) {
    return fail(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return createPublicKey(pem);
  } catch {
    return fail(`${path} holds no PEM public key or certificate`);
  }
}

async function readSecrets(file: string): Promise<Tables> {
  let source: string;
  try {
    source = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, 0, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const root = parseJsonSource(source, file);
  const parsed = checkNode(root, secretsSchema, file, '') as SecretsFile;
  const tables: Tables = { tencent: new Map(), aliyunIot: new Map(), aliyunMqKeys: new Map(), aliyunMqTokens: new Map() };

  for (const [i, device] of (parsed.tencent ?? []).entries()) {
    const key = identity(device.productId, device.deviceName);
    const fail = (field: string, reason: string): never => {
      throw new ConfigError(file, lineOf(root, 'tencent', i, field), `tencent[${i}].${field}: ${reason}`);
    };
    if (device.deviceSecret !== undefined) {
      if (decodeBase64(device.deviceSecret) === undefined) fail('deviceSecret', 'not base64');
      add(tables.tencent, key, { deviceSecret: device.deviceSecret });
    }
    if (device.publicKeyFile !== undefined) {
      add(tables.tencent, key, { publicKey: await readPublicKey(device.publicKeyFile, (reason) => fail('publicKeyFile', reason)) });
    }
  }
  for (const device of parsed.aliyunIot ?? []) add(tables.aliyunIot, identity(device.productKey, device.deviceName), device.deviceSecret);
  for (const key of parsed.aliyunMq?.accessKeys ?? []) {
    const scope = key.instanceId === undefined ? identity(key.accessKeyId) : identity(key.accessKeyId, key.instanceId);
    add(tables.aliyunMqKeys, scope, key.accessKeySecret);
  }
  for (const { token, type, accessKeyId, instanceId, expiresAt } of parsed.aliyunMq?.tokens ?? []) {
    const grant: AliyunMqTokenGrant = { type };
    if (expiresAt !== undefined) grant.expiresAt = expiresAt;
    add(tables.aliyunMqTokens, token, { accessKeyId, instanceId, grant });
  }
  return tables;
}

export class DeviceSecrets {
  private constructor(
    readonly file: string,
    private tables: Tables,
  ) {}

  /** Reads and checks the file; throws a ConfigError naming the file, the line and the entry. */
  static async load(file: string): Promise<DeviceSecrets> {
    return new DeviceSecrets(file, await readSecrets(file));
  }

  /** Reads the file again; on a failure the previous secrets stay in force and it throws. */
  async reload(): Promise<void> {
    this.tables = await readSecrets(this.file);
  }

  /** Identities per section of the file, for the log. */
  get summary(): string {
    const { tencent, aliyunIot, aliyunMqKeys, aliyunMqTokens } = this.tables;
    return `tencent ${tencent.size}, aliyunIot ${aliyunIot.size}, aliyunMq.accessKeys ${aliyunMqKeys.size}, aliyunMq.tokens ${aliyunMqTokens.size}`;
  }

  readonly tencentKeys = ({ productId, deviceName }: { productId: string; deviceName: string }): readonly TencentDeviceKey[] | undefined =>
    this.tables.tencent.get(identity(productId, deviceName));

  readonly aliyunIotSecrets = ({ productKey, deviceName }: { productKey: string; deviceName: string }): readonly string[] | undefined =>
    this.tables.aliyunIot.get(identity(productKey, deviceName));

  readonly aliyunMqSecrets = ({ accessKeyId, instanceId }: { accessKeyId: string; instanceId: string }): readonly string[] => {
    const keys = this.tables.aliyunMqKeys;
    return [...(keys.get(identity(accessKeyId, instanceId)) ?? []), ...(keys.get(identity(accessKeyId)) ?? [])];
  };

  readonly aliyunMqTokens = (token: string, { accessKeyId, instanceId }: { accessKeyId: string; instanceId: string }): AliyunMqTokenGrant | undefined =>
    this.tables.aliyunMqTokens
      .get(token)
      ?.find((entry) => entry.accessKeyId === accessKeyId && (entry.instanceId === undefined || entry.instanceId === instanceId))?.grant;
}
