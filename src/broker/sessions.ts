import { ReasonCode, type ProtocolVersion, type Will } from '../packet/index.js';
import type { Logger } from './logger.js';
import type { BrokerLimits } from './options.js';
import type { DeliveryTarget } from './outbox.js';
import type { Router } from './router.js';
import { subscriptionRecord, type SubscriptionRecord } from './subscription.js';
import { NEVER_EXPIRES, Session, type SessionConnection } from './session.js';
import type { BrokerStats } from './stats.js';
import type { StoredSessionState } from './store/store.js';
import type { StoreWriter } from './store/writer.js';

/** Longest delay setTimeout takes; longer timers are re-armed when they fire. */
const MAX_TIMER = 0x7fffffff;

/** The client a session is being attached to: who it is and where its messages go. */
export interface AttachingClient {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly version: ProtocolVersion;
  readonly limits: BrokerLimits;
  readonly connection: SessionConnection & DeliveryTarget;
}

/** What the registry needs from the rest of the broker. */
export interface SessionServices {
  readonly router: Router;
  /** The store's writer; undefined when the broker keeps nothing. */
  readonly writer: StoreWriter | undefined;
  readonly stats: BrokerStats;
  readonly logger: Logger;
  /** Limits for sessions recovered from a store (no listener created them). */
  readonly limits: BrokerLimits;
  readonly requireSameUsername: boolean;
  /** Routes a Will as a message from `clientId`. */
  sendWill(clientId: string, will: Will): void;
  /** A session ended here (expired, or its clean connection closed): the cluster, if any, forgets its owner. */
  sessionEnded?(clientId: string): void;
  /** Runs timer work, containing what it throws. */
  guarded(where: string, work: () => void): void;
}

/**
 * Every session by client id, and the one place that changes them: attaching a connection (takeover, resume,
 * clean start), subscriptions (session, router and store together), expiry, delayed Wills, the end of a session
 * and recovery from a store.
 */
export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly services: SessionServices) {}

  get size(): number {
    return this.sessions.size;
  }

  get(clientId: string): Session | undefined {
    return this.sessions.get(clientId);
  }

  values(): IterableIterator<Session> {
    return this.sessions.values();
  }

  /**
   * Gives an authenticated client its session: takes over a connected one, resumes or discards a stored one.
   * Returns a reason code when the session belongs to another user.
   */
  attach(client: AttachingClient, clean: boolean, expiryInterval: number): { session: Session; present: boolean } | number {
    const clientId = client.clientId;
    let session = this.sessions.get(clientId);
    if (session !== undefined && this.services.requireSameUsername && session.username !== client.username) {
      return ReasonCode.NotAuthorized;
    }
    if (session?.connection !== undefined) session.connection.disconnect(ReasonCode.SessionTakenOver, 'session taken over');
    session = this.sessions.get(clientId);
    if (session !== undefined && clean) {
      this.end(session);
      session = undefined;
    }
    const present = session !== undefined;
    if (session === undefined) {
      session = new Session(clientId, client.username, client.version, client.limits, this.services.stats);
      this.sessions.set(clientId, session);
    } else {
      clearTimeout(session.expiryTimer);
      session.expiryTimer = undefined;
      if (session.pendingWill !== undefined) {
        clearTimeout(session.pendingWill.timer);
        session.pendingWill = undefined;
      }
      session.username = client.username;
      session.protocolVersion = client.version;
    }
    session.expiryInterval = expiryInterval;
    session.disconnectedAt = undefined;
    // The listener the client comes through now sets its queue's limits (a recovered session had the broker's).
    session.outbox.limits = client.limits;
    session.connection = client.connection;
    session.outbox.target = client.connection;
    this.updatePersistence(session);
    return { session, present };
  }

  /** A new Session Expiry Interval (v5 DISCONNECT may change it). */
  setExpiry(session: Session, expiryInterval: number): void {
    session.expiryInterval = expiryInterval;
    this.updatePersistence(session);
  }

  /** Adds or replaces a subscription in the session, the router and the store; true when it replaced one. */
  subscribe(session: Session, record: SubscriptionRecord): boolean {
    const previous = session.putSubscription(record);
    const router = this.services.router;
    if (previous !== undefined) router.remove(previous);
    router.add(record);
    return previous !== undefined;
  }

  /** Removes a subscription from the session, the router and the store; false when there was none. */
  unsubscribe(session: Session, filter: string): boolean {
    const record = session.deleteSubscription(filter);
    if (record === undefined) return false;
    this.services.router.remove(record);
    return true;
  }

  /**
   * The session's connection ended: it goes offline (its Will sent or delayed, its expiry armed) or, with a
   * Session Expiry Interval of 0, ends.
   */
  detach(session: Session, connection: SessionConnection, will: Will | undefined): void {
    if (session.connection !== connection) return;
    session.connection = undefined;
    session.outbox.detach();
    session.disconnectedAt = Date.now();
    if (will !== undefined) this.scheduleWill(session, will);
    if (session.expiryInterval === 0) {
      this.end(session);
      return;
    }
    if (session.expiryInterval !== NEVER_EXPIRES) this.armExpiry(session, session.disconnectedAt + session.expiryInterval * 1000);
    session.saveState();
  }

  /** The session is over: a pending Will goes out, subscriptions go, shared messages go to other members. */
  end(session: Session): void {
    if (session.ended) return;
    session.ended = true;
    clearTimeout(session.expiryTimer);
    const pending = session.pendingWill;
    if (pending !== undefined) {
      clearTimeout(pending.timer);
      session.pendingWill = undefined;
      this.services.sendWill(session.clientId, pending.will);
    }
    const router = this.services.router;
    for (const sub of session.clear()) router.remove(sub);
    if (this.sessions.get(session.clientId) === session) {
      this.sessions.delete(session.clientId);
      this.services.sessionEnded?.(session.clientId);
    }
  }

  /**
   * Gives the session up to another broker (a cluster handover): its connection gets DISCONNECT 0x8E, then its
   * whole state is returned and it is gone from here without a record deleted or a message settled — the other
   * broker resumes it. With `discard` (the client starts clean there) it ends here as usual. Undefined when this
   * broker has no such session.
   */
  handOver(clientId: string, discard: boolean): StoredSessionState | undefined {
    const session = this.sessions.get(clientId);
    if (session === undefined) return undefined;
    session.connection?.disconnect(ReasonCode.SessionTakenOver, 'session taken over');
    if (discard || session.ended || this.sessions.get(clientId) !== session) {
      this.end(session);
      return undefined;
    }
    const state = session.export();
    session.ended = true;
    clearTimeout(session.expiryTimer);
    clearTimeout(session.pendingWill?.timer);
    session.pendingWill = undefined;
    const router = this.services.router;
    for (const sub of session.subscriptions.values()) router.remove(sub);
    session.forgetSubscriptions();
    session.dropJournal();
    session.outbox.forget();
    this.sessions.delete(clientId);
    return state;
  }

  /**
   * Takes in a session another broker handed over (before its client is attached here): subscriptions, deliveries,
   * QoS 2 ids and a pending Will, all recorded in this broker's store when the session is persistent.
   */
  adopt(state: StoredSessionState): Session {
    const previous = this.sessions.get(state.session.clientId);
    if (previous !== undefined) this.end(previous);
    const session = this.install(state, this.services.limits);
    if (state.session.expiryInterval > 0 && this.services.writer !== undefined) {
      session.setJournal(this.services.writer);
      session.recordAll();
    }
    if (state.session.will !== undefined) this.scheduleWill(session, state.session.will.will, state.session.will.dueAt);
    return session;
  }

  /** An adopted session whose client left before it was attached: offline from now, its expiry running. */
  detachAdopted(session: Session): void {
    if (session.connection !== undefined || session.ended) return;
    session.disconnectedAt = Date.now();
    if (session.expiryInterval === 0) this.end(session);
    else if (session.expiryInterval !== NEVER_EXPIRES) this.armExpiry(session, session.disconnectedAt + session.expiryInterval * 1000);
  }

  /** Rebuilds sessions, subscriptions, queues and Wills from a store. */
  restore(states: StoredSessionState[]): void {
    const { writer, limits, stats } = this.services;
    const now = Date.now();
    for (const state of states) {
      const stored = state.session;
      const dueAt = stored.expiryInterval === NEVER_EXPIRES ? Infinity : (stored.disconnectedAt ?? now) + stored.expiryInterval * 1000;
      const session = this.install(state, limits);
      // The store holds these records already: from here on the session records its changes.
      if (writer !== undefined) session.resumeJournal(writer);
      if (stored.will !== undefined) this.scheduleWill(session, stored.will.will, stored.will.dueAt);
      if (dueAt <= now) {
        stats.clientsExpired++;
        this.end(session);
      } else if (dueAt !== Infinity) this.armExpiry(session, dueAt);
    }
  }

  /** A session built from stored state: subscriptions in the router, deliveries and QoS 2 ids in place. */
  private install(state: StoredSessionState, limits: BrokerLimits): Session {
    const { router, stats } = this.services;
    const stored = state.session;
    const session = new Session(stored.clientId, stored.username, stored.protocolVersion, limits, stats);
    session.expiryInterval = stored.expiryInterval;
    session.disconnectedAt = stored.disconnectedAt ?? Date.now();
    this.sessions.set(session.clientId, session);
    for (const sub of state.subscriptions) {
      const record = subscriptionRecord(session, { ...sub, topicFilter: sub.filter }, sub.qos, sub.identifier);
      session.restoreSubscription(record);
      router.add(record);
    }
    for (const outgoing of state.outgoing) {
      session.outbox.restore(outgoing, outgoing.shared === undefined ? undefined : router.sharedGroup?.(outgoing.shared));
    }
    for (const id of state.incoming) session.restoreIncoming(id);
    return session;
  }

  /** Stops every timer (broker shutdown). */
  stopTimers(): void {
    for (const session of this.sessions.values()) {
      clearTimeout(session.expiryTimer);
      clearTimeout(session.pendingWill?.timer);
    }
  }

  /** Persistent sessions record their changes in the store; others live only in memory. */
  private updatePersistence(session: Session): void {
    const writer = this.services.writer;
    if (writer === undefined) return;
    session.setJournal(session.expiryInterval > 0 ? writer : undefined);
  }

  private armExpiry(session: Session, dueAt: number): void {
    const delay = Math.max(0, dueAt - Date.now());
    session.expiryTimer = setTimeout(() => {
      session.expiryTimer = undefined;
      if (delay > MAX_TIMER) this.armExpiry(session, dueAt);
      else {
        this.services.stats.clientsExpired++;
        this.services.guarded(`expiring the session of ${session.clientId}`, () => this.end(session));
      }
    }, Math.min(delay, MAX_TIMER));
  }

  private scheduleWill(session: Session, will: Will, dueAt?: number): void {
    const delay = session.protocolVersion === 5 ? (will.properties?.willDelayInterval ?? 0) : 0;
    const due = dueAt ?? Date.now() + delay * 1000;
    if (due <= Date.now() || session.expiryInterval === 0) {
      this.services.sendWill(session.clientId, will);
      return;
    }
    const pending = { will, dueAt: due, timer: undefined as NodeJS.Timeout | undefined };
    pending.timer = setTimeout(
      () => {
        if (session.pendingWill !== pending) return;
        session.pendingWill = undefined;
        this.services.guarded(`sending the will of ${session.clientId}`, () => this.services.sendWill(session.clientId, will));
        session.saveState();
      },
      Math.min(due - Date.now(), MAX_TIMER),
    );
    session.pendingWill = pending;
  }
}
