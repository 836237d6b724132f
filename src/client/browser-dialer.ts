import { dialBrowserWebSocket, type ByteStream } from '../transport/browser.js';
import { InvalidOptionError } from './errors.js';
import type { ClientOptions } from './options.js';
import { webSocketUrl } from './websocket-url.js';

/** Browsers speak MQTT over WebSocket only (`ws:` and `wss:`). */
export function browserDialer(url: URL, options: ClientOptions): Promise<ByteStream> {
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    return Promise.reject(new InvalidOptionError(`a browser can only use ws: and wss: URLs, not ${url.protocol}`));
  }
  return dialBrowserWebSocket(webSocketUrl(url, options).href, options.websocket?.protocol ?? 'mqtt');
}
