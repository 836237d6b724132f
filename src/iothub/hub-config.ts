import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { IotHubOptions } from './hub.js';
import { defaultPolicies, type PolicyRight, type SharedAccessPolicy } from './policies.js';

/** `hub.json` in a hub directory: what `culex hub init` writes and `culex hub start` reads. */
export interface HubConfig {
  /** Host name in usernames, tokens and connection strings. */
  hubName: string;
  /** Address the listeners bind. */
  host: string;
  mqttPort: number | null;
  websocketPort: number | null;
  servicePort: number | null;
  /** PEM files, relative to the hub directory unless absolute; `caFile` also verifies device certificates. */
  tls: { certFile: string; keyFile: string; caFile?: string };
  /** Durable state, relative to the hub directory unless absolute. */
  dataDir: string;
  maxEvents: number;
  maxQueuedPerDevice: number;
  policies: SharedAccessPolicy[];
}

export const CONFIG_FILE = 'hub.json';
const RIGHTS: readonly PolicyRight[] = ['RegistryRead', 'RegistryWrite', 'ServiceConnect', 'DeviceConnect'];
const run = promisify(execFile);

export function defaultHubConfig(hubName: string): HubConfig {
  return {
    hubName,
    host: '127.0.0.1',
    mqttPort: 8883,
    websocketPort: 443,
    servicePort: 8080,
    tls: { certFile: 'tls/server.crt', keyFile: 'tls/server.key', caFile: 'tls/ca.crt' },
    dataDir: 'data',
    maxEvents: 10000,
    maxQueuedPerDevice: 50,
    policies: defaultPolicies(),
  };
}

/** A port, null for none; absent means the default (null is not absent: `??` would not do). */
function port(value: unknown, name: string, fallback: number): number | null {
  if (value === undefined) return fallback;
  if (value === null) return null;
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 65535) throw new Error(`${CONFIG_FILE}: ${name} must be a port number or null`);
  return value as number;
}

function text(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') throw new Error(`${CONFIG_FILE}: ${name} must be a non-empty string`);
  return value;
}

/** Reads and checks a hub directory's configuration. */
export function readHubConfig(dir: string): HubConfig {
  const file = join(dir, CONFIG_FILE);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message} (run 'culex hub init' first)`);
  }
  const tls = (raw['tls'] ?? {}) as Record<string, unknown>;
  const policies = raw['policies'];
  if (!Array.isArray(policies)) throw new Error(`${CONFIG_FILE}: policies must be a list`);
  const config: HubConfig = {
    hubName: text(raw['hubName'], 'hubName'),
    host: text(raw['host'] ?? '127.0.0.1', 'host'),
    mqttPort: port(raw['mqttPort'], 'mqttPort', 8883),
    websocketPort: port(raw['websocketPort'], 'websocketPort', 443),
    servicePort: port(raw['servicePort'], 'servicePort', 8080),
    tls: { certFile: text(tls['certFile'], 'tls.certFile'), keyFile: text(tls['keyFile'], 'tls.keyFile') },
    dataDir: text(raw['dataDir'] ?? 'data', 'dataDir'),
    maxEvents: Number(raw['maxEvents'] ?? 10000),
    maxQueuedPerDevice: Number(raw['maxQueuedPerDevice'] ?? 50),
    policies: policies.map((p: Record<string, unknown>, i) => {
      const rights = p['rights'];
      if (!Array.isArray(rights) || rights.some((r) => !RIGHTS.includes(r as PolicyRight))) {
        throw new Error(`${CONFIG_FILE}: policies[${i}].rights must list ${RIGHTS.join(', ')}`);
      }
      return {
        keyName: text(p['keyName'], `policies[${i}].keyName`),
        primaryKey: text(p['primaryKey'], `policies[${i}].primaryKey`),
        secondaryKey: text(p['secondaryKey'], `policies[${i}].secondaryKey`),
        rights: rights as PolicyRight[],
      };
    }),
  };
  if (tls['caFile'] !== undefined) config.tls.caFile = text(tls['caFile'], 'tls.caFile');
  return config;
}

/** Writes the configuration atomically (temporary file, then rename), readable by its owner only: it holds keys. */
export function writeHubConfig(dir: string, config: HubConfig): void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, CONFIG_FILE);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

function inDir(dir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dir, path);
}

/** Hub options from a hub directory's configuration. */
export function hubOptionsFrom(dir: string, config: HubConfig): IotHubOptions {
  const options: IotHubOptions = {
    hubName: config.hubName,
    host: config.host,
    mqttPort: config.mqttPort,
    websocketPort: config.websocketPort,
    servicePort: config.servicePort,
    tls: { cert: readFileSync(inDir(dir, config.tls.certFile)), key: readFileSync(inDir(dir, config.tls.keyFile)) },
    dataDir: inDir(dir, config.dataDir),
    maxEvents: config.maxEvents,
    maxQueuedPerDevice: config.maxQueuedPerDevice,
    policies: config.policies,
  };
  if (config.tls.caFile !== undefined) options.tls.ca = readFileSync(inDir(dir, config.tls.caFile));
  return options;
}

export function dataDirOf(dir: string, config: HubConfig): string {
  return inDir(dir, config.dataDir);
}

async function openssl(cwd: string, ...args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('making certificates needs the openssl command, which is not on the PATH: install it (Debian: apt-get install openssl), or give --no-certs and set the tls files in hub.json');
    }
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`openssl ${args[0]} failed: ${stderr || (err as Error).message}`);
  }
}

/**
 * A local CA and a server certificate for `hubName`, localhost and 127.0.0.1, made with the `openssl` command
 * (Node's crypto cannot write certificates). EC P-256 keys; the CA lives 10 years, the server certificate 825 days.
 */
export async function makeHubCertificates(dir: string, hubName: string): Promise<void> {
  const tls = join(dir, 'tls');
  mkdirSync(tls, { recursive: true });
  await openssl(tls, 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key');
  chmodSync(join(tls, 'ca.key'), 0o600);
  await openssl(tls, 'req', '-x509', '-new', '-key', 'ca.key', '-subj', `/CN=Culex IoT hub CA (${hubName})`, '-days', '3650', '-sha256',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.crt');
  const names = [...new Set([`DNS:${hubName}`, 'DNS:localhost', 'IP:127.0.0.1'])].join(',');
  await issue(tls, 'server', `/CN=${hubName}`, `subjectAltName=${names}\nextendedKeyUsage=serverAuth\n`, 825);
}

/** A device (or module) certificate with CN = its client id, signed by the hub's CA, in `tls/devices/`. */
export async function makeDeviceCertificate(dir: string, clientId: string): Promise<{ certFile: string; keyFile: string }> {
  const tls = join(dir, 'tls');
  mkdirSync(join(tls, 'devices'), { recursive: true });
  const name = `devices/${clientId.replace('/', '--')}`;
  await issue(tls, name, `/CN=${clientId.replace(/\//g, "\\/")}`, 'extendedKeyUsage=clientAuth\n', 365);
  return { certFile: join(tls, `${name}.crt`), keyFile: join(tls, `${name}.key`) };
}

async function issue(tls: string, name: string, subject: string, extensions: string, days: number): Promise<void> {
  await openssl(tls, 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`);
  chmodSync(join(tls, `${name}.key`), 0o600);
  await openssl(tls, 'req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`);
  writeFileSync(join(tls, `${name}.ext`), extensions);
  await openssl(tls, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', String(days), '-sha256',
    '-extfile', `${name}.ext`, '-out', `${name}.crt`);
  for (const scratch of [`${name}.csr`, `${name}.ext`]) rmSync(join(tls, scratch));
}
