import { IdTable, ReasonCode, type QoS } from '../packet/index.js';
import { PublisherHold, type Holdable } from './flow.js';
import { messageWeight, type BrokerMessage } from './message.js';
import type { BrokerLimits } from './options.js';
import { RetainedFeed } from './retained-feed.js';
import type { BrokerStats } from './stats.js';
import type { StoredOutgoing } from './store/store.js';
import type { Committed, StoreWriter } from './store/writer.js';

/** The connection side of delivery: what the outbox needs from the socket it is currently attached to. */
export interface DeliveryTarget {
  /** False when the socket buffer is above the cap: new messages wait in the queue, which the target pumps later. */
  writable(): boolean;
  /** Most QoS 1/2 messages unacknowledged at once: min(maxInflight, the client's Receive Maximum). */
  readonly sendWindow: number;
  /** False: a full queue drops the overflow instead of holding the publisher back (ListenerPolicy.holdPublishers). */
  readonly holdsPublishers?: boolean;
  /** Encodes and buffers a PUBLISH; false when it was dropped (too large for the client, or expired), and counted so. */
  sendPublish(
    message: BrokerMessage,
    qos: QoS,
    retain: boolean,
    dup: boolean,
    packetId: number,
    subscriptionIds: number[] | undefined,
  ): boolean;
  sendPubrel(packetId: number): void;
  /** Messages have waited writeStallTimeout for this client without one leaving the queue: it is stuck. */
  stalled(seconds: number): void;
}

/**
 * How a message handed over with a settle callback ended: `acknowledged` (PUBACK, PUBCOMP; at QoS 0, written to
 * the connection), `rejected` (a v5 PUBACK/PUBREC with a failure code) or `dropped` (expired, too large for the
 * client, or its session ended first).
 */
export type DeliveryOutcome = 'acknowledged' | 'rejected' | 'dropped';
export type SettleCallback = (outcome: DeliveryOutcome) => void;

/** Who gets a message back when the session holding it ends unacknowledged (shared subscriptions). */
export interface Reassigner {
  /** The shared subscription, `$share/{group}/{filter}`: kept with stored messages to find the group again. */
  readonly filter: string;
  reassign(message: BrokerMessage, from: string): void;
}

/** Why a session dropped a message (a subset of the broker-wide DropReason). */
export type SessionDropReason = 'queueFull' | 'stuckSubscriber' | 'tooLarge' | 'expired';
/** Messages a session dropped, by reason (`Broker.sessionInfo`), besides the broker-wide counts. */
export type SessionDropCounts = Record<SessionDropReason, number>;
/** What `dropped` reads as while a session has dropped nothing. */
const NO_DROPS: Readonly<SessionDropCounts> = Object.freeze({ queueFull: 0, stuckSubscriber: 0, tooLarge: 0, expired: 0 });

/**
 * `seq` of a delivery queued for a session with an age limit: the time it was queued, in microseconds, kept above
 * the previous `seq`. The store keys outgoing records by `seq`, so the age survives a restart with no new field.
 * Numbers this large are never reached by counting (a plain `seq` counts from 1).
 */
const SEQ_PER_MS = 1000;
const TIMED_SEQ_FROM = 1e15;

/** When a delivery was queued (epoch ms), if its `seq` says so. */
function queuedAt(seq: number): number | undefined {
  return seq >= TIMED_SEQ_FROM ? Math.floor(seq / SEQ_PER_MS) : undefined;
}

/** Never added to: read-only stand-in for an empty in-flight table. */
const NO_DELIVERIES = new IdTable<never>();

/** Deliveries in the order they were sent (`seq`). */
const bySeq = (a: Delivery, b: Delivery): number => a.seq - b.seq;

/** Retained messages sent from a feed in one turn of the event loop at most; the next slice follows on setImmediate. */
const FEED_SLICE = 1024;

const QUEUED = 0;
const SENT = 1;
const RELEASED = 2;

/** One message on its way to one session. */
export class Delivery {
  packetId = 0;
  state: 0 | 1 | 2 = QUEUED;
  /** A QoS 2 PUBLISH held until the store has its packet id (see Outbox.send). */
  awaitingCommit = false;
  /** Told how the delivery ended (messages from `broker.deliverTo`); not kept across restarts. */
  settle: SettleCallback | undefined = undefined;
  constructor(
    readonly seq: number,
    readonly message: BrokerMessage,
    readonly qos: QoS,
    readonly retain: boolean,
    readonly subscriptionIds: number[] | undefined,
    readonly shared: Reassigner | undefined,
  ) {}

  toStored(): StoredOutgoing {
    const stored: StoredOutgoing = {
      seq: this.seq,
      message: this.message,
      qos: this.qos,
      retain: this.retain,
      subscriptionIds: this.subscriptionIds,
      packetId: this.packetId,
      state: this.state === QUEUED ? 'queued' : this.state === SENT ? 'publish' : 'pubrel',
    };
    if (this.shared !== undefined) stored.shared = this.shared.filter;
    return stored;
  }
}

/** Sends a held QoS 2 PUBLISH once the store has its packet id. */
class HeldPublish implements Committed {
  constructor(
    private readonly outbox: Outbox,
    private readonly delivery: Delivery,
  ) {}

  committed(): void {
    this.outbox.sendHeld(this.delivery);
  }
}

/**
 * A session's outgoing messages: a bounded FIFO queue and the in-flight window. Packet ids are assigned when a
 * message leaves the queue, so queued messages hold none. Order is kept: nothing overtakes the queue.
 */
export class Outbox {
  /** Deliveries, and retained feeds holding the place of the messages they will send. */
  private queue: Array<Delivery | RetainedFeed> = [];
  private head = 0;
  /** Sessions that never get QoS 1/2 share an empty table; the first `set` gives the outbox its own (see flying). */
  private inflight: IdTable<Delivery> = NO_DELIVERIES;
  private queuedBytes = 0;
  private nextPacketId = 1;
  private nextSeq = 1;
  target: DeliveryTarget | undefined;
  /**
   * Where this outbox records its deliveries: the session's journal while the session is persistent and the broker
   * has a store (set by Session.setJournal only).
   */
  journal: StoreWriter | undefined;
  /** Publishers held until the queue drains below half its limits (see flow.ts). */
  private readonly hold = new PublisherHold();
  /** Armed while messages wait for a connected client; fires when none has left the queue for writeStallTimeout. */
  private stallTimer: NodeJS.Timeout | undefined;
  /** A feed used up its slice: the queue goes on in a later turn of the event loop. */
  private feedResume: NodeJS.Immediate | undefined;
  /** Made at the first drop: most sessions never drop anything, and an idle connection should hold little. */
  private drops: SessionDropCounts | undefined;
  lastDropReason: SessionDropReason | undefined;
  lastDropAt = 0;

  constructor(
    private readonly clientId: string,
    /** The limits of the listener the client last connected through (a recovered session: the broker's). */
    public limits: BrokerLimits,
    private readonly stats: BrokerStats,
  ) {}

  get queued(): number {
    return this.queue.length - this.head;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Payload, topic and property bytes of the queued messages (messageWeight). */
  get queuedWeight(): number {
    return this.queuedBytes;
  }

  /** Messages that left the queue or the window so far: unchanged while messages wait, the subscriber takes nothing. */
  get progress(): number {
    return this.hold.moves;
  }

  /** True while the queue is full and the subscriber takes nothing: its overflow is dropped (flow.ts). */
  get stuck(): boolean {
    return this.hold.stuck;
  }

  /** True when a new QoS 1/2 message would go out at once (used to pick a shared subscription member). */
  hasRoom(): boolean {
    const target = this.target;
    return target !== undefined && this.queued === 0 && this.inflight.size < target.sendWindow && target.writable();
  }

  /**
   * Takes a message for this session; false when it was dropped (then `settle` is not called). `publisher` is the
   * connection the message came from, held back when the queue is full; without one, overflow is dropped.
   */
  deliver(
    message: BrokerMessage,
    qos: QoS,
    retain: boolean,
    subscriptionIds: number[] | undefined,
    shared: Reassigner | undefined,
    publisher?: Holdable,
    settle?: SettleCallback,
  ): boolean {
    const target = this.target;
    if (target === undefined) {
      if (qos === 0) return false; // QoS 0 is not kept for offline sessions
    } else if (this.queued === 0 && target.writable()) {
      if (qos === 0) {
        const sent = target.sendPublish(message, 0, retain, false, 0, subscriptionIds);
        if (sent && settle !== undefined) settle('acknowledged');
        return sent;
      }
      if (this.inflight.size < target.sendWindow) {
        const delivery = new Delivery(this.takeSeq(), message, qos, retain, subscriptionIds, shared);
        delivery.settle = settle;
        this.send(delivery, target);
        return true;
      }
    }
    // Behind the window, a full socket or earlier messages: wait in the bounded queue. At its limits a connected
    // subscriber that is still taking messages holds the publisher back and keeps the message; otherwise drop.
    const weight = messageWeight(message);
    if (this.full(weight) && this.limits.maxQueuedAge > 0) this.dropAged();
    if (this.full(weight)) {
      // A client publishing to itself is not held: it would stop reading its own acknowledgements.
      if (target === undefined || this.hold.stuck || publisher === undefined || publisher === (target as object) || target.holdsPublishers === false) {
        this.drop(target !== undefined && this.hold.stuck ? 'stuckSubscriber' : 'queueFull', message.topic);
        return false;
      }
      this.hold.hold(publisher);
    }
    const delivery = new Delivery(this.takeSeq(), message, qos, retain, subscriptionIds, shared);
    delivery.settle = settle;
    this.queue.push(delivery);
    this.queuedBytes += weight;
    if (target !== undefined && this.stallTimer === undefined) this.watchStall();
    if (qos > 0) this.journal?.record({ op: 'putOutgoing', clientId: this.clientId, outgoing: delivery.toStored() });
    return true;
  }

  /**
   * The retained messages a new subscription matched, each at most `qos`, queued as one feed (retained-feed.ts).
   * Offline, they wait for the client like queued messages.
   */
  deliverRetained(messages: readonly BrokerMessage[], qos: QoS, subscriptionIds: number[] | undefined): void {
    if (messages.length === 0) return;
    this.queue.push(new RetainedFeed(this.takeSeq(messages.length), messages, qos, subscriptionIds));
    if (this.target !== undefined && this.stallTimer === undefined) this.watchStall();
    this.pump();
  }

  /** Messages dropped for this session by reason (the last reason and when, epoch ms, below): for the admin API and bridges. */
  get dropped(): Readonly<SessionDropCounts> {
    return this.drops ?? NO_DROPS;
  }

  /** A message on `topic` dropped for this session: counted here and broker-wide. */
  drop(reason: SessionDropReason, topic: string): void {
    (this.drops ??= { ...NO_DROPS })[reason]++;
    this.lastDropReason = reason;
    this.lastDropAt = Date.now();
    this.stats.dropForSession(reason, this.clientId, topic);
  }

  /** Sends queued messages while the window and the socket allow. */
  pump(): void {
    const target = this.target;
    if (target === undefined) return;
    const queue = this.queue;
    const start = this.head;
    const maxAge = this.limits.maxQueuedAge;
    const oldest = maxAge > 0 ? Date.now() - maxAge * 1000 : 0;
    while (this.head < queue.length && target.writable()) {
      const delivery = queue[this.head]!;
      const tooOld = maxAge > 0 && (queuedAt(delivery.seq) ?? Infinity) < oldest;
      if (delivery instanceof RetainedFeed) {
        if (tooOld) this.expireFeed(delivery);
        else if (!this.feedFrom(delivery, target)) break;
        queue[this.head] = undefined as unknown as Delivery;
        this.head++;
        continue;
      }
      if (!tooOld && delivery.qos > 0 && this.inflight.size >= target.sendWindow) break;
      queue[this.head] = undefined as unknown as Delivery;
      this.head++;
      this.queuedBytes -= messageWeight(delivery.message);
      if (tooOld) this.expire(delivery);
      else if (delivery.qos > 0) this.send(delivery, target);
      else {
        const sent = target.sendPublish(delivery.message, 0, delivery.retain, false, 0, delivery.subscriptionIds);
        delivery.settle?.(sent ? 'acknowledged' : 'dropped');
      }
    }
    if (this.head === start) return;
    this.hold.moved();
    if (this.hold.holding && this.queued * 2 <= this.limits.maxQueuedMessages && this.queuedBytes * 2 <= this.limits.maxQueuedBytes) {
      this.hold.releaseAll();
    }
    this.compact();
  }

  /** Lets go of the queue's consumed head. */
  private compact(): void {
    const queue = this.queue;
    if (this.head === queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > queue.length) {
      this.queue = queue.slice(this.head);
      this.head = 0;
    }
  }

  /** After a reconnect: PUBLISH again (DUP) what was sent and unacknowledged, PUBREL what was released, in order. */
  resend(): void {
    const target = this.target;
    if (target === undefined) return;
    for (const delivery of this.inflight.values().sort(bySeq)) {
      if (delivery.awaitingCommit) continue; // goes out when its state is stored
      if (delivery.state === RELEASED) target.sendPubrel(delivery.packetId);
      else this.transmit(delivery, target, true);
    }
  }

  /** PUBACK (a negative one, v5, ends the delivery all the same). */
  acknowledged(packetId: number, reasonCode: number): void {
    const delivery = this.inflight.get(packetId);
    if (delivery === undefined || delivery.qos !== 1) return;
    this.complete(delivery, reasonCode >= ReasonCode.UnspecifiedError ? 'rejected' : 'acknowledged');
    this.pump();
  }

  /** PUBREC: true when the id was in flight at QoS 2 (answer with PUBREL), false otherwise. */
  received(packetId: number, reasonCode: number): boolean {
    const delivery = this.inflight.get(packetId);
    if (delivery === undefined || delivery.qos !== 2) return false;
    if (reasonCode >= ReasonCode.UnspecifiedError) {
      this.complete(delivery, 'rejected');
      this.pump();
      return false;
    }
    if (delivery.state !== RELEASED) {
      delivery.state = RELEASED;
      this.journal?.record({ op: 'putOutgoing', clientId: this.clientId, outgoing: delivery.toStored() });
    }
    return true;
  }

  /** PUBCOMP. */
  completed(packetId: number): void {
    const delivery = this.inflight.get(packetId);
    if (delivery === undefined || delivery.state !== RELEASED) return;
    this.complete(delivery, 'acknowledged');
    this.pump();
  }

  /**
   * The session ended: shared-subscription messages go to another member of their group, those queued and QoS 1
   * ones sent but unacknowledged; a QoS 2 message already sent goes to no one else (MQTT 5, 4.8.2).
   */
  release(): void {
    for (const delivery of this.inflight.values().sort(bySeq)) {
      if (delivery.shared !== undefined && delivery.state === SENT && delivery.qos === 1) delivery.shared.reassign(delivery.message, this.clientId);
      else delivery.settle?.('dropped');
    }
    for (let i = this.head; i < this.queue.length; i++) {
      const delivery = this.queue[i]!;
      if (delivery instanceof RetainedFeed) continue; // retained messages are owed to no other session
      if (delivery.shared !== undefined) delivery.shared.reassign(delivery.message, this.clientId);
      else delivery.settle?.('dropped');
    }
    this.inflight.clear();
    this.clearQueue();
  }

  /** Forgets everything without settling or reassigning (the session went to another broker, which has it all). */
  forget(): void {
    this.inflight.clear();
    this.clearQueue();
  }

  private clearQueue(): void {
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    clearImmediate(this.feedResume);
    this.feedResume = undefined;
    this.hold.releaseAll();
  }

  /** The connection went away: held publishers go on (offline, overflow is dropped), the next one starts afresh. */
  detach(): void {
    this.target = undefined;
    this.hold.stuck = false;
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    this.hold.releaseAll();
  }

  /**
   * A client that reads nothing, or acknowledges nothing, keeps its window full and its socket quiet: neither the
   * write-stall timer nor keepalive (it may still ping) notices. Messages that wait writeStallTimeout while none
   * leaves the queue mean it is stuck; disconnecting it lets a reconnect resend what it lost, and frees its queue.
   */
  private watchStall(): void {
    const seen = this.hold.moves;
    const seconds = this.limits.writeStallTimeout;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      const target = this.target;
      if (target === undefined || this.queued === 0) return;
      if (this.hold.moves !== seen) this.watchStall();
      else target.stalled(seconds);
    }, seconds * 1000);
  }

  /** Every QoS 1/2 delivery not yet completed, in flight and queued, in `seq` order (a session handed over). */
  export(): StoredOutgoing[] {
    const out: StoredOutgoing[] = [];
    for (const delivery of this.inflight.values()) out.push(delivery.toStored());
    for (let i = this.head; i < this.queue.length; i++) {
      const delivery = this.queue[i]!;
      if (delivery instanceof RetainedFeed) {
        for (const { seq, message } of delivery.rest()) {
          const qos = delivery.qosOf(message);
          if (qos > 0) out.push(new Delivery(seq, message, qos, true, delivery.subscriptionIds, undefined).toStored());
        }
      } else if (delivery.qos > 0) out.push(delivery.toStored());
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  /** Records every delivery it holds (a session adopted from elsewhere, so that this broker's store has it). */
  recordAll(): void {
    const journal = this.journal;
    if (journal === undefined) return;
    for (const outgoing of this.export()) journal.record({ op: 'putOutgoing', clientId: this.clientId, outgoing });
  }

  /** Puts back what a store recovered; `shared` is the group of a message sent under a shared subscription. */
  restore(stored: StoredOutgoing, shared: Reassigner | undefined): void {
    const delivery = new Delivery(stored.seq, stored.message, stored.qos, stored.retain, stored.subscriptionIds, shared);
    if (stored.seq >= this.nextSeq) this.nextSeq = stored.seq + 1;
    if (stored.state === 'queued' || stored.packetId === 0) {
      this.queue.push(delivery);
      this.queuedBytes += messageWeight(stored.message);
      return;
    }
    delivery.packetId = stored.packetId;
    delivery.state = stored.state === 'pubrel' ? RELEASED : SENT;
    this.flying().set(stored.packetId, delivery);
  }

  /**
   * Assigns a packet id and sends. For a persistent session a QoS 2 PUBLISH waits until its packet id is stored:
   * after a crash it is then resent with the same id, which the client recognises, instead of under a new one,
   * which it would deliver twice.
   */
  private send(delivery: Delivery, target: DeliveryTarget): void {
    delivery.packetId = this.allocatePacketId();
    delivery.state = SENT;
    this.flying().set(delivery.packetId, delivery);
    const journal = this.journal;
    if (journal !== undefined) {
      journal.record({ op: 'putOutgoing', clientId: this.clientId, outgoing: delivery.toStored() });
      if (delivery.qos === 2) {
        delivery.awaitingCommit = true;
        journal.afterCommit(new HeldPublish(this, delivery));
        return;
      }
    }
    this.transmit(delivery, target, false);
  }

  /** Puts a sent-state delivery on the wire; one too large for the client (or expired) is dropped (the target counts it). */
  transmit(delivery: Delivery, target: DeliveryTarget, dup: boolean): void {
    if (target.sendPublish(delivery.message, delivery.qos, delivery.retain, dup, delivery.packetId, delivery.subscriptionIds)) return;
    this.complete(delivery, 'dropped');
  }

  /** A queued delivery older than maxQueuedAge: dropped, counted, and gone from the store. */
  private expire(delivery: Delivery): void {
    this.drop('expired', delivery.message.topic);
    this.hold.moved();
    if (delivery.qos > 0) this.journal?.record({ op: 'deleteOutgoing', clientId: this.clientId, seq: delivery.seq });
    delivery.settle?.('dropped');
  }

  private full(weight: number): boolean {
    return this.queued >= this.limits.maxQueuedMessages || this.queuedBytes + weight > this.limits.maxQueuedBytes;
  }

  /** Drops the deliveries at the head of the queue that are older than maxQueuedAge (the queue is in time order). */
  private dropAged(): void {
    const oldest = Date.now() - this.limits.maxQueuedAge * 1000;
    const queue = this.queue;
    while (this.head < queue.length && (queuedAt(queue[this.head]!.seq) ?? Infinity) < oldest) {
      const delivery = queue[this.head]!;
      queue[this.head] = undefined as unknown as Delivery;
      this.head++;
      if (delivery instanceof RetainedFeed) {
        this.expireFeed(delivery);
        continue;
      }
      this.queuedBytes -= messageWeight(delivery.message);
      this.expire(delivery);
    }
    this.compact();
  }

  /**
   * The next delivery's `seq`: counted, or the time it was queued for a session with an age limit (and for one
   * whose stored deliveries are timed, recovered before its client brought the limit back).
   */
  private takeSeq(count = 1): number {
    const timed = this.limits.maxQueuedAge > 0 || this.nextSeq >= TIMED_SEQ_FROM;
    const seq = timed ? Math.max(this.nextSeq, Date.now() * SEQ_PER_MS) : this.nextSeq;
    this.nextSeq = seq + count;
    return seq;
  }

  /**
   * Sends from the retained feed at the head of the queue while the socket and the window take messages and its
   * slice lasts; true when it is used up, false when it waits (a full slice comes back on setImmediate).
   */
  private feedFrom(feed: RetainedFeed, target: DeliveryTarget): boolean {
    let sent = 0;
    for (let message = feed.peek(); message !== undefined; message = feed.peek()) {
      const qos = feed.qosOf(message);
      if (!target.writable() || (qos > 0 && this.inflight.size >= target.sendWindow)) break;
      if (sent === FEED_SLICE) {
        this.feedResume ??= setImmediate(() => {
          this.feedResume = undefined;
          this.pump();
        });
        break;
      }
      sent++;
      const seq = feed.advance();
      if (qos === 0) target.sendPublish(message, 0, true, false, 0, feed.subscriptionIds);
      else this.send(new Delivery(seq, message, qos, true, feed.subscriptionIds, undefined), target);
    }
    if (sent > 0) this.hold.moved();
    return feed.remaining === 0;
  }

  /** A feed older than maxQueuedAge: what it had left is dropped and counted. */
  private expireFeed(feed: RetainedFeed): void {
    for (const { message } of feed.rest()) this.drop('expired', message.topic);
    feed.clear();
    this.hold.moved();
  }

  /** A held QoS 2 PUBLISH whose packet id is now stored. */
  sendHeld(delivery: Delivery): void {
    delivery.awaitingCommit = false;
    if (this.inflight.get(delivery.packetId) !== delivery || delivery.state !== SENT) return;
    // Offline now: the reconnect resends it.
    if (this.target !== undefined) this.transmit(delivery, this.target, false);
  }

  private complete(delivery: Delivery, outcome: DeliveryOutcome): void {
    this.hold.moved();
    this.inflight.delete(delivery.packetId);
    this.journal?.record({ op: 'deleteOutgoing', clientId: this.clientId, seq: delivery.seq });
    delivery.settle?.(outcome);
  }

  /** The in-flight table to add to. */
  private flying(): IdTable<Delivery> {
    if (this.inflight === NO_DELIVERIES) this.inflight = new IdTable();
    return this.inflight;
  }

  /** The next id not in flight; the window is far below 65535, so this ends quickly. */
  private allocatePacketId(): number {
    let id = this.nextPacketId;
    while (this.inflight.has(id)) id = id === 65535 ? 1 : id + 1;
    this.nextPacketId = id === 65535 ? 1 : id + 1;
    return id;
  }
}
