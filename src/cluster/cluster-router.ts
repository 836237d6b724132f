import {
  LocalRouter,
  type Holdable,
  type BrokerMessage,
  type Reassigner,
  type Router,
  type SubscriptionRecord,
  type StoreOp,
  type SharedChoice,
} from '../broker/index.js';
import type { ClusterEngine, Stop } from './engine.js';
import { decodeLive, encodeLive } from './journal-codec.js';
import type { ClusterRoutes } from './routes.js';
import type { ClusterSharedGroups } from './shared-groups.js';
import type { TopicSubjects } from './subject.js';

/** Longest wait before a SUBACK for the cluster to take a new subscription in. */
const READY_TIMEOUT_MS = 2000;

/** What the router counts for `$SYS` and the log: messages it could not hand to the cluster, or that came bad. */
export interface ClusterRouterStats {
  /** QoS 0 messages not sent to other nodes (engine unreachable, or a topic too long for a subject). */
  liveDropped: number;
  /** Messages from the engine that did not decode (another program on our subjects, damage): dropped. */
  badMessages: number;
  /** Messages received from other nodes. */
  remoteMessages: number;
  /** Shared-subscription messages for which no member could be found anywhere. */
  sharedDropped: number;
}

/** `$SYS` filters: each node has its own `$SYS`, so they stay on their node. */
function perNode(filter: string): boolean {
  return filter === '$SYS' || filter.startsWith('$SYS/');
}

/** Whether a subscription is routed across nodes: not `$SYS`; shared ones go by their groups' members. */
function routable(subscription: SubscriptionRecord): boolean {
  return subscription.group === undefined && !perNode(subscription.topicFilter);
}

/**
 * A router for one node of a cluster: local sessions are routed by a LocalRouter as on a single broker; what is
 * published here also goes to the other nodes — QoS 0 live, on the topic's subject, to nodes that subscribed to
 * it; QoS 1 and 2, when another node has a matching filter (`ClusterRoutes`), in the node's next journal batch
 * (`publish` operations), which is durable before the publisher is acknowledged and which every node follows.
 * Messages from other nodes come in through `routeRemote`.
 */
export class ClusterRouter implements Router {
  readonly local: LocalRouter;
  readonly stats: ClusterRouterStats = { liveDropped: 0, badMessages: 0, remoteMessages: 0, sharedDropped: 0 };
  private record: ((op: StoreOp) => void) | undefined;
  /** Live subjects this node listens on, by how many local subscriptions need each. */
  private readonly interest = new Map<string, { uses: number; stop: Stop }>();
  /** This node's live message counter, and the last one seen from each other node (see onLive). */
  private liveSeq = 0;
  private readonly lastLive = new Map<string, number>();
  private readonly origin: Buffer;
  /** Route writes of new filters not yet known everywhere: the next SUBACK waits for them. */
  private readonly routing = new Set<Promise<void>>();

  constructor(
    private readonly engine: ClusterEngine,
    private readonly subjects: TopicSubjects,
    private readonly groups: ClusterSharedGroups,
    private readonly routes: ClusterRoutes,
  ) {
    this.origin = Buffer.from(engine.nodeId);
    this.local = new LocalRouter({ reassign: (group, message, from) => this.reassign(group, message, from) });
  }

  get subscriptionCount(): number {
    return this.local.subscriptionCount;
  }

  get retainedCount(): number {
    return this.local.retainedCount;
  }

  /** Set by the node: resolves once it has routed the journal up to its end at the time of the call. */
  catchUp: () => Promise<void> = () => Promise.resolve();

  attach(record: (op: StoreOp) => void): void {
    this.record = record;
  }

  /**
   * Before SUBACK: the engine has this node's new live interest, every node knows its new routes, and the node has
   * read the journal up to now, so a retained message acknowledged on another node a moment ago is known here.
   * Bounded: while the engine is unreachable, the subscription is answered all the same (it works on this node).
   */
  ready(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, READY_TIMEOUT_MS);
    });
    const work = Promise.all([this.engine.flush(), this.catchUp(), ...this.routing]).then(
      () => undefined,
      () => undefined,
    );
    return Promise.race([work, bound]).finally(() => clearTimeout(timer));
  }

  add(subscription: SubscriptionRecord): void {
    this.local.add(subscription);
    if (subscription.group !== undefined) this.groups.join(subscription.filter, subscription.session.clientId, subscription.session.online);
    for (const subject of this.liveSubjects(subscription)) {
      const known = this.interest.get(subject);
      if (known !== undefined) known.uses++;
      else this.interest.set(subject, { uses: 1, stop: this.engine.subscribeLive(subject, this.onLive) });
    }
    if (!routable(subscription)) return;
    const routed = this.routes.add(subscription.topicFilter);
    if (routed === undefined) return;
    this.routing.add(routed);
    void routed.finally(() => this.routing.delete(routed));
  }

  remove(subscription: SubscriptionRecord): void {
    this.local.remove(subscription);
    if (subscription.group !== undefined) this.groups.leave(subscription.filter, subscription.session.clientId);
    for (const subject of this.liveSubjects(subscription)) {
      const known = this.interest.get(subject);
      if (known === undefined || --known.uses > 0) continue;
      known.stop();
      this.interest.delete(subject);
    }
    if (routable(subscription)) this.routes.remove(subscription.topicFilter);
  }

  /**
   * A message published on this node: to local sessions, and to the cluster. Returns at least 1 outside `$SYS`:
   * whether another node has a subscriber is not known here, so no "no matching subscribers" is claimed.
   */
  route(message: BrokerMessage, publisher?: Holdable): number {
    if (message.topic.startsWith('$SYS/')) return this.local.route(message, publisher);
    let delivered = this.local.routeUnshared(message, publisher);
    // Each shared subscription gets the message once cluster-wide: this node picks the member.
    let chosen: SharedChoice[] | undefined;
    this.groups.matching(message.topic, (group) => {
      const member = this.groups.choose(group);
      if (member === undefined) return;
      if (member.node === this.engine.nodeId) {
        if (this.local.deliverToMember(group, member.clientId, message, publisher)) delivered++;
      } else (chosen ??= []).push([group, member.clientId, member.node]);
    });
    this.send(message, chosen, false);
    return delivered > 0 ? delivered : 1;
  }

  /**
   * A message another node published: to local plain subscriptions (unless it only hands a shared message on), and
   * to the members of shared subscriptions that node chose on this node.
   */
  routeRemote(message: BrokerMessage, shared?: ReadonlyArray<SharedChoice>, sharedOnly = false, follower?: Holdable): number {
    this.stats.remoteMessages++;
    let delivered = sharedOnly ? 0 : this.local.routeUnshared(message, follower);
    for (const [group, clientId, node] of shared ?? []) {
      if (node !== this.engine.nodeId) continue;
      if (this.local.deliverToMember(group, clientId, message, follower)) delivered++;
      // The member left meanwhile: another one gets it.
      else this.handOn(group, message, clientId);
    }
    return delivered;
  }

  /** A shared message whose member's session ended before acknowledging it goes to another member. */
  private reassign(group: string, message: BrokerMessage, from: string): void {
    this.handOn(group, message, from);
  }

  /** Gives a shared message to another member of its group, here or on another node. */
  handOn(group: string, message: BrokerMessage, exclude: string): void {
    const member = this.groups.choose(group, exclude);
    if (member === undefined) {
      this.stats.sharedDropped++;
      return;
    }
    if (member.node === this.engine.nodeId) {
      if (!this.local.deliverToMember(group, member.clientId, message)) this.stats.sharedDropped++;
      return;
    }
    this.send(message, [[group, member.clientId, member.node]], true);
  }

  /** To the other nodes: QoS 0 live, QoS 1/2 in this node's next journal batch when another node needs it. */
  private send(message: BrokerMessage, shared: SharedChoice[] | undefined, sharedOnly: boolean): void {
    if (message.qos > 0) {
      if (shared === undefined && !this.routes.elsewhere(message.topic)) return;
      this.record?.(sharedOnly ? { op: 'publish', message, shared, sharedOnly } : shared === undefined ? { op: 'publish', message } : { op: 'publish', message, shared });
      return;
    }
    const subject = this.subjects.subject(message.topic);
    if (subject === undefined) this.stats.liveDropped++;
    else this.engine.publishLive(subject, this.liveFrame(message, shared, sharedOnly));
  }

  retain(message: BrokerMessage): void {
    this.local.retain(message);
  }

  hasRetained(topic: string): boolean {
    return this.local.hasRetained(topic);
  }

  sharedGroup(filter: string): Reassigner | undefined {
    return this.local.sharedGroup(filter);
  }

  forEachRetained(topicFilter: string, visit: (message: BrokerMessage) => void, canRead?: (topic: string) => boolean): void {
    this.local.forEachRetained(topicFilter, visit, canRead);
  }

  /** Stops listening on every live subject. */
  close(): void {
    for (const { stop } of this.interest.values()) stop();
    this.interest.clear();
  }

  /**
   * A live message: the sending node (u8 length, name), its counter (f64), a flag (1: only for the shared
   * members chosen), then the chosen members and the message (encodeLive).
   */
  private liveFrame(message: BrokerMessage, shared: SharedChoice[] | undefined, sharedOnly: boolean): Buffer {
    const body = encodeLive(message, shared);
    const frame = Buffer.allocUnsafe(1 + this.origin.length + 9 + body.length);
    frame[0] = this.origin.length;
    this.origin.copy(frame, 1);
    frame.writeDoubleBE(++this.liveSeq, 1 + this.origin.length);
    frame[9 + this.origin.length] = sharedOnly ? 1 : 0;
    body.copy(frame, 10 + this.origin.length);
    return frame;
  }

  /**
   * A node listening on overlapping subjects (`a` and `a.>` for `a/#`, and `a.b` for `a/b`) gets one copy per
   * subject, one after the other: NATS hands each message to all of a connection's matching subscriptions before
   * the next. A counter per sending node drops the copies.
   */
  private readonly onLive = (_subject: string, data: Uint8Array): void => {
    const frame = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    let live: ReturnType<typeof decodeLive>;
    let node: string;
    let seq: number;
    let sharedOnly: boolean;
    try {
      const n = frame[0] ?? 0;
      if (frame.length < 10 + n || n === 0) throw new Error('short frame');
      node = frame.toString('utf8', 1, 1 + n);
      seq = frame.readDoubleBE(1 + n);
      sharedOnly = frame[9 + n] === 1;
      live = decodeLive(frame.subarray(10 + n));
    } catch {
      this.stats.badMessages++;
      return;
    }
    const last = this.lastLive.get(node);
    if (last !== undefined && seq <= last && seq > last - 1_000_000) return;
    this.lastLive.set(node, seq);
    this.routeRemote(live.message, live.shared, sharedOnly);
  };

  /** The live subjects a subscription needs; none for `$SYS` (per node) or a filter too long for a subject. */
  private liveSubjects(subscription: SubscriptionRecord): string[] {
    const filter = subscription.topicFilter;
    if (perNode(filter)) return [];
    return this.subjects.filterSubjects(filter) ?? [];
  }
}
