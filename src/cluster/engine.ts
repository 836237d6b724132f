/**
 * What the cluster needs of its engine, and nothing else: an ordered journal per node whose followed entries every
 * node can follow (the rest only whoever adopts the node reads), live (QoS 0) messages routed by interest, a
 * compacted store of retained messages, key-value buckets whose revisions fence ownership, and requests between
 * nodes. NATS with JetStream implements it (nats-engine.ts); an in-process implementation (memory-engine.ts) lets
 * the cluster's rules be tested without a server. Both pass test/cluster/engine-contract.ts.
 */

/** One entry of the cluster journal: a batch one node appended. */
export interface JournalEntry {
  /** Position in the journal of the whole cluster: increasing, gaps allowed. */
  readonly seq: number;
  /** The node that appended it. */
  readonly node: string;
  readonly data: Uint8Array;
}

/** A key's current value and the revision that fences updates to it. */
export interface KvEntry {
  readonly key: string;
  readonly value: Uint8Array;
  readonly revision: number;
}

/** A change seen by a watch: a new value, or the key's deletion. */
export type KvChange = KvEntry | { readonly key: string; readonly deleted: true; readonly revision: number };

/** A bucket of keys with revisions: create and update succeed only against the revision the caller read. */
export interface KvBucket {
  get(key: string): Promise<KvEntry | undefined>;
  /** The new revision, or undefined when the key exists. */
  create(key: string, value: Uint8Array): Promise<number | undefined>;
  /** The new revision, or undefined when the key's revision is no longer `revision` (someone else changed it). */
  update(key: string, value: Uint8Array, revision: number): Promise<number | undefined>;
  /** Writes whatever the key held. */
  put(key: string, value: Uint8Array): Promise<number>;
  /** Deletes the key; with `revision`, only while that is still its revision (false when it was not deleted). */
  delete(key: string, revision?: number): Promise<boolean>;
  /**
   * Every current entry first, then every change, until the returned function is called. `onCurrent` is called
   * once every entry the bucket held when the watch began has been delivered.
   */
  watch(onChange: (change: KvChange) => void, onCurrent?: () => void): Promise<() => void>;
}

/** The cluster's key-value buckets. */
export type BucketName = 'sessions' | 'nodes' | 'shares' | 'routes';

/** Stops a subscription or a follower. */
export type Stop = () => void;

/** Which engine state a node is in: reachable, or not (with why, for the log and `$SYS`). */
export type EngineStatusListener = (reachable: boolean, detail: string) => void;

export interface ClusterEngine {
  readonly nodeId: string;
  /** Connects and creates the streams and buckets the cluster uses when they do not exist. */
  start(): Promise<void>;
  stop(): Promise<void>;
  onStatus(listener: EngineStatusListener): void;

  /**
   * Appends a batch to this node's journal; resolves with its sequence once it is as durable as the engine
   * promises (replicated, for JetStream). `id` makes a retry of the same batch a no-op. An entry that is not
   * `followed` (default: it is) reaches no follower: only `readNode` and the journal's sequence see it.
   */
  append(data: Uint8Array, id: string, followed?: boolean): Promise<number>;
  /**
   * Delivers every node's followed journal entries with a sequence of at least `fromSeq`, in order, then new ones
   * live. A promise returned by `onEntry` holds the later entries back until it settles: a node whose subscribers'
   * queues are full stops reading the journal as a single broker stops reading a publisher's socket.
   */
  follow(fromSeq: number, onEntry: (entry: JournalEntry) => void | Promise<void>): Promise<Stop>;
  /** Reads every node's followed entries with `fromSeq <= seq < toSeq` that the journal still holds, in order. */
  readRange(fromSeq: number, toSeq: number, onEntry: (entry: JournalEntry) => void): Promise<void>;
  /** Reads one node's journal, followed entries or not, from its first entry to its last at the time of the call. */
  readNode(node: string, onEntry: (entry: JournalEntry) => void): Promise<void>;
  /** The journal's last sequence, or with `followed` the last followed entry's (0 when there is none). */
  lastSeq(followed?: boolean): Promise<number>;
  /** Removes a node's journal entries below `beforeSeq` (all of them when absent). */
  purgeNode(node: string, beforeSeq?: number): Promise<void>;

  /** Resolves once the engine has everything this node sent it before the call (subscriptions included). */
  flush(): Promise<void>;
  /** Sends a live message to every other node with interest in `subject`; lost while the engine is unreachable. */
  publishLive(subject: string, data: Uint8Array): void;
  /** Interest in a subject that may hold `*` and `>` wildcards. */
  subscribeLive(subject: string, onMessage: (subject: string, data: Uint8Array) => void): Stop;

  /** Keeps the last retained message of a subject (one per subject). */
  putRetained(subject: string, data: Uint8Array): Promise<void>;
  deleteRetained(subject: string): Promise<void>;
  /** Every retained message. */
  loadRetained(onMessage: (subject: string, data: Uint8Array) => void): Promise<void>;

  /** `sessions`: who owns each session; `nodes`: node liveness; `shares`: members of shared subscriptions. */
  bucket(name: BucketName): KvBucket;

  /** Answers requests sent to this node, from when the returned promise resolves. */
  serve(onRequest: (data: Uint8Array) => Promise<Uint8Array>): Promise<void>;
  /** A request to another node; rejects with `NodeUnreachableError` when it does not answer in time. */
  request(node: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
}

/** A request to a node that is gone, or did not answer in time. */
export class NodeUnreachableError extends Error {
  constructor(
    readonly node: string,
    detail: string,
  ) {
    super(`node ${node} did not answer: ${detail}`);
    this.name = 'NodeUnreachableError';
  }
}

/** The engine is unreachable: the operation was not done. */
export class EngineUnavailableError extends Error {
  constructor(detail: string) {
    super(`cluster engine unavailable: ${detail}`);
    this.name = 'EngineUnavailableError';
  }
}
