// One `write` of the broker (a StoreOp batch) into one write-ahead log record: each change becomes LevelDB puts
// and deletes whose keys and values are written in place into the record, the record index follows every change
// (so that deleting a session names each key under it) and the size limits are checked before anything is
// written. What LevelDB later gets of the batch are views of the same bytes (`levelOp`).
import { LogRecordBuilder, type LogOp } from './log-record.js';
import {
  encodeIncoming,
  encodeSession,
  encodeSubscription,
  incomingKeySize,
  outgoingKeySize,
  outgoingSize,
  retainedKeySize,
  retainedSize,
  seal,
  sessionKeySize,
  subscriptionKeySize,
  writeIncomingKey,
  writeOutgoing,
  writeOutgoingKey,
  writeRetained,
  writeRetainedKey,
  writeSessionKey,
  writeSubscriptionKey,
} from './record-codec.js';
import { RecordIndex, type SizeMap } from './record-index.js';
import { StoreError } from './store-errors.js';
import type { StoreOp } from './store.js';

/** An index map: which records of one kind exist, by id, with their sizes. */
export type IndexMap = SizeMap<unknown>;

/**
 * A logged operation waiting for LevelDB: where its key and value lie in the log record that carries it, and the
 * index map and id of its record (none for session records and the deletes of a session's records), so that a
 * later operation on the record can leave it out. Its LevelDB form is made only if it is not left out.
 */
export interface LoggedOp {
  put: boolean;
  /** The log record, set once the batch is encoded. */
  record: Buffer;
  /** Offset of the key in `record`; a put's value follows 4 bytes after the key. */
  at: number;
  keyLength: number;
  valueLength: number;
  map: IndexMap | undefined;
  id: unknown;
  /**
   * The record was absent from LevelDB before this put (for the last put of a record waiting for LevelDB: before
   * the first one): a delete cancels the put, and itself.
   */
  created: boolean;
  /** Its place in the queue of operations waiting for LevelDB (level-write-behind.ts). */
  slot: number;
}

export interface StoreLimits {
  /** Largest total size of the stored records, bytes; 0 = unlimited. */
  maxBytes: number;
  /** Most retained messages kept; 0 = unlimited. */
  maxRetained: number;
}

const NO_RECORD = Buffer.alloc(0);

export class BatchEncoder {
  /** The records the store holds once the batches encoded so far are written. */
  readonly index = new RecordIndex();
  /** Where each batch's log record is built. */
  private readonly builder = new LogRecordBuilder();

  constructor(
    /** The data directory, for the messages of refusals. */
    private readonly dir: string,
    private readonly limits: StoreLimits,
  ) {}

  /**
   * Encodes `ops` into one log record, adding its operations to `batch`; returns the record, or undefined when
   * the batch changes nothing. The index then holds the batch's changes, to `commit` once the record is logged or
   * `rollback` if it is not. A batch that cannot be encoded or would pass a limit is refused with a StoreError,
   * the index left as it was.
   */
  encode(ops: readonly StoreOp[], batch: LoggedOp[]): Buffer | undefined {
    const index = this.index;
    const builder = this.builder;
    index.begin();
    builder.begin();
    const retainedBefore = index.retained.size;
    try {
      for (const op of ops) this.prepare(op, batch);
    } catch (err) {
      this.refuse();
      throw err instanceof StoreError ? err : new StoreError('io', `cannot encode a store change: ${(err as Error).message}`, { cause: err });
    }
    const { maxBytes, maxRetained } = this.limits;
    if (maxBytes > 0 && index.growth > 0 && index.bytes > maxBytes) {
      const needed = index.bytes;
      this.refuse();
      throw new StoreError(
        'full',
        `store in ${this.dir} is full: ${needed} bytes needed, limit ${maxBytes}; ` +
          'it takes more once clients fetch their queued messages or sessions expire (the limit is the store option maxBytes)',
      );
    }
    if (maxRetained > 0 && index.retained.size > maxRetained && index.retained.size > retainedBefore) {
      this.refuse();
      throw new StoreError(
        'full',
        `store in ${this.dir} is full: more than ${maxRetained} retained messages; ` +
          'clear retained messages (an empty retained message on their topic) or raise the store option maxRetained',
      );
    }
    if (batch.length === 0) {
      index.commit();
      builder.discard();
      return undefined;
    }
    const record = builder.finish();
    for (const op of batch) op.record = record;
    return record;
  }

  /** Keeps the encoded batch's changes in the index: its record is logged. */
  commit(): void {
    this.index.commit();
  }

  /** Drops the encoded batch's changes from the index: its record could not be logged. */
  rollback(): void {
    this.index.rollback();
  }

  /** Undoes the batch being encoded. */
  private refuse(): void {
    this.index.rollback();
    this.builder.discard();
  }

  /** Writes the logged operations for one change into the log record, adds them to `batch` and records them in the index. */
  private prepare(op: StoreOp, batch: LoggedOp[]): void {
    const index = this.index;
    const builder = this.builder;
    switch (op.op) {
      case 'putSession': {
        const clientId = op.session.clientId;
        const keyLength = sessionKeySize(clientId);
        const value = encodeSession(op.session);
        const records = index.clients.get(clientId);
        if (records === undefined) index.addClient(clientId, keyLength + value.length);
        else index.setSession(records, keyLength + value.length);
        const at = this.logPut(batch, keyLength, value.length, undefined, undefined, false);
        writeSessionKey(builder.buf, at, clientId);
        value.copy(builder.buf, at + keyLength + 4);
        return;
      }
      case 'deleteSession': {
        const clientId = op.clientId;
        const records = index.clients.get(clientId);
        if (records === undefined) return;
        // Each key is written once its delete is added (`builder.buf` read after: adding may move the record).
        let at = this.logDelete(batch, sessionKeySize(clientId));
        writeSessionKey(builder.buf, at, clientId);
        for (const filter of records.subscriptions.keys()) {
          at = this.logDelete(batch, subscriptionKeySize(clientId, filter));
          writeSubscriptionKey(builder.buf, at, clientId, filter);
        }
        for (const seq of records.outgoing.keys()) {
          at = this.logDelete(batch, outgoingKeySize(clientId));
          writeOutgoingKey(builder.buf, at, clientId, seq);
        }
        for (const id of records.incoming.keys()) {
          at = this.logDelete(batch, incomingKeySize(clientId));
          writeIncomingKey(builder.buf, at, clientId, id);
        }
        index.removeClient(clientId, records);
        return;
      }
      case 'putSubscription': {
        const records = index.clients.get(op.clientId);
        if (records === undefined) return;
        const filter = op.subscription.filter;
        const keyLength = subscriptionKeySize(op.clientId, filter);
        const value = encodeSubscription(op.subscription);
        const created = !index.set(records.subscriptions, filter, keyLength + value.length);
        const at = this.logPut(batch, keyLength, value.length, records.subscriptions, filter, created);
        writeSubscriptionKey(builder.buf, at, op.clientId, filter);
        value.copy(builder.buf, at + keyLength + 4);
        return;
      }
      case 'deleteSubscription': {
        const records = index.clients.get(op.clientId);
        if (records !== undefined && index.remove(records.subscriptions, op.filter)) {
          const at = this.logDelete(batch, subscriptionKeySize(op.clientId, op.filter), records.subscriptions, op.filter);
          writeSubscriptionKey(builder.buf, at, op.clientId, op.filter);
        }
        return;
      }
      case 'putOutgoing': {
        const records = index.clients.get(op.clientId);
        if (records === undefined) return;
        const seq = op.outgoing.seq;
        const keyLength = outgoingKeySize(op.clientId);
        const valueLength = outgoingSize(op.outgoing);
        const created = !index.set(records.outgoing, seq, keyLength + valueLength);
        const at = this.logPut(batch, keyLength, valueLength, records.outgoing, seq, created);
        writeOutgoingKey(builder.buf, at, op.clientId, seq);
        writeOutgoing(builder.buf, at + keyLength + 4, op.outgoing);
        return;
      }
      case 'deleteOutgoing': {
        const records = index.clients.get(op.clientId);
        if (records !== undefined && index.remove(records.outgoing, op.seq)) {
          const at = this.logDelete(batch, outgoingKeySize(op.clientId), records.outgoing, op.seq);
          writeOutgoingKey(builder.buf, at, op.clientId, op.seq);
        }
        return;
      }
      case 'putIncoming': {
        const records = index.clients.get(op.clientId);
        if (records === undefined) return;
        const keyLength = incomingKeySize(op.clientId);
        const value = encodeIncoming();
        const created = !index.set(records.incoming, op.packetId, keyLength + value.length);
        const at = this.logPut(batch, keyLength, value.length, records.incoming, op.packetId, created);
        writeIncomingKey(builder.buf, at, op.clientId, op.packetId);
        value.copy(builder.buf, at + keyLength + 4);
        return;
      }
      case 'deleteIncoming': {
        const records = index.clients.get(op.clientId);
        if (records !== undefined && index.remove(records.incoming, op.packetId)) {
          const at = this.logDelete(batch, incomingKeySize(op.clientId), records.incoming, op.packetId);
          writeIncomingKey(builder.buf, at, op.clientId, op.packetId);
        }
        return;
      }
      case 'putRetained': {
        const topic = op.message.topic;
        const keyLength = retainedKeySize(topic);
        const valueLength = retainedSize(op.message);
        const created = !index.set(index.retained, topic, keyLength + valueLength);
        const at = this.logPut(batch, keyLength, valueLength, index.retained, topic, created);
        writeRetainedKey(builder.buf, at, topic);
        writeRetained(builder.buf, at + keyLength + 4, op.message);
        return;
      }
      case 'deleteRetained':
        if (index.remove(index.retained, op.topic)) {
          const at = this.logDelete(batch, retainedKeySize(op.topic), index.retained, op.topic);
          writeRetainedKey(builder.buf, at, op.topic);
        }
        return;      case 'publish':
        // A cluster's: this store keeps only this broker's state.
        return;
    }
  }

  /** Adds a put to the log record and `batch`; returns where its key goes in the builder's buffer. */
  private logPut(batch: LoggedOp[], keyLength: number, valueLength: number, map: IndexMap | undefined, id: unknown, created: boolean): number {
    const at = this.builder.put(keyLength, valueLength);
    batch.push({ put: true, record: NO_RECORD, at: this.builder.offset(at), keyLength, valueLength, map, id, created, slot: 0 });
    return at;
  }

  /** Adds a delete to the log record and `batch`; returns where its key goes in the builder's buffer. */
  private logDelete<K>(batch: LoggedOp[], keyLength: number, map?: SizeMap<K>, id?: K): number {
    const at = this.builder.del(keyLength);
    batch.push({ put: false, record: NO_RECORD, at: this.builder.offset(at), keyLength, valueLength: 0, map: map as IndexMap | undefined, id, created: false, slot: 0 });
    return at;
  }
}

/** The LevelDB form of a logged operation: views of the log record, the value sealed. */
export function levelOp(op: LoggedOp): LogOp {
  const key = op.record.subarray(op.at, op.at + op.keyLength);
  if (!op.put) return { type: 'del', key };
  const start = op.at + op.keyLength + 4;
  return { type: 'put', key, value: seal(op.record.subarray(start, start + op.valueLength)) };
}
