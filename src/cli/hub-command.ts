import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stderrLogger } from '../broker/index.js';
import { createIotHub, createServiceToken } from '../iothub/index.js';
import {
  CONFIG_FILE,
  dataDirOf,
  defaultHubConfig,
  hubOptionsFrom,
  makeDeviceCertificate,
  makeHubCertificates,
  readHubConfig,
  writeHubConfig,
  TwinStore,
  type HubConfig,
} from '../iothub/internal.js';
import { parseArgsMessage, usageError } from './args.js';
import { DeviceRegistry, identityKey, LevelKeyValueStore, type DeviceIdentityInput } from '../registry/index.js';

const help = `usage: culex hub <command> [options]

An Azure-IoT-Hub-compatible hub: devices connect with the Azure device SDKs (MQTT over TLS, or over secure
WebSocket at /$iothub/websocket), back ends use the service API (HTTP, JSON, SAS policy tokens).

commands:
  init                     create the hub directory: ${CONFIG_FILE}, policy keys, a local CA and server certificate
  start                    run the hub in the foreground until SIGINT or SIGTERM
  policies                 print the shared access policies and their keys (JSON)
  token                    print a service SAS token (the Authorization header of the service API)
  device add ID            register a device (or with --module, a module); prints it (JSON)
  device list              list devices (JSON lines)
  device remove ID         delete a device with its modules, twin and queued messages (or only --module)
  device cert ID           issue a device certificate signed by the hub's CA (CN = ID) into tls/devices/
  connection-string ID     print a device's (or --module's) connection string

The device commands change the data directory directly: stop the hub first, or use the service API.

options:
  -d, --dir DIR            hub directory (default .)
      --name HOST          init: the hub's host name (default localhost)
      --host ADDR          init: address to listen on (default 127.0.0.1); start: likewise
      --mqtt-port N        init: MQTT over TLS port (default 8883; 0 = none); start: this run's, over ${CONFIG_FILE}'s
      --wss-port N         init: secure WebSocket port (default 8443; 0 = none; the Azure SDKs' MqttWs dials 443); start: likewise
      --service-port N     init: service API port (default 8080; 0 = none); start: likewise
      --no-certs           init: make no certificates (set tls paths in ${CONFIG_FILE} yourself)
  -m, --module ID          device commands: the module of the device
      --x509-thumbprint T  device add: authenticate by certificate thumbprint (SHA-1 or SHA-256 hex)
      --x509-ca            device add: authenticate by any certificate the hub's CA signed for the id
      --primary-key K      device add: use this base64 key instead of a generated one
      --secondary-key K    device add: likewise
      --disabled           device add: create it disabled
      --gateway HOST:PORT  connection-string: the GatewayHostName devices dial (default localhost:{mqtt port},
                           left out when the hub is named localhost and listens on 8883)
      --policy NAME        token: the policy (default iothubowner)
      --ttl S              token: seconds of validity (default 3600)
  -v, --verbose            start: log connections and refusals
  -h, --help               show this help
`;

/** Each command and the options it takes (besides --dir and --help): any other is refused, not ignored. */
const hubCommandOptions = {
  init: ['name', 'host', 'mqtt-port', 'wss-port', 'service-port', 'no-certs'],
  start: ['host', 'mqtt-port', 'wss-port', 'service-port', 'verbose'],
  policies: [],
  token: ['policy', 'ttl'],
  device: ['module', 'x509-thumbprint', 'x509-ca', 'primary-key', 'secondary-key', 'disabled'],
  'connection-string': ['module', 'gateway'],
} as const satisfies Record<string, readonly string[]>;
const hubCommands = Object.keys(hubCommandOptions) as Array<keyof typeof hubCommandOptions>;

function isHubCommand(name: string): name is keyof typeof hubCommandOptions {
  return Object.hasOwn(hubCommandOptions, name);
}

type Values = Record<string, string | boolean | undefined>;

function option(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

function portOption(values: Values, name: string, fallback: number | null): number | null {
  const value = option(values, name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--${name} must be a port number, not '${value}'`);
  return n === 0 ? null : n;
}

function one(positionals: string[], what: string): string {
  const value = positionals[0];
  if (value === undefined) throw new Error(`${what} is required`);
  return value;
}

async function init(dir: string, values: Values): Promise<void> {
  if (existsSync(join(dir, CONFIG_FILE))) throw new Error(`${join(dir, CONFIG_FILE)} exists already`);
  const config = defaultHubConfig(option(values, 'name') ?? 'localhost');
  config.host = option(values, 'host') ?? config.host;
  config.mqttPort = portOption(values, 'mqtt-port', 8883);
  // Not 443: a hub started by a user who is not root must be able to bind it.
  config.websocketPort = portOption(values, 'wss-port', 8443);
  config.servicePort = portOption(values, 'service-port', 8080);
  if (!values['no-certs']) await makeHubCertificates(dir, config.hubName);
  writeHubConfig(dir, config);
  process.stdout.write(`hub '${config.hubName}' created in ${dir}${values['no-certs'] ? '' : ` (CA certificate for devices: ${join(dir, 'tls', 'ca.crt')})`}\n`);
}

/** `culex hub start`: the hub of `dir`, with the address and ports given on the command line for this run. */
async function start(dir: string, stored: HubConfig, values: Values): Promise<number> {
  const config: HubConfig = {
    ...stored,
    host: option(values, 'host') ?? stored.host,
    mqttPort: portOption(values, 'mqtt-port', stored.mqttPort),
    websocketPort: portOption(values, 'wss-port', stored.websocketPort),
    servicePort: portOption(values, 'service-port', stored.servicePort),
  };
  // With nothing to listen on the process would end at once, as if it had run.
  if (config.mqttPort === null && config.websocketPort === null && config.servicePort === null) throw new Error('MQTT, WebSocket and service ports are all off (0): nothing to listen on');
  const verbose = values['verbose'] === true;
  const hub = createIotHub({ ...hubOptionsFrom(dir, config), logger: stderrLogger(verbose ? 'info' : 'warn') });
  await hub.start();
  const [first, second] = hub.devicePorts;
  const ports = [config.mqttPort === null ? undefined : `mqtts ${first}`, config.websocketPort === null ? undefined : `wss ${config.mqttPort === null ? first : second}`];
  if (hub.servicePort !== undefined) ports.push(`service http ${hub.servicePort}`);
  // The handlers go in before the listening line: whoever reads it may stop the hub at once.
  const stopped = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  process.stdout.write(`hub '${config.hubName}' listening on ${config.host}: ${ports.filter((p) => p !== undefined).join(', ')}\n`);
  const signal = await stopped;
  process.stderr.write(`culex hub: ${signal}, stopping\n`);
  await hub.stop();
  return 0;
}

/** Opens the hub's registry and twins without the hub (which must not be running: the store is locked). */
async function withRegistry<T>(dir: string, config: HubConfig, use: (registry: DeviceRegistry, twins: TwinStore) => Promise<T>): Promise<T> {
  const store = new LevelKeyValueStore(join(dataDirOf(dir, config), 'hub'));
  try {
    await store.open();
  } catch (err) {
    throw new Error(`${(err as Error).message}; if the hub is running, use its service API instead`);
  }
  try {
    const registry = new DeviceRegistry(store);
    const twins = new TwinStore(store);
    await registry.load();
    await twins.load();
    return await use(registry, twins);
  } finally {
    await store.close();
  }
}

function connectionString(config: HubConfig, values: Values, deviceId: string, moduleId: string | undefined, key: string | undefined): string {
  const parts = [`HostName=${config.hubName}`, `DeviceId=${deviceId}`];
  if (moduleId !== undefined) parts.push(`ModuleId=${moduleId}`);
  parts.push(key === undefined ? 'x509=true' : `SharedAccessKey=${key}`);
  // The SDKs dial HostName on 8883 unless a gateway is named.
  const dialsItself = config.hubName === 'localhost' && config.mqttPort === 8883;
  const gateway = option(values, 'gateway') ?? (config.mqttPort === null || dialsItself ? undefined : `localhost:${config.mqttPort}`);
  if (gateway !== undefined) parts.push(`GatewayHostName=${gateway}`);
  return parts.join(';');
}

async function device(dir: string, config: HubConfig, action: string | undefined, positionals: string[], values: Values): Promise<void> {
  const moduleId = option(values, 'module');
  switch (action) {
    case 'add': {
      const deviceId = one(positionals, 'a device id');
      const input: DeviceIdentityInput = { deviceId, status: values['disabled'] ? 'disabled' : 'enabled' };
      if (moduleId !== undefined) input.moduleId = moduleId;
      const thumbprint = option(values, 'x509-thumbprint');
      if (thumbprint !== undefined) input.authentication = { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: thumbprint } };
      else if (values['x509-ca']) input.authentication = { type: 'certificateAuthority' };
      else {
        const primaryKey = option(values, 'primary-key') ?? '';
        const secondaryKey = option(values, 'secondary-key') ?? '';
        input.authentication = { type: 'sas', symmetricKey: { primaryKey, secondaryKey } };
      }
      const identity = await withRegistry(dir, config, async (registry, twins) => {
        const { identity } = await registry.put(input);
        await twins.create(identityKey(deviceId, moduleId), deviceId, moduleId);
        return identity;
      });
      process.stdout.write(`${JSON.stringify(identity)}\n`);
      return;
    }
    case 'list': {
      const identities = await withRegistry(dir, config, async (registry) =>
        registry.list().flatMap((d) => [d, ...registry.list({ deviceId: d.deviceId })]),
      );
      for (const identity of identities) process.stdout.write(`${JSON.stringify(identity)}\n`);
      return;
    }
    case 'remove': {
      const deviceId = one(positionals, 'a device id');
      await withRegistry(dir, config, async (registry, twins) => twins.remove(await registry.remove(deviceId, moduleId)));
      return;
    }
    case 'cert': {
      const deviceId = one(positionals, 'a device id');
      const files = await makeDeviceCertificate(dir, identityKey(deviceId, moduleId));
      process.stdout.write(`${JSON.stringify(files)}\n`);
      return;
    }
    default:
      throw new Error(`device wants add, list, remove or cert, not '${action ?? ''}'`);
  }
}

/** `culex hub …`: set up, run and manage a local Azure-IoT-Hub-compatible hub. */
export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        dir: { type: 'string', short: 'd' },
        name: { type: 'string' },
        host: { type: 'string' },
        'mqtt-port': { type: 'string' },
        'wss-port': { type: 'string' },
        'service-port': { type: 'string' },
        'no-certs': { type: 'boolean' },
        module: { type: 'string', short: 'm' },
        'x509-thumbprint': { type: 'string' },
        'x509-ca': { type: 'boolean' },
        'primary-key': { type: 'string' },
        'secondary-key': { type: 'string' },
        disabled: { type: 'boolean' },
        gateway: { type: 'string' },
        policy: { type: 'string' },
        ttl: { type: 'string' },
        verbose: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  } catch (err) {
    return usageError('hub', parseArgsMessage(err));
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (command === undefined) return usageError('hub', `which command? (${hubCommands.join(', ')})`);
  // Before the hub directory is read: a mistyped command is not a missing hub.json.
  if (!isHubCommand(command)) return usageError('hub', `unknown command '${command}'`);
  const takes: readonly string[] = hubCommandOptions[command];
  const stray = Object.keys(values).find((name) => name !== 'dir' && !takes.includes(name));
  if (stray !== undefined) return usageError('hub', `--${stray} does not apply to '${command}'`);
  const dir = values.dir ?? '.';
  try {
    if (command === 'init') {
      await init(dir, values);
      return 0;
    }
    const config = readHubConfig(dir);
    switch (command) {
      case 'start':
        return await start(dir, config, values);
      case 'policies':
        process.stdout.write(`${JSON.stringify(config.policies, null, 2)}\n`);
        return 0;
      case 'token': {
        const name = values.policy ?? 'iothubowner';
        const policy = config.policies.find((p) => p.keyName === name);
        if (policy === undefined) throw new Error(`no policy '${name}' (see 'culex hub policies')`);
        const ttl = Number(values.ttl ?? 3600);
        if (!Number.isInteger(ttl) || ttl <= 0) throw new Error(`--ttl must be a positive number of seconds, not '${values.ttl}'`);
        process.stdout.write(`${createServiceToken(config.hubName, policy, ttl)}\n`);
        return 0;
      }
      case 'device':
        await device(dir, config, rest[0], rest.slice(1), values);
        return 0;
      case 'connection-string': {
        const deviceId = one(rest, 'a device id');
        const moduleId = values.module;
        const identity = await withRegistry(dir, config, async (registry) => registry.get(deviceId, moduleId));
        if (identity === undefined) throw new Error(`no identity '${identityKey(deviceId, moduleId)}'`);
        process.stdout.write(`${connectionString(config, values, deviceId, moduleId, identity.authentication.symmetricKey?.primaryKey)}\n`);
        return 0;
      }
    }
  } catch (err) {
    process.stderr.write(`culex hub: ${(err as Error).message}\n`);
    return 1;
  }
}

