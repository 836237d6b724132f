import type { Logger } from '../broker/index.js';
import { SubscriptionIndex, validateTopicFilter } from '../topic/index.js';
import type { KvBucket, KvChange, Stop } from './engine.js';
import { LevelWaiters } from './level-waiters.js';

/** How long a filter no subscription here uses any more stays routed (a session moving to another node keeps its messages coming meanwhile). */
export const ROUTE_LINGER_MS = 30_000;
/** Longest wait of a node asked whether it has seen a route. */
const SYNC_WAIT_MS = 2000;

const EMPTY = new Uint8Array(0);

function keyOf(node: string, filter: string): string {
  return `${Buffer.from(node).toString('base64url')}.${Buffer.from(filter).toString('base64url')}`;
}

function parseKey(key: string): { node: string; filter: string } | undefined {
  const dot = key.indexOf('.');
  if (dot <= 0 || dot === key.length - 1 || key.indexOf('.', dot + 1) !== -1) return undefined;
  return { node: Buffer.from(key.slice(0, dot), 'base64url').toString(), filter: Buffer.from(key.slice(dot + 1), 'base64url').toString() };
}

/** The questions to one node whether it has seen the routes bucket up to a revision. */
interface Asking {
  /** The highest revision asked about. */
  highest: number;
  inFlight: boolean;
  /** Waiting for the revisions it has answered for. */
  answered: LevelWaiters;
}

/** What the routes need of the node around them. */
export interface RoutesHost {
  bucket: KvBucket;
  nodeId: string;
  logger: Logger;
  /** The other nodes alive now. */
  others(): Iterable<string>;
  /** Asks another node whether it has seen the routes bucket up to a revision (answered by its `answerSync`). */
  askSeen(node: string, revision: number): Promise<void>;
}

/**
 * Which topic filters each node has subscribers for, in the engine's `routes` bucket: each node writes its own
 * (one key per node and filter) and watches the others'. A node's QoS 1/2 messages go into entries every node
 * follows only when another node's filter matches them; the rest stay in entries only an adopter of the node reads,
 * so a node reads the journal of the others only where it has subscribers.
 *
 * A new filter is known everywhere before its SUBACK (`add` resolves once every live node has seen it), so a message
 * published anywhere after that reaches it. A filter no longer used stays `ROUTE_LINGER_MS` before it goes, so that
 * a session moving between nodes (the old node lets go of its filters, the new one takes them up) has them routed
 * throughout. A dead node's filters stay until its sessions are adopted (`forgetNode`).
 */
export class ClusterRoutes {
  /** Other nodes' filters: the value is the set of nodes. */
  private readonly remote = new SubscriptionIndex<Set<string>>();
  private readonly byNode = new Map<string, Set<string>>();
  /** This node's filters, by how many subscriptions here use each; and the timers of those about to go. */
  private readonly mine = new Map<string, number>();
  private readonly leaving = new Map<string, NodeJS.Timeout>();
  /** Filters of this node the bucket may not have (a write failed): written again by `rewrite`. */
  private readonly unwritten = new Set<string>();
  /** Writes of new filters not yet known everywhere. */
  private readonly writing = new Map<string, Promise<void>>();
  private stopWatch: Stop | undefined;
  /** Every route the bucket held when the watch began is known: until then every message counts as routed elsewhere. */
  private current = false;
  /** Other nodes waiting for this one to have seen a bucket revision. */
  private readonly seen = new LevelWaiters();
  /**
   * The highest revision another node asked about that this one had not seen within the wait (its watch lags, or
   * is being made again after a server died): the asking node's SUBACK went out anyway, so until the watch gets
   * there every message counts as routed elsewhere, as a route not heard of yet may match it.
   */
  private behind = 0;
  /** Questions to other nodes whether they have seen a revision, one at a time per node. */
  private readonly asking = new Map<string, Asking>();

  constructor(private readonly host: RoutesHost) {}

  async start(): Promise<void> {
    this.stopWatch = await this.host.bucket.watch(
      (change) => this.onChange(change),
      () => (this.current = true),
    );
  }

  stop(): void {
    this.stopWatch?.();
    for (const timer of this.leaving.values()) clearTimeout(timer);
    this.leaving.clear();
    this.seen.releaseAll();
  }

  /** Whether a message on `topic` must reach another node: a filter of another node matches it (or that is not known yet). */
  elsewhere(topic: string): boolean {
    if (!this.current || this.seen.level < this.behind) return true;
    let found = false;
    this.remote.match(topic, () => {
      found = true;
    });
    return found;
  }

  /**
   * A subscription here uses `filter`. Resolves once every live node has seen it (at once when it was already
   * routed); never rejects: while the engine is unreachable the filter is written when it is back (`rewrite`).
   */
  add(filter: string): Promise<void> | undefined {
    const uses = this.mine.get(filter) ?? 0;
    this.mine.set(filter, uses + 1);
    // A second subscription to a filter still being written waits for the same write.
    if (uses > 0) return this.writing.get(filter);
    const timer = this.leaving.get(filter);
    if (timer !== undefined) {
      // Still in the bucket: nothing to write.
      clearTimeout(timer);
      this.leaving.delete(filter);
      return undefined;
    }
    const written = this.write(filter).finally(() => this.writing.delete(filter));
    this.writing.set(filter, written);
    return written;
  }

  /** A subscription here no longer uses `filter`: once none does for `ROUTE_LINGER_MS`, it leaves the bucket. */
  remove(filter: string): void {
    const uses = this.mine.get(filter);
    if (uses === undefined) return;
    if (uses > 1) {
      this.mine.set(filter, uses - 1);
      return;
    }
    this.mine.delete(filter);
    const timer = setTimeout(() => {
      this.leaving.delete(filter);
      this.unwritten.delete(filter);
      void this.host.bucket.delete(keyOf(this.host.nodeId, filter)).catch(() => undefined);
    }, ROUTE_LINGER_MS);
    timer.unref();
    this.leaving.set(filter, timer);
  }

  /** After the engine was unreachable: writes the filters whose writes failed. */
  rewrite(): void {
    for (const filter of [...this.unwritten]) void this.write(filter);
  }

  /** A dead node's sessions were adopted: its filters go after the linger (the adopter routes them by then). */
  forgetNode(node: string): void {
    const filters = this.byNode.get(node);
    if (filters === undefined || node === this.host.nodeId) return;
    const keys = [...filters].map((filter) => keyOf(node, filter));
    setTimeout(() => {
      for (const key of keys) void this.host.bucket.delete(key).catch(() => undefined);
    }, ROUTE_LINGER_MS).unref();
  }

  /** Another node asks whether this one has seen the bucket up to `revision`: resolves when it has (or after a bound). */
  answerSync(revision: number): Promise<void> {
    return this.seen.until(revision, SYNC_WAIT_MS).then(() => {
      if (this.seen.level >= revision || this.behind >= revision) return;
      if (this.seen.level >= this.behind) this.host.logger.warn(`cluster: routes not heard up to revision ${revision} in time; messages go to every node until they are`);
      this.behind = revision;
    });
  }

  private async write(filter: string): Promise<void> {
    let revision: number;
    try {
      revision = await this.host.bucket.put(keyOf(this.host.nodeId, filter), EMPTY);
      this.unwritten.delete(filter);
    } catch (err) {
      this.unwritten.add(filter);
      this.host.logger.warn(`cluster: route for ${filter} not written (${err instanceof Error ? err.message : String(err)}); written again when the engine is back`);
      return;
    }
    await Promise.all([...this.host.others()].map((node) => this.seenBy(node, revision)));
  }

  /**
   * Resolves once `node` has said it has seen `revision` (or could not say). One question per node at a time: the
   * filters of a burst of subscriptions are asked about together, with the highest revision.
   */
  private seenBy(node: string, revision: number): Promise<void> {
    let asking = this.asking.get(node);
    if (asking === undefined) this.asking.set(node, (asking = { highest: 0, inFlight: false, answered: new LevelWaiters() }));
    const done = asking.answered.until(revision);
    if (asking.answered.size === 0) return done;
    asking.highest = Math.max(asking.highest, revision);
    if (!asking.inFlight) void this.ask(node, asking);
    return done;
  }

  private async ask(node: string, asking: Asking): Promise<void> {
    asking.inFlight = true;
    while (asking.answered.size > 0) {
      const revision = asking.highest;
      // A node that does not answer is as good as one that said yes: the SUBACK is not held for it.
      await this.host.askSeen(node, revision).catch(() => undefined);
      asking.answered.reach(revision);
    }
    asking.inFlight = false;
    this.asking.delete(node);
  }

  private onChange(change: KvChange): void {
    this.seen.reach(change.revision);
    const parsed = parseKey(change.key);
    if (parsed === undefined || validateTopicFilter(parsed.filter) !== undefined) return;
    const { node, filter } = parsed;
    if (node === this.host.nodeId) {
      if ('deleted' in change) {
        // Deleted by a node that took this one for dead (it was cut off for a while): written again.
        if (this.mine.has(filter)) void this.write(filter);
      } else if (!this.mine.has(filter) && !this.leaving.has(filter)) {
        // Left by an earlier run under this name: goes unless a subscription here uses it.
        this.mine.set(filter, 1);
        this.remove(filter);
      }
      return;
    }
    let filters = this.byNode.get(node);
    if ('deleted' in change) {
      if (filters?.delete(filter) !== true) return;
      if (filters.size === 0) this.byNode.delete(node);
      const nodes = this.remote.get(filter, filter);
      nodes?.delete(node);
      if (nodes?.size === 0) this.remote.remove(filter, filter);
      return;
    }
    if (filters === undefined) this.byNode.set(node, (filters = new Set()));
    if (filters.has(filter)) return;
    filters.add(filter);
    const nodes = this.remote.get(filter, filter);
    if (nodes !== undefined) nodes.add(node);
    else this.remote.add(filter, filter, new Set([node]));
  }
}
