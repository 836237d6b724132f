import type { ClientOptions } from './options.js';

/** The URL to open: the `websocket.path` option (default `/mqtt`) when the URL names no path. */
export function webSocketUrl(url: URL, options: ClientOptions): URL {
  if (url.pathname !== '' && url.pathname !== '/') return url;
  const target = new URL(url);
  target.pathname = options.websocket?.path ?? '/mqtt';
  return target;
}
