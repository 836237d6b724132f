/**
 * Reading a broker configuration file of either form into a `BrokerConfig` (config-types.ts): the form is told by
 * its first character, and each form has its parser (native-config.ts, mosquitto-config.ts).
 */
import { readFile } from 'node:fs/promises';
import type { ListenerTlsOptions } from '../broker/index.js';
import { readCaPath } from './ca-path.js';
import { ConfigError } from './config-error.js';
import type { RemoteTls } from '../bridge/index.js';
import type { BridgeTlsFiles, BrokerConfig, DialectSettings, TlsFiles } from './config-types.js';
import { parseMosquittoConfig } from './mosquitto-config.js';
import { parseNativeConfig } from './native-config.js';

export const dialectTypes: ReadonlyArray<DialectSettings['type']> = ['tencent', 'aliyun-mq', 'aliyun-iot'];

/** A mosquitto.conf is lines of `directive value`; the native file is a JSON object. */
export function detectFormat(text: string): 'native' | 'mosquitto' {
  return text.trimStart().startsWith('{') ? 'native' : 'mosquitto';
}

/** Reads and checks a configuration file of either form. Throws ConfigError / ConfigErrors naming file and line. */
export async function loadBrokerConfig(file: string): Promise<BrokerConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, 0, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return detectFormat(text) === 'native' ? parseNativeConfig(text, file) : parseMosquittoConfig(text, file);
}

async function read(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new Error(`cannot read TLS ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The CA file and the CA directory's certificates as one PEM bundle, or undefined when neither is given. */
async function readCas(caFile: string | undefined, caPath: string | undefined): Promise<Buffer | undefined> {
  const cas: Buffer[] = [];
  if (caFile !== undefined) cas.push(await read(caFile, 'CA file'));
  if (caPath !== undefined) {
    try {
      cas.push(...(await readCaPath(caPath)));
    } catch (err) {
      throw new Error(`cannot read TLS CA directory ${caPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return cas.length > 0 ? Buffer.concat(cas.flatMap((ca) => [ca, Buffer.from('\n')])) : undefined;
}

/** Reads a bridge's CA, certificate and key files (at start). */
export async function readBridgeTls(files: BridgeTlsFiles): Promise<RemoteTls> {
  const { caFile, caPath, certFile, keyFile, ...settings } = files;
  const tls: RemoteTls = { ...settings };
  const ca = await readCas(caFile, caPath);
  if (ca !== undefined) tls.ca = ca;
  if (certFile !== undefined) tls.cert = await read(certFile, 'certificate');
  if (keyFile !== undefined) tls.key = await read(keyFile, 'key');
  return tls;
}

/** Reads a listener's certificate, key, CA and CRL files (at start and on SIGHUP). */
export async function readListenerTls(files: TlsFiles): Promise<ListenerTlsOptions> {
  const tls: ListenerTlsOptions = { cert: await read(files.certFile, 'certificate'), key: await read(files.keyFile, 'key') };
  const ca = await readCas(files.caFile, files.caPath);
  if (ca !== undefined) tls.ca = ca;
  if (files.crlFile !== undefined) tls.crl = await read(files.crlFile, 'CRL');
  if (files.requestCertificate !== undefined) tls.requestCertificate = files.requestCertificate;
  if (files.requireCertificate !== undefined) tls.requireCertificate = files.requireCertificate;
  if (files.minVersion !== undefined) tls.minVersion = files.minVersion;
  return tls;
}
