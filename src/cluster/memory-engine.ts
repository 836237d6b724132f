import {
  EngineUnavailableError,
  NodeUnreachableError,
  type ClusterEngine,
  type EngineStatusListener,
  type JournalEntry,
  type BucketName,
  type KvBucket,
  type KvChange,
  type KvEntry,
  type Stop,
} from './engine.js';

/**
 * `onEntry` for every entry, in order: while a call's returned promise is pending, later entries wait their turn
 * (the engine contract's hold).
 */
function inOrder(onEntry: (entry: JournalEntry) => void | Promise<void>): (entry: JournalEntry) => void {
  let waiting: JournalEntry[] | undefined;
  const drain = async (hold: Promise<void>): Promise<void> => {
    await hold.catch(() => undefined);
    for (let entry = waiting!.shift(); entry !== undefined; entry = waiting!.shift()) await onEntry(entry)?.catch(() => undefined);
    waiting = undefined;
  };
  return (entry) => {
    if (waiting !== undefined) {
      waiting.push(entry);
      return;
    }
    const hold = onEntry(entry);
    if (hold !== undefined) {
      waiting = [];
      void drain(hold);
    }
  };
}

/** Whether a NATS subject matches a subject that may hold `*` (one token) and `>` (one or more, last). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const token = p[i]!;
    if (token === '>') return s.length > i;
    if (i >= s.length) return false;
    if (token !== '*' && token !== s[i]) return false;
  }
  return p.length === s.length;
}

class MemoryBucket implements KvBucket {
  private readonly entries = new Map<string, KvEntry>();
  private revision = 0;
  private readonly watchers = new Set<(change: KvChange) => void>();

  constructor(private readonly hub: MemoryCluster) {}

  async get(key: string): Promise<KvEntry | undefined> {
    this.hub.check();
    return this.entries.get(key);
  }

  async create(key: string, value: Uint8Array): Promise<number | undefined> {
    this.hub.check();
    if (this.entries.has(key)) return undefined;
    return this.set(key, value);
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number | undefined> {
    this.hub.check();
    if (this.entries.get(key)?.revision !== revision) return undefined;
    return this.set(key, value);
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    this.hub.check();
    return this.set(key, value);
  }

  async delete(key: string, revision?: number): Promise<boolean> {
    this.hub.check();
    if (revision !== undefined && this.entries.get(key)?.revision !== revision) return false;
    if (!this.entries.delete(key)) return true;
    const change: KvChange = { key, deleted: true, revision: ++this.revision };
    for (const watcher of this.watchers) watcher(change);
    return true;
  }

  async watch(onChange: (change: KvChange) => void, onCurrent?: () => void): Promise<Stop> {
    this.hub.check();
    for (const entry of this.entries.values()) onChange(entry);
    onCurrent?.();
    this.watchers.add(onChange);
    return () => this.watchers.delete(onChange);
  }

  private set(key: string, value: Uint8Array): number {
    const entry: KvEntry = { key, value: value.slice(), revision: ++this.revision };
    this.entries.set(key, entry);
    for (const watcher of this.watchers) watcher(entry);
    return entry.revision;
  }
}

/**
 * The shared side of in-process engines: one journal, retained messages, buckets and live interest for every
 * MemoryEngine made from it. `reachable = false` makes every engine behave as if the server were gone.
 */
export class MemoryCluster {
  private readonly journal: Array<JournalEntry & { followed: boolean }> = [];
  private nextSeq = 1;
  private readonly appended = new Map<string, number>();
  private readonly followers = new Set<(entry: JournalEntry) => void>();
  private readonly retained = new Map<string, Uint8Array>();
  private readonly buckets = { sessions: new MemoryBucket(this), nodes: new MemoryBucket(this), shares: new MemoryBucket(this), routes: new MemoryBucket(this) };
  private readonly live = new Set<{ node: string; pattern: string; deliver: (subject: string, data: Uint8Array) => void }>();
  private readonly servers = new Map<string, (data: Uint8Array) => Promise<Uint8Array>>();
  private readonly statusListeners = new Set<EngineStatusListener>();
  private up = true;

  get reachable(): boolean {
    return this.up;
  }

  /** Makes the engine unreachable (false) or reachable again (true), telling every engine. */
  set reachable(up: boolean) {
    if (up === this.up) return;
    this.up = up;
    for (const listener of this.statusListeners) listener(up, up ? 'reconnected' : 'disconnected');
  }

  check(): void {
    if (!this.up) throw new EngineUnavailableError('disconnected');
  }

  engine(nodeId: string): MemoryEngine {
    return new MemoryEngine(this, nodeId);
  }

  bucket(name: BucketName): KvBucket {
    return this.buckets[name];
  }

  append(node: string, data: Uint8Array, id: string, followed: boolean): number {
    this.check();
    const known = this.appended.get(id);
    if (known !== undefined) return known;
    const entry = { seq: this.nextSeq++, node, data: data.slice(), followed };
    this.journal.push(entry);
    this.appended.set(id, entry.seq);
    if (!followed) return entry.seq;
    // Delivered after the append resolves, as a server would.
    queueMicrotask(() => {
      for (const follower of this.followers) follower(entry);
    });
    return entry.seq;
  }

  follow(fromSeq: number, onEntry: (entry: JournalEntry) => void | Promise<void>): Stop {
    this.check();
    const follower = inOrder(onEntry);
    for (const entry of this.journal) if (entry.followed && entry.seq >= fromSeq) follower(entry);
    this.followers.add(follower);
    return () => this.followers.delete(follower);
  }

  readRange(fromSeq: number, toSeq: number, onEntry: (entry: JournalEntry) => void): void {
    this.check();
    for (const entry of [...this.journal]) if (entry.followed && entry.seq >= fromSeq && entry.seq < toSeq) onEntry(entry);
  }

  readNode(node: string, onEntry: (entry: JournalEntry) => void): void {
    this.check();
    for (const entry of [...this.journal]) if (entry.node === node) onEntry(entry);
  }

  lastSeq(followed: boolean): number {
    this.check();
    if (!followed) return this.nextSeq - 1;
    for (let i = this.journal.length - 1; i >= 0; i--) if (this.journal[i]!.followed) return this.journal[i]!.seq;
    return 0;
  }

  purgeNode(node: string, beforeSeq: number): void {
    this.check();
    for (let i = this.journal.length - 1; i >= 0; i--) {
      const entry = this.journal[i]!;
      if (entry.node === node && entry.seq < beforeSeq) this.journal.splice(i, 1);
    }
  }

  /** Delivered to every other node with interest (a node does not hear its own, as with NATS `noEcho`). */
  publishLive(node: string, subject: string, data: Uint8Array): void {
    if (!this.up) return;
    const copy = data.slice();
    for (const sub of this.live) {
      if (sub.node !== node && subjectMatches(sub.pattern, subject)) queueMicrotask(() => sub.deliver(subject, copy));
    }
  }

  subscribeLive(node: string, pattern: string, deliver: (subject: string, data: Uint8Array) => void): Stop {
    const sub = { node, pattern, deliver };
    this.live.add(sub);
    return () => this.live.delete(sub);
  }

  putRetained(subject: string, data: Uint8Array): void {
    this.check();
    this.retained.set(subject, data.slice());
  }

  deleteRetained(subject: string): void {
    this.check();
    this.retained.delete(subject);
  }

  loadRetained(onMessage: (subject: string, data: Uint8Array) => void): void {
    this.check();
    for (const [subject, data] of this.retained) onMessage(subject, data);
  }

  serve(node: string, handler: (data: Uint8Array) => Promise<Uint8Array>): void {
    this.servers.set(node, handler);
  }

  unserve(node: string): void {
    this.servers.delete(node);
  }

  async request(node: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    this.check();
    const handler = this.servers.get(node);
    if (handler === undefined) throw new NodeUnreachableError(node, 'no responders');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new NodeUnreachableError(node, `no answer in ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([handler(data.slice()), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  addStatusListener(listener: EngineStatusListener): void {
    this.statusListeners.add(listener);
  }

  removeStatusListener(listener: EngineStatusListener): void {
    this.statusListeners.delete(listener);
  }
}

/** One node's view of a MemoryCluster. */
export class MemoryEngine implements ClusterEngine {
  private readonly stops = new Set<Stop>();
  private readonly listeners: EngineStatusListener[] = [];
  private readonly relay: EngineStatusListener = (up, detail) => {
    for (const listener of this.listeners) listener(up, detail);
  };
  private stopped = false;

  constructor(
    private readonly hub: MemoryCluster,
    readonly nodeId: string,
  ) {}

  async start(): Promise<void> {
    this.hub.addStatusListener(this.relay);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const stop of this.stops) stop();
    this.stops.clear();
    this.hub.unserve(this.nodeId);
    this.hub.removeStatusListener(this.relay);
  }

  onStatus(listener: EngineStatusListener): void {
    this.listeners.push(listener);
  }

  async append(data: Uint8Array, id: string, followed = true): Promise<number> {
    return this.hub.append(this.nodeId, data, id, followed);
  }

  async follow(fromSeq: number, onEntry: (entry: JournalEntry) => void | Promise<void>): Promise<Stop> {
    return this.track(this.hub.follow(fromSeq, onEntry));
  }

  async readRange(fromSeq: number, toSeq: number, onEntry: (entry: JournalEntry) => void): Promise<void> {
    this.hub.readRange(fromSeq, toSeq, onEntry);
  }

  async readNode(node: string, onEntry: (entry: JournalEntry) => void): Promise<void> {
    this.hub.readNode(node, onEntry);
  }

  async lastSeq(followed = false): Promise<number> {
    return this.hub.lastSeq(followed);
  }

  async purgeNode(node: string, beforeSeq = Number.MAX_SAFE_INTEGER): Promise<void> {
    this.hub.purgeNode(node, beforeSeq);
  }

  async flush(): Promise<void> {
    this.hub.check();
  }

  publishLive(subject: string, data: Uint8Array): void {
    if (!this.stopped) this.hub.publishLive(this.nodeId, subject, data);
  }

  subscribeLive(subject: string, onMessage: (subject: string, data: Uint8Array) => void): Stop {
    return this.track(this.hub.subscribeLive(this.nodeId, subject, onMessage));
  }

  async putRetained(subject: string, data: Uint8Array): Promise<void> {
    this.hub.putRetained(subject, data);
  }

  async deleteRetained(subject: string): Promise<void> {
    this.hub.deleteRetained(subject);
  }

  async loadRetained(onMessage: (subject: string, data: Uint8Array) => void): Promise<void> {
    this.hub.loadRetained(onMessage);
  }

  bucket(name: BucketName): KvBucket {
    return this.hub.bucket(name);
  }

  async serve(onRequest: (data: Uint8Array) => Promise<Uint8Array>): Promise<void> {
    this.hub.serve(this.nodeId, onRequest);
  }

  request(node: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return this.hub.request(node, data, timeoutMs);
  }

  private track(stop: Stop): Stop {
    const once: Stop = () => {
      this.stops.delete(once);
      stop();
    };
    this.stops.add(once);
    return once;
  }
}
