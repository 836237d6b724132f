import { BlockList, createServer, isIP, type Server, type Socket } from 'node:net';
import { socketPeer, type ByteStream, type PeerInfo, type ProxyAddress, type ProxyHeader } from '../../transport/index.js';
import { notMqttReason } from './first-bytes.js';
import { DEFAULT_BACKLOG, type Listener, type ListenerOptions, type RefusedHandler, type TransportFault } from './listener.js';
import { readProxyHeader } from './proxy-header-reader.js';
import { listenOn, listenUnix } from './unix-socket.js';

const DEFAULT_PROXY_HEADER_TIMEOUT_MS = 5000;
const DEFAULT_SETUP_TIMEOUT_MS = 10_000;

/** Sockets keep this listener so that an error before their owner attaches one is not an uncaught exception. */
function ignoreError(): void {}

/** The listener that accepted a socket, while the socket is being set up (see `closedBeforeSetup`). */
const acceptedBy = Symbol('culex.listener');
type AcceptedSocket = Socket & { [acceptedBy]?: SocketListener };

/** One 'close' listener for every socket in set-up, instead of a closure and a `once` wrapper per connection. */
function closedBeforeSetup(this: AcceptedSocket): void {
  this[acceptedBy]?.settled(this);
}

/**
 * What every listener kind shares: one `net.Server` accepts raw TCP connections, applies the PROXY protocol when
 * configured, and hands each socket to the kind's protocol stage (`connect`), which turns it into a ByteStream.
 * TLS and HTTP servers are never bound themselves: they receive accepted sockets, so the PROXY header can be read
 * in front of the TLS handshake or the HTTP upgrade.
 */
export abstract class SocketListener implements Listener {
  readonly host: string;
  private server: Server | undefined;
  private boundPort = 0;
  /**
   * Accepted sockets that are not streams yet, with their set-up deadline: closed with the listener or when the
   * deadline passes. Streams belong to their owners.
   */
  private readonly pending = new Map<Socket, NodeJS.Timeout>();
  private readonly proxied = new WeakMap<Socket, ProxyAddress>();
  /** Sockets refused or dropped by close(). */
  private readonly dropped = new WeakSet<Socket>();
  private trusted: BlockList | undefined;
  private readonly proxyTimeoutMs: number;
  private onStream: ((stream: ByteStream) => void) | undefined;
  private onRefused: RefusedHandler | undefined;

  constructor(
    readonly options: ListenerOptions,
    /** URL scheme for the default name: mqtt, mqtts, ws, wss. */
    private readonly scheme: string,
  ) {
    // A Unix socket is reached through the file system only: its "host" says so (and counts as loopback).
    this.host = options.unix !== undefined ? `unix:${options.unix}` : options.host ?? '127.0.0.1';
    this.proxyTimeoutMs = options.proxyProtocol?.headerTimeoutMs ?? DEFAULT_PROXY_HEADER_TIMEOUT_MS;
  }

  get name(): string {
    if (this.options.name) return this.options.name;
    if (this.options.unix !== undefined) return `${this.scheme}+unix://${this.options.unix}`;
    const host = isIP(this.host) === 6 ? `[${this.host}]` : this.host;
    return `${this.scheme}://${host}:${this.boundPort || this.options.port}`;
  }

  get port(): number {
    return this.boundPort;
  }

  async start(onStream: (stream: ByteStream) => void, onRefused?: RefusedHandler): Promise<void> {
    if (this.server) throw new Error(`listener ${this.name} is already started`);
    const proxy = this.options.proxyProtocol;
    // Trust is decided by the peer's IP address, which a Unix socket has not.
    if (proxy && this.options.unix !== undefined) throw new Error(`listener ${this.name}: proxyProtocol needs a TCP listener, not a Unix socket`);
    this.trusted = proxy ? trustedList(proxy.trustedAddresses) : undefined;
    this.prepare();
    this.onStream = onStream;
    this.onRefused = onRefused;
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    try {
      const backlog = this.options.backlog ?? DEFAULT_BACKLOG;
      await (this.options.unix !== undefined
        ? listenUnix(server, this.options.unix, backlog)
        : listenOn(server, { port: this.options.port, host: this.host, backlog }));
    } catch (error) {
      throw new Error(`listener ${this.name}: ${(error as Error).message}`, { cause: error });
    }
    // Accept errors (e.g. EMFILE) are transient; the server keeps listening.
    server.on('error', ignoreError);
    this.server = server;
    const address = server.address();
    this.boundPort = typeof address === 'object' && address ? address.port : this.options.port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    // net.Server's close callback waits for every connection to end; the listening socket itself closes now.
    server.close();
    for (const [socket, deadline] of this.pending) {
      clearTimeout(deadline);
      this.dropped.add(socket);
      socket.destroy();
    }
    this.pending.clear();
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** Builds what the kind needs before binding (TLS contexts, HTTP servers); throws on bad configuration. */
  protected abstract prepare(): void;

  /** Takes over an accepted (and, with PROXY protocol, vetted) socket; `head` holds bytes read past the header. */
  protected abstract connect(socket: Socket, head: Uint8Array | undefined): void;

  /**
   * Describes the peer of a socket this listener accepted, or of a TLS socket wrapping one, with the address a
   * PROXY header gave.
   */
  protected peerOf(socket: Socket): PeerInfo {
    const peer = socketPeer(socket, this.proxied.get(rawSocketOf(socket)));
    // A Unix socket's peer has no address: logs and per-address limits name the socket instead.
    if (this.options.unix !== undefined) peer.remoteAddress = this.host;
    return peer;
  }

  /** The socket (or the TLS socket wrapping it) became a stream: from now on its owner closes it. */
  protected deliver(socket: Socket, stream: ByteStream): void {
    const raw = rawSocketOf(socket);
    this.settled(raw);
    // A plain socket's stream listens for its errors now: the set-up listener goes (two cost an array per socket).
    if (socket === raw) socket.removeListener('error', ignoreError);
    this.onStream!(stream);
  }

  /** Closes a connection that will not become a stream, after sending `response` when one is given. */
  protected refuse(socket: Socket, reason: Error, fault: TransportFault, response?: string): void {
    const raw = rawSocketOf(socket);
    // The client's address when a PROXY header told it: logs and rate limits are about clients, not the proxy.
    const address = this.proxied.get(raw)?.address ?? (this.options.unix !== undefined ? this.host : raw.remoteAddress ?? '');
    if (response) socket.end(response, () => socket.destroy());
    else socket.destroy();
    this.settled(raw);
    // Reported once: a TLS failure may follow a refusal (or close()) that destroyed the socket underneath.
    if (this.dropped.has(raw)) return;
    this.dropped.add(raw);
    this.onRefused?.(address, reason, fault);
  }

  /** Tells of a fault on a delivered stream, which its owner closes. */
  protected report(address: string, reason: Error, fault: TransportFault): void {
    this.onRefused?.(address, reason, fault);
  }

  /**
   * Reports a stream whose first bytes are no MQTT CONNECT (an HTTP request, a TLS handshake on a plain port,
   * another packet). Only looks: the protocol layer reads the same bytes and closes the connection itself.
   */
  protected checkFirstBytes(address: string, bytes: Uint8Array, secure: boolean): void {
    const reason = notMqttReason(bytes, secure);
    if (reason !== undefined) this.report(address, new Error(reason), 'not-mqtt');
  }

  private accept(socket: Socket): void {
    socket.on('error', ignoreError);
    if (!this.server) {
      // Closed while the connection was in the accept queue.
      socket.destroy();
      return;
    }
    const timeoutMs = this.options.setupTimeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS;
    const deadline = setTimeout(() => {
      this.refuse(socket, new Error(`connection not set up within ${timeoutMs} ms`), 'timeout');
    }, timeoutMs);
    this.pending.set(socket, deadline);
    (socket as AcceptedSocket)[acceptedBy] = this;
    socket.on('close', closedBeforeSetup);
    if (!this.trusted) {
      this.connect(socket, undefined);
      return;
    }
    const address = unmapIPv4(socket.remoteAddress ?? '');
    if (!this.trusted.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4')) {
      this.refuse(socket, new Error(`PROXY protocol header from untrusted address ${address}`), 'proxy');
      return;
    }
    readProxyHeader(socket, this.proxyTimeoutMs, (error, header, rest) => {
      if (error) this.refuse(socket, error, 'proxy');
      else this.proxyAccepted(socket, header!, rest!);
    });
  }

  /** The socket is set up, refused or closed: its deadline and set-up listener go. */
  settled(socket: Socket): void {
    clearTimeout(this.pending.get(socket));
    this.pending.delete(socket);
    (socket as AcceptedSocket)[acceptedBy] = undefined;
    socket.removeListener('close', closedBeforeSetup);
  }

  private proxyAccepted(socket: Socket, header: ProxyHeader, rest: Uint8Array): void {
    // LOCAL (health checks), UNKNOWN and unix sources carry no client address: the connection's own applies.
    if (header.command === 'proxy' && header.source) this.proxied.set(socket, header.source);
    this.connect(socket, rest.length > 0 ? rest : undefined);
  }
}

/** A TLS socket made by a `tls.Server` from an accepted socket keeps that socket as `_parent`. */
function rawSocketOf(socket: Socket): Socket {
  return (socket as Socket & { _parent?: Socket | null })._parent ?? socket;
}

function unmapIPv4(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function trustedList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address);
    if (family === 0) throw new Error(`proxyProtocol.trustedAddresses: ${JSON.stringify(entry)} is not an IP address`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) {
      list.addAddress(address, type);
      continue;
    }
    const bits = Number(prefix);
    if (!/^[0-9]+$/.test(prefix) || bits > (family === 6 ? 128 : 32)) {
      throw new Error(`proxyProtocol.trustedAddresses: ${JSON.stringify(entry)} has a bad prefix length`);
    }
    list.addSubnet(address, bits, type);
  }
  return list;
}
