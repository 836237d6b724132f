// Starts a hub on free ports with throw-away certificates, and speaks to its service API with a policy token.
import { silentLogger } from '../../src/broker/logger.js';
import { createIotHub, createServiceToken, type IotHub, type IotHubOptions } from '../../src/iothub/index.js';
import { makeCerts, type TestCerts } from '../helpers/certs.js';

export const HUB_NAME = 'culex-test.azure-devices.net';

/** A parsed JSON answer, indexable at any depth (tests assert on the values). */
export interface Json {
  readonly [key: string]: Json;
}

/** The generated primary key in a device answer of the service API. */
export function primaryKey(identity: Json): string {
  const key: unknown = identity['authentication']?.['symmetricKey']?.['primaryKey'];
  if (typeof key !== 'string') throw new Error(`no primary key in ${JSON.stringify(identity)}`);
  return key;
}

export interface HubFixture {
  hub: IotHub;
  certs: TestCerts;
  mqttPort: number;
  wssPort: number;
  servicePort: number;
  /** A service API call with an `iothubowner` token; JSON body in and out. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: Json; headers: Headers }>;
  /** A device connection string dialling the MQTT/TLS port. */
  connectionString(deviceId: string, key: string, moduleId?: string): string;
  stop(): Promise<void>;
}

export async function startHub(options: Partial<IotHubOptions> = {}): Promise<HubFixture> {
  const certs = await makeCerts();
  const hub = createIotHub({
    hubName: HUB_NAME,
    tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca },
    mqttPort: 0,
    websocketPort: 0,
    servicePort: 0,
    logger: silentLogger,
    ...options,
  });
  await hub.start();
  const [mqttPort, wssPort] = hub.devicePorts as [number, number];
  const servicePort = hub.servicePort!;
  const owner = hub.policies.find((p) => p.keyName === 'iothubowner')!;
  const token = createServiceToken(HUB_NAME, owner);
  return {
    hub,
    certs,
    mqttPort,
    wssPort,
    servicePort,
    async api(method, path, body, headers = {}) {
      const response = await fetch(`http://127.0.0.1:${servicePort}${path}`, {
        method,
        headers: { authorization: token, 'content-type': 'application/json', ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as Json, headers: response.headers };
    },
    connectionString(deviceId, key, moduleId) {
      return `HostName=${HUB_NAME};DeviceId=${deviceId};${moduleId ? `ModuleId=${moduleId};` : ''}SharedAccessKey=${key};GatewayHostName=localhost:${mqttPort}`;
    },
    stop: () => hub.stop(),
  };
}
