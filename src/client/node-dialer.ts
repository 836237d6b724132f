import type { ConnectionOptions } from 'node:tls';
import { dialTcp, dialTls, dialUnix, dialWebSocket, type ByteStream } from '../transport/index.js';
import { asBuffer } from '../transport/internal.js';
import type { ClientRuntime } from './client.js';
import { InvalidOptionError } from './errors.js';
import type { ClientOptions } from './options.js';
import { webSocketUrl } from './websocket-url.js';

const isIp = /^[\d.]+$|:/;

function acceptAnyHostname(): undefined {
  return undefined;
}

function tlsOptions(url: URL, options: ClientOptions): ConnectionOptions {
  const tls: ConnectionOptions = {};
  if (options.ca !== undefined) tls.ca = options.ca as ConnectionOptions['ca'];
  if (options.cert !== undefined) tls.cert = options.cert as ConnectionOptions['cert'];
  if (options.key !== undefined) tls.key = options.key as ConnectionOptions['key'];
  if (options.passphrase !== undefined) tls.passphrase = options.passphrase;
  if (options.rejectUnauthorized !== undefined) tls.rejectUnauthorized = options.rejectUnauthorized;
  if (options.checkHostname === false) tls.checkServerIdentity = acceptAnyHostname;
  if (options.minVersion !== undefined) tls.minVersion = options.minVersion;
  if (options.maxVersion !== undefined) tls.maxVersion = options.maxVersion;
  if (options.ALPNProtocols) tls.ALPNProtocols = options.ALPNProtocols;
  const host = hostOf(url);
  const servername = options.servername ?? (isIp.test(host) ? undefined : host);
  if (servername) tls.servername = servername;
  return tls;
}

/**
 * A server that closes the connection during the TLS handshake or the WebSocket upgrade most likely speaks another
 * protocol on that port (a plain MQTT broker closes on bytes that are not MQTT): the error says so.
 */
function explainReset(dialing: Promise<ByteStream>, url: URL, during: string): Promise<ByteStream> {
  return dialing.catch((error: Error & { code?: string }) => {
    if (error.code !== 'ECONNRESET') throw error;
    const other = url.protocol === 'mqtts:' || url.protocol === 'wss:' ? 'plain MQTT (mqtt://)' : 'plain MQTT (mqtt://) or TLS (mqtts://)';
    // The error keeps its class and code (ECONNRESET); its message says what the reset likely means.
    error.message = `${url.host} closed the connection during the ${during}: that port may speak ${other} (${error.message})`;
    throw error;
  });
}

/** The URL's host without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/**
 * Node transports: `mqtt:`/`tcp:` (TCP), `mqtts:`/`ssl:`/`tls:` (TLS), `ws:` and `wss:` (WebSocket via `ws`),
 * `unix:`/`mqtt+unix:` (the Unix socket named by the URL's path: `unix:///run/culex.sock`).
 */
export function nodeDialer(url: URL, options: ClientOptions): Promise<ByteStream> {
  switch (url.protocol) {
    case 'mqtt:':
    case 'tcp:':
      return dialTcp(hostOf(url), Number(url.port) || 1883);
    case 'mqtts:':
    case 'ssl:':
    case 'tls:':
      return explainReset(dialTls(hostOf(url), Number(url.port) || 8883, tlsOptions(url, options)), url, 'TLS handshake');
    case 'ws:':
    case 'wss:': {
      const dialOptions: Parameters<typeof dialWebSocket>[1] = { protocol: options.websocket?.protocol ?? 'mqtt' };
      if (options.websocket?.headers) dialOptions.headers = options.websocket.headers;
      if (url.protocol === 'wss:') dialOptions.tls = tlsOptions(url, options);
      return explainReset(dialWebSocket(webSocketUrl(url, options), dialOptions), url, 'WebSocket upgrade');
    }
    case 'unix:':
    case 'mqtt+unix:':
      return dialUnix(decodeURIComponent(url.pathname));
    default:
      return Promise.reject(new InvalidOptionError(`unsupported URL scheme ${url.protocol}`));
  }
}

/** What the client takes from Node besides the dialer: received payloads are Buffers over the received bytes. */
export const nodeRuntime: ClientRuntime = { bytes: asBuffer };
