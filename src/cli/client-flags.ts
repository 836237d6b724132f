/**
 * The connection flags `culex pub` and `culex sub` share, spelled as `mosquitto_pub`/`mosquitto_sub` 2.0 spell
 * them, and their translation into a broker URL and ClientOptions.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ClientOptions } from '../client/index.js';
import { readCaPath } from '../config/internal.js';
import type { ProtocolVersion, QoS } from '../packet/index.js';
import { validateTopicName } from '../topic/index.js';
import { UsageError, type ArgReader } from './args.js';
import { readPropertyFlag, type PropertySets } from './property-flags.js';

export interface ClientFlags {
  host: string | undefined;
  port: number | undefined;
  /** `--unix`: the broker's Unix socket, dialled instead of a host and port. */
  unix: string | undefined;
  /** From `-L`: scheme, credentials, host and port; its topic goes to `urlTopic`. */
  url: URL | undefined;
  urlTopic: string | undefined;
  username: string | undefined;
  password: string | undefined;
  id: string | undefined;
  idPrefix: string | undefined;
  keepalive: number;
  clean: boolean;
  /** `-x`; -1 = never expires. */
  sessionExpiry: number | undefined;
  version: ProtocolVersion;
  will: { topic?: string; payload?: string; qos: QoS; retain: boolean };
  cafile: string | undefined;
  capath: string | undefined;
  cert: string | undefined;
  key: string | undefined;
  insecure: boolean;
  tlsVersion: 'TLSv1.3' | 'TLSv1.2' | 'TLSv1.1' | undefined;
  useOsCerts: boolean;
  properties: PropertySets;
  quiet: boolean;
  debug: boolean;
}

export function defaultClientFlags(): ClientFlags {
  return {
    host: undefined,
    port: undefined,
    unix: undefined,
    url: undefined,
    urlTopic: undefined,
    username: undefined,
    password: undefined,
    id: undefined,
    idPrefix: undefined,
    keepalive: 60,
    clean: true,
    sessionExpiry: undefined,
    version: 4,
    will: { qos: 0, retain: false },
    cafile: undefined,
    capath: undefined,
    cert: undefined,
    key: undefined,
    insecure: false,
    tlsVersion: undefined,
    useOsCerts: false,
    properties: {},
    quiet: false,
    debug: false,
  };
}

const versions: Record<string, ProtocolVersion> = { mqttv31: 3, '31': 3, mqttv311: 4, '311': 4, mqttv5: 5, '5': 5 };
const tlsVersions = { 'tlsv1.3': 'TLSv1.3', 'tlsv1.2': 'TLSv1.2', 'tlsv1.1': 'TLSv1.1' } as const;
const unsupported = new Set(['-A', '--proxy', '--psk', '--psk-identity', '--ciphers', '--tls-alpn', '--tls-engine',
  '--keyform', '--tls-engine-kpass-sha1', '-S']);

/** Help lines for the shared flags. */
export const clientFlagsHelp = `connection:
  -h, --host HOST        broker host (default localhost)
  -p, --port PORT        broker port (default 1883, 8883 with TLS)
  -L, --url URL          mqtt[s]://[user[:password]@]host[:port]/topic, or ws[s]://host[:port][/path] (WebSocket)
      --unix PATH        the broker's Unix socket instead of a host and port
  -u, --username USER    user name
  -P, --pw PASSWORD      password
  -i, --id ID            client id (default culex-<command>-<pid>)
  -I, --id-prefix P      client id P<pid>
  -k, --keepalive S      keepalive in seconds, 5 to 65535 (default 60)
  -c, --disable-clean-session   keep the session (v5: session expiry infinite unless -x)
  -x S                   MQTT 5 session expiry interval; -1 or 4294967295 = never (default 0, -1 with -c)
  -V, --protocol-version V      mqttv5|5, mqttv311|311, mqttv31|31 (default 311; -D implies 5)
  -D, --property CMD NAME VALUE [VALUE]  MQTT 5 property for connect, publish, subscribe, unsubscribe,
                         disconnect or will (user-property takes NAME VALUE)
  --will-topic T, --will-payload P, --will-qos Q, --will-retain   the client's Will
  --quiet                print no error messages
  -d, --debug            print connection details on stderr
tls:
  --cafile FILE          trusted CA certificates (turns TLS on)
  --capath DIR           directory of trusted CA certificates (turns TLS on)
  --cert FILE, --key FILE       client certificate and key
  --insecure             do not check the server's host name against its certificate
  --tls-version V        tlsv1.3, tlsv1.2 or tlsv1.1 (default: tlsv1.2 or newer)
  --tls-use-os-certs     trust the system's CA certificates (turns TLS on)`;

/** Consumes one shared flag; false when `flag` is not one of them. */
export function readClientFlag(flag: string, reader: ArgReader, flags: ClientFlags): boolean {
  switch (flag) {
    case '-h':
    case '--host':
      flags.host = reader.value(flag, 'a host');
      return true;
    case '-p':
    case '--port':
      flags.port = reader.integer(flag, 'a port', 1, 65535);
      return true;
    case '-L':
    case '--url':
      readUrl(reader.value(flag, 'a URL'), flags);
      return true;
    case '--unix':
      flags.unix = reader.value(flag, 'a socket path');
      return true;
    case '-u':
    case '--username':
      flags.username = reader.value(flag, 'a user name');
      return true;
    case '-P':
    case '--pw':
      flags.password = reader.value(flag, 'a password');
      return true;
    case '-i':
    case '--id':
      if (flags.idPrefix !== undefined) throw new UsageError('-i and -I cannot be used together');
      flags.id = reader.value(flag, 'a client id');
      return true;
    case '-I':
    case '--id-prefix':
      if (flags.id !== undefined) throw new UsageError('-i and -I cannot be used together');
      flags.idPrefix = reader.value(flag, 'a client id prefix');
      return true;
    case '-k':
    case '--keepalive':
      flags.keepalive = reader.integer(flag, 'a keepalive', 5, 65535);
      return true;
    case '-c':
    case '--disable-clean-session':
      flags.clean = false;
      return true;
    case '-x': {
      const text = reader.value(flag, 'a session expiry interval');
      flags.sessionExpiry = text === '-1' || text === '∞' ? -1 : Number(text);
      if (!/^\d+$/.test(text) && flags.sessionExpiry !== -1) throw new UsageError(`-x takes seconds or -1, not '${text}'`);
      if (flags.sessionExpiry === 0xffffffff) flags.sessionExpiry = -1;
      if (flags.sessionExpiry > 0xffffffff) throw new UsageError(`-x takes at most 4294967295, not '${text}'`);
      return true;
    }
    case '-V':
    case '--protocol-version': {
      const text = reader.value(flag, 'a protocol version');
      const version = versions[text];
      if (version === undefined) throw new UsageError(`unknown protocol version '${text}' (mqttv5, mqttv311 or mqttv31)`);
      flags.version = version;
      return true;
    }
    case '-D':
    case '--property':
      readPropertyFlag(flag, reader, flags.properties);
      // As with the Mosquitto tools, properties mean MQTT 5.
      flags.version = 5;
      return true;
    case '--will-topic': {
      const topic = reader.value(flag, 'a topic');
      const error = validateTopicName(topic);
      if (error) throw new UsageError(`invalid will topic '${topic}': ${error.message}`);
      flags.will.topic = topic;
      return true;
    }
    case '--will-payload':
      flags.will.payload = reader.value(flag, 'a payload');
      return true;
    case '--will-qos':
      flags.will.qos = reader.qos(flag);
      return true;
    case '--will-retain':
      flags.will.retain = true;
      return true;
    case '--cafile':
      flags.cafile = reader.value(flag, 'a file');
      return true;
    case '--capath':
      flags.capath = reader.value(flag, 'a directory');
      return true;
    case '--cert':
      flags.cert = reader.value(flag, 'a file');
      return true;
    case '--key':
      flags.key = reader.value(flag, 'a file');
      return true;
    case '--insecure':
      flags.insecure = true;
      return true;
    case '--tls-use-os-certs':
      flags.useOsCerts = true;
      return true;
    case '--tls-version': {
      const text = reader.value(flag, 'a TLS version');
      const version = tlsVersions[text as keyof typeof tlsVersions];
      if (version === undefined) throw new UsageError(`unknown TLS version '${text}' (tlsv1.3, tlsv1.2 or tlsv1.1)`);
      flags.tlsVersion = version;
      return true;
    }
    case '--quiet':
      flags.quiet = true;
      return true;
    case '-d':
    case '--debug':
      flags.debug = true;
      return true;
    case '--nodelay':
      // Node sockets used by the client already disable Nagle's algorithm.
      return true;
    default:
      if (unsupported.has(flag)) throw new UsageError(`${flag} is not supported by culex`);
      return false;
  }
}

function readUrl(text: string, flags: ClientFlags): void {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`-L: '${text}' is not a URL`);
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(url.protocol)) {
    throw new UsageError(`-L: unsupported scheme '${url.protocol}' (mqtt, mqtts, ws, wss)`);
  }
  if (url.username) flags.username = decodeURIComponent(url.username);
  if (url.password) flags.password = decodeURIComponent(url.password);
  if (url.protocol === 'mqtt:' || url.protocol === 'mqtts:') {
    // As in mosquitto_pub/sub, the path names the topic.
    const topic = decodeURIComponent(url.pathname.slice(1));
    if (topic) flags.urlTopic = topic;
  }
  flags.url = url;
}

/** True when the flags ask for TLS. */
function wantsTls(flags: ClientFlags): boolean {
  return flags.cafile !== undefined || flags.capath !== undefined || flags.useOsCerts;
}

/** The broker URL to dial. */
export function brokerUrl(flags: ClientFlags): URL {
  if (flags.unix !== undefined) {
    // As mosquitto_pub: the socket is the broker; a host or port given as well does not apply.
    const url = new URL('unix://');
    url.pathname = resolve(flags.unix);
    return url;
  }
  if (flags.url) {
    const url = new URL(flags.url.href);
    url.username = '';
    url.password = '';
    if (url.protocol === 'mqtt:' || url.protocol === 'mqtts:') url.pathname = '';
    if (flags.host !== undefined) url.hostname = flags.host;
    if (flags.port !== undefined) url.port = String(flags.port);
    return url;
  }
  const tls = wantsTls(flags);
  const host = flags.host ?? 'localhost';
  const port = flags.port ?? (tls ? 8883 : 1883);
  return new URL(`${tls ? 'mqtts' : 'mqtt'}://${host.includes(':') ? `[${host}]` : host}:${port}`);
}

/** Checks the flags together, as the Mosquitto tools do before connecting. */
export function checkClientFlags(flags: ClientFlags): void {
  if (flags.will.payload !== undefined && flags.will.topic === undefined) {
    throw new UsageError('--will-payload given without --will-topic');
  }
  if (flags.will.retain && flags.will.topic === undefined) throw new UsageError('--will-retain given without --will-topic');
  if ((flags.cert === undefined) !== (flags.key === undefined)) throw new UsageError('--cert and --key go together');
  if (flags.version === 5) {
    const expiry = flags.sessionExpiry ?? (flags.clean ? 0 : -1);
    if (expiry === -1 && flags.id === undefined) throw new UsageError('a session that never expires (-c or -x -1) needs a client id (-i)');
  } else if (!flags.clean && flags.id === undefined) {
    throw new UsageError('-c needs a client id (-i)');
  }
}

async function readTlsFiles(flags: ClientFlags): Promise<Pick<ClientOptions, 'ca' | 'cert' | 'key'>> {
  const read = async (file: string, what: string): Promise<Buffer> => {
    try {
      return await readFile(file);
    } catch (err) {
      throw new UsageError(`cannot read ${what} '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const ca: Buffer[] = [];
  if (flags.cafile !== undefined) ca.push(await read(flags.cafile, '--cafile'));
  if (flags.capath !== undefined) {
    try {
      ca.push(...(await readCaPath(flags.capath)));
    } catch (err) {
      throw new UsageError(`cannot read --capath '${flags.capath}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const result: Pick<ClientOptions, 'ca' | 'cert' | 'key'> = {};
  if (ca.length > 0) result.ca = ca;
  if (flags.cert !== undefined) result.cert = await read(flags.cert, '--cert');
  if (flags.key !== undefined) result.key = await read(flags.key, '--key');
  return result;
}

/** ClientOptions for the flags (TLS files read); `command` names the default client id. */
export async function clientOptions(flags: ClientFlags, command: string): Promise<ClientOptions> {
  const options: ClientOptions = {
    protocolVersion: flags.version,
    clientId: flags.id ?? `${flags.idPrefix ?? `culex-${command}-`}${process.pid}`,
    clean: flags.clean,
    keepalive: flags.keepalive,
    ...(await readTlsFiles(flags)),
  };
  if (flags.insecure) options.checkHostname = false;
  if (flags.tlsVersion !== undefined) {
    options.minVersion = flags.tlsVersion;
    options.maxVersion = flags.tlsVersion;
  }
  if (flags.username !== undefined) options.username = flags.username;
  // As with the Mosquitto tools, a password without a user name is not sent.
  if (flags.password !== undefined && flags.username !== undefined) options.password = flags.password;
  if (flags.version === 5) {
    let expiry = flags.sessionExpiry ?? (flags.clean ? 0 : -1);
    if (expiry === -1) expiry = 0xffffffff;
    if (expiry > 0) options.sessionExpiryInterval = expiry;
    const connect = flags.properties.connect;
    if (connect) {
      const { authenticationMethod, authenticationData, sessionExpiryInterval, ...rest } = connect;
      if (authenticationMethod !== undefined) options.authenticationMethod = authenticationMethod;
      if (authenticationData !== undefined) options.authenticationData = authenticationData;
      if (sessionExpiryInterval !== undefined) options.sessionExpiryInterval = sessionExpiryInterval;
      if (Object.keys(rest).length > 0) options.properties = rest;
    }
  }
  if (flags.will.topic !== undefined) {
    options.will = { topic: flags.will.topic, payload: flags.will.payload ?? '', qos: flags.will.qos, retain: flags.will.retain };
    if (flags.version === 5 && flags.properties.will) options.will.properties = flags.properties.will;
  }
  return options;
}
