import type { QoS } from '../packet/index.js';
import { SubscriptionIndex, TopicMap } from '../topic/index.js';
import type { Holdable } from './flow.js';
import type { BrokerMessage } from './message.js';
import type { Reassigner } from './outbox.js';
import type { StoreOp } from './store/store.js';
import type { Subscriber, SubscriptionRecord } from './subscription.js';

/**
 * Who gets a message. Behind an interface so that a cluster can route across brokers; the local router keeps a
 * subscription index, shared subscription groups and the retained messages.
 */
export type { SubscriptionRecord } from './subscription.js';

export interface Router {
  readonly subscriptionCount: number;
  readonly retainedCount: number;
  add(subscription: SubscriptionRecord): void;
  remove(subscription: SubscriptionRecord): void;
  /**
   * Hands the message to every matching session; returns how many sessions took it. `publisher` is the connection
   * the message came from: a subscriber's full queue holds it back (flow.ts).
   */
  route(message: BrokerMessage, publisher?: Holdable): number;
  /** Stores (or, with an empty payload, clears) the retained message of its topic. */
  retain(message: BrokerMessage): void;
  hasRetained(topic: string): boolean;
  /** The group of a shared subscription (`$share/{group}/{filter}`), for messages recovered from a store. */
  sharedGroup?(filter: string): Reassigner | undefined;
  /** Calls `visit` for every retained message whose topic matches the filter (and passes `canRead`). */
  forEachRetained(topicFilter: string, visit: (message: BrokerMessage) => void, canRead?: (topic: string) => boolean): void;
  /**
   * Called once by the broker: `record` adds an operation to the broker's next store batch, so that what a router
   * must keep (a message it hands to other brokers) is durable before the publisher's acknowledgement.
   */
  attach?(record: (op: StoreOp) => void): void;
  /**
   * Resolves once the subscriptions added so far take effect wherever messages come from, and the retained
   * messages written before the call are known here; awaited before SUBACK. A router that has nothing to wait
   * for leaves it out.
   */
  ready?(): Promise<void>;
}

/**
 * The router's per-session scratch space for merging one message's overlapping subscriptions into one delivery
 * (highest QoS, Retain As Published if any asks, every subscription identifier). One per session with
 * subscriptions, shared by its entries, so routing allocates nothing per message.
 */
class RouteSlot {
  epoch = 0;
  qos: QoS = 0;
  retain = false;
  ids: number[] | undefined = undefined;
  /** Entries of the session in the index. */
  uses = 0;
  constructor(readonly session: Subscriber) {}
}

/** A plain subscription as the index holds it: the record and its session's slot. */
interface Entry {
  readonly record: SubscriptionRecord;
  readonly slot: RouteSlot;
}

/** What matches one topic: plain subscriptions and shared groups. */
interface Matches {
  entries: Entry[];
  groups: SharedGroup[];
}

/** Topics whose matches are remembered; past this many the memory starts over. */
const MATCH_CACHE_SIZE = 8192;

/** Members of one `$share/{group}/{filter}`; each message goes to one of them, in turn. */
class SharedGroup implements Reassigner {
  readonly members: SubscriptionRecord[] = [];
  private next = 0;
  /** Topic of the message being placed (for read checks in `pick`). */
  private topic = '';
  readonly filter: string;

  constructor(
    readonly key: string,
    topicFilter: string,
    /** Where a message goes back when its member's session ends (LocalRouter's `reassign` option). */
    private readonly reassignTo: ((group: string, message: BrokerMessage, from: string) => void) | undefined,
  ) {
    this.filter = `${key}/${topicFilter}`;
  }

  /** The member of this client id, if it is one. */
  member(clientId: string): SubscriptionRecord | undefined {
    return this.members.find((m) => m.session.clientId === clientId);
  }

  /** Delivers to one given member (a choice made elsewhere: another broker of a cluster). */
  deliverTo(member: SubscriptionRecord, message: BrokerMessage, publisher: Holdable | undefined): boolean {
    const qos = message.qos < member.qos ? message.qos : member.qos;
    return member.session.outbox.deliver(message, qos, member.retainAsPublished && message.retain, member.identifiers, qos > 0 ? this : undefined, publisher);
  }

  /** Picks a member: the next one with room, else the next one online, else the next one. */
  pick(exclude?: string): SubscriptionRecord | undefined {
    const members = this.members;
    const n = members.length;
    if (n === 0) return undefined;
    let online: SubscriptionRecord | undefined;
    let any: SubscriptionRecord | undefined;
    for (let i = 0; i < n; i++) {
      const member = members[(this.next + i) % n]!;
      if (member.session.clientId === exclude) continue;
      if (member.session.canRead !== undefined && !member.session.canRead(this.topic)) continue;
      if (member.session.outbox.hasRoom()) {
        this.next = (this.next + i + 1) % n;
        return member;
      }
      if (online === undefined && member.session.online) online = member;
      if (any === undefined) any = member;
    }
    const chosen = online ?? any;
    if (chosen !== undefined) this.next = (members.indexOf(chosen) + 1) % n;
    return chosen;
  }

  deliver(message: BrokerMessage, publisher: Holdable | undefined, exclude?: string): boolean {
    this.topic = message.topic;
    const member = this.pick(exclude);
    if (member === undefined) return false;
    const qos = message.qos < member.qos ? message.qos : member.qos;
    return member.session.outbox.deliver(message, qos, member.retainAsPublished && message.retain, member.identifiers, qos > 0 ? this : undefined, publisher);
  }

  reassign(message: BrokerMessage, from: string): void {
    if (this.reassignTo !== undefined) this.reassignTo(this.filter, message, from);
    else this.deliver(message, undefined, from);
  }
}

/** How a LocalRouter is set up. */
export interface LocalRouterOptions {
  /**
   * Where a shared-subscription message goes when the session it was given to ends unacknowledged; default: to
   * another member of the group here. A cluster chooses among every node's members.
   */
  reassign?(group: string, message: BrokerMessage, from: string): void;
}

/** The in-process router. */
export class LocalRouter implements Router {
  constructor(private readonly options: LocalRouterOptions = {}) {}

  private readonly index = new SubscriptionIndex<Entry>();
  private readonly slots = new Map<Subscriber, RouteSlot>();
  private readonly groups = new SubscriptionIndex<SharedGroup>();
  /** By topic in a trie of levels, so a SUBSCRIBE visits only the branches its filter can match, not every topic. */
  private readonly retained = new TopicMap<BrokerMessage>();
  /** Groups by their `$share/{group}/{filter}`. */
  private readonly groupsByFilter = new Map<string, SharedGroup>();
  private count = 0;
  /**
   * Matches by topic: publishers repeat topics, and a lookup is cheaper than walking the trie (which splits the
   * topic). Any subscription change clears it.
   */
  private readonly matchCache = new Map<string, Matches>();
  private collecting: Matches | undefined;
  private readonly collectEntry = (entry: Entry): void => {
    this.collecting!.entries.push(entry);
  };
  private readonly collectGroup = (group: SharedGroup): void => {
    this.collecting!.groups.push(group);
  };
  // Per-route state: each matched session's slot collects its merged match (epoch, QoS, ids).
  private epoch = 0;
  private message: BrokerMessage | undefined;
  /** Slots matched by the current route, the first `targetCount` of them (reused: no per-message array). */
  private targets: Array<RouteSlot | undefined> = [];
  private targetCount = 0;
  private depth = 0;
  private readonly visitEntry = (entry: Entry): void => {
    const message = this.message!;
    const sub = entry.record;
    const slot = entry.slot;
    const session = slot.session;
    if (sub.noLocal && message.origin === session.clientId) return;
    if (session.canRead !== undefined && !session.canRead(message.topic)) return;
    if (slot.epoch !== this.epoch) {
      slot.epoch = this.epoch;
      slot.qos = sub.qos;
      slot.retain = sub.retainAsPublished;
      slot.ids = sub.identifiers;
      this.targets[this.targetCount++] = slot;
      return;
    }
    if (sub.qos > slot.qos) slot.qos = sub.qos;
    if (sub.retainAsPublished) slot.retain = true;
    // Identifier arrays are shared with queued deliveries: build a new one rather than push.
    if (sub.identifier !== undefined) slot.ids = slot.ids === undefined ? sub.identifiers : [...slot.ids, sub.identifier];
  };

  get subscriptionCount(): number {
    return this.count;
  }

  get retainedCount(): number {
    return this.retained.size;
  }

  add(sub: SubscriptionRecord): void {
    this.matchCache.clear();
    const session = sub.session;
    const clientId = session.clientId;
    if (sub.group === undefined) {
      let slot = this.slots.get(session);
      if (slot === undefined) {
        slot = new RouteSlot(session);
        this.slots.set(session, slot);
      }
      if (this.index.add(sub.topicFilter, clientId, { record: sub, slot })) {
        slot.uses++;
        this.count++;
      }
      return;
    }
    const key = `$share/${sub.group}`;
    let group = this.groups.get(sub.topicFilter, key);
    if (group === undefined) {
      group = new SharedGroup(key, sub.topicFilter, this.options.reassign);
      this.groups.add(sub.topicFilter, key, group);
      this.groupsByFilter.set(group.filter, group);
    }
    const at = group.members.findIndex((m) => m.session.clientId === clientId);
    if (at >= 0) group.members[at] = sub;
    else {
      group.members.push(sub);
      this.count++;
    }
  }

  remove(sub: SubscriptionRecord): void {
    this.matchCache.clear();
    const session = sub.session;
    const clientId = session.clientId;
    if (sub.group === undefined) {
      if (this.index.get(sub.topicFilter, clientId)?.record.session !== session) return;
      this.index.remove(sub.topicFilter, clientId);
      this.count--;
      const slot = this.slots.get(session);
      if (slot !== undefined && --slot.uses === 0) this.slots.delete(session);
      return;
    }
    const key = `$share/${sub.group}`;
    const group = this.groups.get(sub.topicFilter, key);
    if (group === undefined) return;
    const at = group.members.findIndex((m) => m.session.clientId === clientId);
    if (at < 0) return;
    group.members.splice(at, 1);
    this.count--;
    if (group.members.length === 0) {
      this.groups.remove(sub.topicFilter, key);
      this.groupsByFilter.delete(group.filter);
    }
  }

  /**
   * Delivers to the member `clientId` of the shared subscription `group` (`$share/{group}/{filter}`), chosen
   * elsewhere; false when that client is no member here.
   */
  deliverToMember(group: string, clientId: string, message: BrokerMessage, publisher?: Holdable): boolean {
    const shared = this.groupsByFilter.get(group);
    const member = shared?.member(clientId);
    if (shared === undefined || member === undefined) return false;
    if (member.session.canRead !== undefined && !member.session.canRead(message.topic)) return false;
    return shared.deliverTo(member, message, publisher);
  }

  /** Routes to plain subscriptions only: shared groups are chosen by the caller (a cluster's router). */
  routeUnshared(message: BrokerMessage, publisher?: Holdable): number {
    return this.routeTo(message, publisher, false);
  }

  route(message: BrokerMessage, publisher?: Holdable): number {
    return this.routeTo(message, publisher, true);
  }

  private routeTo(message: BrokerMessage, publisher: Holdable | undefined, shared: boolean): number {
    // Deliveries never route synchronously; should one ever do, the outer route's scratch state is kept aside.
    const outer = this.depth > 0 ? { message: this.message, targets: this.targets, count: this.targetCount } : undefined;
    if (outer !== undefined) {
      this.targets = [];
      this.targetCount = 0;
    }
    this.depth++;
    this.epoch++;
    this.message = message;
    try {
      const matched = this.matches(message.topic);
      const entries = matched.entries;
      for (let i = 0; i < entries.length; i++) this.visitEntry(entries[i]!);
      const targets = this.targets;
      const count = this.targetCount;
      this.targetCount = 0;
      let delivered = 0;
      for (let i = 0; i < count; i++) {
        const slot = targets[i]!;
        targets[i] = undefined;
        const qos = message.qos < slot.qos ? message.qos : slot.qos;
        if (slot.session.outbox.deliver(message, qos, slot.retain && message.retain, slot.ids, undefined, publisher)) delivered++;
        slot.ids = undefined;
      }
      if (shared) {
        const groups = matched.groups;
        for (let i = 0; i < groups.length; i++) if (groups[i]!.deliver(message, publisher)) delivered++;
      }
      return delivered;
    } finally {
      this.depth--;
      this.message = outer?.message;
      if (outer !== undefined) {
        this.targets = outer.targets;
        this.targetCount = outer.count;
      }
    }
  }

  private matches(topic: string): Matches {
    let matched = this.matchCache.get(topic);
    if (matched !== undefined) return matched;
    matched = { entries: [], groups: [] };
    this.collecting = matched;
    this.index.match(topic, this.collectEntry);
    if (this.groups.size > 0) this.groups.match(topic, this.collectGroup);
    this.collecting = undefined;
    if (this.matchCache.size >= MATCH_CACHE_SIZE) this.matchCache.clear();
    this.matchCache.set(topic, matched);
    return matched;
  }

  sharedGroup(filter: string): SharedGroup | undefined {
    return this.groupsByFilter.get(filter);
  }

  retain(message: BrokerMessage): void {
    if (message.payload.length === 0) this.retained.delete(message.topic);
    else this.retained.set(message.topic, message);
  }

  hasRetained(topic: string): boolean {
    return this.retained.get(topic) !== undefined;
  }

  forEachRetained(topicFilter: string, visit: (message: BrokerMessage) => void, canRead?: (topic: string) => boolean): void {
    const now = Date.now();
    let expired: string[] | undefined;
    this.retained.match(topicFilter, (message, topic) => {
      if (message.expiresAt !== undefined && message.expiresAt <= now) (expired ??= []).push(topic);
      else if (canRead === undefined || canRead(topic)) visit(message);
    });
    if (expired !== undefined) for (const topic of expired) this.retained.delete(topic);
  }
}
