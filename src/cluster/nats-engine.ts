import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
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
import { JetStreamPublisher } from './jetstream-publisher.js';
import { watchForStall } from './stall-watchdog.js';
import { decodeToken, encodeLevel } from './subject.js';

/** Where the engine is and how it keeps what it is given. */
export interface NatsEngineOptions {
  /** `nats://host:port` of one or more servers of one NATS cluster. */
  servers: string[];
  /** Several Culex clusters can share one NATS: names keep their streams, buckets and subjects apart. */
  cluster: string;
  nodeId: string;
  /** Copies JetStream keeps of each stream and bucket. Default: 3 when the NATS cluster has 3 or more servers, else 1. */
  replicas?: number;
  /** How long the journal keeps entries, seconds (queued messages of sessions offline longer are lost). Default 7 days. */
  journalMaxAge?: number;
  /** Milliseconds a JetStream call may take before it fails. Default 5000. */
  timeoutMs?: number;
  /** Credentials and TLS for NATS, passed to the client as they are. */
  user?: string;
  pass?: string;
  token?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

/** JetStream's "wrong last sequence": a create of an existing key, or an update against a stale revision. */
const WRONG_LAST_SEQUENCE = 10071;
const NOT_FOUND = 10059;
/** How long after a reconnect (or the engine's start) quiet readers (followers, watches) are checked at every look. */
const ALERT_MS = 60_000;
/** Pause before a bucket watch that ended is made again. */
const WATCH_AGAIN_MS = 500;

function isCasConflict(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE;
}

/** A token for names the cluster puts into subjects and stream names (node ids, the cluster name). */
export function subjectToken(name: string): string {
  return encodeLevel(name);
}

/** Stream and bucket names allow letters, digits, `-` and `_` only. */
function streamName(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, (c) => `_${c.charCodeAt(0).toString(16)}`);
}

class NatsBucket implements KvBucket {
  constructor(
    private readonly kv: () => KV,
    /** True a while after the engine's connection was made again: quiet watches are checked at every look then. */
    private readonly alert: () => boolean,
  ) {}

  async get(key: string): Promise<KvEntry | undefined> {
    const entry = await this.kv().get(key);
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return { key, value: entry.value, revision: entry.revision };
  }

  async create(key: string, value: Uint8Array): Promise<number | undefined> {
    try {
      return await this.kv().create(key, value);
    } catch (err) {
      if (isCasConflict(err)) return undefined;
      throw err;
    }
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number | undefined> {
    try {
      return await this.kv().update(key, value, revision);
    } catch (err) {
      if (isCasConflict(err)) return undefined;
      throw err;
    }
  }

  put(key: string, value: Uint8Array): Promise<number> {
    return this.kv().put(key, value);
  }

  async delete(key: string, revision?: number): Promise<boolean> {
    try {
      await this.kv().delete(key, revision === undefined ? undefined : { previousSeq: revision });
      return true;
    } catch (err) {
      if (isCasConflict(err)) return false;
      throw err;
    }
  }

  async watch(onChange: (change: KvChange) => void, onCurrent?: () => void): Promise<Stop> {
    const kv = this.kv();
    let current = false;
    let stopped = false;
    /** The revision of the last change delivered: a watch made again resumes after it. */
    let last = 0;
    const caughtUp = (): void => {
      if (current) return;
      current = true;
      onCurrent?.();
    };
    const open = (): ReturnType<KV['watch']> => (last === 0 ? kv.watch() : kv.watch({ resumeFromRevision: last + 1 }));
    let iterator = await open();
    // The library's watch does not recover when the server holding its consumer dies (it goes quiet for good), and
    // can end on its own: a watch that is behind the bucket or ended is made again from where it got, so that a
    // node never stops hearing the bucket.
    void (async () => {
      while (!stopped) {
        try {
          for await (const entry of iterator) {
            last = entry.revision;
            if (entry.operation === 'PUT') onChange({ key: entry.key, value: entry.value, revision: entry.revision });
            else onChange({ key: entry.key, deleted: true, revision: entry.revision });
            // Nothing left to deliver for now: everything the bucket held when the watch began has come.
            if (entry.delta === 0) caughtUp();
          }
        } catch {
          // Ended with an error: made again below.
        }
        while (!stopped) {
          await new Promise((resolve) => setTimeout(resolve, WATCH_AGAIN_MS));
          if (stopped) break;
          try {
            iterator = await open();
            break;
          } catch {
            // Unreachable or no leader yet: tried again.
          }
        }
      }
    })();
    const stopWatchdog = watchForStall(
      {
        position: () => last,
        held: () => false,
        behind: async (at) => {
          const { state } = (await kv.status()).streamInfo;
          return state.messages > 0 && state.last_seq > at;
        },
        restart: () => iterator.stop(),
      },
      this.alert,
    );
    // An empty bucket delivers nothing to say so.
    if (onCurrent !== undefined) {
      void kv.status().then(
        (status) => {
          if (status.values === 0) caughtUp();
        },
        () => undefined,
      );
    }
    return () => {
      stopped = true;
      stopWatchdog();
      iterator.stop();
    };
  }
}

/**
 * The cluster engine on NATS: core subjects for live messages and requests, JetStream streams for the journal
 * (`CX_<cluster>_JOURNAL`, two subjects per node: `.f` for entries every node follows, `.o` for the rest) and retained messages (`CX_<cluster>_RETAINED`, one message per
 * subject), JetStream key-value buckets for sessions and nodes. Written for nats-server 2.9 (one filter per
 * consumer, no per-message TTL); docs/cluster.md says which server version production needs.
 */
export class NatsEngine implements ClusterEngine {
  readonly nodeId: string;
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;
  private publisher: JetStreamPublisher | undefined;
  private readonly kvs = new Map<BucketName, KV>();
  private readonly listeners: EngineStatusListener[] = [];
  private readonly stops = new Set<Stop>();
  private readonly prefix: string;
  private readonly journalStream: string;
  /** This node's journal subjects (entries other nodes follow, entries only an adopter reads) and every node's followed ones. */
  private readonly followedSubject: string;
  private readonly ownSubject: string;
  private readonly allFollowed: string;
  private readonly retainedStream: string;
  private readonly timeoutMs: number;
  private reachable = false;
  /** When the connection to NATS was last made again (its start counts): quiet readers are watched closely after. */
  private reconnectedAt = Date.now();

  constructor(private readonly options: NatsEngineOptions) {
    this.nodeId = options.nodeId;
    const cluster = subjectToken(options.cluster);
    this.prefix = `cx.${cluster}`;
    this.journalStream = streamName(`CX_${options.cluster}_JOURNAL`);
    this.followedSubject = `${this.prefix}.j.${subjectToken(this.nodeId)}.f`;
    this.ownSubject = `${this.prefix}.j.${subjectToken(this.nodeId)}.o`;
    this.allFollowed = `${this.prefix}.j.*.f`;
    this.retainedStream = streamName(`CX_${options.cluster}_RETAINED`);
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** Subject prefixes: live messages and retained messages (topics mapped below them), for TopicSubjects. */
  get subjects(): { live: string; retained: string } {
    return { live: `${this.prefix}.m`, retained: `${this.prefix}.r` };
  }

  async start(): Promise<void> {
    const o = this.options;
    this.nc = await connect({
      servers: o.servers,
      name: `culex ${o.nodeId}`,
      // A node routes its own messages itself: NATS must not hand them back.
      noEcho: true,
      // A node never gives up on its engine: it is degraded until NATS is back.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      pingInterval: 5000,
      maxPingOut: 2,
      // Async stack traces cost an Error per request (one per journal append): measured on the publish path.
      noAsyncTraces: true,
      user: o.user,
      pass: o.pass,
      token: o.token,
      tls: o.tls,
    });
    this.reachable = true;
    void this.watchStatus(this.nc);
    this.js = jetstream(this.nc, { timeout: this.timeoutMs });
    this.publisher = new JetStreamPublisher(this.nc, this.timeoutMs);
    this.jsm = await jetstreamManager(this.nc, { timeout: this.timeoutMs });
    // Without a setting: 3 copies when the server says it has peers (INFO connect_urls lists the others), else 1.
    const servers = 1 + (this.nc.info?.connect_urls?.length ?? 0);
    const replicas = o.replicas ?? (servers >= 3 ? 3 : 1);
    await this.ensureStream({
      name: this.journalStream,
      subjects: [`${this.prefix}.j.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: replicas,
      max_age: (o.journalMaxAge ?? 7 * 86400) * 1e9,
      duplicate_window: 120 * 1e9,
      discard: DiscardPolicy.Old,
    });
    await this.ensureStream({
      name: this.retainedStream,
      subjects: [`${this.prefix}.r.>`, `${this.prefix}.r$.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: replicas,
      max_msgs_per_subject: 1,
      discard: DiscardPolicy.Old,
    });
    const kvm = new Kvm(this.js);
    for (const name of ['sessions', 'nodes', 'shares', 'routes'] as const) {
      const bucket = await kvm.create(streamName(`cx_${o.cluster}_${name}`), { history: 1, replicas });
      this.kvs.set(name, bucket);
    }
  }

  async stop(): Promise<void> {
    for (const stop of this.stops) stop();
    this.stops.clear();
    const nc = this.nc;
    this.nc = undefined;
    const publisher = this.publisher;
    this.publisher = undefined;
    if (nc !== undefined) await nc.drain().catch(() => nc.close());
    publisher?.close();
  }

  onStatus(listener: EngineStatusListener): void {
    this.listeners.push(listener);
  }

  async append(data: Uint8Array, id: string, followed = true): Promise<number> {
    if (this.publisher === undefined) throw new EngineUnavailableError('the engine is not started');
    return this.publisher.publish(followed ? this.followedSubject : this.ownSubject, data, id);
  }

  /** The node of a journal subject (`<prefix>.j.<node>.f` or `.o`). */
  private journalNode(subject: string): string {
    const token = subject.slice(this.prefix.length + 3, subject.lastIndexOf('.'));
    return decodeToken(token) ?? token;
  }

  async follow(fromSeq: number, onEntry: (entry: JournalEntry) => void | Promise<void>): Promise<Stop> {
    let next = Math.max(1, fromSeq);
    let stopped = false;
    let held = false;
    let current: { close(): Promise<void | Error> } | undefined;
    // One ordered consumer at a time, made again from where the last one got whenever it ends (the server restarted,
    // the connection was lost for longer than the client library bridges): the follower never stops on its own.
    const run = async (): Promise<void> => {
      while (!stopped) {
        try {
          const consumer = await this.jetstream().consumers.get(this.journalStream, {
            filter_subjects: this.allFollowed,
            deliver_policy: DeliverPolicy.StartSequence,
            opt_start_seq: next,
          });
          const messages = await consumer.consume({ max_messages: 256 });
          current = messages;
          if (stopped) break;
          for await (const msg of messages) {
            if (msg.seq < next) continue;
            next = msg.seq + 1;
            const hold = onEntry({ seq: msg.seq, node: this.journalNode(msg.subject), data: msg.data });
            if (hold !== undefined) {
              held = true;
              await hold.catch(() => undefined);
              held = false;
            }
          }
        } catch {
          // Unreachable or the stream answered with an error: tried again below.
        }
        if (!stopped) await new Promise((resolve) => setTimeout(resolve, 500));
      }
    };
    void run();
    // A consumer can also go quiet without ending (its server died or restarted): when the journal holds entries
    // it has not delivered and it made no progress since the last look, it is closed, and `run` makes another.
    const stopWatchdog = watchForStall(
      {
        position: () => next,
        held: () => held || current === undefined,
        behind: async (at) => (await this.lastSeq(true)) >= at,
        restart: () => void current?.close().catch(() => undefined),
      },
      () => this.alert(),
    );
    return this.track(() => {
      stopped = true;
      stopWatchdog();
      void current?.close().catch(() => undefined);
    });
  }

  async readRange(fromSeq: number, toSeq: number, onEntry: (entry: JournalEntry) => void): Promise<void> {
    if (toSeq <= fromSeq) return;
    const consumer = await this.jetstream().consumers.get(this.journalStream, {
      filter_subjects: this.allFollowed,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, fromSeq),
    });
    // Fetched in batches that end when the journal has no more (purged entries leave gaps: never wait for one).
    for (;;) {
      const batch = await consumer.fetch({ max_messages: 256, expires: 1000 });
      let got = 0;
      let done = false;
      for await (const msg of batch) {
        got++;
        if (msg.seq >= toSeq) {
          done = true;
          continue;
        }
        onEntry({ seq: msg.seq, node: this.journalNode(msg.subject), data: msg.data });
        if (msg.seq >= toSeq - 1 || msg.info.pending === 0) done = true;
      }
      if (done || got === 0) return;
    }
  }

  async readNode(node: string, onEntry: (entry: JournalEntry) => void): Promise<void> {
    const subject = `${this.prefix}.j.${subjectToken(node)}.*`;
    const last = await this.lastOf(subject);
    if (last === 0) return;
    const consumer = await this.jetstream().consumers.get(this.journalStream, { filter_subjects: subject, deliver_policy: DeliverPolicy.All });
    await this.readUntil(await consumer.consume({ max_messages: 256 }), `the journal of ${node}`, (msg) => {
      onEntry({ seq: msg.seq, node, data: msg.data });
      return msg.seq >= last;
    });
  }

  /**
   * Reads a consumer's messages until `take` says it has had all it needs. Fails, rather than waiting for ever, when
   * nothing comes for the engine's timeout (the server holding the consumer died, or what is waited for was purged
   * meanwhile) or the library ends the read first: the caller tries again, and a half read is never taken as whole.
   */
  private async readUntil(messages: ConsumerMessages, what: string, take: (msg: JsMsg) => boolean): Promise<void> {
    let stalled = false;
    const timer = setTimeout(() => {
      stalled = true;
      void messages.close().catch(() => undefined);
    }, this.timeoutMs);
    try {
      for await (const msg of messages) {
        timer.refresh();
        if (take(msg)) return;
      }
    } finally {
      clearTimeout(timer);
      await messages.close().catch(() => undefined);
    }
    throw new EngineUnavailableError(stalled ? `reading ${what}: nothing came for ${this.timeoutMs} ms` : `reading ${what}: the read ended early`);
  }

  async lastSeq(followed = false): Promise<number> {
    if (followed) return this.lastOf(this.allFollowed);
    const info = await this.manager().streams.info(this.journalStream);
    return info.state.last_seq;
  }

  /** The sequence of the journal's last entry on `subject` (wildcards allowed), 0 when there is none. */
  private async lastOf(subject: string): Promise<number> {
    // "No message" is null; any other answer, "no such stream" included (a restarted server still loading its
    // streams), is an error: taken for an empty journal, it would let a node skip entries or adopt no sessions.
    const last = await this.manager().streams.getMessage(this.journalStream, { last_by_subj: subject });
    return last === null ? 0 : last.seq;
  }

  async purgeNode(node: string, beforeSeq?: number): Promise<void> {
    // Nothing is below sequence 1; and JetStream reads `seq: 0` as no bound at all (it would purge everything).
    if (beforeSeq !== undefined && beforeSeq <= 1) return;
    const filter = `${this.prefix}.j.${subjectToken(node)}.*`;
    await this.manager().streams.purge(this.journalStream, beforeSeq === undefined ? { filter } : { filter, seq: beforeSeq });
  }

  async flush(): Promise<void> {
    await this.connection().flush();
  }

  publishLive(subject: string, data: Uint8Array): void {
    const nc = this.nc;
    if (nc === undefined || !this.reachable) return;
    try {
      nc.publish(subject, data);
    } catch {
      // Closed or disconnected: live messages are best effort (QoS 0); the caller counts what it could not send.
    }
  }

  subscribeLive(subject: string, onMessage: (subject: string, data: Uint8Array) => void): Stop {
    const sub: Subscription = this.connection().subscribe(subject, {
      callback: (err, msg) => {
        if (err === null) onMessage(msg.subject, msg.data);
      },
    });
    return this.track(() => sub.unsubscribe());
  }

  async putRetained(subject: string, data: Uint8Array): Promise<void> {
    await this.jetstream().publish(subject, data, { timeout: this.timeoutMs });
  }

  async deleteRetained(subject: string): Promise<void> {
    await this.manager().streams.purge(this.retainedStream, { filter: subject });
  }

  async loadRetained(onMessage: (subject: string, data: Uint8Array) => void): Promise<void> {
    const info = await this.manager().streams.info(this.retainedStream);
    if (info.state.messages === 0) return;
    const consumer = await this.jetstream().consumers.get(this.retainedStream, { deliver_policy: DeliverPolicy.LastPerSubject });
    await this.readUntil(await consumer.consume({ max_messages: 1024 }), 'the retained messages', (msg) => {
      onMessage(msg.subject, msg.data);
      return msg.info.pending === 0;
    });
  }

  bucket(name: BucketName): KvBucket {
    return new NatsBucket(
      () => {
        const kv = this.kvs.get(name);
        if (kv === undefined) throw new EngineUnavailableError('not started');
        return kv;
      },
      () => this.alert(),
    );
  }

  async serve(onRequest: (data: Uint8Array) => Promise<Uint8Array>): Promise<void> {
    const sub = this.connection().subscribe(`${this.prefix}.ctl.${subjectToken(this.nodeId)}`, {
      callback: (err, msg) => {
        if (err !== null) return;
        onRequest(msg.data).then(
          (answer) => msg.respond(answer),
          () => undefined,
        );
      },
    });
    this.track(() => sub.unsubscribe());
    await this.connection().flush();
  }

  async request(node: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    try {
      const answer = await this.connection().request(`${this.prefix}.ctl.${subjectToken(node)}`, data, { timeout: timeoutMs });
      return answer.data;
    } catch (err) {
      throw new NodeUnreachableError(node, err instanceof Error ? err.message : String(err));
    }
  }

  private async ensureStream(config: Parameters<JetStreamManager['streams']['add']>[0]): Promise<void> {
    const jsm = this.manager();
    try {
      await jsm.streams.info(config.name!);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === NOT_FOUND)) throw err;
      await jsm.streams.add(config);
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' && this.reachable) this.setReachable(false, 'disconnected from NATS');
      else if (status.type === 'reconnect') {
        this.reconnectedAt = Date.now();
        this.setReachable(true, `reconnected to ${status.server}`);
      }
      else if (status.type === 'close') this.setReachable(false, 'connection to NATS closed');
    }
  }

  private setReachable(up: boolean, detail: string): void {
    if (this.reachable === up) return;
    this.reachable = up;
    for (const listener of this.listeners) listener(up, detail);
  }

  /** A while after a reconnect (or the start), when consumers may have been lost with a server. */
  private alert(): boolean {
    return Date.now() - this.reconnectedAt <= ALERT_MS;
  }

  private connection(): NatsConnection {
    if (this.nc === undefined) throw new EngineUnavailableError('not started');
    return this.nc;
  }

  private jetstream(): JetStreamClient {
    if (this.js === undefined) throw new EngineUnavailableError('not started');
    return this.js;
  }

  private manager(): JetStreamManager {
    if (this.jsm === undefined) throw new EngineUnavailableError('not started');
    return this.jsm;
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
