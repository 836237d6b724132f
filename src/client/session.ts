/**
 * The client's MQTT session as a state machine, with no socket, timer or promise in it: the publishes in flight
 * and those waiting, the SUBSCRIBE/UNSUBSCRIBE awaiting their acknowledgement, the subscriptions to make again,
 * packet ids, received QoS 2 ids, what a CONNACK resumes or starts over, and delivery attempts. Its methods take a
 * request from the application or a packet from the broker. What must go to the broker is handed to the
 * `SessionLink` of the accepted connection; requests settle through the functions they carry; store changes and
 * reports go to the `SessionOwner`. One step may send many packets (a PUBACK lets waiting publishes go, a CONNACK
 * resends the session) and whether a PUBLISH can go depends on its encoded size, which the link knows: so packets
 * are handed over as they are made instead of being returned in a list. Tests drive it with recording fakes.
 */
import {
  IdTable,
  ReasonCode,
  type Packet,
  type Properties,
  type ProtocolVersion,
  type PubackPacket,
  type PubcompPacket,
  type PublishPacket,
  type PubrecPacket,
  type PubrelPacket,
  type QoS,
  type SubackPacket,
  type Subscription,
  type SubscribePacket,
  type UnsubackPacket,
  type UnsubscribePacket,
} from '../packet/index.js';
import { DeliveryError, PublishError, QueueFullError, ResubscribeError } from './errors.js';
import { Fifo } from './fifo.js';
import type { StoredMessage } from './store.js';

/** The acknowledgement a publish resolves with: PUBACK (QoS 1), PUBCOMP (QoS 2), nothing for QoS 0. */
export type PublishAck = PubackPacket | PubcompPacket | undefined;

export type OutgoingMessage = Omit<StoredMessage, 'qos'> & { qos: QoS };

/** A publish of the application (or one loaded from the store, with nothing to settle). */
export interface Outgoing {
  message: OutgoingMessage;
  /** Connections lost while this message was the oldest awaiting its acknowledgement. */
  losses: number;
  resolve: ((ack: PublishAck) => void) | undefined;
  reject: ((error: Error) => void) | undefined;
}

export type RequestPacket = SubscribePacket | UnsubscribePacket;

export interface ResubscribeResult {
  topicFilter: string;
  reasonCode: number;
}

/** The packets from the broker that the session answers. */
export type SessionPacket = PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket | SubackPacket | UnsubackPacket;

/** The accepted connection, as the session sees it: the broker's limits, and a way to send. */
export interface SessionLink {
  /** QoS 1/2 publishes that may await their acknowledgement: `maxInflight`, the broker's Receive Maximum. */
  readonly sendQuota: number;
  readonly maxQoS: QoS;
  readonly retainAvailable: boolean;
  /** The highest outgoing topic alias the broker takes (0: none). */
  readonly aliasMax: number;
  send(packet: Packet): void;
  /** Sends a PUBLISH, or returns why it cannot go (larger than the broker takes, not encodable) instead. */
  sendPublish(packet: PublishPacket): Error | undefined;
}

/** What the session tells the client besides packets: store changes and reports for the application. */
export interface SessionOwner {
  storePut(message: StoredMessage): void;
  storeDelete(id: number): void;
  /** Every SUBACK of a resubscription arrived: the code per filter. */
  resubscribed(results: ResubscribeResult[]): void;
  /** The broker refused a filter when subscribing again; it is no longer among the subscriptions. */
  resubscribeRefused(error: ResubscribeError): void;
}

export interface SessionSettings {
  protocolVersion: ProtocolVersion;
  /** Lost connections a message may be blamed for before it is given up (`maxDeliveryAttempts`). */
  maxDeliveryAttempts: number;
  /** Publishes that may wait (`queueLimit`). */
  queueLimit: number;
  /** Subscribe again after a connection without the session (`resubscribe`). */
  resubscribe: boolean;
}

/** The SUBSCRIBE packets of one resubscription and the answers gathered so far. */
interface Resubscription {
  unanswered: number;
  results: ResubscribeResult[];
}

interface PendingRequest {
  packet: RequestPacket;
  /** Resubscriptions made by the session itself: dropped when the connection is lost, made again after. */
  internal: Resubscription | undefined;
  resolve: ((codes: number[]) => void) | undefined;
  reject: ((error: Error) => void) | undefined;
}

interface KnownSubscription {
  subscription: Subscription;
  properties: Properties | undefined;
}

const MAX_PACKET_ID = 65535;
/** Reason codes from 0x80 on report a failure (MQTT 5.0 section 2.4); a missing code counts as one. */
const FAILURE = ReasonCode.UnspecifiedError;

/** What the broker said in CONNACK it does not support (MQTT-3.2.2-11, MQTT-3.2.2-14). */
function refusal(link: SessionLink, message: OutgoingMessage): Error | undefined {
  if (message.qos > link.maxQoS) {
    return new PublishError(ReasonCode.QoSNotSupported, `the broker accepts QoS ${link.maxQoS} at most`);
  }
  if (message.retain && !link.retainAvailable) {
    return new PublishError(ReasonCode.RetainNotSupported, 'the broker does not retain messages');
  }
  const alias = message.properties?.topicAlias;
  if (alias !== undefined && (alias < 1 || alias > link.aliasMax)) {
    const range = `the broker's 1-${link.aliasMax}`;
    return new PublishError(ReasonCode.TopicAliasInvalid, `topic alias ${alias} is outside ${range}`);
  }
  return undefined;
}

/** Publishes in the order they were made (their message ids grow). */
const bySent = (a: Outgoing, b: Outgoing): number => a.message.id - b.message.id;

export class ClientSession {
  /** The connection the broker accepted, while there is one: nothing is sent without it. */
  private link: SessionLink | undefined;
  /** The store's messages are loaded: from then on a message gets its store id when it is published. */
  private isLoaded = false;
  private nextMessageId = 1;
  private nextPacketId = 0;
  /**
   * Outgoing QoS 1/2 publishes sent and not yet completed, by packet id. Not a Map: one that churns can keep every
   * message it ever held alive until a full collection (IdTable).
   */
  private readonly inflight = new IdTable<Outgoing>();
  /** Publishes waiting for a connection or for the broker's Receive Maximum, in order. */
  private readonly waiting = new Fifo<Outgoing>();
  /**
   * Packet ids of messages given up while the broker may still hold them in our session: not reused until a
   * connection starts a new session (the broker would take a new QoS 2 message under one for the old one).
   */
  private readonly retiredIds = new Set<number>();
  /** SUBSCRIBE and UNSUBSCRIBE waiting for their acknowledgement, by packet id. */
  private readonly requests = new Map<number, PendingRequest>();
  private readonly subscriptions = new Map<string, KnownSubscription>();
  /**
   * Received QoS 2 packet ids the broker has not released (PUBREL): false until the message was taken, true once
   * PUBREC went out.
   */
  private readonly incomingQos2 = new Map<number, boolean>();

  constructor(
    private readonly settings: SessionSettings,
    private readonly owner: SessionOwner,
  ) {}

  get loaded(): boolean {
    return this.isLoaded;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Outgoing publishes not yet completed (in flight plus waiting). */
  get pendingCount(): number {
    return this.inflight.size + this.waiting.length;
  }

  /** Something awaits the broker: a publish in flight or waiting, a SUBSCRIBE or UNSUBSCRIBE. */
  get busy(): boolean {
    return this.inflight.size > 0 || this.waiting.length > 0 || this.requests.size > 0;
  }

  /** Connected, and no publish waits: one made now goes at once (QoS 1/2 if the in-flight window has room). */
  get ready(): boolean {
    return this.link !== undefined && this.waiting.length === 0;
  }

  /**
   * Takes over what a previous client left in the store, ahead of anything published meanwhile (which gets its
   * store id and record only now, so that no id is used twice).
   */
  restore(stored: StoredMessage[]): void {
    const early = this.waiting.drain();
    for (const message of stored) {
      this.nextMessageId = Math.max(this.nextMessageId, message.id + 1);
      const outgoing: Outgoing = { message, losses: 0, resolve: undefined, reject: undefined };
      if (message.packetId !== undefined && !this.inflight.has(message.packetId)) {
        this.inflight.set(message.packetId, outgoing);
      } else {
        delete message.packetId;
        this.waiting.push(outgoing);
      }
    }
    this.isLoaded = true;
    for (const outgoing of early) {
      if (outgoing.message.qos > 0) {
        outgoing.message.id = this.nextMessageId++;
        this.owner.storePut(outgoing.message as StoredMessage);
      }
      this.waiting.push(outgoing);
    }
  }

  /** The store id of a new message: none for QoS 0, nor before the store is loaded (`restore` gives it one). */
  messageId(qos: QoS): number {
    return qos === 0 || !this.isLoaded ? 0 : this.nextMessageId++;
  }

  /** The error for a new publish that would have to wait while `queueLimit` publishes wait already. */
  queueFull(qos: QoS): QueueFullError | undefined {
    if (this.sendsAtOnce(qos) || this.waiting.length < this.settings.queueLimit) return undefined;
    return new QueueFullError(this.settings.queueLimit);
  }

  private sendsAtOnce(qos: QoS): boolean {
    return this.ready && (qos === 0 || this.inflight.size < this.link!.sendQuota);
  }

  /** Sends a QoS 0 message at once (when `ready`); returns why it could not go. */
  publishNow(message: OutgoingMessage): Error | undefined {
    return refusal(this.link!, message) ?? this.sendPublish(this.link!, message, false);
  }

  /** Sends a publish now if it may go, else queues it (and records a QoS 1/2 message in the store). */
  publish(outgoing: Outgoing): void {
    if (this.sendsAtOnce(outgoing.message.qos)) {
      this.transmit(this.link!, outgoing);
      return;
    }
    if (outgoing.message.qos > 0 && this.isLoaded) this.owner.storePut(outgoing.message as StoredMessage);
    this.waiting.push(outgoing);
  }

  /** Sends a queued or new publish: checks the broker's limits, gives QoS 1/2 a packet id and records it in flight. */
  private transmit(link: SessionLink, outgoing: Outgoing): void {
    const message = outgoing.message;
    let error = refusal(link, message);
    if (message.qos === 0) {
      error ??= this.sendPublish(link, message, false);
      if (error) outgoing.reject?.(error);
      else outgoing.resolve?.(undefined);
      return;
    }
    if (!error) {
      message.packetId = this.allocatePacketId();
      error = this.sendPublish(link, message, false);
    }
    if (error) {
      delete message.packetId;
      this.owner.storeDelete(message.id);
      outgoing.reject?.(error);
      return;
    }
    this.inflight.set(message.packetId!, outgoing);
    this.owner.storePut(message as StoredMessage);
  }

  private sendPublish(link: SessionLink, message: OutgoingMessage, dup: boolean): Error | undefined {
    const packet: PublishPacket = {
      type: 'publish',
      topic: message.topic,
      payload: message.payload,
      qos: message.qos,
      retain: message.retain,
      dup,
    };
    if (message.packetId !== undefined) packet.packetId = message.packetId;
    if (message.properties) packet.properties = message.properties;
    return link.sendPublish(packet);
  }

  /** Sends waiting publishes while the in-flight window allows, in order. */
  private pump(): void {
    const link = this.link;
    if (!link) return;
    for (;;) {
      const next = this.waiting.peek();
      if (!next || (next.message.qos > 0 && this.inflight.size >= link.sendQuota)) break;
      this.waiting.shift();
      this.transmit(link, next);
    }
  }

  /** A packet id used by nothing in flight, no pending request, and no message given up in this session. */
  allocatePacketId(): number {
    for (let i = 0; i < MAX_PACKET_ID; i++) {
      this.nextPacketId = (this.nextPacketId % MAX_PACKET_ID) + 1;
      const id = this.nextPacketId;
      if (!this.inflight.has(id) && !this.requests.has(id) && !this.retiredIds.has(id)) return id;
    }
    throw new QueueFullError(MAX_PACKET_ID);
  }

  /** Registers a SUBSCRIBE/UNSUBSCRIBE (its id from `allocatePacketId`): sent now if connected, else on CONNACK. */
  track(packet: RequestPacket, resolve: (codes: number[]) => void, reject: (error: Error) => void): void {
    this.requests.set(packet.packetId, { packet, internal: undefined, resolve, reject });
    this.link?.send(packet);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The connection

  /** The broker accepted a connection: from now on packets go to `link`. */
  online(link: SessionLink): void {
    this.link = link;
  }

  /**
   * Right after `online`: with the session present, finishes the interrupted flows under their packet ids (DUP
   * publishes, PUBREL for those the broker answered with PUBREC); without it, starts over: subscribes again,
   * and sends unfinished messages as new ones. Then the pending requests, and waiting publishes as the window allows.
   */
  resume(sessionPresent: boolean): void {
    const link = this.link;
    if (!link) return;
    for (const [id, request] of this.requests) if (request.internal) this.requests.delete(id);
    const resend = this.inflight.values().sort(bySent);
    if (sessionPresent) {
      for (const outgoing of resend) {
        const message = outgoing.message;
        if (message.released) link.send({ type: 'pubrel', packetId: message.packetId! });
        else this.sendPublish(link, message, true);
      }
    } else {
      // Nothing the broker had is left. A message it answered with PUBREC is its own already: complete.
      this.incomingQos2.clear();
      this.retiredIds.clear();
      const again: Outgoing[] = [];
      for (const outgoing of resend) {
        if (outgoing.message.released) {
          this.owner.storeDelete(outgoing.message.id);
          outgoing.resolve?.(undefined);
          continue;
        }
        delete outgoing.message.packetId;
        this.owner.storePut(outgoing.message as StoredMessage);
        again.push(outgoing);
      }
      this.inflight.clear();
      this.waiting.unshiftAll(again);
      if (this.settings.resubscribe) this.resubscribe(link);
    }
    for (const request of this.requests.values()) if (!request.internal) link.send(request.packet);
    this.pump();
  }

  /** The connection is gone: packets wait for the next one. */
  offline(): void {
    this.link = undefined;
  }

  /**
   * A connection the broker dropped is blamed on the oldest message awaiting its acknowledgement (brokers answer
   * in order: the likeliest cause). After `maxDeliveryAttempts` such losses it is given up: it rejects with
   * DeliveryError and leaves the store, and its packet id stays unused until a new session.
   */
  connectionLost(): void {
    let oldest: Outgoing | undefined;
    for (const outgoing of this.inflight.values()) {
      if (outgoing.message.released) continue;
      if (!oldest || outgoing.message.id < oldest.message.id) oldest = outgoing;
    }
    if (!oldest || ++oldest.losses < this.settings.maxDeliveryAttempts) return;
    const message = oldest.message;
    this.inflight.delete(message.packetId!);
    this.retiredIds.add(message.packetId!);
    this.owner.storeDelete(message.id);
    oldest.reject?.(new DeliveryError(oldest.losses, message.payload.length));
  }

  /** The client ends: every publish and request still pending rejects with `error` (messages stay in the store). */
  failAll(error: Error): void {
    const inflight = this.inflight.values().sort(bySent);
    this.inflight.clear();
    for (const outgoing of [...inflight, ...this.waiting.drain()]) outgoing.reject?.(error);
    const requests = [...this.requests.values()];
    this.requests.clear();
    for (const request of requests) request.reject?.(error);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Packets from the broker

  /** Answers an acknowledgement or PUBREL from the broker. */
  handle(packet: SessionPacket): void {
    switch (packet.type) {
      case 'puback':
      case 'pubcomp': {
        const outgoing = this.inflight.get(packet.packetId);
        if (!outgoing || (outgoing.message.qos === 1) !== (packet.type === 'puback')) return;
        this.complete(outgoing, packet);
        return;
      }
      case 'pubrec':
        this.onPubrec(packet);
        return;
      case 'pubrel': {
        const pubcomp: PubcompPacket = { type: 'pubcomp', packetId: packet.packetId };
        if (!this.incomingQos2.delete(packet.packetId) && this.settings.protocolVersion === 5) {
          pubcomp.reasonCode = ReasonCode.PacketIdentifierNotFound;
        }
        this.link?.send(pubcomp);
        return;
      }
      case 'suback':
      case 'unsuback':
        this.onRequestAck(packet.packetId, packet.reasonCodes);
    }
  }

  private onPubrec(packet: PubrecPacket): void {
    const outgoing = this.inflight.get(packet.packetId);
    if (!outgoing || outgoing.message.qos !== 2) {
      const pubrel: PubrelPacket = { type: 'pubrel', packetId: packet.packetId };
      if (this.settings.protocolVersion === 5) pubrel.reasonCode = ReasonCode.PacketIdentifierNotFound;
      this.link?.send(pubrel);
      return;
    }
    if ((packet.reasonCode ?? ReasonCode.Success) >= FAILURE) {
      this.complete(outgoing, packet);
      return;
    }
    if (!outgoing.message.released) {
      outgoing.message.released = true;
      this.owner.storePut(outgoing.message as StoredMessage);
    }
    this.link?.send({ type: 'pubrel', packetId: packet.packetId });
  }

  /** A QoS 1/2 publish finished: PUBACK, PUBCOMP, or a negative PUBREC. */
  private complete(outgoing: Outgoing, ack: PubackPacket | PubrecPacket | PubcompPacket): void {
    const message = outgoing.message;
    this.inflight.delete(ack.packetId);
    this.owner.storeDelete(message.id);
    const code = ack.reasonCode ?? ReasonCode.Success;
    // PUBCOMP 0x92 answers a PUBREL resent after the broker had already released the id: after PUBREC the
    // message was the broker's, so the publish succeeded all the same.
    if (code >= FAILURE && ack.type !== 'pubcomp') {
      outgoing.reject?.(new PublishError(code, ack.properties?.reasonString));
    } else {
      outgoing.resolve?.(ack.type === 'pubrec' ? undefined : ack);
    }
    this.pump();
  }

  private onRequestAck(packetId: number, reasonCodes: number[]): void {
    const request = this.requests.get(packetId);
    if (!request) return;
    this.requests.delete(packetId);
    const packet = request.packet;
    if (packet.type === 'subscribe') {
      const properties = packet.properties;
      packet.subscriptions.forEach((subscription, i) => {
        if ((reasonCodes[i] ?? FAILURE) < FAILURE) this.subscriptions.set(subscription.topicFilter, { subscription, properties });
      });
      if (request.internal) this.onResubscribed(request.internal, packet.subscriptions, reasonCodes);
    } else {
      for (const filter of packet.topicFilters) this.subscriptions.delete(filter);
    }
    request.resolve?.(reasonCodes);
  }

  /** Reports a resubscription once every SUBACK of it arrived; a refused filter is no longer a subscription. */
  private onResubscribed(round: Resubscription, subscriptions: Subscription[], reasonCodes: number[]): void {
    subscriptions.forEach(({ topicFilter }, i) => {
      const reasonCode = reasonCodes[i] ?? FAILURE;
      round.results.push({ topicFilter, reasonCode });
      if (reasonCode < FAILURE) return;
      this.subscriptions.delete(topicFilter);
      this.owner.resubscribeRefused(new ResubscribeError(topicFilter, reasonCode, this.settings.protocolVersion));
    });
    if (--round.unanswered === 0) this.owner.resubscribed(round.results);
  }

  /** After a connection without a session: the known subscriptions again, grouped by their properties. */
  private resubscribe(link: SessionLink): void {
    const groups = new Map<Properties | undefined, Subscription[]>();
    for (const { subscription, properties } of this.subscriptions.values()) {
      const group = groups.get(properties);
      if (group) group.push(subscription);
      else groups.set(properties, [subscription]);
    }
    const round: Resubscription = { unanswered: groups.size, results: [] };
    for (const [properties, subscriptions] of groups) {
      const packet: SubscribePacket = { type: 'subscribe', packetId: this.allocatePacketId(), subscriptions };
      if (properties) packet.properties = properties;
      this.requests.set(packet.packetId, { packet, internal: round, resolve: undefined, reject: undefined });
      link.send(packet);
    }
  }

  /**
   * A PUBLISH from the broker: whether to deliver it. A QoS 2 message whose id the broker has not released yet is
   * one we have: it is never delivered twice, and PUBREC goes again if it had gone.
   */
  receive(packet: PublishPacket): boolean {
    if (packet.qos !== 2) return true;
    const id = packet.packetId!;
    const state = this.incomingQos2.get(id);
    if (state !== undefined) {
      if (state) this.link?.send({ type: 'pubrec', packetId: id });
      return false;
    }
    this.incomingQos2.set(id, false);
    return true;
  }

  /** Sends PUBACK or PUBREC for a received message the application has taken (if lost, the broker resends it). */
  acknowledge(packet: PublishPacket): void {
    const packetId = packet.packetId!;
    if (packet.qos === 2) {
      if (!this.incomingQos2.has(packetId)) return;
      this.incomingQos2.set(packetId, true);
    }
    this.link?.send({ type: packet.qos === 1 ? 'puback' : 'pubrec', packetId });
  }
}
