import { Broker, type Logger, type BrokerMessage, type BrokerOptions } from '../broker/index.js';
import { withOwnPayload } from '../broker/internal.js';
import { ClusterRouter } from './cluster-router.js';
import type { ClusterEngine, JournalEntry, KvBucket, Stop } from './engine.js';
import { decodeBatch, JournalError, ROUTED_OPS, type JournalOp } from './journal-codec.js';
import { JournalStore } from './journal-store.js';
import { LevelWaiters } from './level-waiters.js';
import { Reaper } from './reaper.js';
import { FollowerHold } from './follower-hold.js';
import { FreshAnswer } from './fresh-answer.js';
import { Membership } from './membership.js';
import { ClusterRoutes } from './routes.js';
import { ClusterSessions } from './session-directory.js';
import { ClusterSharedGroups } from './shared-groups.js';
import { TopicSubjects } from './subject.js';

/** How a node takes part in a cluster. */
export interface ClusterNodeOptions {
  engine: ClusterEngine;
  /** Subject prefixes for live and retained messages (NatsEngine.subjects; anything for an in-process engine). */
  subjects: { live: string; retained: string };
  logger: Logger;
  /** Milliseconds between this node's heartbeats; a node silent for `deadAfterMs` is dead. Defaults 1000, 5000. */
  heartbeatMs?: number;
  deadAfterMs?: number;
  /** Milliseconds between journal writes of how far this node has routed, when nothing else is written. Default 2000. */
  markIntervalMs?: number;
  /**
   * Least milliseconds between two journal writes, so that each carries more messages (JetStream's cost is per
   * write); QoS 1/2 acknowledgements wait up to this much longer. Default 2.
   */
  journalBatchMs?: number;
  /**
   * The journal is compacted (see `checkpoint`) once this many bytes were appended since the last compaction, or
   * twice what that compaction wrote if more. Default 64 MiB.
   */
  checkpointBytes?: number;
  /** ... or once this many milliseconds passed with anything appended (keep it below the journal's max age). Default 1 day. */
  checkpointEveryMs?: number;
  /** Milliseconds a compaction waits before purging, so that every node has routed what it purges. Default 60,000. */
  purgeDelayMs?: number;
  /** Largest journal entry in bytes (below the NATS servers' max_payload). Default 512 KiB. */
  maxEntryBytes?: number;
}

/** What a compaction of the journal did (`ClusterNode.checkpoint`). */
export interface CheckpointResult {
  /** The journal sequence where this node's state was written again. */
  start: number;
  /** This node's entries below this sequence were purged; undefined when the purge was put off (why: `reason`). */
  purgedBelow: number | undefined;
  reason?: string;
}

/** The cluster as one node sees it, for `$SYS`, health output and tests. */
export interface ClusterStatus {
  nodeId: string;
  /** False while the engine is unreachable: the node serves what it can alone (see docs/cluster.md). */
  engineReachable: boolean;
  /** Nodes heard from within `deadAfterMs`, this one included. */
  nodes: string[];
  /** Journal entries that did not decode (another program on the cluster's subjects, damage): dropped. */
  badEntries: number;
  /** How far this node has routed the journal. */
  consumedSeq: number;
}

/** Answers an admin request of another node's admin listener (the ops part encodes both). */
type AdminHandler = (request: Uint8Array) => Promise<Uint8Array>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** How often a node looks whether its journal is due for compaction. */
const CHECKPOINT_CHECK_MS = 10_000;
/** How many mark intervals apart a node moves its position past the entries it does not follow (passUnfollowed). */
const UNFOLLOWED_EVERY_MARKS = 5;
/** First byte of an admin API request from another node's admin listener (handover requests are JSON text). */
const ADMIN_REQUEST = 0;
/** First byte of a node's question whether this one has seen the routes bucket up to a revision (a u64 after it). */
const ROUTES_SEEN = 1;
const ROUTES_SEEN_TIMEOUT_MS = 3000;
const ADMIN_TIMEOUT_MS = 5000;
/** Pause before taking over a dead node again after a failed attempt: grows per attempt up to the maximum. */
const REAP_RETRY_MS = 1000;
const REAP_RETRY_MAX_MS = 10_000;

/**
 * One broker of a cluster: its router sends what is published here to the other nodes and takes what they
 * publish; its store is the node's journal; a follower reads every node's journal entries and applies what
 * concerns this node (messages to route, retained messages); heartbeats tell the nodes who is alive.
 */
export class ClusterNode {
  readonly broker: Broker;
  readonly router: ClusterRouter;
  readonly store: JournalStore;
  readonly sessions: ClusterSessions;
  private readonly groups: ClusterSharedGroups;
  private readonly routes: ClusterRoutes;
  private readonly reaper: Reaper;
  private stopping = false;
  private readonly engine: ClusterEngine;
  private readonly logger: Logger;
  private readonly heartbeatMs: number;
  private readonly deadAfterMs: number;
  private readonly markIntervalMs: number;
  private consumedSeq = 0;
  /** Past the last entry of another node this node has routed: what its journal marks as consumed. */
  private routedSeq = 0;
  /** SUBACKs waiting for the follower to have routed the journal up to a position (`consumedSeq`). */
  private readonly catchUpWaiters = new LevelWaiters();
  /**
   * The journal's last followed entry, asked for once per burst of askers (SUBSCRIBEs, the move past unfollowed
   * entries): the answer carries the entry.
   */
  private readonly lastFollowed: FreshAnswer<number>;
  private badEntries = 0;
  /** Held by local subscribers' full queues: the follower then reads no further entries until they drain. */
  private readonly followerHold = new FollowerHold();
  private reachable = true;
  private unreachableSince = 0;
  private adminHandler: AdminHandler | undefined;
  private readonly membership: Membership;
  private readonly checkpointBytes: number;
  private readonly checkpointEveryMs: number;
  private readonly purgeDelayMs: number;
  /** The last compaction: bytes appended when it was done, the bytes it wrote, when. */
  private lastCheckpoint = { bytes: 0, size: 0, at: Date.now() };
  private checkpointing: Promise<CheckpointResult> | undefined;
  private purgeWait: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private readonly stops: Stop[] = [];
  private timers: NodeJS.Timeout[] = [];

  constructor(brokerOptions: BrokerOptions, options: ClusterNodeOptions) {
    this.engine = options.engine;
    this.logger = options.logger;
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.deadAfterMs = options.deadAfterMs ?? 5000;
    this.markIntervalMs = options.markIntervalMs ?? 2000;
    this.checkpointBytes = options.checkpointBytes ?? 64 * 1024 * 1024;
    this.checkpointEveryMs = options.checkpointEveryMs ?? 86_400_000;
    this.purgeDelayMs = options.purgeDelayMs ?? 60_000;
    this.membership = new Membership({
      engine: this.engine,
      logger: this.logger,
      heartbeatMs: this.heartbeatMs,
      deadAfterMs: this.deadAfterMs,
      figures: () => ({ clients: this.broker.connectedClients, sessions: this.broker.sessionCount, consumed: this.consumedSeq }),
      reachable: () => this.reachable,
      stopping: () => this.stopping,
      gone: (node, revision) => void this.reapIfElected(node, revision),
      maybeCountedDead: () => void this.reconcile(),
    });
    const alive = (node: string): boolean => this.membership.isAlive(node);
    this.groups = new ClusterSharedGroups(this.engine.bucket('shares'), this.engine.nodeId, alive, this.logger);
    this.routes = new ClusterRoutes({
      bucket: this.engine.bucket('routes'),
      nodeId: this.engine.nodeId,
      logger: this.logger,
      others: () => [...this.membership.alive].filter((node) => node !== this.nodeId),
      askSeen: async (node, revision) => {
        const data = new Uint8Array(9);
        data[0] = ROUTES_SEEN;
        new DataView(data.buffer).setBigUint64(1, BigInt(revision));
        await this.engine.request(node, data, ROUTES_SEEN_TIMEOUT_MS);
      },
    });
    this.router = new ClusterRouter(this.engine, new TopicSubjects({ prefix: options.subjects.live }), this.groups, this.routes);
    this.store = new JournalStore(this.engine, new TopicSubjects({ prefix: options.subjects.retained }), options.journalBatchMs ?? 2, options.maxEntryBytes);
    this.store.consumed = () => this.routedSeq;
    this.lastFollowed = new FreshAnswer(() => this.engine.lastSeq(true));
    this.router.catchUp = () => this.caughtUp();
    this.sessions = new ClusterSessions(
      this.engine,
      { handOver: (clientId, discard) => this.broker.handOver(clientId, discard) },
      alive,
      (op) => this.store.markSoon(op),
      (clientId, online) => this.groups.setOnline(clientId, online),
      this.logger,
      this.deadAfterMs * 2 + 5000,
    );
    this.broker = new Broker({ ...brokerOptions, store: this.store, sessionDirectory: this.sessions, sysFigures: () => this.sysFigures() }, this.router);
    const limits = this.broker.limits;
    this.reaper = new Reaper({
      engine: this.engine,
      logger: this.logger,
      consumedSeq: () => this.consumedSeq,
      routedBelow: (dead) => this.routedBelow(dead),
      claimFrom: (dead, clientId) => this.sessions.claimFrom(dead, clientId),
      adopt: (state) => this.broker.adoptSession(state),
      sendWill: (clientId, will) => this.broker.sendWill(clientId, will),
      handOn: (group, message, exclude) => this.router.handOn(group, message, exclude),
      maxQueuedMessages: limits.maxQueuedMessages,
    });
  }

  get nodeId(): string {
    return this.engine.nodeId;
  }

  status(): ClusterStatus {
    return {
      nodeId: this.nodeId,
      engineReachable: this.reachable,
      nodes: [...this.membership.alive].sort(),
      badEntries: this.badEntries,
      consumedSeq: this.consumedSeq,
    };
  }

  /** Joins the cluster, then opens the broker's listeners. */
  async start(): Promise<void> {
    const engine = this.engine;
    engine.onStatus((up, detail) => this.engineStatus(up, detail));
    await engine.start();
    // Requests between nodes: handover requests (JSON text), admin requests (after ADMIN_REQUEST) and questions
    // whether routes are seen (after ROUTES_SEEN).
    await engine.serve((data) => this.answer(data));
    await this.membership.start();
    await this.groups.start();
    await this.routes.start();
    // The store notes the journal's end as it opens and loads retained messages; following starts after that end.
    await this.broker.listen();
    this.consumedSeq = this.store.startSeq + 1;
    this.routedSeq = this.consumedSeq;
    this.stops.push(await engine.follow(this.consumedSeq, (entry) => this.onEntry(entry)));
    let marks = 0;
    this.timers.push(
      setInterval(() => {
        void this.store.flushMarks().catch(() => undefined);
        // A JetStream request or two, each a socket write (dear on a VM), for what is not urgent: a position behind
        // the unfollowed entries by seconds holds a compaction (rare, and itself delayed) back by as much.
        if (++marks % UNFOLLOWED_EVERY_MARKS === 0) void this.passUnfollowed().catch(() => undefined);
      }, this.markIntervalMs),
    );
    this.timers.push(setInterval(() => this.compactIfDue(), Math.min(CHECKPOINT_CHECK_MS, this.checkpointEveryMs)));
    this.logger.info(`cluster node ${this.nodeId} joined (${this.membership.alive.size} nodes: ${[...this.membership.alive].sort().join(', ')})`);
  }

  /** Closes the broker (its clients are disconnected, its journal flushed), then leaves the cluster. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    if (this.purgeWait !== undefined) {
      clearTimeout(this.purgeWait.timer);
      this.purgeWait.resolve();
    }
    await this.checkpointing?.catch(() => undefined);
    await this.broker.close();
    // The clients' disconnections are in the journal before the node leaves (so no Will is sent twice).
    await this.store.flushMarks().catch(() => undefined);
    for (const stop of this.stops) stop();
    this.membership.stop();
    this.groups.stop();
    this.routes.stop();
    this.router.close();
    await this.engine.bucket('nodes').delete(this.nodeId).catch(() => undefined);
    await this.engine.stop();
  }

  /**
   * `$SYS/broker/cluster/...`: this node, the nodes alive, whether the engine is reachable, and totals over the
   * nodes from their heartbeats (each carries its node's connected clients and sessions).
   */
  private sysFigures(): Array<[string, number | string]> {
    let clients = 0;
    let sessions = 0;
    for (const node of this.membership.alive) {
      const figures = this.membership.figures.get(node);
      clients += figures?.clients ?? 0;
      sessions += figures?.sessions ?? 0;
    }
    return [
      ['cluster/node', this.nodeId],
      ['cluster/nodes', this.membership.alive.size],
      ['cluster/engine', this.reachable ? 'reachable' : 'unreachable (degraded)'],
      ['cluster/clients/connected', clients],
      ['cluster/sessions', sessions],
      ['cluster/journal/bad entries', this.badEntries],
      ['cluster/messages/from other nodes', this.router.stats.remoteMessages],
    ];
  }

  /**
   * The other nodes as this node's admin listener reaches them: the live nodes, admin requests sent to one of
   * them, and what answers theirs (an empty answer while this node has no admin listener).
   */
  adminPeers(): {
    nodes(): string[];
    ask(node: string, request: Uint8Array): Promise<Uint8Array>;
    answer(handler: AdminHandler | undefined): void;
    status(): ClusterStatus;
  } {
    return {
      status: () => this.status(),
      nodes: () => [...this.membership.alive],
      ask: (node, request) => {
        const data = new Uint8Array(request.length + 1);
        data[0] = ADMIN_REQUEST;
        data.set(request, 1);
        return this.engine.request(node, data, ADMIN_TIMEOUT_MS);
      },
      answer: (handler) => (this.adminHandler = handler),
    };
  }

  /** A request from another node: an admin API request, whether routes are seen, or a session handover (JSON). */
  private answer(data: Uint8Array): Promise<Uint8Array> {
    if (data[0] === ADMIN_REQUEST) return this.adminHandler?.(data.subarray(1)) ?? Promise.resolve(new Uint8Array(0));
    if (data[0] === ROUTES_SEEN && data.length === 9) {
      const revision = Number(new DataView(data.buffer, data.byteOffset, data.byteLength).getBigUint64(1));
      return this.routes.answerSync(revision).then(() => new Uint8Array(0));
    }
    return this.sessions.answer(data);
  }

  /** Compacts the journal when enough was appended since the last compaction, or long enough ago. */
  private compactIfDue(): void {
    if (this.checkpointing !== undefined || !this.reachable || this.stopping) return;
    const since = this.store.appendedBytes - this.lastCheckpoint.bytes;
    const bySize = since >= Math.max(this.checkpointBytes, 2 * this.lastCheckpoint.size);
    const byAge = since > 0 && Date.now() - this.lastCheckpoint.at >= this.checkpointEveryMs;
    if (!bySize && !byAge) return;
    void this.checkpoint().catch((err: unknown) => this.logger.warn(`cluster: journal compaction of ${this.nodeId} failed: ${err instanceof Error ? err.message : String(err)}`));
  }

  /**
   * Compacts this node's journal: writes the whole state of its persistent sessions, the Wills of its connected
   * clients and how far it has routed again, then purges its entries before those. Whoever adopts this node's
   * sessions after its death reads the journal from there: without this it would read everything since the node
   * started, and records older than the journal's max age would be gone. The purge waits `purgeDelayMs` and goes
   * no further than every node's follower had read when the compaction began (so no node misses a message it has
   * yet to route, and a node that dies meanwhile has marked what it routed); while a dead node awaits adoption it
   * is put off to the next compaction.
   */
  checkpoint(): Promise<CheckpointResult> {
    this.checkpointing ??= this.compact().finally(() => (this.checkpointing = undefined));
    return this.checkpointing;
  }

  private async compact(): Promise<CheckpointResult> {
    const bytesBefore = this.store.appendedBytes;
    const readBy = new Map<string, number | undefined>();
    for (const [node, figures] of this.membership.figures) if (node !== this.nodeId) readBy.set(node, figures.consumed);
    const started = this.store.nextSeq();
    this.store.restateConsumed();
    this.sessions.remarkConnected();
    if (!(await this.broker.recordSessions())) throw new Error('the journal did not take the sessions\' state');
    await this.store.flushMarks();
    const start = await started;
    this.lastCheckpoint = { bytes: this.store.appendedBytes, size: this.store.appendedBytes - bytesBefore, at: Date.now() };
    if (this.purgeDelayMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.purgeDelayMs);
        timer.unref();
        this.purgeWait = { timer, resolve };
      });
      this.purgeWait = undefined;
    }
    if (this.stopping) return { start, purgedBelow: undefined, reason: 'the node is stopping' };
    let below = start;
    for (const [node, consumed] of readBy) {
      if (consumed === undefined || consumed < 1) return { start, purgedBelow: undefined, reason: `node ${node} has not said how far it has read` };
      below = Math.min(below, consumed);
    }
    for (const node of this.membership.figures.keys()) {
      if (node === this.nodeId) continue;
      if (!this.membership.isAlive(node)) return { start, purgedBelow: undefined, reason: `node ${node} awaits adoption` };
      if (!readBy.has(node)) return { start, purgedBelow: undefined, reason: `node ${node} joined meanwhile` };
    }
    await this.engine.purgeNode(this.nodeId, below);
    this.logger.info(`cluster: journal of ${this.nodeId} compacted: ${this.broker.sessionCount} sessions written again (${this.lastCheckpoint.size} bytes), entries before ${below} purged`);
    return { start, purgedBelow: below };
  }

  /** Below which sequence every live node but `dead` has routed the journal, by their last heartbeats (and this one's position). */
  private routedBelow(dead: string): number | undefined {
    let below = this.consumedSeq;
    for (const node of this.membership.alive) {
      if (node === this.nodeId || node === dead) continue;
      const consumed = this.membership.figures.get(node)?.consumed;
      if (consumed === undefined || consumed < 1) return undefined;
      below = Math.min(below, consumed);
    }
    return below;
  }

  /** Resolves once this node has routed every followed journal entry written before the call. */
  private async caughtUp(): Promise<void> {
    const last = await this.lastFollowed.get();
    if (this.consumedSeq > last) return;
    await this.catchUpWaiters.until(last + 1);
  }

  /**
   * Moves how far this node has read past the entries it does not follow, when it has read every followed one:
   * else a node whose journal nobody needs would hold the others' compactions back for ever. The journal's end is
   * asked for first: every followed entry before it is at or before the last followed entry asked for after.
   */
  private async passUnfollowed(): Promise<void> {
    const end = await this.engine.lastSeq();
    // Nothing was appended since it last moved (an idle cluster): the second request, which fetches an entry, is spared.
    if (this.consumedSeq > end) return;
    const followed = await this.lastFollowed.get();
    if (this.consumedSeq <= followed) return;
    this.consumedSeq = end + 1;
    this.catchUpWaiters.reach(this.consumedSeq);
  }

  /**
   * One surviving node takes over a dead (or departed) node's sessions and Wills: the one that creates the key.
   * The election and the takeover are tried again until they succeed (JetStream may be electing leaders itself
   * when a node dies): a takeover given up half way would leave sessions claimed and never adopted.
   */
  private async reapIfElected(dead: string, revision: number | undefined): Promise<void> {
    const bucket = this.engine.bucket('sessions');
    const key = `r.${Buffer.from(dead).toString('base64url')}`;
    let elected: number | undefined;
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        if (elected === undefined) {
          elected = await bucket.create(key, encoder.encode(this.nodeId));
          if (elected === undefined) {
            if (await this.takeOrphanedElection(bucket, key, dead)) continue;
            return;
          }
        }
        const work = this.reaper.reap(dead);
        this.sessions.whileAdopting(work);
        const done = await work;
        this.logger.info(`cluster: took over from ${dead}: ${done.sessions} sessions, ${done.messages} messages queued for them since, ${done.wills} wills`);
        await this.groups.forgetNode(dead).catch(() => undefined);
        this.routes.forgetNode(dead);
        await bucket.delete(key, elected).catch(() => undefined);
        // Unless it came back meanwhile (restarted under its name, or only cut off from JetStream for a while).
        await this.engine.bucket('nodes').delete(dead, revision).catch(() => undefined);
        return;
      } catch (err) {
        const pause = Math.min(REAP_RETRY_MS * attempt, REAP_RETRY_MAX_MS);
        if (attempt === 1 || attempt % 10 === 0) {
          this.logger.error(`cluster: taking over from ${dead} failed (attempt ${attempt}): ${err instanceof Error ? err.message : String(err)}; trying again every ${pause / 1000} s`);
        }
        await new Promise((resolve) => setTimeout(resolve, pause).unref());
      }
    }
  }

  /**
   * The election key of a takeover is held by another node. When that node is not alive (it died while taking
   * over) and still holds the same key a dead-after period later, the key is removed so that this node can run
   * for it again: else nobody would ever adopt the first dead node's sessions. True when it was removed.
   */
  private async takeOrphanedElection(bucket: KvBucket, key: string, dead: string): Promise<boolean> {
    const held = await bucket.get(key);
    if (held === undefined) return false;
    const holder = decoder.decode(held.value);
    if (holder === this.nodeId || this.membership.isAlive(holder)) return false;
    await new Promise((resolve) => setTimeout(resolve, this.deadAfterMs).unref());
    const still = await bucket.get(key);
    if (this.stopping || still?.revision !== held.revision || this.membership.isAlive(holder)) return false;
    if (!(await bucket.delete(key, held.revision))) return false;
    this.logger.warn(`cluster: node ${holder} died while taking over from ${dead}; taking over in its place`);
    return true;
  }

  private engineStatus(up: boolean, detail: string): void {
    if (up === this.reachable || this.stopping) return;
    this.reachable = up;
    if (!up) {
      this.unreachableSince = Date.now();
      this.logger.error(`cluster engine unreachable (${detail}): node ${this.nodeId} serves its own clients only; QoS 1/2 messages and persistent sessions are refused until it is back`);
      return;
    }
    this.logger.warn(`cluster engine reachable again (${detail}): node ${this.nodeId} serves the cluster`);
    this.routes.rewrite();
    // The others were as silent to this node as it was to them: each gets a full period to be heard again.
    this.membership.hearAllAgain();
    if (Date.now() - this.unreachableSince >= this.deadAfterMs) void this.reconcile();
  }

  /**
   * After an outage long enough for the others to count this node dead: one of them may have taken over its
   * sessions. Once that is done, the sessions this node no longer owns are given up (their clients get 0x8E and
   * reconnect to the new owner).
   */
  private async reconcile(): Promise<void> {
    const bucket = this.engine.bucket('sessions');
    const reaperKey = `r.${Buffer.from(this.nodeId).toString('base64url')}`;
    const deadline = Date.now() + 30_000;
    try {
      while (Date.now() < deadline && (await bucket.get(reaperKey)) !== undefined) await new Promise((r) => setTimeout(r, 250));
      const given = await this.sessions.giveUpLost((clientId) => this.broker.handOver(clientId, false) !== undefined);
      if (given > 0) this.logger.warn(`cluster: ${given} sessions of node ${this.nodeId} were taken over by other nodes while it was cut off: given up`);
    } catch (err) {
      this.logger.warn(`cluster: could not check which sessions this node still owns: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /**
   * One journal entry of any node: what another node published or retained is applied here. Returns a promise
   * while a local subscriber's full queue holds the follower back.
   */
  private onEntry(entry: JournalEntry): Promise<void> | undefined {
    if (entry.seq < this.consumedSeq) return undefined;
    this.consumedSeq = entry.seq + 1;

    try {
      this.applyEntry(entry);
    } finally {
      this.catchUpWaiters.reach(this.consumedSeq);
    }
    return this.followerHold.wait;
  }

  private applyEntry(entry: JournalEntry): void {
    if (entry.node === this.engine.nodeId) return;
    let ops: JournalOp[];
    try {
      ops = decodeBatch(entry.data, ROUTED_OPS);
    } catch (err) {
      this.badEntries++;
      if (this.badEntries <= 10) this.logger.warn(`cluster: journal entry ${entry.seq} from ${entry.node} dropped: ${err instanceof JournalError ? err.message : String(err)}`);
      return;
    }
    let routed = false;
    for (const op of ops) routed = this.apply(op) || routed;
    // Only entries that changed something here move the mark: marks of marks would go back and forth for ever.
    if (routed) this.routedSeq = entry.seq + 1;
  }

  /** Applies what another node's entry means here; true when it routed or retained something. */
  private apply(op: JournalOp): boolean {
    switch (op.op) {
      case 'publish':
        this.router.routeRemote(op.message, op.shared, op.sharedOnly === true, this.followerHold);
        return true;
      case 'putRetained':
        this.router.local.retain(withOwnPayload(op.message));
        return true;
      case 'deleteRetained': {
        const empty: BrokerMessage = { topic: op.topic, payload: new Uint8Array(0), qos: 0, retain: true, properties: undefined, expiresAt: undefined, origin: undefined };
        this.router.local.retain(empty);
        return true;
      }
      default:
        // Session operations and marks concern the node that wrote them (and whoever adopts its sessions).
        return false;
    }
  }
}
