/**
 * One connection of a bridge to its remote broker: dialling an address (TCP, TLS, WebSocket, WSS), CONNECT and
 * CONNACK, keepalive, and packets both ways. Failures come out as a RemoteError whose message names the cause the
 * way an operator looks for it (DNS, refused, TLS, the CONNACK's reason code). What the packets mean is the
 * forwarder's business (forwarder.ts).
 */
import type { ConnectionOptions } from 'node:tls';
import {
  connectReturnCodeName,
  encode,
  encodePublishHead,
  fromConnectReturnCode,
  PacketError,
  PacketParser,
  ReasonCode,
  reasonCodeName,
  type ConnackPacket,
  type ConnectPacket,
  type Packet,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
} from '../packet/index.js';
import { dialTcp, dialTls, dialWebSocket, type ByteStream } from '../transport/index.js';
import { atTickEnd } from '../transport/internal.js';

/** The TLS side of a remote: Mosquitto's bridge_cafile, bridge_certfile, bridge_keyfile, bridge_insecure. */
export interface RemoteTls {
  /** CA certificates (PEM) the remote's certificate must chain to; default the system's. */
  ca?: string | Uint8Array;
  /** Client certificate and key (PEM), when the remote asks for one. */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  /** Skip the host name check (the chain is still verified). Default false. */
  insecure?: boolean;
  /** TLS SNI name; default the address's host when it is a name. */
  servername?: string;
  alpn?: string[];
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

export interface DialSettings {
  tls?: RemoteTls;
  /** WebSocket upgrade: the path when the address has none (default /mqtt) and extra headers. */
  websocket?: { path?: string; headers?: Record<string, string> };
  /** From dialling to CONNACK, ms. */
  connectTimeoutMs: number;
}

export type RemoteErrorKind = 'dns' | 'refused' | 'timeout' | 'tls' | 'network' | 'closed' | 'auth' | 'version' | 'protocol' | 'keepalive';

/** Why a remote connection failed or ended; the message is the log line's cause. */
export class RemoteError extends Error {
  constructor(
    message: string,
    readonly kind: RemoteErrorKind,
    /** The CONNACK's or DISCONNECT's reason code (MQTT 5 numbering), when the remote gave one. */
    readonly reasonCode?: number,
  ) {
    super(message);
    this.name = 'RemoteError';
  }
}

export interface RemoteLinkOwner {
  /** A packet after CONNACK. */
  packet(packet: Packet): void;
  /** The connection ended by the remote or the network (not by `close`). */
  lost(error: RemoteError): void;
}

const isIp = /^[\d.]+$|:/;
const tlsCodes = /CERT|SELF_SIGNED|UNABLE_TO|ALTNAME|HOSTNAME|ERR_SSL|ERR_TLS|EPROTO/;

/** A dialling failure in an operator's words. */
export function describeDialError(error: unknown, url: URL): RemoteError {
  const err = error as NodeJS.ErrnoException;
  const code = err.code ?? '';
  const where = `${url.hostname}:${url.port}`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new RemoteError(`cannot resolve host '${url.hostname}' (DNS lookup failed: ${code})`, 'dns');
  if (code === 'ECONNREFUSED') return new RemoteError(`${where} refused the connection (ECONNREFUSED)`, 'refused');
  if (code === 'ETIMEDOUT') return new RemoteError(`${where} did not answer (ETIMEDOUT)`, 'timeout');
  if (tlsCodes.test(code)) return new RemoteError(`TLS with ${where} failed: ${err.message} (${code})`, 'tls');
  if (/Unexpected server response/.test(err.message ?? '')) return new RemoteError(`WebSocket upgrade at ${url.href} failed: ${err.message}`, 'refused');
  return new RemoteError(`${where}: ${err.message ?? String(error)}${code ? ` (${code})` : ''}`, 'network');
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

function tlsOptions(url: URL, tls: RemoteTls | undefined): ConnectionOptions {
  const options: ConnectionOptions = {};
  if (tls?.ca !== undefined) options.ca = tls.ca as ConnectionOptions['ca'];
  if (tls?.cert !== undefined) options.cert = tls.cert as ConnectionOptions['cert'];
  if (tls?.key !== undefined) options.key = tls.key as ConnectionOptions['key'];
  if (tls?.insecure) options.checkServerIdentity = () => undefined;
  if (tls?.alpn !== undefined) options.ALPNProtocols = tls.alpn;
  if (tls?.minVersion !== undefined) options.minVersion = tls.minVersion;
  const host = hostOf(url);
  const servername = tls?.servername ?? (isIp.test(host) ? undefined : host);
  if (servername !== undefined) options.servername = servername;
  return options;
}

/** Opens the byte stream to one address: `mqtt:`, `mqtts:`, `ws:` or `wss:`. */
export function dialAddress(url: URL, settings: DialSettings): Promise<ByteStream> {
  const port = Number(url.port);
  switch (url.protocol) {
    case 'mqtt:':
      return dialTcp(hostOf(url), port || 1883);
    case 'mqtts:':
      return dialTls(hostOf(url), port || 8883, tlsOptions(url, settings.tls));
    case 'ws:':
    case 'wss:': {
      const target = new URL(url);
      if (target.pathname === '/' && settings.websocket?.path !== undefined) target.pathname = settings.websocket.path;
      else if (target.pathname === '/') target.pathname = '/mqtt';
      const options: Parameters<typeof dialWebSocket>[1] = { protocol: 'mqtt' };
      if (settings.websocket?.headers) options.headers = settings.websocket.headers;
      if (url.protocol === 'wss:') options.tls = tlsOptions(url, settings.tls);
      return dialWebSocket(target, options);
    }
    default:
      return Promise.reject(new RemoteError(`unsupported address scheme ${url.protocol}`, 'network'));
  }
}

/**
 * The CONNECT bytes. With `bridgeFlag` (Mosquitto's try_private) the protocol level gets its high bit, which tells a
 * Mosquitto remote that this client is a bridge: it then keeps the retain flag of what it forwards and does not send
 * the bridge's own messages back to it. The codec encodes a plain CONNECT; the bit is set on its bytes.
 */
export function connectBytes(connect: ConnectPacket, bridgeFlag: boolean): Uint8Array {
  const bytes = encode(connect, connect.protocolVersion);
  if (!bridgeFlag || connect.protocolVersion === 5) return bytes;
  let at = 1;
  while ((bytes[at]! & 0x80) !== 0) at++;
  at++; // past the remaining length
  const nameLength = (bytes[at]! << 8) | bytes[at + 1]!;
  bytes[at + 2 + nameLength]! |= 0x80;
  return bytes;
}

/** What a CONNACK allows, with MQTT's defaults where it says nothing. */
export interface RemoteLimits {
  receiveMaximum: number;
  maximumQoS: QoS;
  retainAvailable: boolean;
  maximumPacketSize: number;
}

export class RemoteLink {
  private readonly parser: PacketParser;
  private out: Uint8Array[] = [];
  private closed = false;
  private settle: { resolve: (connack: ConnackPacket) => void; reject: (error: RemoteError) => void } | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private lastReceived = Date.now();
  private lastSent = Date.now();
  connack!: ConnackPacket;
  limits!: RemoteLimits;

  private constructor(
    readonly url: URL,
    readonly version: ProtocolVersion,
    private readonly stream: ByteStream,
    private readonly owner: RemoteLinkOwner,
  ) {
    this.parser = new PacketParser({ protocolVersion: version });
  }

  /**
   * Dials `url`, sends CONNECT and resolves once the remote accepted it. Rejects with a RemoteError: the network's
   * cause, or the CONNACK's refusal.
   */
  static async open(url: URL, settings: DialSettings, connect: ConnectPacket, bridgeFlag: boolean, owner: RemoteLinkOwner): Promise<RemoteLink> {
    const bytes = connectBytes(connect, bridgeFlag);
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new RemoteError(`no CONNACK from ${url.host} within ${settings.connectTimeoutMs} ms`, 'timeout'));
      }, settings.connectTimeoutMs);
    });
    let link: RemoteLink | undefined;
    try {
      const dialling = dialAddress(url, settings);
      // A stream that arrives after the timeout is closed at once.
      dialling.then((late) => timedOut && late.destroy(), () => undefined);
      const stream = await Promise.race([dialling.catch((error: unknown) => Promise.reject(error instanceof RemoteError ? error : describeDialError(error, url))), timeout]);
      link = new RemoteLink(url, connect.protocolVersion, stream, owner);
      const accepted = new Promise<ConnackPacket>((resolve, reject) => (link!.settle = { resolve, reject }));
      link.start();
      link.write(bytes);
      link.connack = await Promise.race([accepted, timeout]);
      link.limits = limitsOf(link.connack);
      return link;
    } catch (error) {
      link?.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  get open(): boolean {
    return !this.closed;
  }

  send(packet: Packet): void {
    this.write(encode(packet, this.version));
  }

  /** Sends a PUBLISH; false (nothing sent) when it is larger than `maxSize` bytes. */
  sendPublish(packet: PublishPacket, maxSize: number): boolean {
    const payload = packet.payload;
    const head = encodePublishHead(packet, this.version, payload.length);
    if (head.length + payload.length > maxSize) return false;
    this.write(head);
    this.write(payload);
    return true;
  }

  /** Sends PINGREQ when nothing went out for `seconds`; the connection is dead when nothing came for 1.5 times that. */
  startKeepalive(seconds: number): void {
    if (seconds <= 0) return;
    const period = seconds * 1000;
    this.keepaliveTimer = setInterval(() => {
      const now = Date.now();
      if (now - this.lastReceived >= period * 1.5) {
        this.fail(new RemoteError(`nothing received from ${this.url.host} for ${((now - this.lastReceived) / 1000).toFixed(1)} s (keepalive ${seconds} s)`, 'keepalive'));
      } else if (now - this.lastSent >= period || now - this.lastReceived >= period) this.send({ type: 'pingreq' });
    }, Math.max(250, period / 4));
    this.keepaliveTimer.unref();
  }

  /** Leaves: DISCONNECT (MQTT 5: with `reasonCode`), then an orderly close. The owner is not told. */
  close(reasonCode: number = ReasonCode.NormalDisconnection): void {
    if (this.closed) return;
    this.send(this.version === 5 ? { type: 'disconnect', reasonCode } : { type: 'disconnect' });
    this.flush();
    this.closed = true;
    clearInterval(this.keepaliveTimer);
    this.stream.end();
    setTimeout(() => this.stream.destroy(), 2000).unref();
  }

  /** Closes at once, without DISCONNECT (the Will is sent). */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepaliveTimer);
    this.stream.destroy();
  }

  private start(): void {
    this.stream.start({
      data: (chunk) => this.onData(chunk),
      drain: () => undefined,
      close: (error) => {
        const cause = error === undefined ? 'closed the connection' : `closed the connection: ${error.message}`;
        this.fail(new RemoteError(`${this.url.host} ${cause}`, 'closed'));
      },
    });
  }

  private write(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.out.push(bytes) === 1) atTickEnd(this.flush);
  }

  private readonly flush = (): void => {
    const chunks = this.out;
    if (chunks.length === 0 || this.closed) return;
    this.out = [];
    this.lastSent = Date.now();
    this.stream.write(chunks);
  };

  private onData(chunk: Uint8Array): void {
    if (this.closed) return;
    this.lastReceived = Date.now();
    this.parser.push(chunk);
    for (;;) {
      let packet: Packet | null;
      try {
        packet = this.parser.next();
      } catch (error) {
        const code = error instanceof PacketError ? error.reasonCode : ReasonCode.MalformedPacket;
        if (this.version === 5 && this.settle === undefined) this.send({ type: 'disconnect', reasonCode: code });
        this.fail(new RemoteError(`${this.url.host} sent a malformed packet: ${(error as Error).message}`, 'protocol'));
        return;
      }
      if (packet === null || this.closed) return;
      if (this.settle !== undefined) this.handshake(packet);
      else if (packet.type === 'disconnect') {
        const code = packet.reasonCode ?? ReasonCode.NormalDisconnection;
        const reason = packet.properties?.reasonString;
        this.fail(new RemoteError(`${this.url.host} disconnected the bridge: ${reasonCodeName(code)} (0x${code.toString(16)})${reason ? `: ${reason}` : ''}`, 'closed', code));
        return;
      } else if (packet.type !== 'pingresp') this.owner.packet(packet);
    }
  }

  private handshake(packet: Packet): void {
    const settle = this.settle!;
    this.settle = undefined;
    if (packet.type !== 'connack') {
      this.destroy();
      settle.reject(new RemoteError(`${this.url.host} sent ${packet.type.toUpperCase()} before CONNACK`, 'protocol'));
      return;
    }
    if (packet.reasonCode !== ReasonCode.Success) {
      this.destroy();
      settle.reject(refusal(this.url, this.version, packet));
      return;
    }
    settle.resolve(packet);
  }

  private fail(error: RemoteError): void {
    if (this.closed) return;
    this.destroy();
    if (this.settle !== undefined) {
      this.settle.reject(error);
      this.settle = undefined;
    } else this.owner.lost(error);
  }
}

/** A refusing CONNACK in words: its reason code (or 3.x return code) and reason string. */
function refusal(url: URL, version: ProtocolVersion, connack: ConnackPacket): RemoteError {
  const code = connack.reasonCode;
  const v5 = version === 5 ? code : fromConnectReturnCode(code);
  const named = version === 5 ? `${reasonCodeName(code)} (0x${code.toString(16)})` : `${connectReturnCodeName(code)} (return code ${code})`;
  const reason = connack.properties?.reasonString;
  const kind: RemoteErrorKind =
    v5 === ReasonCode.UnsupportedProtocolVersion ? 'version' : v5 === ReasonCode.BadUserNameOrPassword || v5 === ReasonCode.NotAuthorized ? 'auth' : 'refused';
  return new RemoteError(`${url.host} refused the connection: ${named}${reason ? `: ${reason}` : ''}`, kind, v5);
}

function limitsOf(connack: ConnackPacket): RemoteLimits {
  const p = connack.properties;
  return {
    receiveMaximum: p?.receiveMaximum ?? 65535,
    maximumQoS: p?.maximumQoS ?? 2,
    retainAvailable: p?.retainAvailable ?? true,
    maximumPacketSize: p?.maximumPacketSize ?? 268_435_460,
  };
}
