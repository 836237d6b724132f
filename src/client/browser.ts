/** The client for browsers: WebSocket transport only, no Node built-ins. */
import { MqttClient, type ClientRuntime } from './client.js';
import { browserDialer } from './browser-dialer.js';
import type { ClientOptions } from './options.js';
import { workerTimers } from './worker-timers.js';

export * from './exports.js';

function runtime(): ClientRuntime {
  return { timers: workerTimers() };
}

/**
 * Connects at once when the network comes back (`online`) or the page becomes visible again, instead of when the
 * back-off says: a background tab's reconnect may have been held back, and the network is likely usable now.
 */
function watchNetwork(client: MqttClient): void {
  const scope = globalThis as unknown as Partial<EventTarget>;
  if (typeof scope.addEventListener !== 'function') return;
  const doc = globalThis.document as Document | undefined;
  const online = (): void => client.reconnect();
  const visible = (): void => {
    if (doc?.visibilityState === 'visible') client.reconnect();
  };
  scope.addEventListener('online', online);
  doc?.addEventListener('visibilitychange', visible);
  client.once('end', () => {
    scope.removeEventListener?.('online', online);
    doc?.removeEventListener('visibilitychange', visible);
  });
}

/** Connects to the broker's WebSocket endpoint at `url` (`ws:` or `wss:`); rejects if the first attempt fails. */
export async function connect(url: string | URL, options: ClientOptions = {}): Promise<MqttClient> {
  const client = new MqttClient(url, options, browserDialer, runtime());
  watchNetwork(client);
  await client.start();
  return client;
}

/** A client that starts offline and connects in the background until it can (see the Node entry's `createClient`). */
export function createClient(url: string | URL, options: ClientOptions = {}): MqttClient {
  const client = new MqttClient(url, options, browserDialer, runtime());
  watchNetwork(client);
  client.begin();
  return client;
}
