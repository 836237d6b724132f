import { randomBytes } from 'node:crypto';
import { StoreError, type BrokerMessage, type BrokerStore, type StoredSessionState, type StoreOp } from '../broker/index.js';
import type { ClusterEngine } from './engine.js';
import { decodeMessage, encodeBatches, encodeMessage, ROUTED_OPS, type JournalOp } from './journal-codec.js';
import type { TopicSubjects } from './subject.js';

/** Largest journal entry by default: half of NATS's default max_payload, room for headers. */
export const MAX_ENTRY_BYTES = 512 * 1024;

/** A batch of the broker's operations as journal entries, with their ids. */
interface PendingBatch {
  entries: Array<{ id: string; data: Uint8Array }>;
  ops: readonly StoreOp[];
  /** Whether other nodes follow it: it holds messages for them or retained messages. */
  followed: boolean;
}

/**
 * A node's store in the cluster: every batch the broker writes becomes an entry of the node's journal (one
 * JetStream message; several when it is large), which resolves once the engine holds it. Entries with messages
 * for other nodes or retained messages are followed by every node; the rest (the node's session bookkeeping)
 * only by whoever adopts its sessions. Retained messages also go to the engine's retained
 * store (before the entry, so a node that loads them and then follows the journal from where it loaded misses
 * nothing). A node starts with no sessions of its own: they come to it from the clients that connect to it
 * (handed over by other nodes) or from a dead node's journal (adopted).
 */
export class JournalStore implements BrokerStore {
  private batches = 0;
  /**
   * Part of every entry id: a node restarted under the same name counts its batches from 1 again, and JetStream
   * would take its first entries for retries of the last run's (within its duplicate window) and drop them.
   */
  private readonly incarnation = randomBytes(6).toString('base64url');
  /**
   * A batch whose append failed: its entries not yet confirmed are tried again, with the same ids, before anything
   * newer (the engine may hold them).
   */
  private unconfirmed: PendingBatch | undefined;
  /** The broker operations of a failed batch that went in on retry: the broker's next write starts with them. */
  private confirmed: readonly StoreOp[] | undefined;
  /** Operations the node adds to its next entry (marks), not the broker's. */
  private marks: JournalOp[] = [];
  /** The journal's last sequence when this store opened: where the node's follower starts. */
  startSeq = 0;
  /** Set by the node: how far its follower has routed the journal, written with the next entry. */
  consumed: () => number = () => 0;
  private consumedWritten = 0;

  private lastAppend = 0;
  /** Bytes this store has appended to the journal since it opened. */
  appendedBytes = 0;
  private appendsStarted = 0;
  /** Waiting for the sequence of the first entry whose append starts after a given count (see `nextSeq`). */
  private seqWaiters: Array<{ after: number; resolve: (seq: number) => void }> = [];

  constructor(
    private readonly engine: ClusterEngine,
    private readonly retainedSubjects: TopicSubjects,
    /**
     * Least milliseconds between two appends: the broker's changes gather meanwhile (its writer keeps one write in
     * flight), so that one JetStream request carries many MQTT messages — JetStream's cost is per request.
     */
    private readonly batchMs = 0,
    /** Largest journal entry written (NATS refuses messages above its max_payload, 1 MB by default). */
    private readonly maxEntryBytes = MAX_ENTRY_BYTES,
  ) {}

  async open(): Promise<void> {
    this.startSeq = await this.engine.lastSeq();
  }

  /**
   * The broker's writer waits this long before it takes its next batch, so the changes made meanwhile join it: at
   * most one append per `batchMs`. (A wait after taking the batch would make what comes meanwhile wait for two.)
   */
  writeDelay(): number {
    return Math.max(0, this.lastAppend + this.batchMs - Date.now());
  }

  /** Adds an operation of the node's own to the next entry (written with the next batch, or by `flushMarks`). */
  mark(op: JournalOp): void {
    this.marks.push(op);
  }

  /** Appends happen one at a time, in order: the broker's batches and the node's own marks. */
  private tail: Promise<void> = Promise.resolve();
  private flushScheduled = false;

  /** Adds an operation of the node's own and writes it soon (after this turn), with or without broker changes. */
  markSoon(op: JournalOp): void {
    this.marks.push(op);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flushMarks().catch(() => undefined);
    });
  }

  write(ops: readonly StoreOp[]): Promise<void> {
    const next = this.tail.then(
      () => this.writeNow(ops),
      () => this.writeNow(ops),
    );
    this.tail = next.catch(() => undefined);
    return next;
  }

  private async writeNow(ops: readonly StoreOp[]): Promise<void> {
    const pending = this.unconfirmed;
    if (pending !== undefined) {
      await this.appendAll(pending);
      this.unconfirmed = undefined;
      this.confirmed = pending.ops;
    }
    // The broker writes a failed batch again in front of what came since (StoreWriter): those operations are in
    // the journal now, under the failed batch's id, and must not go in twice.
    let fresh = ops;
    const done = this.confirmed;
    if (done !== undefined && ops.length > 0) {
      if (ops.length >= done.length && done.every((op, i) => ops[i] === op)) fresh = ops.slice(done.length);
      this.confirmed = undefined;
    }
    await this.writeRetained(fresh);
    const entry: JournalOp[] = [...fresh];
    if (this.marks.length > 0) {
      entry.push(...this.marks);
      this.marks = [];
    }
    const consumed = this.consumed();
    if (consumed > this.consumedWritten) entry.push({ op: 'consumed', seq: consumed });
    if (entry.length === 0) return;
    // The broker's writer has waited already (writeDelay); the node's own marks wait here.
    const wait = this.writeDelay();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    this.lastAppend = Date.now();
    const batch: PendingBatch = {
      entries: encodeBatches(entry, this.maxEntryBytes).map((data) => ({ id: `${this.engine.nodeId}:${this.incarnation}:${++this.batches}`, data })),
      ops: fresh,
      followed: entry.some((op) => ROUTED_OPS.has(op.op)),
    };
    try {
      await this.appendAll(batch);
    } catch (err) {
      this.unconfirmed = batch;
      throw err;
    }
    if (consumed > this.consumedWritten) this.consumedWritten = consumed;
  }

  /**
   * Resolves with the journal sequence of the first entry whose append starts after this call: everything this
   * node records from now on is at or after it.
   */
  nextSeq(): Promise<number> {
    return new Promise((resolve) => this.seqWaiters.push({ after: this.appendsStarted, resolve }));
  }

  /** The next entry says again how far this node has routed (a compacted journal keeps the mark). */
  restateConsumed(): void {
    this.consumedWritten = 0;
  }

  /** Appends a batch's entries in order; each one confirmed leaves the batch. */
  private async appendAll(batch: PendingBatch): Promise<void> {
    while (batch.entries.length > 0) {
      const { id, data } = batch.entries[0]!;
      const index = ++this.appendsStarted;
      const seq = await this.append(id, data, batch.followed);
      batch.entries.shift();
      this.appendedBytes += data.length;
      if (this.seqWaiters.length > 0) {
        const due = this.seqWaiters.filter((w) => w.after < index);
        this.seqWaiters = this.seqWaiters.filter((w) => w.after >= index);
        for (const waiter of due) waiter.resolve(seq);
      }
    }
  }

  /** Writes pending marks (and how far the node has routed) even when the broker has nothing to write. */
  async flushMarks(): Promise<void> {
    if (this.marks.length === 0 && this.consumed() <= this.consumedWritten && this.unconfirmed === undefined) return;
    await this.write([]);
  }

  async loadRetained(): Promise<BrokerMessage[]> {
    const messages: BrokerMessage[] = [];
    await this.engine.loadRetained((_subject, data) => {
      try {
        messages.push(decodeMessage(data));
      } catch {
        // Not ours or damaged: the next write of that topic replaces it.
      }
    });
    return messages;
  }

  async loadSessions(): Promise<StoredSessionState[]> {
    return [];
  }

  async close(): Promise<void> {
    await this.flushMarks().catch(() => undefined);
  }

  private async append(id: string, data: Uint8Array, followed: boolean): Promise<number> {
    try {
      return await this.engine.append(data, id, followed);
    } catch (err) {
      throw new StoreError('io', `cluster journal write failed: ${err instanceof Error ? err.message : String(err)}; the node refuses QoS 1/2 messages until NATS takes writes again`);
    }
  }

  private async writeRetained(ops: readonly StoreOp[]): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const op of ops) {
      if (op.op === 'putRetained' || op.op === 'deleteRetained') {
        const topic = op.op === 'putRetained' ? op.message.topic : op.topic;
        const subject = this.retainedSubjects.subject(topic);
        if (subject === undefined) continue;
        writes.push(op.op === 'putRetained' ? this.engine.putRetained(subject, encodeMessage(op.message)) : this.engine.deleteRetained(subject));
      }
    }
    if (writes.length === 0) return;
    try {
      await Promise.all(writes);
    } catch (err) {
      throw new StoreError('io', `cluster retained write failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
