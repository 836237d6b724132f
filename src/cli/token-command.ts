import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseArgsMessage, USAGE_STATUS, usageError } from './args.js';
import {
  type AliyunIotSignMethod,
  type AliyunMqToken,
  type AliyunMqTokenType,
  type DeviceCredentials,
  aliyunIotCredentials,
  aliyunMqCredentials,
  azureCredentials,
  tencentCredentials,
} from '../credentials/index.js';

/**
 * `culex token <cloud> …`: prints a device's credentials for one cloud scheme as one JSON object. Every variable
 * input can be given as a flag, so the output is reproducible.
 */

type Values = Record<string, string | string[] | boolean | undefined>;
type Flags = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;

interface Scheme {
  usage: string;
  flags: Flags;
  build(values: Values): DeviceCredentials;
}

function text(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

function required(values: Values, name: string): string {
  const value = text(values, name);
  if (!value) throw new Error(`--${name} is required`);
  return value;
}

function digits(values: Values, name: string): string | undefined {
  const value = text(values, name);
  if (value !== undefined && !/^\d+$/.test(value)) throw new Error(`--${name} must be a whole number, not '${value}'`);
  return value;
}

function oneOf<T extends string>(values: Values, name: string, allowed: readonly T[]): T | undefined {
  const value = text(values, name);
  if (value !== undefined && !allowed.includes(value as T)) throw new Error(`--${name} must be one of ${allowed.join(', ')}, not '${value}'`);
  return value as T | undefined;
}

/** `R=123,W=abcd` (flag repeatable) → token list; a comma starts a new pair only before `R=`, `W=` or `RW=`. */
function parseTokens(specs: string[]): AliyunMqToken[] {
  const tokens: AliyunMqToken[] = [];
  for (const pair of specs.flatMap((spec) => spec.split(/,(?=(?:RW|R|W)=)/))) {
    const eq = pair.indexOf('=');
    const type = pair.slice(0, eq);
    if (eq < 0 || !['R', 'W', 'RW'].includes(type) || eq === pair.length - 1) {
      throw new Error(`--token wants R=…,W=…,RW=…, not '${pair}'`);
    }
    tokens.push({ type: type as AliyunMqTokenType, token: pair.slice(eq + 1) });
  }
  return tokens;
}

const schemes: Record<string, Scheme> = {
  azure: {
    usage: 'culex token azure --connection-string CS [--module M] [--expiry UNIX_S | --ttl S]',
    flags: { 'connection-string': { type: 'string' }, module: { type: 'string' }, expiry: { type: 'string' }, ttl: { type: 'string' } },
    build(values) {
      const expiry = digits(values, 'expiry');
      const ttl = digits(values, 'ttl');
      if (expiry !== undefined && ttl !== undefined) throw new Error('give --expiry or --ttl, not both');
      const module = text(values, 'module');
      return azureCredentials({
        connectionString: required(values, 'connection-string'),
        ...(module ? { moduleId: module } : {}),
        ...(expiry !== undefined ? { expiry: Number(expiry) } : {}),
        ...(ttl !== undefined ? { ttl: Number(ttl) } : {}),
      });
    },
  },
  tencent: {
    usage:
      'culex token tencent --product-id P --device-name D (--device-secret S [--method hmacsha1|hmacsha256] | --private-key FILE)\n' +
      '      [--sdkappid N] [--connid X] [--expiry T]',
    flags: {
      'product-id': { type: 'string' },
      'device-name': { type: 'string' },
      'device-secret': { type: 'string' },
      'private-key': { type: 'string' },
      method: { type: 'string' },
      sdkappid: { type: 'string' },
      connid: { type: 'string' },
      expiry: { type: 'string' },
    },
    build(values) {
      const secret = text(values, 'device-secret');
      const keyFile = text(values, 'private-key');
      const method = oneOf(values, 'method', ['hmacsha1', 'hmacsha256'] as const);
      if ((secret === undefined) === (keyFile === undefined)) throw new Error('give --device-secret or --private-key (one of them)');
      if (keyFile !== undefined && method !== undefined) throw new Error('--method applies to --device-secret; certificate devices sign with rsa-sha256');
      let privateKey: Buffer | undefined;
      if (keyFile !== undefined) {
        try {
          privateKey = readFileSync(keyFile);
        } catch (err) {
          throw new Error(`cannot read --private-key: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      const sdkappid = digits(values, 'sdkappid');
      const connid = text(values, 'connid');
      const expiry = digits(values, 'expiry');
      return tencentCredentials({
        productId: required(values, 'product-id'),
        deviceName: required(values, 'device-name'),
        ...(secret !== undefined ? { deviceSecret: secret } : {}),
        ...(privateKey !== undefined ? { privateKey } : {}),
        ...(method !== undefined ? { method } : {}),
        ...(sdkappid !== undefined ? { sdkappid } : {}),
        ...(connid !== undefined ? { connid } : {}),
        ...(expiry !== undefined ? { expiry } : {}),
      });
    },
  },
  'aliyun-mq': {
    usage:
      'culex token aliyun-mq --group-id G --device-id D --access-key AK --instance-id I (--secret-key SK | --token R=…,W=…)',
    flags: {
      'group-id': { type: 'string' },
      'device-id': { type: 'string' },
      'access-key': { type: 'string' },
      'secret-key': { type: 'string' },
      'instance-id': { type: 'string' },
      token: { type: 'string', multiple: true },
    },
    build(values) {
      const secretKey = text(values, 'secret-key');
      const tokenSpecs = values['token'] as string[] | undefined;
      if ((secretKey === undefined) === (tokenSpecs === undefined)) throw new Error('give --secret-key (Signature mode) or --token (Token mode)');
      return aliyunMqCredentials({
        groupId: required(values, 'group-id'),
        deviceId: required(values, 'device-id'),
        accessKeyId: required(values, 'access-key'),
        instanceId: required(values, 'instance-id'),
        ...(secretKey !== undefined ? { secretKey } : { tokens: parseTokens(tokenSpecs!) }),
      });
    },
  },
  'aliyun-iot': {
    usage:
      'culex token aliyun-iot --product-key PK --device-name DN --device-secret S [--client-id C] [--timestamp MS]\n' +
      '      [--sign-method hmacsha1|hmacsha256|hmacmd5] [--secure-mode 2|3]',
    flags: {
      'product-key': { type: 'string' },
      'device-name': { type: 'string' },
      'device-secret': { type: 'string' },
      'client-id': { type: 'string' },
      timestamp: { type: 'string' },
      'sign-method': { type: 'string' },
      'secure-mode': { type: 'string' },
    },
    build(values) {
      const clientId = text(values, 'client-id');
      const timestamp = digits(values, 'timestamp');
      const signMethod = oneOf<AliyunIotSignMethod>(values, 'sign-method', ['hmacsha1', 'hmacsha256', 'hmacmd5']);
      const secureMode = oneOf(values, 'secure-mode', ['2', '3'] as const);
      return aliyunIotCredentials({
        productKey: required(values, 'product-key'),
        deviceName: required(values, 'device-name'),
        deviceSecret: required(values, 'device-secret'),
        ...(clientId !== undefined ? { clientId } : {}),
        ...(timestamp !== undefined ? { timestamp } : {}),
        ...(signMethod !== undefined ? { signMethod } : {}),
        ...(secureMode !== undefined ? { secureMode: secureMode === '2' ? 2 : 3 } : {}),
      });
    },
  },
};

function usage(): string {
  return [
    'usage: culex token <cloud> [options]   prints {"clientId","username","password",…} as JSON',
    '',
    ...Object.values(schemes).map((scheme) => `  ${scheme.usage}`),
  ].join('\n');
}

export async function run(args: string[]): Promise<number> {
  const [cloud, ...rest] = args;
  if (cloud === '--help' || cloud === '-h' || cloud === 'help') {
    console.log(usage());
    return 0;
  }
  const scheme = cloud !== undefined && Object.hasOwn(schemes, cloud) ? schemes[cloud] : undefined;
  if (scheme === undefined) {
    if (cloud === undefined) {
      console.error(usage());
      return USAGE_STATUS;
    }
    return usageError('token', `unknown cloud '${cloud}' (azure, tencent, aliyun-mq, aliyun-iot)`);
  }
  try {
    const { values } = parseArgs({ args: rest, options: { ...scheme.flags, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
    if (values['help']) {
      console.log(`usage: ${scheme.usage}`);
      return 0;
    }
    console.log(JSON.stringify(scheme.build(values)));
    return 0;
  } catch (err) {
    // Every failure here is a missing, unknown or unusable flag (an unreadable key file included).
    const message = parseArgsMessage(err).split('\n')[0]!;
    // Library errors already name the cloud.
    return usageError(`token ${cloud}`, message.startsWith(`${cloud}: `) ? message.slice(cloud.length + 2) : message);
  }
}
