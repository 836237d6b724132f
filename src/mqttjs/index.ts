/**
 * `culex/mqtt`: MQTT.js's API on Culex's client, for programs written for MQTT.js (`import mqtt from 'mqtt'`) to
 * run by changing the import. docs/coming-from-mqttjs.md says what maps, what differs and what Culex adds.
 */
import { MqttClient } from './client.js';
import { resolveOptions } from './options.js';
import type { IClientOptions } from './types.js';

export { ErrorWithReasonCode, MqttClient } from './client.js';
export type * from './types.js';

/**
 * A client for the broker at `brokerUrl` (`mqtt://`, `mqtts://`, `ws://`, `wss://`, `mqtt+unix://`), returned at
 * once while it connects in the background, or the options alone (`host`, `port`, `protocol`).
 */
export function connect(brokerUrl: string | IClientOptions, options?: IClientOptions): MqttClient {
  return new MqttClient(resolveOptions(brokerUrl, options));
}

/**
 * Connects and resolves with the client once the broker accepted it; rejects with the first error and ends the
 * client (with `allowRetries` false, also when a connection attempt closes without an error).
 */
export function connectAsync(brokerUrl: string | IClientOptions, options?: IClientOptions, allowRetries = true): Promise<MqttClient> {
  const client = connect(brokerUrl, options);
  return new Promise((resolve, reject) => {
    const stop = (): void => {
      client.off('connect', onConnect);
      client.off('error', onError);
      client.off('close', onClose);
    };
    const onConnect = (): void => {
      stop();
      resolve(client);
    };
    const onError = (error: Error): void => {
      stop();
      client.end();
      reject(error);
    };
    const onClose = (): void => onError(new Error("Couldn't connect to server"));
    client.on('connect', onConnect);
    client.on('error', onError);
    if (!allowRetries) client.on('close', onClose);
  });
}

/** `import mqtt from 'culex/mqtt'`, as `import mqtt from 'mqtt'`. */
const mqtt = { connect, connectAsync, MqttClient, Client: MqttClient };
export default mqtt;
export { MqttClient as Client };
