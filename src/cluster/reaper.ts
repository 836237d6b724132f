import type { Logger, BrokerMessage, StoredOutgoing, StoredSession, StoredSessionState, StoredSubscription } from '../broker/index.js';
import type { QoS, Will } from '../packet/index.js';
import { parseSharedFilter, matches } from '../topic/index.js';
import type { ClusterEngine, JournalEntry } from './engine.js';
import { decodeBatch, type JournalOp } from './journal-codec.js';

/** One session of a dead node, rebuilt from its journal. */
interface DeadSession {
  session: StoredSession;
  subscriptions: Map<string, StoredSubscription>;
  outgoing: Map<number, StoredOutgoing>;
  incoming: Set<number>;
}

/** What a node's journal says about its state when it died. */
interface DeadNodeState {
  sessions: Map<string, DeadSession>;
  /** Clients connected at the end, with their Wills (`dueAt` holds the Will Delay in seconds). */
  connected: Map<string, StoredSession>;
  /** Where the dead node's routing of the journal had got. */
  consumed: number;
  /** The last of its entries read. */
  readTo: number;
}

/** What the reaping node does with what it finds. */
export interface ReaperHost {
  readonly engine: ClusterEngine;
  readonly logger: Logger;
  /** How far this node has routed the journal (exclusive). */
  consumedSeq(): number;
  /**
   * Below which sequence every live node other than `dead` has routed the journal (this one included), as far as
   * their heartbeats say; undefined while one has not said.
   */
  routedBelow(dead: string): number | undefined;
  /** Takes over ownership of a session the dead node owned (compare-and-set); false when another node has it. */
  claimFrom(dead: string, clientId: string): Promise<boolean>;
  /** Takes an offline session in (its pending Will scheduled, its expiry armed). Called in one tick for all. */
  adopt(state: StoredSessionState): void;
  /** Gives a shared-subscription message to another member of its group. */
  handOn(group: string, message: BrokerMessage, exclude: string): void;
  /** Sends a Will as the client's. */
  sendWill(clientId: string, will: Will): void;
  /** Most messages queued per session. */
  readonly maxQueuedMessages: number;
}

/** Reading the journal to catch up gives up after this many rounds (a journal written faster than it is read). */
const CATCH_UP_ROUNDS = 20;
/** A dead node's journal held back from the purge (others had not routed it) is purged again this much later, this many times in all. */
const PURGE_AGAIN_MS = 30_000;
const PURGE_TRIES = 10;

/**
 * Takes over a dead node's clients: its sessions (from its journal: subscriptions, queued and in-flight messages,
 * QoS 2 ids), the messages published since the dead node last routed the journal, and the Wills of the clients
 * it had connected. Sessions another node has taken meanwhile are left alone (ownership is compared and set).
 */
export class Reaper {
  /** Sessions claimed by an attempt that failed later, by dead node: the next attempt adopts them too. */
  private readonly claimed = new Map<string, Set<string>>();

  constructor(private readonly host: ReaperHost) {}

  async reap(dead: string): Promise<{ sessions: number; wills: number; messages: number }> {
    const { engine } = this.host;
    const state = await this.read(dead);
    // Ownership first: a client that comes back elsewhere from now on asks this node, which waits for the adoption.
    const claimed = this.claimed.get(dead) ?? new Set<string>();
    this.claimed.set(dead, claimed);
    const mine: DeadSession[] = [];
    for (const [clientId, session] of state.sessions) {
      if (claimed.has(clientId) || (await this.host.claimFrom(dead, clientId))) {
        claimed.add(clientId);
        mine.push(session);
      }
    }
    let messages = 0;
    let from = state.consumed;
    for (let round = 0; ; round++) {
      const to = this.host.consumedSeq();
      if (to <= from || round >= CATCH_UP_ROUNDS) break;
      await engine.readRange(from, to, (entry) => {
        if (entry.node !== dead) messages += this.replay(entry, mine, dead);
      });
      from = to;
    }
    // The follower has routed everything before `from` to this node's sessions; the adopted ones join them now,
    // in this tick, so that every later entry reaches them through the router.
    const now = Date.now();
    let wills = 0;
    const adopted = new Set<string>();
    for (const ds of mine) {
      // Shared-subscription messages the dead node had given this session go to another member of their group.
      for (const [seq, outgoing] of ds.outgoing) {
        if (outgoing.shared === undefined) continue;
        this.host.handOn(outgoing.shared, outgoing.message, ds.session.clientId);
        ds.outgoing.delete(seq);
      }
      const live = state.connected.get(ds.session.clientId);
      const session: StoredSession = { ...ds.session, disconnectedAt: ds.session.disconnectedAt ?? now };
      if (live?.will !== undefined) {
        session.will = { will: live.will.will, dueAt: now + live.will.dueAt * 1000 };
        wills++;
      }
      this.host.adopt({ session, subscriptions: [...ds.subscriptions.values()], outgoing: [...ds.outgoing.values()], incoming: [...ds.incoming] });
      adopted.add(ds.session.clientId);
    }
    // Clients without a persistent session (or whose session went elsewhere): their Wills go now.
    for (const [clientId, live] of state.connected) {
      if (adopted.has(clientId) || live.will === undefined) continue;
      if (state.sessions.has(clientId)) continue;
      this.host.sendWill(clientId, live.will.will);
      wills++;
    }
    this.claimed.delete(dead);
    await this.purge(dead, state.readTo + 1, PURGE_TRIES);
    return { sessions: mine.length, wills, messages };
  }

  /**
   * The dead node's journal goes, but only below `end` (what was read here: a node counted dead while it was only
   * cut off writes on) and below what every other node has routed (its messages for them are in entries they may
   * not have read yet). What is held back is tried again later, a few times; the journal's age limit takes the rest.
   */
  private async purge(dead: string, end: number, tries: number): Promise<void> {
    const routed = this.host.routedBelow(dead);
    const below = routed === undefined ? 0 : Math.min(end, routed);
    if (below > 0) {
      try {
        await this.host.engine.purgeNode(dead, below);
      } catch (err) {
        this.host.logger.warn(`cluster: journal of ${dead} not purged: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (below < end && tries > 1) setTimeout(() => void this.purge(dead, end, tries - 1), PURGE_AGAIN_MS).unref();
  }

  /** The dead node's state, from its journal. */
  private async read(dead: string): Promise<DeadNodeState> {
    const state: DeadNodeState = { sessions: new Map(), connected: new Map(), consumed: 1, readTo: 0 };
    let bad = 0;
    await this.host.engine.readNode(dead, (entry) => {
      if (entry.seq > state.readTo) state.readTo = entry.seq;
      let ops: JournalOp[];
      try {
        ops = decodeBatch(entry.data);
      } catch {
        bad++;
        return;
      }
      for (const op of ops) this.apply(state, op);
    });
    if (bad > 0) this.host.logger.warn(`cluster: ${bad} entries of ${dead}'s journal did not decode and were skipped`);
    return state;
  }

  private apply(state: DeadNodeState, op: JournalOp): void {
    const session = (clientId: string): DeadSession | undefined => state.sessions.get(clientId);
    switch (op.op) {
      case 'putSession': {
        const known = session(op.session.clientId);
        if (known !== undefined) known.session = op.session;
        else state.sessions.set(op.session.clientId, { session: op.session, subscriptions: new Map(), outgoing: new Map(), incoming: new Set() });
        return;
      }
      case 'deleteSession':
        state.sessions.delete(op.clientId);
        return;
      case 'putSubscription':
        session(op.clientId)?.subscriptions.set(op.subscription.filter, op.subscription);
        return;
      case 'deleteSubscription':
        session(op.clientId)?.subscriptions.delete(op.filter);
        return;
      case 'putOutgoing':
        session(op.clientId)?.outgoing.set(op.outgoing.seq, op.outgoing);
        return;
      case 'deleteOutgoing':
        session(op.clientId)?.outgoing.delete(op.seq);
        return;
      case 'putIncoming':
        session(op.clientId)?.incoming.add(op.packetId);
        return;
      case 'deleteIncoming':
        session(op.clientId)?.incoming.delete(op.packetId);
        return;
      case 'connected':
        state.connected.set(op.session.clientId, op.session);
        return;
      case 'disconnected':
        state.connected.delete(op.clientId);
        return;
      case 'consumed':
        state.consumed = op.seq;
        return;
      default:
        return;
    }
  }

  /**
   * Queues an entry's published messages for the dead node's sessions they match (and the shared-subscription
   * members chosen on the dead node); returns how many were queued.
   */
  private replay(entry: JournalEntry, sessions: DeadSession[], dead: string): number {
    let ops: JournalOp[];
    try {
      ops = decodeBatch(entry.data);
    } catch {
      return 0;
    }
    let queued = 0;
    for (const op of ops) {
      if (op.op !== 'publish') continue;
      if (op.sharedOnly !== true) for (const session of sessions) if (this.queue(session, op.message)) queued++;
      for (const [group, clientId, node] of op.shared ?? []) {
        if (node !== dead) continue;
        // Its member's connection went with the node: another member of the group gets it (at least once).
        this.host.handOn(group, op.message, clientId);
        queued++;
      }
    }
    return queued;
  }

  /** As the router would: one delivery per session at the highest matching QoS, with every subscription id. */
  private queue(session: DeadSession, message: BrokerMessage): boolean {
    let qos = -1;
    let retain = false;
    let ids: number[] | undefined;
    for (const sub of session.subscriptions.values()) {
      // Shared subscriptions' messages went to another member (each message to one member of a group).
      if (parseSharedFilter(sub.filter) !== undefined) continue;
      if (sub.noLocal && message.origin === session.session.clientId) continue;
      if (!matches(sub.filter, message.topic)) continue;
      if (sub.qos > qos) qos = sub.qos;
      if (sub.retainAsPublished) retain = true;
      if (sub.identifier !== undefined) (ids ??= []).push(sub.identifier);
    }
    if (qos < 0) return false;
    return this.enqueue(session, message, qos, retain, ids);
  }

  private enqueue(session: DeadSession, message: BrokerMessage, qos: number, retain: boolean, ids: number[] | undefined): boolean {
    const granted = (message.qos < qos ? message.qos : qos) as QoS;
    // QoS 0 is not kept for offline sessions, and a full queue takes no more.
    if (granted === 0 || session.outgoing.size >= this.host.maxQueuedMessages) return false;
    let seq = 0;
    for (const known of session.outgoing.keys()) if (known > seq) seq = known;
    session.outgoing.set(seq + 1, { seq: seq + 1, message, qos: granted, retain: retain && message.retain, subscriptionIds: ids, packetId: 0, state: 'queued' });
    return true;
  }
}
