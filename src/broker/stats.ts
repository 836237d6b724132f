import type { Packet, QoS } from '../packet/index.js';
import type { ClientInfo } from './hooks.js';

/**
 * Why a message did not reach a session (or anyone): `queueFull` (the session's queue at its limits, the
 * subscriber offline or the publisher not holdable), `stuckSubscriber` (the queue full and its client taking
 * nothing: see flow.ts), `tooLarge` (above the client's Maximum Packet Size), `expired` (Message Expiry Interval
 * passed while queued), `noSubscribers` (a client's message no session took), `notAuthorized` (refused by the
 * publish authorisation or sent to `$SYS`), `rejected` (refused by the publish hook or for an invalid payload),
 * `storeFailure` (refused because the store could not take it).
 */
export type DropReason = 'queueFull' | 'stuckSubscriber' | 'tooLarge' | 'expired' | 'noSubscribers' | 'notAuthorized' | 'rejected' | 'storeFailure';

/** Messages dropped, by reason (DropReason). */
export class DropCounts {
  queueFull = 0;
  stuckSubscriber = 0;
  tooLarge = 0;
  expired = 0;
  noSubscribers = 0;
  notAuthorized = 0;
  rejected = 0;
  storeFailure = 0;
}

/**
 * Sees packets and drops while someone watches (a live trace): set only then, so that otherwise the broker pays one
 * field check per packet. Calls are synchronous and must not throw or change what they are given.
 */
export interface BrokerTap {
  /** A packet read from a client (`client.clientId` is empty before CONNECT). */
  packetIn(client: ClientInfo, packet: Packet): void;
  /** A packet written to a client. */
  packetOut(client: ClientInfo, packet: Packet): void;
  /**
   * A message on `topic` dropped: for the session of `clientId` (queue full, stuck, too large, expired), or a
   * PUBLISH of the client `clientId` that no session got (refused, no subscribers).
   */
  dropped(clientId: string, topic: string, reason: DropReason): void;
}

/** Timings for histograms (metrics): called per store batch and per sampled delivery, never per message unsampled. */
export interface BrokerMeters {
  /** A store batch of `operations` written (or failed) in `seconds`. */
  storeBatch(operations: number, seconds: number): void;
  /** A sampled message went out to a subscriber `seconds` after its PUBLISH was read. */
  delivered(seconds: number): void;
}

/**
 * Arrival stamps are whole microseconds modulo 2^30 (about 18 minutes), never 0 (0 means not stamped): small
 * integers, because a fractional time in `arrivedAt` made V8 change the field of every message object to a boxed
 * double the moment metrics were attached (seen with --trace-generalization).
 */
const STAMP_MASK = 0x3fffffff;

function arrivalStamp(): number {
  return (performance.now() * 1000) & STAMP_MASK || 1;
}

/** One message in this many from clients is timed from arrival to each of its deliveries while meters are set. */
const LATENCY_SAMPLE = 16;

/** Counters behind `$SYS` and `broker.stats`; plain fields so the hot path only increments numbers. */
export class BrokerStats {
  readonly startedAt = Date.now();
  clientsConnected = 0;
  clientsMaximum = 0;
  clientsExpired = 0;
  connectionsTotal = 0;
  /** All packets received / sent. */
  messagesReceived = 0;
  messagesSent = 0;
  /** PUBLISH packets and their payload bytes, by QoS. */
  readonly publishReceivedByQos: [number, number, number] = [0, 0, 0];
  readonly publishSentByQos: [number, number, number] = [0, 0, 0];
  readonly publishBytesReceivedByQos: [number, number, number] = [0, 0, 0];
  readonly publishBytesSentByQos: [number, number, number] = [0, 0, 0];
  /**
   * Messages dropped for a session: its queue was full (or its subscriber stuck), or the message was too large for
   * the client or expired before it went out. Broken down with the other reasons in `dropped`.
   */
  publishDropped = 0;
  readonly dropped = new DropCounts();
  bytesReceived = 0;
  bytesSent = 0;
  /** CONNACKs refusing a connection, by reason code. */
  readonly refused = new Map<number, number>();
  /** Connections closed by the `acceptConnection` hook before a byte was read (rate limits, bans). */
  refusedByHook = 0;
  /** Failed authentications (each refusal of a CONNECT or re-authentication for its credentials). */
  authFailures = 0;
  /** Exceptions caught on a connection's or timer's path (a bug, or a throwing event listener): logged, contained. */
  internalErrors = 0;
  tap: BrokerTap | undefined = undefined;
  meters: BrokerMeters | undefined = undefined;
  private sampleCountdown = LATENCY_SAMPLE;

  get publishReceived(): number {
    const q = this.publishReceivedByQos;
    return q[0] + q[1] + q[2];
  }

  get publishSent(): number {
    const q = this.publishSentByQos;
    return q[0] + q[1] + q[2];
  }

  get publishBytesReceived(): number {
    const q = this.publishBytesReceivedByQos;
    return q[0] + q[1] + q[2];
  }

  get publishBytesSent(): number {
    const q = this.publishBytesSentByQos;
    return q[0] + q[1] + q[2];
  }

  /** A PUBLISH read from a client. */
  received(qos: QoS, bytes: number): void {
    this.publishReceivedByQos[qos]++;
    this.publishBytesReceivedByQos[qos] += bytes;
  }

  /** The stamp for an arriving message: `arrivalStamp()` for one in LATENCY_SAMPLE while meters are set, else 0. */
  arrival(): number {
    if (this.meters === undefined || --this.sampleCountdown > 0) return 0;
    this.sampleCountdown = LATENCY_SAMPLE;
    return arrivalStamp();
  }

  /** A copy of a message stamped by `arrival()` went out: its delay, to the meters. */
  departed(stamp: number): void {
    this.meters?.delivered(((arrivalStamp() - stamp) & STAMP_MASK) / 1e6);
  }

  /** A message dropped for the session of `clientId`: counted in `publishDropped` too. */
  dropForSession(reason: 'queueFull' | 'stuckSubscriber' | 'tooLarge' | 'expired', clientId: string, topic: string): void {
    this.dropped[reason]++;
    this.publishDropped++;
    this.tap?.dropped(clientId, topic, reason);
  }

  /** A PUBLISH of the client `clientId` that no session got: refused, or no one subscribed. */
  dropPublished(reason: 'noSubscribers' | 'notAuthorized' | 'rejected' | 'storeFailure', clientId: string, topic: string): void {
    this.dropped[reason]++;
    this.tap?.dropped(clientId, topic, reason);
  }

  /** A CONNACK refusing a connection with this reason code. */
  refusal(reasonCode: number): void {
    this.refused.set(reasonCode, (this.refused.get(reasonCode) ?? 0) + 1);
  }
}
