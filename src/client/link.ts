/**
 * One network connection of the client and its event loop: the stream and the parser, write batching, read
 * gathering, keepalive and the credential-renewal timer, and what the broker's CONNACK allowed on it. It decides
 * nothing about the session: packets go to its `LinkOwner` (the client), which answers through the session.
 */
import {
  encode,
  encodePublishHead,
  PacketError,
  PacketParser,
  ReasonCode,
  type ConnackPacket,
  type DisconnectPacket,
  type Packet,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
} from '../packet/index.js';
import type { ByteStream } from '../transport/browser.js';
import { atTickEnd } from '../transport/internal.js';
import { ConnectionLostError, PacketTooLargeError, PublishError } from './errors.js';
import { Fifo } from './fifo.js';
import { BLAME_WINDOW_MS, closedAfterPublish, closedBeforeAnswer, foreignProtocol } from './lost-cause.js';
import type { DeferredAck } from './message-iterator.js';
import { MAX_TIMER_MS, renewalDelay } from './renewal.js';
import type { SessionLink } from './session.js';
import { monotonicNow, type CancelTimer, type Timers } from './timers.js';
import { IncomingAliases, OutgoingAliases } from './topic-alias.js';

/** Payloads from this size on are written as they are, after a separately encoded head. */
const SPLIT_PAYLOAD = 4096;
/** Held QoS 1/2 PUBLISHes are written once they number at least 1/COALESCE of those sent and unanswered. */
const COALESCE = 4;
/** The longest a QoS 1/2 PUBLISH is held for a batch, in ms (Node's shortest timer). */
const HOLD_MS = 1;
/**
 * Publishes in flight from which reading pauses while their answers arrive (see gatherAnswers). A paused read
 * gathers at most what is in flight per timer tick (1-1.3 ms); read answer by answer, a QoS 1 publish costs about
 * 10 µs of CPU, about 100 per ms: from 100 in flight, gathering does not hold back a publisher to a fast broker.
 */
const GATHER_MIN = 100;

function ignore(): void {}

/** What a link reports to the client that drives it. */
export interface LinkOwner {
  /** QoS 1/2 publishes sent and not yet answered: batching and gathering depend on it. */
  readonly inflightCount: number;
  /** A packet arrived (while `verifying` is false). */
  handle(link: Link, packet: Packet): void;
  /** The link has to end with `error`: the stream closed, the broker went silent or broke the protocol. */
  fail(link: Link, error: Error): void;
  /** The credentials of this connection are about to expire. */
  renew(link: Link): void;
  /** A packet was encoded and queued for writing (the `packetsend` event). */
  sent(packet: Packet): void;
}

export interface LinkSettings {
  protocolVersion: ProtocolVersion;
  /** Our Maximum Packet Size: larger packets from the broker are refused by the parser. */
  maxPacketSize: number | undefined;
  /** Our Topic Alias Maximum. */
  topicAliasMaximum: number;
  /** In-flight QoS 1/2 publishes at most, until the CONNACK's Receive Maximum lowers it. */
  sendQuota: number;
  /** Keepalive timers (a browser's worker timers); the write path's short timers stay on this thread. */
  timers: Timers;
}

export class Link implements SessionLink {
  stream: ByteStream | undefined;
  connected = false;
  closed = false;
  readonly handshake: Promise<ConnackPacket>;
  settleHandshake!: { resolve: (connack: ConnackPacket) => void; reject: (error: Error) => void };
  /**
   * The packets after the CONNACK wait: its authentication data is being checked (`onAuthSuccess`), or the program
   * that awaited the connection has yet to attach its listeners (`readAfterConnack`).
   */
  verifying = false;
  drainWaiters: Array<() => void> = [];
  writable = true;
  // Limits from CONNACK.
  sendQuota: number;
  maxPacketSize = Infinity;
  maxQoS: QoS = 2;
  retainAvailable = true;
  readonly aliasesOut = new OutgoingAliases();
  readonly aliasesIn: IncomingAliases;
  /** When the broker accepted the connection (`monotonicNow`). */
  acceptedAt = 0;
  /** The client is leaving on purpose to renew its credentials: reconnect at once. */
  renewing = false;
  /** A re-authentication in progress (MQTT 5 AUTH), settled by the exchange or by the close. */
  reauth: { resolve: () => void; reject: (error: Error) => void } | undefined;
  /** Acknowledgements of received messages, in arrival order, while some are held by `messages()` loops. */
  readonly acks = new Fifo<DeferredAck>();
  readonly closedPromise: Promise<void>;
  private markClosed!: () => void;

  private readonly parser: PacketParser;
  private readonly version: ProtocolVersion;
  private readonly timers: Timers;
  /** Encoded packets waiting for the end of the current task, to go out in one write. */
  private out: Uint8Array[] = [];
  /** QoS 1/2 PUBLISHes in `out`: they may wait for a bigger batch. */
  private held = 0;
  /** The next flush holds nothing back: `out` has a packet other than a QoS 1/2 PUBLISH, or answers came late. */
  private urgent = false;
  private flushScheduled = false;
  /** Writes held publishes whatever the answers: armed while some are held, so none waits longer than that. */
  private holdTimer: ReturnType<typeof setTimeout> | undefined;
  /** Reading is paused until it fires, while answers to our publishes gather (see `gatherAnswers`). */
  private readTimer: ReturnType<typeof setTimeout> | undefined;
  /** Reading resumed after such a pause and nothing was read since. */
  private resumed = false;
  /** DISCONNECT was queued: nothing more may be written (MQTT-3.14.4-1). */
  private sealed = false;
  /** The first bytes from the server, kept until CONNACK to say what it speaks if it is not MQTT. */
  private head: Uint8Array | undefined;
  /** Size of the last packet queued when it was a PUBLISH (0 otherwise): what a silent close is blamed on. */
  private lastPublishSize = 0;
  /** When that PUBLISH was queued (`monotonicNow`). */
  private lastPublishAt = 0;
  /** Reconnects with fresh credentials before the current ones expire (`credentialsExpireAt`). */
  private renewTimer: ReturnType<typeof setTimeout> | undefined;
  // Keepalive, timed from what arrives (see `keepaliveCheck`); times from `monotonicNow`.
  private cancelKeepalive: CancelTimer | undefined;
  private keepaliveMs = 0;
  /** When bytes last arrived from the broker. */
  private lastReceived = 0;
  /** When bytes were last written to the broker. */
  private lastSent = 0;
  /** When the last PINGREQ was sent. */
  private pingSent = -Infinity;

  constructor(
    private readonly owner: LinkOwner,
    settings: LinkSettings,
  ) {
    this.version = settings.protocolVersion;
    this.timers = settings.timers;
    this.sendQuota = settings.sendQuota;
    this.parser = new PacketParser({ protocolVersion: settings.protocolVersion });
    if (settings.maxPacketSize !== undefined) this.parser.maxPacketSize = settings.maxPacketSize;
    this.aliasesIn = new IncomingAliases(settings.topicAliasMaximum);
    this.handshake = new Promise((resolve, reject) => (this.settleHandshake = { resolve, reject }));
    this.handshake.catch(ignore);
    this.closedPromise = new Promise((resolve) => (this.markClosed = resolve));
  }

  get aliasMax(): number {
    return this.aliasesOut.max;
  }

  /** The broker accepted the connection: take the limits its CONNACK states. */
  accepted(connack: ConnackPacket, autoTopicAlias: boolean): void {
    this.connected = true;
    this.acceptedAt = monotonicNow();
    const properties = connack.properties;
    if (!properties) return;
    if (properties.receiveMaximum !== undefined) this.sendQuota = Math.min(this.sendQuota, properties.receiveMaximum);
    if (properties.maximumPacketSize !== undefined) this.maxPacketSize = properties.maximumPacketSize;
    if (properties.maximumQoS !== undefined) this.maxQoS = properties.maximumQoS;
    if (properties.retainAvailable !== undefined) this.retainAvailable = properties.retainAvailable;
    if (properties.topicAliasMaximum !== undefined && autoTopicAlias) {
      this.aliasesOut.max = properties.topicAliasMaximum;
    }
  }

  /** Starts reading from the dialled stream. */
  attach(stream: ByteStream): void {
    this.stream = stream;
    stream.start({
      data: (chunk) => this.onData(chunk),
      drain: () => this.onDrain(),
      close: (error) => this.owner.fail(this, error ?? new ConnectionLostError(this.closeReason())),
    });
  }

  /**
   * Marks the link closed and stops everything it runs: timers, the stream, the handshake and a re-authentication
   * (rejected with `error`), QoS 0 publishes waiting for the stream to drain. False when it was closed already.
   */
  close(error: Error): boolean {
    if (this.closed) return false;
    this.closed = true;
    this.markClosed();
    this.cancelKeepalive?.();
    if (this.holdTimer !== undefined) clearTimeout(this.holdTimer);
    if (this.readTimer !== undefined) clearTimeout(this.readTimer);
    if (this.renewTimer !== undefined) clearTimeout(this.renewTimer);
    this.stream?.destroy();
    this.settleHandshake.reject(error);
    this.reauth?.reject(error);
    for (const waiter of this.drainWaiters) waiter();
    this.drainWaiters = [];
    return true;
  }

  /** Leaves the broker with `error`, sending DISCONNECT with `reasonCode` first (MQTT 5) if it accepted us. */
  abandon(reasonCode: number, error: Error, accepted: boolean): void {
    if (accepted && this.version === 5) this.sendDisconnect({ type: 'disconnect', reasonCode });
    this.owner.fail(this, error);
  }

  /** Closes the link after a protocol error by the broker, telling it why (MQTT 5) once it accepted us. */
  protocolViolation(reasonCode: number, message: string, accepted = this.connected): void {
    this.abandon(reasonCode, new ConnectionLostError(message, reasonCode), accepted);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Reading

  /** Why the broker closed the connection, as far as can be told. */
  private closeReason(): string {
    if (this.connected && this.version !== 5 && this.lastPublishSize > 0 && monotonicNow() - this.lastPublishAt < BLAME_WINDOW_MS) {
      return closedAfterPublish(this.lastPublishSize);
    }
    if (!this.connected && this.head === undefined) return closedBeforeAnswer();
    return 'connection closed by the broker';
  }

  private onData(chunk: Uint8Array): void {
    if (this.closed) return;
    if (!this.connected && this.head === undefined) this.head = chunk.slice(0, 8);
    this.lastReceived = monotonicNow();
    this.parser.push(chunk);
    if (!this.verifying) this.readPackets();
  }

  /** Handles the packets parsed so far, stopping while a CONNACK's authentication is being checked. */
  readPackets(): void {
    const parser = this.parser;
    let answers = 0;
    let messages = false;
    for (;;) {
      let packet: Packet | null;
      try {
        packet = parser.next();
      } catch (error) {
        const code = error instanceof PacketError ? error.reasonCode : ReasonCode.MalformedPacket;
        const foreign = this.connected || this.head === undefined ? undefined : foreignProtocol(this.head);
        this.protocolViolation(code, foreign ?? (error as Error).message);
        return;
      }
      if (packet === null) {
        // Answers that arrived may let publishes held for a batch go.
        if (this.held > 0) this.scheduleFlush();
        this.gatherAnswers(answers, messages);
        return;
      }
      if (packet.type === 'puback' || packet.type === 'pubcomp') answers++;
      else if (packet.type === 'publish') messages = true;
      if (this.inOrder(packet)) this.owner.handle(this, packet);
      if (this.closed || this.verifying) return;
      if (packet.type === 'connack' && this.connected) {
        this.readAfterConnack();
        return;
      }
    }
  }

  /**
   * Reads what came with the CONNACK (a resumed session's queued messages, typically in the same read) on the next
   * turn of the event loop: `await connect(...)` resumes the program first, so the `message` listener it attaches
   * next hears them instead of their being acknowledged to nobody.
   */
  readAfterConnack(): void {
    this.verifying = true;
    // A timer, not setImmediate: the browser build runs this too.
    setTimeout(() => {
      this.verifying = false;
      if (!this.closed) this.readPackets();
    }, 0);
  }

  /** A connection starts with one CONNACK (after AUTH exchanges); anything else before it breaks the protocol. */
  private inOrder(packet: Packet): boolean {
    const type = packet.type;
    let problem: string | undefined;
    if (this.connected) {
      if (type === 'connack') problem = 'second CONNACK';
    } else if (type !== 'connack' && type !== 'auth' && type !== 'disconnect') {
      problem = `${type} before CONNACK`;
    }
    if (problem === undefined) return true;
    this.protocolViolation(ReasonCode.ProtocolError, problem);
    return false;
  }

  /**
   * After a read that brought answers to our publishes and nothing else, while many are in flight: reading pauses
   * for HOLD_MS so that the next answers are read together, instead of waking the process for every one or two (a
   * broker may send each PUBACK in its own segment). Per QoS 1 publish, that wake-up and read cost more than all
   * the JavaScript (docs/benchmarks.md, "Client optimisations"). No pause with few in flight (a lone publish is
   * answered at once), nor again right after a pause that gathered few: the broker may be holding its answers back
   * until our TCP acknowledgement (Nagle's algorithm, Mosquitto's default), which rides on our next write.
   */
  private gatherAnswers(answers: number, messages: boolean): void {
    const resumed = this.resumed;
    this.resumed = false;
    if (answers === 0 || messages) return;
    if (resumed && answers * COALESCE < GATHER_MIN) {
      // The publishes these answers let go leave at once, and our TCP acknowledgement with them.
      this.urgent = true;
      return;
    }
    const stream = this.stream;
    if (this.owner.inflightCount + answers < GATHER_MIN || this.readTimer !== undefined) return;
    if (!stream?.pausesAtOnce) return;
    stream.pause();
    this.readTimer = setTimeout(this.resumeReading, HOLD_MS);
  }

  private readonly resumeReading = (): void => {
    this.readTimer = undefined;
    this.resumed = true;
    if (!this.closed) this.stream?.resume();
  };

  // ---------------------------------------------------------------------------------------------------------------
  // Writing

  send(packet: Packet): void {
    const bytes = encode(packet, this.version);
    this.owner.sent(packet);
    this.lastPublishSize = 0;
    this.write(bytes, false);
  }

  /** Queues `packet` encoded already (the CONNECT, encoded before dialing so that what cannot be sent fails first). */
  sendEncoded(bytes: Uint8Array, packet: Packet): void {
    this.owner.sent(packet);
    this.write(bytes, false);
  }

  /**
   * Encodes and queues one PUBLISH (with a topic alias when the broker takes them); returns the error instead when
   * it cannot go.
   */
  sendPublish(packet: PublishPacket): Error | undefined {
    if (this.aliasesOut.max > 0) this.aliasesOut.apply(packet);
    // A large payload is not copied: the head is encoded alone and both go out together.
    const payload = packet.payload;
    const split = payload.length >= SPLIT_PAYLOAD;
    let bytes: Uint8Array;
    try {
      bytes = split ? encodePublishHead(packet, this.version, payload.length) : encode(packet, this.version);
    } catch (error) {
      return error instanceof PacketError ? new PublishError(error.reasonCode, error.message) : (error as Error);
    }
    const size = split ? bytes.length + payload.length : bytes.length;
    if (size > this.maxPacketSize) return new PacketTooLargeError(size, this.maxPacketSize);
    this.owner.sent(packet);
    this.lastPublishSize = size;
    this.lastPublishAt = monotonicNow();
    this.write(bytes, packet.qos > 0, split ? payload : undefined);
    return undefined;
  }

  /** Writes DISCONNECT at once; nothing may follow it on this connection (MQTT-3.14.4-1). */
  sendDisconnect(disconnect: DisconnectPacket): void {
    this.send(disconnect);
    this.sealed = true;
    this.flush();
  }

  /**
   * Queues one encoded packet (`tail`: its payload, when written apart); everything queued in one task goes out in
   * a single write. `publish` marks a QoS 1/2 PUBLISH, which may wait for a bigger batch (see flush).
   */
  private write(bytes: Uint8Array, publish: boolean, tail?: Uint8Array): void {
    if (this.sealed) return;
    this.out.push(bytes);
    if (tail) this.out.push(tail);
    if (publish) this.held++;
    else this.urgent = true;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    atTickEnd(this.flush);
  }

  /**
   * Writes what was queued. QoS 1/2 PUBLISHes wait while they are few next to those already sent and unanswered:
   * those answers are on their way, and each arriving read lets a bigger batch go. One system call then carries
   * dozens of publishes instead of one or two (docs/benchmarks.md, "Client optimisations"). A publish goes at
   * once when nothing is awaiting an answer, so a lone publish is never delayed, and a held one goes after HOLD_MS
   * at the latest (a slow or distant broker's answers do not hold it back for a round trip).
   */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    const chunks = this.out;
    if (chunks.length === 0) return;
    if (!this.urgent && this.held * COALESCE < this.owner.inflightCount - this.held) {
      this.holdTimer ??= setTimeout(this.writeHeld, HOLD_MS);
      return;
    }
    if (this.holdTimer !== undefined) {
      clearTimeout(this.holdTimer);
      this.holdTimer = undefined;
    }
    this.out = [];
    this.held = 0;
    this.urgent = false;
    if (this.closed || !this.stream) return;
    this.lastSent = monotonicNow();
    this.writable = this.stream.write(chunks);
  };

  /** The hold timer fired: what is held goes now, answers or not. */
  private readonly writeHeld = (): void => {
    this.holdTimer = undefined;
    if (this.out.length === 0) return;
    this.urgent = true;
    this.flush();
  };

  private onDrain(): void {
    this.writable = true;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const waiter of waiters) waiter();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Keepalive and credential renewal

  startKeepalive(seconds: number): void {
    if (seconds <= 0) return;
    this.keepaliveMs = seconds * 1000;
    this.lastReceived = this.lastSent = monotonicNow();
    this.cancelKeepalive = this.timers.schedule(this.keepaliveCheck, this.keepaliveMs);
  }

  /**
   * Keepalive is timed from what arrives, so that a dead path is noticed however much the application writes
   * into it: PINGREQ when nothing has arrived for a keepalive period (or nothing was sent for one, MQTT-3.1.2-23),
   * and the connection is dead when nothing has arrived for 1.5 periods, the bound a broker applies to us.
   */
  private readonly keepaliveCheck = (): void => {
    this.cancelKeepalive = undefined;
    if (this.closed) return;
    const period = this.keepaliveMs;
    const now = monotonicNow();
    const silent = now - this.lastReceived;
    if (silent >= period * 1.5) {
      const error = new ConnectionLostError(
        `nothing received from the broker for ${(silent / 1000).toFixed(1)} s (keepalive ${period / 1000} s)`,
        ReasonCode.KeepAliveTimeout);
      this.abandon(ReasonCode.KeepAliveTimeout, error, true);
      return;
    }
    // A PINGREQ is unanswered while nothing arrived since it went.
    let pinging = this.pingSent >= this.lastReceived;
    if (!pinging && (silent >= period || now - this.lastSent >= period)) {
      this.send({ type: 'pingreq' });
      this.pingSent = this.lastSent = now;
      pinging = true;
    }
    let next = Math.min(this.lastReceived + period * 1.5, this.lastSent + period);
    if (!pinging) next = Math.min(next, this.lastReceived + period);
    // Timers may fire a little early; a short floor keeps that from spinning.
    this.cancelKeepalive = this.timers.schedule(this.keepaliveCheck, Math.max(next - now, 10));
  };

  /** Tells the owner to renew before credentials that expire at `expiresAt` (epoch ms) do. */
  scheduleRenewal(expiresAt: number | undefined, renewBefore: number | undefined): void {
    const delay = renewalDelay(expiresAt, Date.now(), renewBefore);
    if (delay === undefined) return;
    // A renewal further away than a timer can wait is reached in steps.
    const step = Math.min(delay, MAX_TIMER_MS);
    this.renewTimer = setTimeout(() => {
      this.renewTimer = undefined;
      if (step < delay) this.scheduleRenewal(expiresAt, renewBefore);
      else this.owner.renew(this);
    }, step);
    this.renewTimer.unref?.();
  }
}
