/** The client for Node: TCP, TLS and WebSocket transports, memory and file stores. */
import { connectWith, createClientWith, type MqttClient } from './client.js';
import { nodeDialer, nodeRuntime } from './node-dialer.js';
import type { ClientOptions } from './options.js';

export * from './exports.js';
export { FileStore } from './file-store.js';
export { connectScram, scramSha256, type ScramSha256Auth, type ScramSha256Options } from './scram-auth.js';
export { ScramError } from '../auth/internal.js';

/**
 * Connects to the broker at `url` (`mqtt:`, `mqtts:`, `ws:`, `wss:`; also `tcp:`, `ssl:`, `tls:`). Resolves once
 * the broker accepted the connection; rejects with ConnectionRefusedError (carrying the CONNACK code) when it
 * refused, or with the network error.
 */
export function connect(url: string | URL, options: ClientOptions = {}): Promise<MqttClient> {
  return connectWith(url, options, nodeDialer, nodeRuntime);
}

/**
 * A client that starts offline and connects in the background, retrying with back-off (each failure an `error`
 * event) until it can, or until `end()`: publishes and subscriptions made meanwhile wait in its queue. For a
 * device that may boot while the network is down. `connect` is the form that rejects on the first failure.
 */
export function createClient(url: string | URL, options: ClientOptions = {}): MqttClient {
  return createClientWith(url, options, nodeDialer, nodeRuntime);
}
