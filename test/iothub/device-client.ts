// An MQTT.js client speaking the IoT Hub dialect by hand, for what the Azure SDK never does.
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { azureCredentials } from '../../src/credentials/index.js';
import { HUB_NAME, type HubFixture } from './hub-fixture.js';

export interface RawDevice {
  client: MqttClient;
  received: IPublishPacket[];
  closed: () => boolean;
}

/** Connects as a device (or module) with a SAS token; `options` overrides anything. Rejects on a refused CONNECT. */
export async function connectDevice(
  fixture: HubFixture,
  clientId: string,
  key: string | undefined,
  options: IClientOptions & { expiry?: number } = {},
): Promise<RawDevice> {
  const [deviceId, moduleId] = clientId.split('/') as [string, string | undefined];
  const { expiry, ...rest } = options;
  const credentials =
    key === undefined
      ? { clientId, username: `${HUB_NAME}/${clientId}/?api-version=2021-04-12` }
      : azureCredentials({ hostName: HUB_NAME, deviceId, ...(moduleId ? { moduleId } : {}), key, ...(expiry === undefined ? {} : { expiry }) });
  const client = mqtt.connect({
    protocol: 'mqtts',
    host: 'localhost',
    port: fixture.mqttPort,
    ca: fixture.certs.ca,
    protocolVersion: 4,
    clean: false,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    clientId: credentials.clientId,
    username: credentials.username,
    ...('password' in credentials && credentials.password !== undefined ? { password: credentials.password } : {}),
    ...rest,
  });
  let closed = false;
  client.on('close', () => (closed = true));
  const received: IPublishPacket[] = [];
  client.on('message', (_topic, _payload, packet) => received.push(packet));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return { client, received, closed: () => closed };
}
