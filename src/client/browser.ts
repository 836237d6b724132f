/** The client for browsers: WebSocket transport only, no Node built-ins. */
import { connectWith, type MqttClient } from './client.js';
import { browserDialer } from './browser-dialer.js';
import type { ClientOptions } from './options.js';

export * from './exports.js';

/** Connects to the broker's WebSocket endpoint at `url` (`ws:` or `wss:`). */
export function connect(url: string | URL, options: ClientOptions = {}): Promise<MqttClient> {
  return connectWith(url, options, browserDialer);
}
