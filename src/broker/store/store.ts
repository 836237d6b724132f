import type { ProtocolVersion, QoS, Will } from '../../packet/index.js';
import type { BrokerMessage } from '../message.js';

/**
 * Persistence contract. The broker keeps its live state in memory and records every change here as ordered
 * operations, grouped into batches (group commit): one `write` per batch, at most one in flight at a time.
 * PUBACK and PUBREC are sent only after the batch holding the message has been written.
 * A store must pass the contract suite, `runStoreContract` of `culex/broker/testing` (src/broker/testing/).
 */
export interface BrokerStore {
  /**
   * Opens (and recovers) the store; called once by `broker.listen()` before any other method. What it found
   * may be returned for the start-up log.
   */
  open(): Promise<RecoveryStats | void>;
  /** Applies the operations in order, all or none; resolves when they are as durable as the store promises. */
  write(ops: readonly StoreOp[]): Promise<void>;
  /**
   * Milliseconds the next batch should wait before it is taken, so that more changes gather in it (a store whose
   * cost is per write, as the cluster journal's). The changes recorded meanwhile join it. Absent or 0: none.
   */
  writeDelay?(): number;
  /** Every retained message, expired ones included (the broker drops those). */
  loadRetained(): Promise<BrokerMessage[]>;
  /** Every session with its subscriptions, outgoing messages (by `seq`) and incoming QoS 2 packet ids. */
  loadSessions(): Promise<StoredSessionState[]>;
  /** Flushes and releases the store. */
  close(): Promise<void>;
}

/** What start-up found in the store. */
export interface RecoveryStats {
  sessions: number;
  subscriptions: number;
  outgoing: number;
  incoming: number;
  retained: number;
  /** Total size of the records, bytes. */
  bytes: number;
  /** Records of sessions that no longer exist, removed at start-up. */
  orphans: number;
  milliseconds: number;
}

export interface StoredSession {
  clientId: string;
  username: string | undefined;
  protocolVersion: ProtocolVersion;
  /** Seconds the session outlives its connection; 0xFFFFFFFF = forever. */
  expiryInterval: number;
  /** Epoch milliseconds of the disconnect; undefined while connected. */
  disconnectedAt: number | undefined;
  /** The Will still to be sent (delayed Will of a disconnected client). */
  will: StoredWill | undefined;
}

export interface StoredWill {
  will: Will;
  /** Epoch milliseconds when it is due. */
  dueAt: number;
}

export interface StoredSubscription {
  /** As the client sent it, `$share/{group}/` included. */
  filter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  identifier: number | undefined;
}

/** A message on its way to one session: queued, or sent and awaiting its acknowledgement. */
export interface StoredOutgoing {
  /** Orders a session's outgoing messages; unique per session. */
  seq: number;
  message: BrokerMessage;
  /** QoS and retain flag as delivered to this session. */
  qos: QoS;
  retain: boolean;
  subscriptionIds: number[] | undefined;
  /** 0 while queued. */
  packetId: number;
  /** `queued`, `publish` (sent, awaiting PUBACK/PUBREC), `pubrel` (PUBREL sent, awaiting PUBCOMP). */
  state: 'queued' | 'publish' | 'pubrel';
  /**
   * The shared subscription (`$share/{group}/{filter}`) the message came through, if any: when the session ends
   * before the message is acknowledged, another member of that group gets it.
   */
  shared?: string;
}

export interface StoredSessionState {
  session: StoredSession;
  subscriptions: StoredSubscription[];
  outgoing: StoredOutgoing[];
  /** QoS 2 packet ids received and not yet released by PUBREL. */
  incoming: number[];
}

export type StoreOp =
  | { op: 'putSession'; session: StoredSession }
  /** Removes the session and everything under it. */
  | { op: 'deleteSession'; clientId: string }
  | { op: 'putSubscription'; clientId: string; subscription: StoredSubscription }
  | { op: 'deleteSubscription'; clientId: string; filter: string }
  | { op: 'putOutgoing'; clientId: string; outgoing: StoredOutgoing }
  | { op: 'deleteOutgoing'; clientId: string; seq: number }
  | { op: 'putIncoming'; clientId: string; packetId: number }
  | { op: 'deleteIncoming'; clientId: string; packetId: number }
  /** Replaces the retained message of `message.topic`. */
  | { op: 'putRetained'; message: BrokerMessage }
  | { op: 'deleteRetained'; topic: string }
  /**
   * A QoS 1/2 message published on this broker, for brokers that share its subscribers (a cluster): a store that
   * replicates writes it; one that keeps only this broker's state ignores it.
   */
  | {
      op: 'publish';
      message: BrokerMessage;
      /** Members of shared subscriptions chosen for it: `[$share/{group}/{filter}, client id, node]`. */
      shared?: ReadonlyArray<SharedChoice>;
      /** Only for those members (a message handed on to another member): not for plain subscriptions again. */
      sharedOnly?: boolean;
    };

/** One shared-subscription member a message was given to, in a cluster: the group's filter, client id and node. */
export type SharedChoice = readonly [group: string, clientId: string, node: string];
