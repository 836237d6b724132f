/**
 * An MQTT 5 connection from a bridge (or an HTTP sink) into the broker it runs in, over a pair of memory streams
 * handed to `broker.accept`. Through it the bridge has a session like any client's: subscriptions, a queue kept in
 * the broker's store while the session is offline and bounded by the limits given here, QoS 2 packet ids
 * remembered across restarts. The link only moves packets: what they mean is the owner's business.
 */
import {
  encode,
  PacketError,
  PacketParser,
  ReasonCode,
  reasonCodeName,
  type ConnackPacket,
  type Packet,
} from '../packet/index.js';
import type { Broker, BrokerHooks, BrokerLimits } from '../broker/index.js';
import { atTickEnd } from '../transport/internal.js';
import { memoryStreams } from './memory-stream.js';
import type { ByteStream, PeerInfo } from '../transport/index.js';

/** Session Expiry Interval meaning "never". */
export const FOREVER = 0xffffffff;

export interface LocalLinkOptions {
  /** How the broker's log names the connection (its listener). */
  name: string;
  clientId: string;
  /** Clean Start: discard what the session held. */
  clean: boolean;
  /** QoS 1/2 messages the broker may send before the link acknowledges them. */
  receiveMaximum: number;
  /** The session's queue: maxQueuedMessages, maxQueuedBytes, maxQueuedAge. */
  limits: Partial<BrokerLimits>;
  /** Seconds the session outlives the link (default forever). */
  sessionExpiryInterval?: number;
}

/** What the link reports to its owner. */
export interface LocalLinkOwner {
  /** A packet from the broker, after CONNACK. */
  packet(packet: Packet): void;
  /** The link is gone; `reason` says why. Not called for a `close()` of the owner's own. */
  lost(reason: string): void;
}

/**
 * The bridge is the broker's own: no password, ACL, dialect or rate limit of the listeners applies to it (a
 * broker-wide hook would otherwise refuse it or rewrite what it carries).
 */
const trusted: BrokerHooks = {
  acceptConnection: () => true,
  authenticate: () => ({ result: 'success' }),
  authorizePublish: () => true,
  authorizeSubscribe: () => true,
  authorizeRead: undefined,
  onPublish: undefined,
  onAuthFailure: undefined,
};

const peer: PeerInfo = { remoteAddress: '127.0.0.1', remotePort: 0, transport: 'tcp' };

/**
 * Limits of the link's connection whatever the listeners say: packets as large as MQTT allows (a message taken from
 * the remote must not be refused here), no keepalive (nothing can go silent in memory), the sender's windows set by
 * the CONNECT's Receive Maximum, and no stall timeout (a remote that is slow to acknowledge is not a stuck client).
 */
const linkLimits: Partial<BrokerLimits> = {
  maxPacketSize: 268_435_455,
  maxKeepalive: 65535,
  maxInflight: 65535,
  receiveMaximum: 65535,
  maxSessionExpiryInterval: 0,
  writeStallTimeout: 86400,
  maxSubscriptionsPerClient: 0,
  maxUserProperties: 0,
};

export class LocalLink {
  private readonly parser = new PacketParser({ protocolVersion: 5 });
  private out: Uint8Array[] = [];
  private closed = false;
  private connack: ConnackPacket | undefined;
  private settle: { resolve: (connack: ConnackPacket) => void; reject: (error: Error) => void } | undefined;

  private constructor(
    private readonly stream: ByteStream,
    private readonly owner: LocalLinkOwner,
  ) {}

  /** Connects; resolves once the broker accepted the session (`sessionPresent` then says whether it had it). */
  static async open(broker: Broker, options: LocalLinkOptions, owner: LocalLinkOwner): Promise<LocalLink> {
    const [ours, theirs] = memoryStreams(peer, peer);
    const link = new LocalLink(ours, owner);
    const accepted = new Promise<ConnackPacket>((resolve, reject) => (link.settle = { resolve, reject }));
    ours.start({
      data: (chunk) => link.onData(chunk),
      drain: () => undefined,
      close: (error) => link.onClose(error?.message ?? 'closed by the broker'),
    });
    broker.accept(theirs, { name: options.name, allowAnonymous: true, limits: { ...options.limits, ...linkLimits }, hooks: trusted, holdPublishers: false });
    link.send({
      type: 'connect',
      protocolVersion: 5,
      clientId: options.clientId,
      clean: options.clean,
      keepalive: 0,
      properties: {
        sessionExpiryInterval: options.sessionExpiryInterval ?? FOREVER,
        receiveMaximum: options.receiveMaximum,
        topicAliasMaximum: 0,
      },
    });
    link.connack = await accepted;
    return link;
  }

  get sessionPresent(): boolean {
    return this.connack?.sessionPresent ?? false;
  }

  get open(): boolean {
    return !this.closed;
  }

  /** Queues a packet; everything queued in one turn of the event loop goes to the broker in one write. */
  send(packet: Packet): void {
    if (this.closed) return;
    if (this.out.push(encode(packet, 5)) === 1) atTickEnd(this.flush);
  }

  /** Leaves: DISCONNECT (normal, so the session is kept) and close, without telling the owner. */
  close(): void {
    if (this.closed) return;
    this.send({ type: 'disconnect', reasonCode: ReasonCode.NormalDisconnection });
    this.flush();
    this.closed = true;
    this.stream.end();
  }

  private readonly flush = (): void => {
    const chunks = this.out;
    if (chunks.length === 0) return;
    this.out = [];
    this.stream.write(chunks);
  };

  private onData(chunk: Uint8Array): void {
    if (this.closed) return;
    this.parser.push(chunk);
    for (;;) {
      let packet: Packet | null;
      try {
        packet = this.parser.next();
      } catch (error) {
        this.fail(`undecodable packet from the broker: ${error instanceof PacketError ? error.message : String(error)}`);
        return;
      }
      if (packet === null || this.closed) return;
      if (this.connack === undefined && this.settle !== undefined) this.handshake(packet);
      else this.owner.packet(packet);
    }
  }

  private handshake(packet: Packet): void {
    const settle = this.settle!;
    this.settle = undefined;
    if (packet.type !== 'connack') {
      this.fail(`${packet.type} before CONNACK`, settle.reject);
      return;
    }
    if (packet.reasonCode !== ReasonCode.Success) {
      this.fail(`refused by the broker: ${reasonCodeName(packet.reasonCode)} (0x${packet.reasonCode.toString(16)})`, settle.reject);
      return;
    }
    // Set here, not when the promise settles: the packets after the CONNACK follow at once.
    this.connack = packet;
    settle.resolve(packet);
  }

  private onClose(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.settle !== undefined) {
      this.settle.reject(new Error(reason));
      this.settle = undefined;
    } else this.owner.lost(reason);
  }

  private fail(reason: string, reject?: (error: Error) => void): void {
    this.closed = true;
    this.stream.destroy();
    if (reject) reject(new Error(reason));
    else this.owner.lost(reason);
  }
}
