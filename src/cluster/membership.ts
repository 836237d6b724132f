import type { Logger } from '../broker/index.js';
import type { ClusterEngine, Stop } from './engine.js';

/** What a node's heartbeat says of it: its connected clients, sessions, and how far its follower has read. */
export interface NodeFigures {
  clients: number;
  sessions: number;
  consumed: number | undefined;
}

/** What membership needs of its node, and tells it. */
export interface MembershipHost {
  readonly engine: ClusterEngine;
  readonly logger: Logger;
  readonly heartbeatMs: number;
  /** A node silent this long is dead. */
  readonly deadAfterMs: number;
  /** This node's figures, for its next heartbeat. */
  figures(): { clients: number; sessions: number; consumed: number };
  /** False while the engine is unreachable: this node then hears nobody, which says nothing about the others. */
  reachable(): boolean;
  stopping(): boolean;
  /** Another node left or went silent; `revision` is its key's then (its removal must not remove a newer one). */
  gone(node: string, revision: number | undefined): void;
  /** The others may have counted this node dead (it was silent too long, or saw its key removed). */
  maybeCountedDead(): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Who is in the cluster: this node's heartbeat in the `nodes` bucket, every node's heard through a watch, and the
 * nodes silent for the dead-after period found dead. A node whose own heartbeat cannot be written (JetStream without
 * a leader after a server died, say) hears nobody's either, so it judges nobody meanwhile.
 */
export class Membership {
  /** Nodes heard from within the dead-after period, this one included. */
  readonly alive = new Set<string>();
  /** Each node's last heartbeat figures. */
  readonly figures = new Map<string, NodeFigures>();
  private readonly lastHeard = new Map<string, number>();
  /** The key revision of each node's last heartbeat. */
  private readonly revisions = new Map<string, number>();
  /** When the pending heartbeat started, whether the last one failed, when one was last written. */
  private beatStarted: number | undefined;
  private beatFailed = false;
  private beatWritten = 0;
  private timers: NodeJS.Timeout[] = [];
  private stopWatch: Stop | undefined;
  private rewatching = false;

  constructor(private readonly host: MembershipHost) {}

  private get nodeId(): string {
    return this.host.engine.nodeId;
  }

  /** Writes the first heartbeat, watches everyone's, and keeps beating and judging. */
  async start(): Promise<void> {
    await this.put();
    this.beatWritten = Date.now();
    await this.watch();
    // One timer for both: each wake-up of an idle node costs more than the work it does.
    this.timers.push(
      setInterval(() => {
        void this.beat();
        this.checkLiveness();
      }, this.host.heartbeatMs),
    );
  }

  private async watch(): Promise<void> {
    this.stopWatch = await this.host.engine.bucket('nodes').watch((change) => {
      if ('deleted' in change) {
        this.figures.delete(change.key);
        this.revisions.delete(change.key);
        if (change.key === this.nodeId) this.countedDead();
        else this.nodeGone(change.key, 'left', change.revision);
        return;
      }
      this.revisions.set(change.key, change.revision);
      this.heard(change.key);
      try {
        const figures = JSON.parse(decoder.decode(change.value)) as { clients?: number; sessions?: number; consumed?: number };
        const consumed = typeof figures.consumed === 'number' && Number.isSafeInteger(figures.consumed) ? figures.consumed : undefined;
        this.figures.set(change.key, { clients: Number(figures.clients) || 0, sessions: Number(figures.sessions) || 0, consumed });
      } catch {
        // Not a heartbeat of ours: counted as alive, with no figures.
      }
    });
  }

  /**
   * This node's own heartbeats are written but its watch has not brought one back for a dead-after period: the
   * watch is stuck (its consumer was on a server that died, say), so it hears nobody and must judge nobody. It is
   * made again, and everyone gets a full period to be heard through the new one.
   */
  private async watchAgain(): Promise<void> {
    if (this.rewatching || this.host.stopping()) return;
    this.rewatching = true;
    this.host.logger.warn(`cluster: node ${this.nodeId} no longer hears its own heartbeats; watching the nodes again`);
    try {
      this.stopWatch?.();
      this.stopWatch = undefined;
      await this.watch();
      // Stopped meanwhile: the new watch goes too.
      if (this.timers.length === 0) this.stop();
    } catch {
      // Tried again at the next check.
    } finally {
      this.hearAllAgain();
      this.rewatching = false;
    }
  }

  /** Stops beating and watching (the node removes its key itself when it leaves). */
  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.stopWatch?.();
    this.stopWatch = undefined;
  }

  isAlive(node: string): boolean {
    return this.alive.has(node);
  }

  /** Every node gets a full period to be heard again (after a time this node could hear nobody). */
  hearAllAgain(): void {
    const now = Date.now();
    for (const node of this.lastHeard.keys()) this.lastHeard.set(node, now);
  }

  private put(): Promise<number> {
    return this.host.engine.bucket('nodes').put(this.nodeId, encoder.encode(JSON.stringify({ at: Date.now(), ...this.host.figures() })));
  }

  private async beat(): Promise<void> {
    // A write still pending after a heartbeat period (sent just before the connection failed over, say) does not
    // hold the next one back: it may never be answered, and meanwhile the others would hear nothing.
    const started = Date.now();
    if (this.beatStarted !== undefined && started - this.beatStarted < this.host.heartbeatMs) return;
    this.beatStarted = started;
    try {
      await this.put();
      const silent = Date.now() - this.beatWritten > this.host.deadAfterMs;
      this.beatWritten = Date.now();
      if (this.beatFailed || silent) {
        this.beatFailed = false;
        // The others could not be heard meanwhile either. And after a silence this long (failed writes, or a
        // stalled event loop) they may have counted this node dead.
        this.hearAllAgain();
        if (silent) this.host.maybeCountedDead();
      }
    } catch {
      if (this.beatStarted === started) this.beatFailed = true;
    } finally {
      if (this.beatStarted === started) this.beatStarted = undefined;
    }
  }

  private heard(node: string): void {
    this.lastHeard.set(node, Date.now());
    if (this.alive.has(node)) return;
    this.alive.add(node);
    if (node !== this.nodeId) this.host.logger.info(`cluster: node ${node} joined`);
  }

  private nodeGone(node: string, how: string, revision: number | undefined): void {
    this.lastHeard.delete(node);
    if (!this.alive.delete(node)) return;
    this.host.logger.info(`cluster: node ${node} ${how}`);
    if (!this.host.stopping()) this.host.gone(node, revision);
  }

  /** Another node took this one for dead and removed it: it says it is alive again at once. */
  private countedDead(): void {
    if (this.host.stopping()) return;
    this.host.logger.warn(`cluster: node ${this.nodeId} was counted dead by another node; it announces itself again`);
    void this.beat();
    this.host.maybeCountedDead();
  }

  private checkLiveness(): void {
    const now = Date.now();
    if (!this.host.reachable() || this.beatFailed || (this.beatStarted !== undefined && now - this.beatStarted > this.host.heartbeatMs)) return;
    // Heartbeats written lately, and none of them heard back: the watch hears nobody, so nobody is judged by it (the
    // others' last heartbeats may be a little older than this node's, and would run out first); after a dead-after
    // period of that, it is made again.
    const self = this.lastHeard.get(this.nodeId);
    const recent = this.host.heartbeatMs * 2;
    if (self !== undefined && now - self > recent && now - this.beatWritten < recent) {
      if (now - self > this.host.deadAfterMs) void this.watchAgain();
      return;
    }
    for (const [node, at] of this.lastHeard) {
      if (node !== this.nodeId && now - at > this.host.deadAfterMs) this.nodeGone(node, `silent for ${Math.round((now - at) / 1000)} s: dead`, this.revisions.get(node));
    }
  }
}
