/**
 * The client's Node dialer plus the two TLS knobs of the Mosquitto tools that ClientOptions does not carry:
 * `--insecure` (skip only the host name check; the chain is still verified) and `--tls-version`.
 */
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import type { Dialer } from '../client/client.js';
import { nodeDialer } from '../client/node-dialer.js';
import type { ClientOptions } from '../client/options.js';
import { webSocketUrl } from '../client/websocket-url.js';
import { dialTls } from '../transport/dial-tcp.js';
import { dialWebSocket } from '../transport/dial-ws.js';

export interface TlsTweaks {
  insecure: boolean;
  tlsVersion: 'TLSv1.3' | 'TLSv1.2' | 'TLSv1.1' | undefined;
}

function acceptAnyName(_host: string, _cert: PeerCertificate): Error | undefined {
  return undefined;
}

export function cliDialer(tweaks: TlsTweaks): Dialer {
  if (!tweaks.insecure && tweaks.tlsVersion === undefined) return nodeDialer;
  return (url: URL, options: ClientOptions) => {
    const secure = url.protocol === 'mqtts:' || url.protocol === 'wss:';
    if (!secure) return nodeDialer(url, options);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const tls: ConnectionOptions = {};
    if (options.ca !== undefined) tls.ca = options.ca as ConnectionOptions['ca'];
    if (options.cert !== undefined) tls.cert = options.cert as ConnectionOptions['cert'];
    if (options.key !== undefined) tls.key = options.key as ConnectionOptions['key'];
    if (!/^[\d.]+$|:/.test(host)) tls.servername = host;
    if (tweaks.insecure) tls.checkServerIdentity = acceptAnyName;
    if (tweaks.tlsVersion !== undefined) {
      tls.minVersion = tweaks.tlsVersion;
      tls.maxVersion = tweaks.tlsVersion;
    }
    if (url.protocol === 'mqtts:') return dialTls(host, Number(url.port) || 8883, tls);
    return dialWebSocket(webSocketUrl(url, options), { protocol: options.websocket?.protocol ?? 'mqtt', tls });
  };
}
