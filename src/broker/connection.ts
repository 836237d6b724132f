// Over 500 lines on purpose: the input pump, the output batch and the close protocol share one connection's state
// and its one-write-per-tick rule, and splitting them would expose that state to each other; what stands alone
// (negotiated client state, topic aliases, packet handlers, the publish head encoder) is in files of its own.
import {
  encode,
  encodePublishHead,
  PacketError,
  PacketParser,
  ReasonCode,
  reasonCodeName,
  toConnectReturnCode,
  type PublishHead,
  type Packet,
  type Properties,
  type QoS,
  type Will,
} from '../packet/index.js';
import { CONNACK_CODES, DISCONNECT_CODES, PUBACK_CODES } from '../packet/internal.js';
import type { ByteStream, PeerInfo, StreamHandlers } from '../transport/index.js';
import { atTickEnd } from '../transport/internal.js';
import { ClientState } from './client-state.js';
import { ACK_SIZE, ackChunk, coalesce, type OutChunk } from './coalesce.js';
import { TurnPacer } from './flush-scheduler.js';
import type { BrokerServices, ConnectionState, HandlerContext } from './handlers/context.js';
import { handlePacket } from './handlers/dispatch.js';
import type { ClientInfo, InboundMeter } from './hooks.js';
import { remainingExpiry, TopicBytesCache, type BrokerMessage } from './message.js';
import type { ConnectionPolicy } from './options.js';
import type { Session } from './session.js';
import type { AckKind } from './store/writer.js';
import { IncomingAliases, OutgoingAliases } from './topic-aliases.js';

/** First byte (type and fixed flags) of the acknowledgements. */
const ACK_FIRST_BYTE = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 } as const;
/** How long a closing connection may take to flush its last bytes before it is destroyed. */
const LINGER_MS = 2000;
/** How often a backlog the stream will not announce the draining of is looked at again (see writable). */
const BACKLOG_CHECK_MS = 10;
/** A connection's output list is emptied and kept after a flush up to this length, replaced beyond it. */
const KEPT_OUT_LIST = 64;
/** Output of a busy connection (TurnPacer) that is written at the end of the tick all the same (scheduleWrite). */
const EAGER_FLUSH_BYTES = 16 * 1024;
/** Longest delay a Node timer keeps; a later deadline is looked at again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Filled in for every PUBLISH head encoded (encodePublishHead keeps none of it), so no object per delivery. */
const headFields: PublishHead = { topic: '', topicBytes: undefined, qos: 0, retain: false, dup: false, packetId: undefined, properties: undefined };

/** What a connection needs of the broker beyond what its handlers see. */
export interface ConnectionHost extends BrokerServices {
  /** Has `connection.flush()` called at the end of this tick, or `perTurn` once the turn's reads are handled. */
  scheduleFlush(connection: Connection, perTurn: boolean): void;
  /** Flushes the connections waiting for the end of the turn at the end of this tick instead. */
  flushSoon(): void;
  /** Logs and counts an exception nothing above would catch. */
  internalError(where: string, err: unknown): void;
  /** Called once per connection when it ends, whatever ended it. */
  connectionClosed(connection: Connection, wasOpen: boolean, will: Will | undefined, reason: string): void;
}

/**
 * One client connection: the MQTT state machine over a ByteStream. Packets are handled strictly in order; a
 * handler that waits (for a hook) holds the packets behind it, so nothing overtakes authentication or routing.
 * Outgoing bytes are collected and written once per tick. Handlers see it through HandlerContext.
 */
export class Connection implements HandlerContext {
  private connectionState: ConnectionState = 'connect';
  readonly client: ClientState;
  private attached: Session | undefined;
  private clientInfoAtConnack: ClientInfo | undefined;
  readonly incomingAliases = new IncomingAliases();
  readonly topicBytes = new TopicBytesCache();
  private outgoingAliases: OutgoingAliases | undefined;
  private inbound = 0;
  private readonly parser: PacketParser;
  private out: OutChunk[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  /** Whether the output waits for the end of the turn of the event loop. */
  private readonly pacer = new TurnPacer();
  private busy = false;
  /** Subscribers' queues holding this publisher back (flow.ts); input stops while any does. */
  private held = 0;
  private lastReceived = Date.now();
  /** When CONNACK went out (epoch ms); 0 before. */
  openedAt = 0;
  private connectTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private backlogTimer: NodeJS.Timeout | undefined;
  /** When the client's credentials end (epoch ms), and the timer that closes the connection then. */
  private deadline: number | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** The inbound rate limits (BrokerHooks.meterInbound); undefined costs the packet path one check. */
  private meter: InboundMeter | undefined;

  constructor(
    readonly broker: ConnectionHost,
    readonly stream: ByteStream,
    readonly policy: ConnectionPolicy,
  ) {
    const limits = policy.limits;
    this.parser = new PacketParser({ maxPacketSize: limits.maxPacketSize, maxUserProperties: limits.maxUserProperties > 0 ? limits.maxUserProperties : undefined });
    this.client = new ClientState(limits.maxInflight);
  }

  get state(): ConnectionState {
    return this.connectionState;
  }

  get session(): Session | undefined {
    return this.attached;
  }

  get info(): ClientInfo | undefined {
    return this.clientInfoAtConnack;
  }

  get peer(): PeerInfo {
    return this.stream.peer;
  }

  get inboundUnacked(): number {
    return this.inbound;
  }

  /** What the client allows us to have unacknowledged (DeliveryTarget). */
  get sendWindow(): number {
    return this.client.sendWindow;
  }

  /** Whether this client's full queue may hold publishers back (DeliveryTarget). */
  get holdsPublishers(): boolean {
    return this.policy.holdPublishers;
  }

  start(): void {
    this.connectTimer = setTimeout(connectDeadline, this.policy.limits.connectTimeout * 1000, this);
    this.stream.start(new StreamEvents(this));
  }

  describe(): string {
    const peer = this.stream.peer;
    return `${this.client.clientId || '?'} (${peer.remoteAddress}:${peer.remotePort})`;
  }

  clientInfo(): ClientInfo {
    const client = this.client;
    return {
      clientId: client.clientId,
      username: client.username,
      protocolVersion: client.version,
      keepalive: client.keepalive,
      peer: this.stream.peer,
      listener: this.policy.listener,
    };
  }

  // ---- input

  onData(chunk: Uint8Array): void {
    if (this.connectionState === 'closed') return;
    this.broker.stats.bytesReceived += chunk.length;
    this.lastReceived = Date.now();
    this.parser.push(chunk);
    if (!this.busy && this.held === 0) this.processPackets();
  }

  private processPackets(): void {
    while (!this.busy && this.held === 0 && this.connectionState !== 'closed') {
      let packet: Packet | null;
      try {
        packet = this.parser.next();
      } catch (err) {
        this.malformed(err);
        return;
      }
      if (packet === null) return;
      const stats = this.broker.stats;
      stats.messagesReceived++;
      if (stats.tap !== undefined) stats.tap.packetIn(this.clientInfo(), packet);
      if (this.meter !== undefined && packet.type === 'publish' && !this.metered(this.meter, packet.payload.length)) return;
      let pending: void | Promise<void>;
      try {
        pending = handlePacket(this, packet);
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
    if (this.connectionState !== 'closed' && this.held === 0) {
      this.stream.resume();
      this.processPackets();
    }
  }

  /** A handler (or a hook it awaited) threw: this connection ends, the broker goes on. */
  private handlerFailed(type: Packet['type'] | undefined, err: unknown): void {
    this.busy = false;
    this.broker.internalError(`handling ${type === undefined ? 'input' : type.toUpperCase()} from ${this.describe()}`, err);
    if (this.connectionState === 'open') this.disconnect(ReasonCode.UnspecifiedError, 'internal error');
    else this.refuse(ReasonCode.UnspecifiedError, 'internal error');
  }

  private malformed(err: unknown): void {
    if (!(err instanceof PacketError)) {
      this.handlerFailed(undefined, err);
      return;
    }
    if (this.connectionState === 'connect' && err.reasonCode === ReasonCode.UnsupportedProtocolVersion) {
      // Unknown protocol level: answer in the oldest form every client understands, then close.
      this.broker.stats.refusal(ReasonCode.UnsupportedProtocolVersion);
      this.write(new Uint8Array([0x20, 0x02, 0x00, 0x01]), 4);
      this.teardown(`refused: ${err.message} (0x84)`, false);
      return;
    }
    this.protocolError(err.reasonCode, err.message);
  }

  /** The keepalive timer fired: close a client silent for 1.5 keepalive periods, else wait for the rest. */
  checkKeepalive(): void {
    this.keepaliveTimer = undefined;
    if (this.connectionState !== 'open') return;
    const limit = this.client.keepalive * 1500;
    // While held back we do not read, so silence proves nothing.
    const idle = this.held > 0 ? 0 : Date.now() - this.lastReceived;
    if (idle >= limit) this.disconnect(ReasonCode.KeepAliveTimeout, 'keep alive timeout');
    else this.keepaliveTimer = setTimeout(keepaliveDue, limit - idle, this);
  }

  /** The connect timer fired. */
  connectTimedOut(): void {
    this.connectTimer = undefined;
    if (this.connectionState === 'connect' || this.connectionState === 'auth') this.abort('no CONNECT in time');
  }

  hold(): void {
    if (this.held++ === 0 && !this.busy) this.stream.pause();
  }

  /**
   * Applies the rate limits' verdict on a PUBLISH: false when it closed the connection (the PUBLISH is dropped);
   * a pause holds input after this PUBLISH, as a full subscriber queue does.
   */
  private metered(meter: InboundMeter, bytes: number): boolean {
    const verdict = meter.publish(bytes);
    if (verdict === 0) return true;
    if (typeof verdict === 'object') {
      this.disconnect(verdict.reasonCode ?? ReasonCode.MessageRateTooHigh, verdict.reasonString ?? 'over the rate limit');
      return false;
    }
    this.hold();
    setTimeout(pauseOver, verdict, this);
    return true;
  }

  release(): void {
    if (this.held === 0 || --this.held > 0) return;
    this.lastReceived = Date.now();
    // Released from inside a subscriber's pump: go on reading after it, not within it.
    atTickEnd(() => {
      if (this.held === 0 && !this.busy && this.connectionState !== 'closed') {
        this.stream.resume();
        this.processPackets();
      }
    });
  }

  // ---- lifecycle driven by the CONNECT handler

  startAuthentication(): void {
    this.connectionState = 'auth';
  }

  setDeadline(at: number | undefined): void {
    this.deadline = at;
    if (this.connectionState === 'open') this.armDeadline();
  }

  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    if (this.deadline === undefined) return;
    this.deadlineTimer = setTimeout(deadlineDue, Math.min(Math.max(this.deadline - Date.now(), 0), MAX_TIMER_MS), this);
  }

  /** The deadline timer fired: the credentials ran out, unless a re-authentication moved the deadline meanwhile. */
  checkDeadline(): void {
    this.deadlineTimer = undefined;
    if (this.connectionState !== 'open' || this.deadline === undefined) return;
    if (this.deadline > Date.now()) this.armDeadline();
    else this.disconnect(ReasonCode.MaximumConnectTime, 'credentials expired');
  }

  open(session: Session): ClientInfo {
    this.connectionState = 'open';
    this.openedAt = Date.now();
    this.attached = session;
    const info = this.clientInfo();
    this.clientInfoAtConnack = info;
    if (this.client.aliasMaximum > 0) this.outgoingAliases = new OutgoingAliases(this.client.aliasMaximum);
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    const keepalive = this.client.keepalive;
    if (keepalive > 0) this.keepaliveTimer = setTimeout(keepaliveDue, keepalive * 1500, this);
    this.armDeadline();
    this.meter = this.policy.hooks.meterInbound?.(info);
    return info;
  }

  takeInbound(): void {
    this.inbound++;
  }

  releaseInbound(): void {
    if (this.inbound > 0) this.inbound--;
  }

  // ---- closing

  protocolError(reasonCode: number, reason: string): void {
    if (this.connectionState === 'open') this.disconnect(reasonCode, reason);
    else if (this.connectionState !== 'closed' && this.parser.protocolVersion === 5) {
      this.client.version = 5;
      this.refuse(reasonCode, reason);
    } else this.abort(reason);
  }

  /** Server-side DISCONNECT (v5) and close; the Will is sent. */
  disconnect(reasonCode: number, reason: string): void {
    if (this.connectionState === 'closed') return;
    // Codes from hooks may not be valid in a DISCONNECT.
    if (DISCONNECT_CODES[reasonCode] !== 1) reasonCode = ReasonCode.UnspecifiedError;
    if (reasonCode >= ReasonCode.UnspecifiedError) this.attached?.noteError(`disconnected by the server: ${reason} (0x${reasonCode.toString(16)})`);
    if (this.client.version === 5 && this.connectionState === 'open') {
      const properties: Properties | undefined = this.client.problemInformation && reasonCode !== 0 ? { reasonString: reason } : undefined;
      this.send({ type: 'disconnect', reasonCode, properties });
    }
    this.teardown(`${reason} (0x${reasonCode.toString(16)})`, true);
  }

  refuse(reasonCode: number, reason: string): void {
    if (this.connectionState === 'closed') return;
    if (reasonCode < ReasonCode.UnspecifiedError || CONNACK_CODES[reasonCode] !== 1) reasonCode = ReasonCode.UnspecifiedError;
    this.broker.stats.refusal(reasonCode);
    if (this.client.version === 5) {
      const properties: Properties | undefined = this.client.problemInformation ? { reasonString: reason } : undefined;
      this.send({ type: 'connack', sessionPresent: false, reasonCode, properties });
    } else {
      this.send({ type: 'connack', sessionPresent: false, reasonCode: toConnectReturnCode(reasonCode) });
    }
    this.teardown(`refused: ${reason} (0x${reasonCode.toString(16)} ${reasonCodeName(reasonCode)})`, false);
  }

  abort(reason: string): void {
    this.teardown(reason, false);
  }

  close(reason: string, sendWill: boolean): void {
    this.teardown(reason, sendWill);
  }

  /**
   * Ends the connection once: stops timers, hands the session back to the broker (sending the Will when
   * `sendWill` and the client did not disconnect normally), flushes what is buffered and closes the stream.
   */
  teardown(reason: string, sendWill: boolean): void {
    if (this.connectionState === 'closed') return;
    const wasOpen = this.connectionState === 'open';
    const stalled = this.stallTimer !== undefined;
    this.connectionState = 'closed';
    clearTimeout(this.connectTimer);
    clearTimeout(this.keepaliveTimer);
    clearTimeout(this.stallTimer);
    clearTimeout(this.backlogTimer);
    clearTimeout(this.deadlineTimer);
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
      this.broker.connectionClosed(this, wasOpen, sendWill ? this.client.will : undefined, reason);
    } catch (err) {
      // The connection is already closed; what failed after it (a Will's routing, an event listener) is contained.
      this.broker.internalError(`closing ${this.describe()}`, err);
    }
  }

  // ---- output

  /**
   * Encodes and buffers a packet. One above the client's Maximum Packet Size goes without its Reason String and
   * User Properties, or not at all, as MQTT 5 says.
   */
  send(packet: Packet): void {
    const version = this.client.version;
    const max = this.client.maxPacketSize;
    let bytes = encode(packet, version);
    if (bytes.length > max) {
      if (!('properties' in packet) || packet.properties === undefined) return;
      const { reasonString: _r, userProperties: _u, ...rest } = packet.properties;
      packet = { ...packet, properties: rest } as Packet;
      bytes = encode(packet, version);
      if (bytes.length > max) return;
    }
    this.broker.stats.tap?.packetOut(this.clientInfo(), packet);
    this.write(bytes, bytes.length);
  }

  /**
   * The accepting CONNACK, which must be the first packet the client gets (MQTT-3.2.0-1) and must fit its Maximum
   * Packet Size: informational properties go first, then all of them; false when even the bare packet is too large.
   */
  sendConnack(sessionPresent: boolean, properties: Properties | undefined): boolean {
    const version = this.client.version;
    const max = this.client.maxPacketSize;
    const packet: Packet = { type: 'connack', sessionPresent, reasonCode: ReasonCode.Success, properties };
    let bytes = encode(packet, version);
    if (bytes.length > max && properties !== undefined) {
      const { reasonString: _r, userProperties: _u, responseInformation: _i, serverReference: _s, ...essential } = properties;
      bytes = encode({ ...packet, properties: essential }, version);
      if (bytes.length > max) bytes = encode({ ...packet, properties: undefined }, version);
    }
    if (bytes.length > max) return false;
    this.broker.stats.tap?.packetOut(this.clientInfo(), packet);
    this.write(bytes, bytes.length);
    return true;
  }

  private write(chunk: OutChunk, length: number): void {
    this.out.push(chunk);
    this.outBytes += length;
    this.broker.stats.messagesSent++;
    this.scheduleWrite();
  }

  /**
   * Output was added. It goes out at the end of this tick, unless this connection is busy (TurnPacer): then once the
   * reads of this turn of the event loop are handled, with whatever they add (a subscriber fed by many devices, each
   * sending one packet per read, gets one write rather than one per message), or at the end of the tick once a
   * burst made it EAGER_FLUSH_BYTES.
   */
  private scheduleWrite(): void {
    const perTurn = this.pacer.perTurn;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.broker.scheduleFlush(this, perTurn);
    }
    if (perTurn && this.outBytes >= EAGER_FLUSH_BYTES) this.broker.flushSoon();
  }

  /** Writes what was buffered since the last flush (when the broker's FlushScheduler says). */
  flush(): void {
    this.flushScheduled = false;
    const out = this.out;
    if (out.length === 0) return;
    this.pacer.wrote();
    const first = out[0]!;
    const chunks = out.length === 1 && typeof first !== 'number' ? [first] : coalesce(out, this.outBytes);
    this.broker.stats.bytesSent += this.outBytes;
    // The list is kept for the next batch unless a burst grew it: a connection holds little while idle.
    if (out.length > KEPT_OUT_LIST) this.out = [];
    else out.length = 0;
    this.outBytes = 0;
    if (!this.stream.write(chunks) && this.connectionState !== 'closed' && this.stallTimer === undefined) {
      this.stallTimer = setTimeout(stallDue, this.policy.limits.writeStallTimeout * 1000, this);
    }
  }

  /** The backlog timer fired (see writable): the queue goes on, or looks again, now. */
  checkBacklog(): void {
    this.backlogTimer = undefined;
    // While a 'drain' is due (a later write asked for a wait), that event pumps.
    if (this.connectionState === 'open' && this.stallTimer === undefined) this.attached?.outbox.pump();
  }

  /** Messages have waited for this client for `seconds` without one going out (Outbox.watchStall). */
  stalled(seconds: number): void {
    if (this.connectionState !== 'open') return;
    this.broker.logger.info(`${this.describe()}: no acknowledgement or read for ${seconds} s while messages wait: disconnected`);
    this.disconnect(ReasonCode.UnspecifiedError, `no acknowledgement for ${seconds} s while messages wait`);
  }

  /** The socket has not drained for writeStallTimeout. */
  writeStalled(): void {
    if (this.connectionState !== 'closed') this.abort('write stalled');
  }

  onDrain(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    if (this.connectionState === 'open') this.attached?.outbox.pump();
  }

  /**
   * The socket's backlog only: this tick's batch is bounded by the input read in one tick, and counting it would
   * make a healthy subscriber drop a burst. A false answer makes messages wait, so it also arranges the wake-up.
   */
  writable(): boolean {
    if (this.connectionState !== 'open') return false;
    if (this.stream.bufferedAmount < this.policy.limits.maxWriteBuffer) return true;
    // A 'drain' comes only after a write the stream asked to wait for; with a maxWriteBuffer below the stream's own
    // high-water mark the backlog can be over ours without that, and nothing would pump the queue: look again.
    if (this.stallTimer === undefined && this.backlogTimer === undefined) this.backlogTimer = setTimeout(backlogDue, BACKLOG_CHECK_MS, this);
    return false;
  }

  sendPublish(
    message: BrokerMessage,
    qos: QoS,
    retain: boolean,
    dup: boolean,
    packetId: number,
    subscriptionIds: number[] | undefined,
  ): boolean {
    const client = this.client;
    const version = client.version;
    let properties: Properties | undefined;
    let topic = message.topic;
    let newAlias = 0;
    if (version === 5) {
      properties = message.properties;
      let expiry = 0;
      // Once sent, a message is not expired: a resend (DUP) goes out even after its expiry.
      if (message.expiresAt !== undefined) {
        expiry = remainingExpiry(message, Date.now());
        if (expiry === 0 && !dup) return this.dropped('expired', message);
      }
      let alias = 0;
      const aliases = this.outgoingAliases;
      if (aliases !== undefined) {
        alias = aliases.aliasOf(topic);
        if (alias !== 0) topic = '';
        else alias = newAlias = aliases.nextAlias();
      }
      if (subscriptionIds !== undefined || expiry !== 0 || alias !== 0) {
        properties = properties === undefined ? {} : { ...properties };
        if (subscriptionIds !== undefined) properties.subscriptionIdentifiers = subscriptionIds;
        if (expiry !== 0) properties.messageExpiryInterval = expiry;
        if (alias !== 0) properties.topicAlias = alias;
      }
    } else if (message.expiresAt !== undefined && !dup && message.expiresAt <= Date.now()) {
      return this.dropped('expired', message);
    }
    const payload = message.payload;
    const fields = headFields;
    fields.topic = topic;
    fields.topicBytes = topic.length === 0 ? undefined : (message.topicBytes ?? Buffer.from(topic));
    fields.qos = qos;
    fields.retain = retain;
    fields.dup = dup;
    fields.packetId = qos === 0 ? undefined : packetId;
    fields.properties = properties;
    const head = encodePublishHead(fields, version, payload.length);
    fields.properties = undefined;
    fields.topicBytes = undefined;
    if (head.length + payload.length > client.maxPacketSize) return this.dropped('tooLarge', message);
    if (newAlias !== 0) this.outgoingAliases!.bind(message.topic, newAlias);
    this.out.push(head, payload);
    this.outBytes += head.length + payload.length;
    const stats = this.broker.stats;
    stats.messagesSent++;
    stats.publishSentByQos[qos]++;
    stats.publishBytesSentByQos[qos] += payload.length;
    const arrived = message.arrivedAt;
    if (arrived !== undefined && arrived !== 0 && !dup) stats.departed(arrived);
    if (stats.tap !== undefined) {
      stats.tap.packetOut(this.clientInfo(), { type: 'publish', topic: message.topic, payload, qos, retain, dup, packetId: qos === 0 ? undefined : packetId, properties });
    }
    this.scheduleWrite();
    return true;
  }

  /** A delivery dropped for this client (counted for its session); false for sendPublish to return. */
  private dropped(reason: 'expired' | 'tooLarge', message: BrokerMessage): false {
    const session = this.attached;
    if (session !== undefined) session.outbox.drop(reason, message.topic);
    else this.broker.stats.dropForSession(reason, this.client.clientId, message.topic);
    return false;
  }

  sendPubrel(packetId: number): void {
    this.sendAck('pubrel', packetId, ReasonCode.Success);
  }

  /** An acknowledgement whose state the store now holds (or will write again after a failure). */
  sendStoredAck(kind: AckKind, packetId: number, reasonCode: number): void {
    if (this.connectionState !== 'open') return;
    if (kind === 'puback' || kind === 'pubcomp' || reasonCode >= ReasonCode.UnspecifiedError) this.releaseInbound();
    this.sendAck(kind, packetId, reasonCode);
  }

  sendAck(kind: AckKind, packetId: number, reasonCode: number, reasonString?: string): void {
    if (this.client.version === 5 && reasonCode !== ReasonCode.Success) {
      if ((kind === 'puback' || kind === 'pubrec') && PUBACK_CODES[reasonCode] !== 1) reasonCode = ReasonCode.UnspecifiedError;
      const properties = reasonString !== undefined && this.client.problemInformation ? { reasonString } : undefined;
      this.send({ type: kind, packetId, reasonCode, properties });
      return;
    }
    // The four bytes every version shares (one per QoS 1/2 message): no packet object, no encoder pass, and no
    // buffer of its own until the batch is joined.
    this.broker.stats.tap?.packetOut(this.clientInfo(), { type: kind, packetId, reasonCode: ReasonCode.Success });
    this.write(ackChunk(ACK_FIRST_BYTE[kind], packetId), ACK_SIZE);
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
    connection.broker.internalError(`${what} of ${connection.describe()}`, err);
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

function backlogDue(connection: Connection): void {
  contained(connection, 'in the backlog timer', (c) => c.checkBacklog());
}

function deadlineDue(connection: Connection): void {
  contained(connection, 'in the credentials deadline timer', (c) => c.checkDeadline());
}

function pauseOver(connection: Connection): void {
  contained(connection, 'ending a rate-limit pause', (c) => c.release());
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
