import { encode, encodePublishHead, type PublishHead } from '../packet/encode.js';
import { PacketError } from '../packet/errors.js';
import { PacketParser } from '../packet/parser.js';
import { CONNACK_CODES, DISCONNECT_CODES, PUBACK_CODES } from '../packet/reason-code-sets.js';
import { ReasonCode, reasonCodeName, toConnectReturnCode } from '../packet/reason-codes.js';
import type { ConnectPacket, Packet, Properties, ProtocolVersion, QoS, Will } from '../packet/types.js';
import type { ByteStream, StreamHandlers } from '../transport/stream.js';
import { atTickEnd } from '../transport/tick-end.js';
import { ACK_SIZE, ackChunk, coalesce, type OutChunk } from './coalesce.js';
import type { BrokerCore } from './core.js';
import { handleAuth } from './handlers/auth.js';
import { handleConnect } from './handlers/connect.js';
import { handleDisconnect } from './handlers/disconnect.js';
import { handlePuback, handlePubcomp, handlePubrec } from './handlers/acks.js';
import { handlePublish } from './handlers/publish.js';
import { handlePubrel } from './handlers/pubrel.js';
import { handleSubscribe } from './handlers/subscribe.js';
import { handleUnsubscribe } from './handlers/unsubscribe.js';
import type { AuthenticateContext, ClientInfo } from './hooks.js';
import { remainingExpiry, type BrokerMessage } from './message.js';
import type { ConnectionPolicy } from './options.js';
import type { Holdable } from './flow.js';
import type { DeliveryTarget } from './outbox.js';
import type { Session } from './session.js';
import type { AckTarget } from './store/writer.js';

/** Largest packet a client that states no Maximum Packet Size can take (the protocol's own limit). */
const PROTOCOL_MAX_PACKET = 268435455 + 5;
/** First byte (type and fixed flags) of the acknowledgements. */
const ACK_FIRST_BYTE = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 } as const;
/** How long a closing connection may take to flush its last bytes before it is destroyed. */
const LINGER_MS = 2000;
/** A connection's output list is emptied and kept after a flush up to this length, replaced beyond it. */
const KEPT_OUT_LIST = 64;
/** Filled in for every PUBLISH head encoded (encodePublishHead keeps none of it), so no object per delivery. */
const headFields: PublishHead = { topic: '', topicBytes: undefined, qos: 0, retain: false, dup: false, packetId: undefined, properties: undefined };

/**
 * `connect`: waiting for CONNECT; `auth`: an AUTH exchange is under way before CONNACK; `open`: CONNACK sent;
 * `closed`: torn down (late events are ignored).
 */
export type ConnectionState = 'connect' | 'auth' | 'open' | 'closed';

/**
 * One client connection: the MQTT state machine over a ByteStream. Packets are handled strictly in order; a
 * handler that waits (for a hook) holds the packets behind it, so nothing overtakes authentication or routing.
 * Outgoing bytes are collected and written once per tick.
 */
export class Connection implements DeliveryTarget, AckTarget, Holdable {
  state: ConnectionState = 'connect';
  version: ProtocolVersion = 4;
  clientId = '';
  username: string | undefined;
  keepalive = 0;
  session: Session | undefined;
  info: ClientInfo | undefined;
  /** The Will of this connection; cleared by a normal DISCONNECT. */
  will: Will | undefined;
  /** The AUTH exchange in progress (CONNECT or re-authentication). */
  auth: AuthenticateContext | undefined;
  /** Authentication Data of the final round, for CONNACK. */
  authData: Uint8Array | undefined;
  /** The CONNECT being (or that was) accepted. */
  connect: ConnectPacket | undefined;
  /** True when the broker chose the client id (v5 CONNACK says which). */
  assignedClientId = false;
  /** Keepalive the broker imposed on a v5 client (CONNACK Server Keep Alive). */
  serverKeepAlive: number | undefined;
  /** What the client allows us to send (MQTT 5 CONNECT properties). */
  sendWindow: number;
  clientMaxPacketSize = PROTOCOL_MAX_PACKET;
  problemInformation = true;
  /** Our outgoing topic aliases (topic → alias), least recently used first, while the client accepts aliases. */
  outAliases: Map<string, number> | undefined;
  /** The topic whose alias was used last (already at the end of `outAliases`). */
  private lastAliasTopic: string | undefined;
  clientAliasMaximum = 0;
  /** The client's incoming topic aliases. */
  inAliases: Map<number, string> | undefined;
  /** The topic of this client's last routed message and its UTF-8 bytes (see handlers/publish.ts). */
  lastTopic: string | undefined;
  lastTopicBytes: Uint8Array | undefined;
  /** QoS 1/2 PUBLISH received and not yet acknowledged (our Receive Maximum applies). */
  inboundUnacked = 0;
  readonly parser: PacketParser;
  private out: OutChunk[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  private busy = false;
  /** Subscribers' queues holding this publisher back (flow.ts); input stops while any does. */
  private held = 0;
  private lastReceived = Date.now();
  private connectTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly core: BrokerCore,
    readonly stream: ByteStream,
    readonly policy: ConnectionPolicy,
  ) {
    const maxUserProperties = policy.limits.maxUserProperties;
    this.parser = new PacketParser({ maxPacketSize: policy.limits.maxPacketSize, maxUserProperties: maxUserProperties > 0 ? maxUserProperties : undefined });
    this.sendWindow = policy.limits.maxInflight;
  }

  start(): void {
    this.connectTimer = setTimeout(connectDeadline, this.policy.limits.connectTimeout * 1000, this);
    this.stream.start(new StreamEvents(this));
  }

  /** `client-id (address:port)` for log lines. */
  describe(): string {
    const peer = this.stream.peer;
    return `${this.clientId || '?'} (${peer.remoteAddress}:${peer.remotePort})`;
  }

  // ---- input

  onData(chunk: Uint8Array): void {
    if (this.state === 'closed') return;
    this.core.stats.bytesReceived += chunk.length;
    this.lastReceived = Date.now();
    this.parser.push(chunk);
    if (!this.busy && this.held === 0) this.processPackets();
  }

  private processPackets(): void {
    while (!this.busy && this.held === 0 && this.state !== 'closed') {
      let packet: Packet | null;
      try {
        packet = this.parser.next();
      } catch (err) {
        this.malformed(err);
        return;
      }
      if (packet === null) return;
      this.core.stats.messagesReceived++;
      let pending: void | Promise<void>;
      try {
        pending = this.handle(packet);
      } catch (err) {
        this.handlerFailed(packet.type, err);
        return;
      }
      if (pending !== undefined) {
        this.busy = true;
        this.stream.pause();
        const type = packet.type;
        // Closures per waiting handler only (hooks, the store), not per connection.
        pending.then(
          () => this.resumeAfterHandler(),
          (err: unknown) => this.handlerFailed(type, err),
        );
      }
    }
  }

  private resumeAfterHandler(): void {
    this.busy = false;
    if (this.state !== 'closed' && this.held === 0) {
      this.stream.resume();
      this.processPackets();
    }
  }

  /** A handler (or a hook it awaited) threw: this connection ends, the broker goes on. */
  private handlerFailed(type: Packet['type'] | undefined, err: unknown): void {
    this.busy = false;
    this.core.internalError(`handling ${type === undefined ? 'input' : type.toUpperCase()} from ${this.describe()}`, err);
    if (this.state === 'open') this.disconnect(ReasonCode.UnspecifiedError, 'internal error');
    else this.refuse(ReasonCode.UnspecifiedError, 'internal error');
  }

  /** The keepalive timer fired: close a client silent for 1.5 keepalive periods, else wait for the rest. */
  checkKeepalive(): void {
    this.keepaliveTimer = undefined;
    if (this.state !== 'open') return;
    const limit = this.keepalive * 1500;
    // While held back we do not read, so silence proves nothing.
    const idle = this.held > 0 ? 0 : Date.now() - this.lastReceived;
    if (idle >= limit) this.disconnect(0x8d, 'keep alive timeout');
    else this.keepaliveTimer = setTimeout(keepaliveDue, limit - idle, this);
  }

  /** The connect timer fired. */
  connectTimedOut(): void {
    this.connectTimer = undefined;
    if (this.state === 'connect' || this.state === 'auth') this.abort('no CONNECT in time');
  }

  hold(): void {
    if (this.held++ === 0 && !this.busy) this.stream.pause();
  }

  release(): void {
    if (this.held === 0 || --this.held > 0) return;
    this.lastReceived = Date.now();
    // Released from inside a subscriber's pump: go on reading after it, not within it.
    atTickEnd(() => {
      if (this.held === 0 && !this.busy && this.state !== 'closed') {
        this.stream.resume();
        this.processPackets();
      }
    });
  }

  private handle(packet: Packet): void | Promise<void> {
    if (this.state === 'connect') {
      if (packet.type === 'connect') return handleConnect(this, packet);
      return this.abort(`${packet.type.toUpperCase()} before CONNECT`);
    }
    if (this.state === 'auth') {
      if (packet.type === 'auth') return handleAuth(this, packet);
      if (packet.type === 'disconnect') return handleDisconnect(this, packet);
      return this.protocolError(0x82, `${packet.type.toUpperCase()} during authentication`);
    }
    switch (packet.type) {
      case 'publish':
        return handlePublish(this, packet);
      case 'puback':
        return handlePuback(this, packet);
      case 'pubrec':
        return handlePubrec(this, packet);
      case 'pubrel':
        return handlePubrel(this, packet);
      case 'pubcomp':
        return handlePubcomp(this, packet);
      case 'subscribe':
        return handleSubscribe(this, packet);
      case 'unsubscribe':
        return handleUnsubscribe(this, packet);
      case 'pingreq':
        this.send({ type: 'pingresp' });
        return;
      case 'disconnect':
        return handleDisconnect(this, packet);
      case 'auth':
        return handleAuth(this, packet);
      case 'connect':
        return this.protocolError(0x82, 'second CONNECT');
      default:
        return this.protocolError(0x82, `${packet.type.toUpperCase()} sent to a server`);
    }
  }

  private malformed(err: unknown): void {
    if (!(err instanceof PacketError)) {
      this.handlerFailed(undefined, err);
      return;
    }
    if (this.state === 'connect' && err.reasonCode === 0x84) {
      // Unknown protocol level: answer in the oldest form every client understands, then close.
      this.refuseRaw(0x84, err.message);
      return;
    }
    this.protocolError(err.reasonCode, err.message);
  }

  // ---- closing

  /**
   * A protocol violation: v5 clients get DISCONNECT (or CONNACK before CONNECT is done) with the reason code,
   * 3.x clients are closed without a word, as their specifications say.
   */
  protocolError(reasonCode: number, reason: string): void {
    if (this.state === 'open') this.disconnect(reasonCode, reason);
    else if (this.state !== 'closed' && this.parser.protocolVersion === 5) {
      this.version = 5;
      this.refuse(reasonCode, reason);
    } else this.abort(reason);
  }

  /** Server-side DISCONNECT (v5) and close; the Will is sent. */
  disconnect(reasonCode: number, reason: string): void {
    if (this.state === 'closed') return;
    // Codes from hooks may not be valid in a DISCONNECT.
    if (DISCONNECT_CODES[reasonCode] !== 1) reasonCode = 0x80;
    if (this.version === 5 && this.state === 'open') {
      const properties: Properties | undefined = this.problemInformation && reasonCode !== 0 ? { reasonString: reason } : undefined;
      this.send({ type: 'disconnect', reasonCode, properties });
    }
    this.teardown(`${reason} (0x${reasonCode.toString(16)})`, true);
  }

  /** CONNACK with a failure code (mapped onto a 3.x return code), then close. */
  refuse(reasonCode: number, reason: string): void {
    if (this.state === 'closed') return;
    if (reasonCode < 0x80 || CONNACK_CODES[reasonCode] !== 1) reasonCode = 0x80;
    if (this.version === 5) {
      const properties: Properties | undefined = this.problemInformation ? { reasonString: reason } : undefined;
      this.send({ type: 'connack', sessionPresent: false, reasonCode, properties });
    } else {
      this.send({ type: 'connack', sessionPresent: false, reasonCode: toConnectReturnCode(reasonCode) });
    }
    this.teardown(`refused: ${reason} (0x${reasonCode.toString(16)} ${reasonCodeName(reasonCode)})`, false);
  }

  /** CONNACK 0x01 as 3.1.1 encodes it: the answer to an unknown protocol level. */
  private refuseRaw(reasonCode: number, reason: string): void {
    this.write(new Uint8Array([0x20, 0x02, 0x00, 0x01]), 4);
    this.teardown(`refused: ${reason} (0x${reasonCode.toString(16)})`, false);
  }

  /** Close without a word. */
  abort(reason: string): void {
    this.teardown(reason, false);
  }

  /**
   * Ends the connection once: stops timers, hands the session back to the broker (sending the Will when
   * `sendWill` and the client did not disconnect normally), flushes what is buffered and closes the stream.
   */
  teardown(reason: string, sendWill: boolean): void {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    const stalled = this.stallTimer !== undefined;
    this.state = 'closed';
    clearTimeout(this.connectTimer);
    clearTimeout(this.keepaliveTimer);
    clearTimeout(this.stallTimer);
    this.flush();
    const stream = this.stream;
    // A socket that is not draining would never finish an orderly close.
    if (stalled) stream.destroy();
    else {
      stream.end();
      // A peer that never reads or never closes its side must not hold the socket.
      setTimeout(() => stream.destroy(), LINGER_MS).unref();
    }
    try {
      this.core.connectionClosed(this, wasOpen, sendWill ? this.will : undefined, reason);
    } catch (err) {
      // The connection is already closed; what failed after it (a Will's routing, an event listener) is contained.
      this.core.internalError(`closing ${this.describe()}`, err);
    }
  }

  // ---- output

  /**
   * Encodes and buffers a packet. One above the client's Maximum Packet Size goes without its Reason String and
   * User Properties, or not at all, as MQTT 5 says.
   */
  send(packet: Packet): void {
    let bytes = encode(packet, this.version);
    if (bytes.length > this.clientMaxPacketSize) {
      if (!('properties' in packet) || packet.properties === undefined) return;
      const { reasonString: _r, userProperties: _u, ...rest } = packet.properties;
      bytes = encode({ ...packet, properties: rest } as Packet, this.version);
      if (bytes.length > this.clientMaxPacketSize) return;
    }
    this.write(bytes, bytes.length);
  }

  /**
   * The accepting CONNACK, which must be the first packet the client gets (MQTT-3.2.0-1) and must fit its Maximum
   * Packet Size: informational properties go first, then all of them; false when even the bare packet is too large.
   */
  sendConnack(sessionPresent: boolean, properties: Properties | undefined): boolean {
    const packet: Packet = { type: 'connack', sessionPresent, reasonCode: 0, properties };
    let bytes = encode(packet, this.version);
    if (bytes.length > this.clientMaxPacketSize && properties !== undefined) {
      const { reasonString: _r, userProperties: _u, responseInformation: _i, serverReference: _s, ...essential } = properties;
      bytes = encode({ ...packet, properties: essential }, this.version);
      if (bytes.length > this.clientMaxPacketSize) bytes = encode({ ...packet, properties: undefined }, this.version);
    }
    if (bytes.length > this.clientMaxPacketSize) return false;
    this.write(bytes, bytes.length);
    return true;
  }

  private write(chunk: OutChunk, length: number): void {
    this.out.push(chunk);
    this.outBytes += length;
    this.core.stats.messagesSent++;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.core.scheduleFlush(this);
    }
  }

  /** Writes what was buffered since the last flush (the core calls it once per tick for every writer). */
  flush(): void {
    this.flushScheduled = false;
    const out = this.out;
    if (out.length === 0) return;
    const first = out[0]!;
    const chunks = out.length === 1 && typeof first !== 'number' ? [first] : coalesce(out, this.outBytes);
    this.core.stats.bytesSent += this.outBytes;
    // The list is kept for the next batch unless a burst grew it: a connection holds little while idle.
    if (out.length > KEPT_OUT_LIST) this.out = [];
    else out.length = 0;
    this.outBytes = 0;
    if (!this.stream.write(chunks) && this.state !== 'closed' && this.stallTimer === undefined) {
      this.stallTimer = setTimeout(stallDue, this.policy.limits.writeStallTimeout * 1000, this);
    }
  }

  /** Messages have waited for this client for `seconds` without one going out (Outbox.watchStall). */
  stalled(seconds: number): void {
    if (this.state !== 'open') return;
    this.core.logger.info(`${this.describe()}: no acknowledgement or read for ${seconds} s while messages wait: disconnected`);
    this.disconnect(ReasonCode.UnspecifiedError, `no acknowledgement for ${seconds} s while messages wait`);
  }

  /** The socket has not drained for writeStallTimeout. */
  writeStalled(): void {
    if (this.state !== 'closed') this.abort('write stalled');
  }

  onDrain(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    if (this.state === 'open') this.session?.outbox.pump();
  }

  /**
   * The socket's backlog only: this tick's batch is bounded by the input read in one tick, and counting it would
   * make a healthy subscriber drop a burst.
   */
  writable(): boolean {
    return this.state === 'open' && this.stream.bufferedAmount < this.policy.limits.maxWriteBuffer;
  }

  sendPublish(
    message: BrokerMessage,
    qos: QoS,
    retain: boolean,
    dup: boolean,
    packetId: number,
    subscriptionIds: number[] | undefined,
  ): boolean {
    let properties: Properties | undefined;
    let topic = message.topic;
    let newAlias = 0;
    let evictedTopic: string | undefined;
    if (this.version === 5) {
      properties = message.properties;
      let expiry = 0;
      // Once sent, a message is not expired: a resend (DUP) goes out even after its expiry.
      if (message.expiresAt !== undefined) {
        expiry = remainingExpiry(message, Date.now());
        if (expiry === 0 && !dup) return false;
      }
      let alias = 0;
      const aliases = this.outAliases;
      if (aliases !== undefined) {
        const known = aliases.get(topic);
        if (known !== undefined) {
          alias = known;
          topic = '';
          // Keep the map in least-recently-used order (its insertion order) for when it is full.
          if (this.lastAliasTopic !== message.topic) {
            aliases.delete(message.topic);
            aliases.set(message.topic, known);
            this.lastAliasTopic = message.topic;
          }
        } else if (aliases.size < this.clientAliasMaximum) {
          alias = newAlias = aliases.size + 1;
        } else {
          // Full: the least recently used alias is bound to this topic (topic and alias sent together).
          evictedTopic = aliases.keys().next().value!;
          alias = newAlias = aliases.get(evictedTopic)!;
        }
      }
      if (subscriptionIds !== undefined || expiry !== 0 || alias !== 0) {
        properties = properties === undefined ? {} : { ...properties };
        if (subscriptionIds !== undefined) properties.subscriptionIdentifiers = subscriptionIds;
        if (expiry !== 0) properties.messageExpiryInterval = expiry;
        if (alias !== 0) properties.topicAlias = alias;
      }
    } else if (message.expiresAt !== undefined && !dup && message.expiresAt <= Date.now()) {
      return false;
    }
    const payload = message.payload;
    const topicBytes = topic.length === 0 ? undefined : (message.topicBytes ??= Buffer.from(topic));
    const fields = headFields;
    fields.topic = topic;
    fields.topicBytes = topicBytes;
    fields.qos = qos;
    fields.retain = retain;
    fields.dup = dup;
    fields.packetId = qos === 0 ? undefined : packetId;
    fields.properties = properties;
    const head = encodePublishHead(fields, this.version, payload.length);
    fields.properties = undefined;
    if (head.length + payload.length > this.clientMaxPacketSize) return false;
    if (newAlias !== 0) {
      if (evictedTopic !== undefined) this.outAliases!.delete(evictedTopic);
      this.outAliases!.set(message.topic, newAlias);
      this.lastAliasTopic = message.topic;
    }
    this.out.push(head, payload);
    this.outBytes += head.length + payload.length;
    const stats = this.core.stats;
    stats.messagesSent++;
    stats.publishSent++;
    stats.publishBytesSent += payload.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.core.scheduleFlush(this);
    }
    return true;
  }

  sendPubrel(packetId: number): void {
    this.sendAck('pubrel', packetId, 0);
  }

  /** An acknowledgement whose state the store now holds (or will write again after a failure). */
  sendStoredAck(kind: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp', packetId: number, reasonCode: number): void {
    if (this.state !== 'open') return;
    if (kind === 'puback' || kind === 'pubcomp' || reasonCode >= 0x80) this.releaseInbound();
    this.sendAck(kind, packetId, reasonCode);
  }

  /** PUBACK / PUBREC / PUBREL / PUBCOMP; the reason code only in v5, and only when not Success. */
  sendAck(kind: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp', packetId: number, reasonCode: number, reasonString?: string): void {
    if (this.version === 5 && reasonCode !== 0) {
      if ((kind === 'puback' || kind === 'pubrec') && PUBACK_CODES[reasonCode] !== 1) reasonCode = 0x80;
      const properties = reasonString !== undefined && this.problemInformation ? { reasonString } : undefined;
      this.send({ type: kind, packetId, reasonCode, properties });
      return;
    }
    // The four bytes every version shares (one per QoS 1/2 message): no packet object, no encoder pass, and no
    // buffer of its own until the batch is joined.
    this.write(ackChunk(ACK_FIRST_BYTE[kind], packetId), ACK_SIZE);
  }

  /** One inbound QoS 1/2 message is done (PUBACK, failed PUBREC or PUBCOMP sent). */
  releaseInbound(): void {
    if (this.inboundUnacked > 0) this.inboundUnacked--;
  }

  // ---- lifecycle driven by the CONNECT handler

  clientInfo(): ClientInfo {
    return {
      clientId: this.clientId,
      username: this.username,
      protocolVersion: this.version,
      keepalive: this.keepalive,
      peer: this.stream.peer,
      listener: this.policy.listener,
    };
  }

  /** CONNECT accepted: timers switch from connect timeout to keepalive. */
  opened(): void {
    this.state = 'open';
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    if (this.keepalive > 0) this.keepaliveTimer = setTimeout(keepaliveDue, this.keepalive * 1500, this);
  }
}

/**
 * Runs a timer's or the stream's event for one connection: an exception ends that connection, never the process
 * (these are called from the event loop, where nothing above would catch it).
 */
function contained(connection: Connection, what: string, work: (connection: Connection) => void): void {
  try {
    work(connection);
  } catch (err) {
    connection.core.internalError(`${what} of ${connection.describe()}`, err);
    connection.abort('internal error');
  }
}

// Timer callbacks and stream events on the prototype, not closures per connection (idle connections are many).
function connectDeadline(connection: Connection): void {
  contained(connection, 'in the connect timer', (c) => c.connectTimedOut());
}

function keepaliveDue(connection: Connection): void {
  contained(connection, 'in the keepalive timer', (c) => c.checkKeepalive());
}

function stallDue(connection: Connection): void {
  contained(connection, 'in the write-stall timer', (c) => c.writeStalled());
}

class StreamEvents implements StreamHandlers {
  constructor(private readonly connection: Connection) {}

  data(chunk: Uint8Array): void {
    contained(this.connection, 'reading', (c) => c.onData(chunk));
  }

  drain(): void {
    contained(this.connection, 'draining', (c) => c.onDrain());
  }

  close(error?: Error): void {
    contained(this.connection, 'closing', (c) => c.teardown(error ? `connection error: ${error.message}` : 'connection closed', true));
  }
}
