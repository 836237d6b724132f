import type { ProtocolVersion, Will } from '../packet/index.js';
import type { BrokerLimits } from './options.js';
import { Outbox } from './outbox.js';
import type { SubscriptionRecord } from './subscription.js';
import type { BrokerStats } from './stats.js';
import type { StoredSession, StoredSessionState } from './store/store.js';
import type { AckKind, AckTarget, StoreWriter } from './store/writer.js';

/** Session Expiry Interval meaning "never expires". */
export const NEVER_EXPIRES = 0xffffffff;

/** Errors a session remembers for the admin API: the last few are enough to tell what is going wrong. */
const KEPT_ERRORS = 8;

/** Something that went wrong for a client; the same text in a row is counted, not repeated. */
export interface ClientError {
  /** Epoch ms of the latest occurrence. */
  at: number;
  text: string;
  count: number;
}

/** What a session needs of the connection attached to it. */
export interface SessionConnection {
  /** Server-side close (v5: DISCONNECT with the reason code); the Will is sent. */
  disconnect(reasonCode: number, reason: string): void;
}

/** What `subscriptions` reads as while a session has none. */
const NO_SUBSCRIPTIONS: ReadonlyMap<string, SubscriptionRecord> = new Map();

/**
 * The state of one client id that outlives its connections: subscriptions, outgoing messages, QoS 2 packet ids
 * received and not yet released, and a delayed Will. `connection` is set while a client is attached.
 *
 * A persistent session (see `setJournal`) records each of its own changes in the store; nothing else writes its
 * records. Router membership of its subscriptions is kept by the SessionRegistry, which calls the subscription
 * methods here.
 */
export class Session {
  /** Made at the first subscription: a device that only publishes never needs it (a Map and its table: ~280 B). */
  private subs: Map<string, SubscriptionRecord> | undefined;
  readonly outbox: Outbox;
  /** QoS 2 packet ids received and not yet released by PUBREL; made on first use (most sessions never need it). */
  private incomingQos2: Set<number> | undefined;
  /** Where this session's changes go while it is persistent and the broker has a store. */
  private journal: StoreWriter | undefined;
  connection: SessionConnection | undefined;
  /** Seconds the session lives after its connection closes; NEVER_EXPIRES for never. */
  expiryInterval = 0;
  disconnectedAt: number | undefined;
  expiryTimer: NodeJS.Timeout | undefined;
  /** A Will waiting for its delay; sent when the delay passes or the session ends, dropped if the client returns. */
  pendingWill: { will: Will; dueAt: number; timer: NodeJS.Timeout | undefined } | undefined;
  /** The read check of the listener the client last connected through (undefined: everything readable). */
  canRead: ((topic: string) => boolean) | undefined;
  /** True once the session has ended; a late event must not revive it. */
  ended = false;
  /** Why its last connection ended (undefined while it never had one here). */
  disconnectReason: string | undefined;
  /** Refused packets and server-side disconnects, oldest first; made at the first (most sessions have none). */
  private errors: ClientError[] | undefined;

  /** Its subscriptions by filter as the client sent them. */
  get subscriptions(): ReadonlyMap<string, SubscriptionRecord> {
    return this.subs ?? NO_SUBSCRIPTIONS;
  }

  constructor(
    readonly clientId: string,
    public username: string | undefined,
    public protocolVersion: ProtocolVersion,
    limits: BrokerLimits,
    stats: BrokerStats,
  ) {
    this.outbox = new Outbox(clientId, limits, stats);
  }

  get online(): boolean {
    return this.connection !== undefined;
  }

  /** The last errors, oldest first. */
  get lastErrors(): readonly ClientError[] {
    return this.errors ?? [];
  }

  /** Remembers that something went wrong for this client (a refused PUBLISH or SUBSCRIBE, a server-side close). */
  noteError(text: string): void {
    const errors = (this.errors ??= []);
    const last = errors[errors.length - 1];
    if (last !== undefined && last.text === text) {
      last.count++;
      last.at = Date.now();
      return;
    }
    if (errors.length >= KEPT_ERRORS) errors.shift();
    errors.push({ at: Date.now(), text, count: 1 });
  }

  /** True while the session's changes are stored. */
  get persistent(): boolean {
    return this.journal !== undefined;
  }

  /**
   * Starts recording this session's changes (`journal` set: the session and its subscriptions are written, so the
   * store holds all of it from here on) or stops (the session's records are deleted).
   */
  setJournal(journal: StoreWriter | undefined): void {
    const previous = this.journal;
    this.journal = journal;
    this.outbox.journal = journal;
    if (journal !== undefined) {
      journal.record({ op: 'putSession', session: this.toStored() });
      if (previous === undefined) for (const sub of this.subscriptions.values()) this.recordSubscription(journal, sub);
    } else if (previous !== undefined) previous.record({ op: 'deleteSession', clientId: this.clientId });
  }

  /** A session recovered from the store, whose records are there already: from here on it records its changes. */
  resumeJournal(journal: StoreWriter): void {
    this.journal = journal;
    this.outbox.journal = journal;
  }

  /** Stops recording without deleting anything (the session moved to another broker; its records there count). */
  dropJournal(): void {
    this.journal = undefined;
    this.outbox.journal = undefined;
  }

  /** Writes the session record again (expiry, Will, disconnect time changed). */
  saveState(): void {
    this.journal?.record({ op: 'putSession', session: this.toStored() });
  }

  /**
   * Sends an acknowledgement once this session's changes so far are stored (at once when it keeps nothing):
   * the client must not hear of state the broker could lose.
   */
  acknowledgeWhenStored(target: AckTarget, kind: AckKind, packetId: number, reasonCode: number): void {
    if (this.journal === undefined) target.sendStoredAck(kind, packetId, reasonCode);
    else this.journal.ackAfterCommit(target, kind, packetId, reasonCode);
  }

  /** Sets (or replaces) a subscription; returns the one it replaced. */
  putSubscription(record: SubscriptionRecord): SubscriptionRecord | undefined {
    const subs = (this.subs ??= new Map());
    const previous = subs.get(record.filter);
    subs.set(record.filter, record);
    if (this.journal !== undefined) this.recordSubscription(this.journal, record);
    return previous;
  }

  /** Removes a subscription by its filter as the client sent it; returns it, undefined when there was none. */
  deleteSubscription(filter: string): SubscriptionRecord | undefined {
    const record = this.subs?.get(filter);
    if (record === undefined) return undefined;
    this.subs?.delete(filter);
    this.journal?.record({ op: 'deleteSubscription', clientId: this.clientId, filter });
    return record;
  }

  hasIncoming(packetId: number): boolean {
    return this.incomingQos2 !== undefined && this.incomingQos2.has(packetId);
  }

  /** The QoS 2 packet ids received and not yet released. */
  incomingIds(): number[] {
    return [...(this.incomingQos2 ?? [])];
  }

  /** A QoS 2 message with this packet id was taken: a resend of it is a duplicate until PUBREL. */
  addIncoming(packetId: number): void {
    (this.incomingQos2 ??= new Set()).add(packetId);
    this.journal?.record({ op: 'putIncoming', clientId: this.clientId, packetId });
  }

  /** PUBREL: false when the id was not held. */
  releaseIncoming(packetId: number): boolean {
    if (this.incomingQos2 === undefined || !this.incomingQos2.delete(packetId)) return false;
    this.journal?.record({ op: 'deleteIncoming', clientId: this.clientId, packetId });
    return true;
  }

  /** The whole state, for another broker to resume (a session handed over in a cluster). */
  export(): StoredSessionState {
    const subscriptions = [...this.subscriptions.values()].map((sub) => ({
      filter: sub.filter,
      qos: sub.qos,
      noLocal: sub.noLocal,
      retainAsPublished: sub.retainAsPublished,
      retainHandling: sub.retainHandling,
      identifier: sub.identifier,
    }));
    return { session: this.toStored(), subscriptions, outgoing: this.outbox.export(), incoming: [...(this.incomingQos2 ?? [])] };
  }

  /** Records all it holds (subscriptions, deliveries, QoS 2 ids), as `setJournal` would for a new session. */
  recordAll(): void {
    const journal = this.journal;
    if (journal === undefined) return;
    for (const id of this.incomingQos2 ?? []) journal.record({ op: 'putIncoming', clientId: this.clientId, packetId: id });
    this.outbox.recordAll();
  }

  /**
   * Records its whole state again (session, subscriptions, deliveries, QoS 2 ids): a store that keeps a log (the
   * cluster journal) may then drop everything before these records.
   */
  recordWhole(): void {
    const journal = this.journal;
    if (journal === undefined) return;
    journal.record({ op: 'putSession', session: this.toStored() });
    for (const sub of this.subscriptions.values()) this.recordSubscription(journal, sub);
    this.recordAll();
  }

  /** Puts back an incoming QoS 2 packet id a store recovered (nothing recorded: the store has it). */
  restoreIncoming(packetId: number): void {
    (this.incomingQos2 ??= new Set()).add(packetId);
  }

  /** Puts back a subscription a store recovered (nothing recorded). */
  restoreSubscription(record: SubscriptionRecord): void {
    (this.subs ??= new Map()).set(record.filter, record);
  }

  /** Forgets its subscriptions (nothing recorded): the session was handed to another broker. */
  forgetSubscriptions(): void {
    this.subs = undefined;
  }

  /** Ends the session's state: subscriptions and queues go, its records are deleted. Returns the subscriptions. */
  clear(): SubscriptionRecord[] {
    const subscriptions = [...this.subscriptions.values()];
    this.subs = undefined;
    const journal = this.journal;
    this.journal = undefined;
    this.outbox.journal = undefined;
    this.outbox.release();
    journal?.record({ op: 'deleteSession', clientId: this.clientId });
    return subscriptions;
  }

  toStored(): StoredSession {
    const pending = this.pendingWill;
    return {
      clientId: this.clientId,
      username: this.username,
      protocolVersion: this.protocolVersion,
      expiryInterval: this.expiryInterval,
      disconnectedAt: this.disconnectedAt,
      will: pending === undefined ? undefined : { will: pending.will, dueAt: pending.dueAt },
    };
  }

  private recordSubscription(journal: StoreWriter, sub: SubscriptionRecord): void {
    journal.record({
      op: 'putSubscription',
      clientId: this.clientId,
      subscription: {
        filter: sub.filter,
        qos: sub.qos,
        noLocal: sub.noLocal,
        retainAsPublished: sub.retainAsPublished,
        retainHandling: sub.retainHandling,
        identifier: sub.identifier,
      },
    });
  }
}
