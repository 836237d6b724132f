import type { BrokerMessage } from '../message.js';
import type {
  RecoveryStats,
  BrokerStore,
  StoreOp,
  StoredOutgoing,
  StoredSession,
  StoredSessionState,
  StoredSubscription,
} from './store.js';

interface SessionRecord {
  session: StoredSession;
  subscriptions: Map<string, StoredSubscription>;
  outgoing: Map<number, StoredOutgoing>;
  incoming: Set<number>;
}

/**
 * Keeps everything in maps: state survives a broker restart in the same process (a new Broker given the same
 * store), not a process restart. The reference implementation of the store contract.
 */
export class MemoryStore implements BrokerStore {
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly retained = new Map<string, BrokerMessage>();

  /** Nothing to recover: a new memory store is empty. */
  async open(): Promise<RecoveryStats | void> {}

  async close(): Promise<void> {}

  async write(ops: readonly StoreOp[]): Promise<void> {
    for (const op of ops) this.apply(op);
  }

  async loadRetained(): Promise<BrokerMessage[]> {
    return [...this.retained.values()];
  }

  async loadSessions(): Promise<StoredSessionState[]> {
    const out: StoredSessionState[] = [];
    for (const record of this.sessions.values()) {
      out.push({
        session: { ...record.session },
        subscriptions: [...record.subscriptions.values()].map((s) => ({ ...s })),
        outgoing: [...record.outgoing.values()].sort((a, b) => a.seq - b.seq).map((o) => ({ ...o })),
        incoming: [...record.incoming],
      });
    }
    return out;
  }

  private apply(op: StoreOp): void {
    switch (op.op) {
      case 'putSession': {
        const record = this.sessions.get(op.session.clientId);
        if (record) record.session = { ...op.session };
        else {
          this.sessions.set(op.session.clientId, {
            session: { ...op.session },
            subscriptions: new Map(),
            outgoing: new Map(),
            incoming: new Set(),
          });
        }
        return;
      }
      case 'deleteSession':
        this.sessions.delete(op.clientId);
        return;
      case 'putSubscription':
        this.sessions.get(op.clientId)?.subscriptions.set(op.subscription.filter, { ...op.subscription });
        return;
      case 'deleteSubscription':
        this.sessions.get(op.clientId)?.subscriptions.delete(op.filter);
        return;
      case 'putOutgoing':
        this.sessions.get(op.clientId)?.outgoing.set(op.outgoing.seq, { ...op.outgoing });
        return;
      case 'deleteOutgoing':
        this.sessions.get(op.clientId)?.outgoing.delete(op.seq);
        return;
      case 'putIncoming':
        this.sessions.get(op.clientId)?.incoming.add(op.packetId);
        return;
      case 'deleteIncoming':
        this.sessions.get(op.clientId)?.incoming.delete(op.packetId);
        return;
      case 'putRetained':
        this.retained.set(op.message.topic, op.message);
        return;
      case 'deleteRetained':
        this.retained.delete(op.topic);
        return;      case 'publish':
        // A cluster's: this store keeps only this broker's state.
        return;
    }
  }
}
