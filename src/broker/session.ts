import type { ProtocolVersion, QoS, Will } from '../packet/types.js';
import type { Connection } from './connection.js';
import type { PublishContext } from './flow.js';
import type { BrokerLimits } from './options.js';
import { Outbox } from './outbox.js';
import type { SubscriptionRecord } from './router.js';
import type { BrokerStats } from './stats.js';
import type { StoredSession } from './store/store.js';

/** Session Expiry Interval meaning "never expires". */
export const NEVER_EXPIRES = 0xffffffff;

/**
 * The state of one client id that outlives its connections: subscriptions, outgoing messages, QoS 2 packet ids
 * received and not yet released, and a delayed Will. `connection` is set while a client is attached.
 */
export class Session {
  readonly subscriptions = new Map<string, SubscriptionRecord>();
  readonly outbox: Outbox;
  /** QoS 2 packet ids received and not yet released by PUBREL; made on first use (most sessions never need it). */
  private incomingQos2: Set<number> | undefined;
  connection: Connection | undefined;
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

  // Scratch fields the router uses while merging overlapping subscriptions for one message.
  routeEpoch = 0;
  routeQos: QoS = 0;
  routeRetain = false;
  routeIds: number[] | undefined;

  constructor(
    readonly clientId: string,
    public username: string | undefined,
    public protocolVersion: ProtocolVersion,
    limits: BrokerLimits,
    stats: BrokerStats,
    context?: PublishContext,
  ) {
    this.outbox = new Outbox(clientId, limits, stats, context);
  }

  hasIncoming(packetId: number): boolean {
    return this.incomingQos2 !== undefined && this.incomingQos2.has(packetId);
  }

  addIncoming(packetId: number): void {
    (this.incomingQos2 ??= new Set()).add(packetId);
  }

  /** False when the id was not held. */
  deleteIncoming(packetId: number): boolean {
    return this.incomingQos2 !== undefined && this.incomingQos2.delete(packetId);
  }

  get online(): boolean {
    return this.connection !== undefined;
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
}
