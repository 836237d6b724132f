import type { Logger } from '../broker/index.js';
import { parseSharedFilter, SubscriptionIndex, TopicError } from '../topic/index.js';
import type { KvBucket, KvChange, Stop } from './engine.js';

/** One member of a shared subscription somewhere in the cluster. */
export interface GroupMember {
  readonly clientId: string;
  readonly node: string;
  readonly online: boolean;
}

/** A shared subscription (`$share/{group}/{filter}`) as the whole cluster has it. */
class ClusterGroup {
  readonly members = new Map<string, GroupMember>();
  next = 0;
  constructor(
    readonly filter: string,
    readonly key: string,
    readonly topicFilter: string,
  ) {}
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function keyOf(group: string, clientId: string): string {
  return `m.${Buffer.from(group).toString('base64url')}.${Buffer.from(clientId).toString('base64url')}`;
}

function parseKey(key: string): { group: string; clientId: string } | undefined {
  const parts = key.split('.');
  if (parts.length !== 3 || parts[0] !== 'm') return undefined;
  return { group: Buffer.from(parts[1]!, 'base64url').toString(), clientId: Buffer.from(parts[2]!, 'base64url').toString() };
}

/**
 * The members of every shared subscription across the cluster, in the engine's `shares` bucket: each node writes
 * its own members (and whether their client is connected) and watches the others'. The node a message is published
 * on picks the member, in turn among connected members on live nodes, so that each message goes to one member of
 * each matching group cluster-wide.
 */
export class ClusterSharedGroups {
  private readonly groups = new Map<string, ClusterGroup>();
  private readonly index = new SubscriptionIndex<ClusterGroup>();
  /** This node's members: group filter → client ids. */
  private readonly mine = new Map<string, Set<string>>();
  private stopWatch: Stop | undefined;

  constructor(
    private readonly bucket: KvBucket,
    private readonly nodeId: string,
    private readonly isAlive: (node: string) => boolean,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.stopWatch = await this.bucket.watch((change) => this.onChange(change));
  }

  stop(): void {
    this.stopWatch?.();
  }

  /** A member on this node (its session subscribed, or was adopted here); written to the bucket. */
  join(group: string, clientId: string, online: boolean): void {
    let set = this.mine.get(group);
    if (set === undefined) this.mine.set(group, (set = new Set()));
    set.add(clientId);
    this.set(group, { clientId, node: this.nodeId, online });
    this.write(group, clientId, online);
  }

  leave(group: string, clientId: string): void {
    this.mine.get(group)?.delete(clientId);
    this.unset(group, clientId);
    void this.bucket.delete(keyOf(group, clientId)).catch((err: unknown) => this.failed(err));
  }

  /** The client connected or went away: its memberships say so, for the nodes that pick members. */
  setOnline(clientId: string, online: boolean): void {
    for (const [group, clients] of this.mine) {
      if (!clients.has(clientId)) continue;
      this.set(group, { clientId, node: this.nodeId, online });
      this.write(group, clientId, online);
    }
  }

  /** Removes every member a dead node had that nobody adopted (their clients had no persistent session). */
  async forgetNode(dead: string): Promise<void> {
    for (const group of this.groups.values()) {
      for (const member of [...group.members.values()]) {
        if (member.node !== dead) continue;
        this.unset(group.filter, member.clientId);
        await this.bucket.delete(keyOf(group.filter, member.clientId)).catch(() => undefined);
      }
    }
  }

  /** The groups whose filter matches `topic`. */
  matching(topic: string, visit: (group: string) => void): void {
    this.index.match(topic, (group) => visit(group.filter));
  }

  /**
   * The next member of a group to give a message to: connected members on live nodes in turn, else any member on
   * a live node (its messages wait for it), never `exclude`.
   */
  choose(group: string, exclude?: string): GroupMember | undefined {
    const g = this.groups.get(group);
    if (g === undefined) return undefined;
    const members = [...g.members.values()];
    const n = members.length;
    let fallback: GroupMember | undefined;
    for (let i = 0; i < n; i++) {
      const member = members[(g.next + i) % n]!;
      if (member.clientId === exclude || !this.isAlive(member.node)) continue;
      if (member.online) {
        g.next = (g.next + i + 1) % n;
        return member;
      }
      fallback ??= member;
    }
    if (fallback !== undefined) g.next = (members.indexOf(fallback) + 1) % n;
    return fallback;
  }

  private write(group: string, clientId: string, online: boolean): void {
    const value = encoder.encode(JSON.stringify({ node: this.nodeId, online }));
    void this.bucket.put(keyOf(group, clientId), value).catch((err: unknown) => this.failed(err));
  }

  private failed(err: unknown): void {
    this.logger.debug(`cluster: shared subscription member not written: ${err instanceof Error ? err.message : String(err)}`);
  }

  private onChange(change: KvChange): void {
    const parsed = parseKey(change.key);
    if (parsed === undefined) return;
    if ('deleted' in change) {
      // Another node may have written it since (a member that moved): only the owner's deletes count.
      const known = this.groups.get(parsed.group)?.members.get(parsed.clientId);
      if (known === undefined || known.node !== this.nodeId || !this.mine.get(parsed.group)?.has(parsed.clientId)) this.unset(parsed.group, parsed.clientId);
      return;
    }
    try {
      const value = JSON.parse(decoder.decode(change.value)) as { node?: unknown; online?: unknown };
      if (typeof value.node !== 'string') return;
      // This node's own members are known here first-hand.
      if (value.node !== this.nodeId && this.mine.get(parsed.group)?.has(parsed.clientId)) return;
      this.set(parsed.group, { clientId: parsed.clientId, node: value.node, online: value.online === true });
    } catch {
      // Not ours: ignored.
    }
  }

  private set(group: string, member: GroupMember): void {
    let g = this.groups.get(group);
    if (g === undefined) {
      const shared = parseSharedFilter(group);
      if (shared === undefined || shared instanceof TopicError) return;
      g = new ClusterGroup(group, `$share/${shared.group}`, shared.filter);
      this.groups.set(group, g);
      this.index.add(shared.filter, g.key, g);
    }
    g.members.set(member.clientId, member);
  }

  private unset(group: string, clientId: string): void {
    const g = this.groups.get(group);
    if (g === undefined) return;
    g.members.delete(clientId);
    if (g.members.size === 0) {
      this.groups.delete(group);
      this.index.remove(g.topicFilter, g.key);
    }
  }
}
