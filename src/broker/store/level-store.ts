import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { stderrLogger, type Logger } from '../logger.js';
import type { BrokerMessage } from '../message.js';
import { DataDirLock } from './data-dir-lock.js';
import { LogRecordBuilder, type LogOp } from './log-record.js';
import { repairLog, type SegmentRepair } from './log-repair.js';
import {
  checkIncoming,
  decodeFormat,
  decodeOutgoing,
  decodeRetained,
  decodeSession,
  decodeSubscription,
  encodeFormat,
  encodeIncoming,
  encodeSession,
  encodeSubscription,
  FORMAT_KEY,
  incomingKeySize,
  KIND_INCOMING,
  KIND_META,
  KIND_OUTGOING,
  KIND_RETAINED,
  KIND_SESSION,
  KIND_SUBSCRIPTION,
  outgoingKeySize,
  outgoingSize,
  parseKey,
  RecordError,
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
import { RecordIndex, type ClientRecords } from './record-index.js';
import type { BrokerStore, RecoveryStats, StoredSessionState, StoreOp } from './store.js';

export type { RecoveryStats } from './store.js';
import { DISK_REMEDY, StoreError } from './store-errors.js';
import { formatFileContent, formatFilePath, readFormat, STORE_FORMAT_VERSION, writeFormat } from './store-format.js';
import { readLog, removeSegments, WriteAheadLog } from './write-ahead-log.js';

export interface LevelStoreOptions {
  /** Flush every batch to the disk before `write` resolves (power-loss safety). Default false: handed to the OS. */
  fsync?: boolean;
  /** Largest total size of the stored records, bytes; 0 = unlimited. Default 1 GiB. */
  maxBytes?: number;
  /** Most retained messages kept; 0 = unlimited. Default 1,000,000. */
  maxRetained?: number;
  /** Where recovery reports what it dropped (an unfinished append at the end of the log). Default: warnings to stderr. */
  logger?: Logger;
}

/** What `LevelStore.repair` found and did. */
export interface StoreRepair {
  /** Every log segment, oldest first. */
  segments: SegmentRepair[];
  /** What the store held when it was opened after the repair; undefined for a dry run, which opens nothing. */
  recovered: RecoveryStats | undefined;
}

type Db = ClassicLevel<Buffer, Buffer>;
/**
 * A logged operation waiting for LevelDB: where its key and value lie in the log record that carries it, and the
 * index map and id of its record (none for session records and the deletes of a session's records), so that a
 * later operation on the record can leave it out. Its LevelDB form is made only if it is not left out.
 */
interface LoggedOp {
  put: boolean;
  /** The log record, set once it is appended. */
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
  /** Its place in `pending`. */
  slot: number;
}
type IndexMap = Map<unknown, number>;

const NO_RECORD = Buffer.alloc(0);
const DB_DIR = 'level';
const LOG_DIR = 'log';
/**
 * How long logged operations wait before going to LevelDB: long enough for most deliveries to be acknowledged
 * even by a subscriber that lags behind a busy broker (measured: 20 ms left a fifth of the operations to write).
 */
const LEVEL_DELAY_MS = 50;
/** Logged operations waiting for LevelDB that make it write at once (bounds the memory they hold). */
const LEVEL_BATCH_OPS = 50_000;
/** Log bytes LevelDB may lag behind before writes wait for it. */
const MAX_BACKLOG = 64 * 1024 * 1024;
/** Delay before LevelDB is tried again after it failed, when no write asks sooner. */
const LEVEL_RETRY_MS = 1000;
/** Written when LevelDB reported dropping damaged data, so that later starts keep refusing until someone looks. */
const DAMAGED_FILE = 'culex-store.damaged';
/** What to do about a database LevelDB cannot read. */
const RESTORE_REMEDY = 'restore the data directory from a backup, or move it aside to start with an empty store';
const SCAN_CHUNK = 1024;
/** Operations per LevelDB batch when the log is replayed at start-up. */
const REPLAY_CHUNK = 10_000;

/** What one scan of the database yields. */
interface Scan {
  sessions: Map<string, StoredSessionState>;
  retained: BrokerMessage[];
  orphans: Buffer[];
  formatFound: boolean;
}

/**
 * The broker's durable store on LevelDB (classic-level), in a data directory holding a lock file, a format file,
 * the database and a write-ahead log. Each `write` (group commit: the broker collects the changes of a tick into
 * one call) is appended to the log as one record with one `write(2)`; when it resolves the batch is in the
 * operating system's hands, so it survives the broker process being killed, and with `fsync` it is on the disk.
 * LevelDB gets the logged operations a little later, many batches in one, leaving out those that later ones made
 * needless (most deliveries are acknowledged before they reach it); log segments are deleted once LevelDB holds
 * them and replayed at start-up otherwise. Size limits are checked in memory before the write; a disk error
 * fails the write, and the next write reopens the database so the broker carries on once space returns.
 */
export class LevelStore implements BrokerStore {
  readonly dir: string;
  /** What `open` recovered, for the start-up log. */
  recovered: RecoveryStats | undefined;
  private readonly dbPath: string;
  private readonly lock: DataDirLock;
  private readonly sync: boolean;
  private readonly maxBytes: number;
  private readonly maxRetained: number;
  private readonly logger: Logger;
  private readonly index = new RecordIndex();
  private db: Db | undefined;
  private readonly logDir: string;
  private log: WriteAheadLog | undefined;
  /** Set after a failed LevelDB write: LevelDB refuses all writes after a disk error until it is reopened. */
  private needsReopen = false;
  /** Serialises writes (the broker sends one at a time; this keeps the index right if a caller does not). */
  private tail: Promise<void> = Promise.resolve();
  /** The start-up scan, handed out by the loads until the first write. */
  private startScan: Scan | undefined;
  /**
   * The last put of each record among the logged operations waiting for LevelDB, by index map and key. Only the
   * last operation on a key decides what the disk holds, so a later put or delete of the record drops that put,
   * and the delete of a record created while they waited (absent from LevelDB) is dropped as well.
   */
  private readonly pendingPuts = new Map<IndexMap, Map<unknown, LoggedOp>>();
  /** Logged operations LevelDB does not have yet, in order; left-out ones are holes. */
  private pending: Array<LoggedOp | undefined> = [];
  /** A LevelDB batch that failed, written again in front of `pending`. */
  private failedBatch: LogOp[] | undefined;
  /** Where each batch's log record is built. */
  private readonly builder = new LogRecordBuilder();
  private levelWrite: Promise<void> | undefined;
  private levelTimer: NodeJS.Timeout | undefined;
  /** Why LevelDB last failed, until a LevelDB write succeeds. */
  private levelError: StoreError | undefined;
  private annulledTotal = 0;
  private readonly levelTick = (): void => {
    this.levelTimer = undefined;
    this.startLevelWrite().catch(() => undefined);
  };

  constructor(dir: string, options: LevelStoreOptions = {}) {
    this.dir = dir;
    this.dbPath = join(dir, DB_DIR);
    this.logDir = join(dir, LOG_DIR);
    this.lock = new DataDirLock(dir);
    this.sync = options.fsync ?? false;
    this.maxBytes = options.maxBytes ?? 1024 * 1024 * 1024;
    this.maxRetained = options.maxRetained ?? 1_000_000;
    this.logger = options.logger ?? stderrLogger('warn');
  }

  /** Logged operations left out of LevelDB batches because later ones, logged before LevelDB got them, made them needless. */
  get annulled(): number {
    return this.annulledTotal;
  }

  /** Total size of the stored records, bytes. */
  get bytes(): number {
    return this.index.bytes;
  }

  /** Locks the data directory, checks its format and recovers it; the counts are in `recovered` afterwards. */
  open(): Promise<RecoveryStats> {
    return this.recover(undefined);
  }

  /**
   * Salvages a damaged write-ahead log (log-repair.ts): every segment that is not intact is copied aside and
   * rewritten with each intact record it holds. Then the store is recovered as `open` would, and closed, so that
   * a store the repair leaves is known to open. With `dryRun` it only reports: nothing is changed or opened. A
   * directory that holds no store is refused rather than created.
   */
  async repair(options: { dryRun?: boolean } = {}): Promise<StoreRepair> {
    if (!existsSync(this.dir)) throw new StoreError('io', `data directory ${this.dir} does not exist; check the path`);
    if (!existsSync(formatFilePath(this.dir))) {
      throw new StoreError('format', `${this.dir} holds no culex store (no culex-store.json); check the path`);
    }
    const stamp = new Date().toISOString().replace(/[-:.]/g, '');
    if (options.dryRun === true) {
      this.lock.acquire();
      try {
        return { segments: repairLog(this.logDir, { dryRun: true, stamp }), recovered: undefined };
      } finally {
        this.lock.release();
      }
    }
    let segments: SegmentRepair[] = [];
    let recovered: RecoveryStats;
    try {
      // Under both locks: LevelDB's refuses a broker whose lock file was deleted.
      recovered = await this.recover(() => (segments = repairLog(this.logDir, { dryRun: false, stamp })));
    } catch (err) {
      if (!segments.some((segment) => segment.copy !== undefined) || !(err instanceof StoreError)) throw err;
      throw new StoreError(
        err.code,
        `the log was repaired (the originals are kept as ${this.logDir}/*.damaged-${stamp}), but the store does not open: ${err.message}`,
        { cause: err },
      );
    }
    await this.close();
    return { segments, recovered };
  }

  /** `open`, with `salvage` run on the log once the database is open and before the log is replayed. */
  private async recover(salvage: (() => void) | undefined): Promise<RecoveryStats> {
    const started = performance.now();
    try {
      mkdirSync(this.dir, { recursive: true });
    } catch (err) {
      throw new StoreError('io', `cannot create data directory ${this.dir}: ${(err as Error).message}; check the path and its permissions`, { cause: err });
    }
    this.lock.acquire();
    try {
      this.refuseIfDamaged();
      const version = readFormat(this.dir);
      const hasFiles = this.databaseFiles().length > 0;
      if (version === undefined) {
        if (hasFiles) {
          throw new StoreError(
            'corrupt',
            `data directory ${this.dir} has database files but no culex-store.json; refusing to start with an empty store; ` +
              `if it holds a culex store, restore culex-store.json from a backup (or write ${formatFileContent()} into it), else use another data directory`,
          );
        }
        writeFormat(this.dir);
      }
      const fresh = !this.databaseFiles().includes('CURRENT');
      if (fresh && hasFiles) {
        throw new StoreError('corrupt', `store data in ${this.dbPath} is damaged: the CURRENT file is missing; refusing to start with an empty store; ${RESTORE_REMEDY}`);
      }
      this.db = await this.openDb(fresh);
      salvage?.();
      this.log = await this.replayLog(this.db);
      const scan = await this.scan(this.db);
      if (!scan.formatFound) {
        if (scan.sessions.size > 0 || scan.retained.length > 0) {
          throw new StoreError('corrupt', `store data in ${this.dbPath} has no format record; refusing to guess; ${RESTORE_REMEDY}`);
        }
        await this.db.put(Buffer.from(FORMAT_KEY), encodeFormat(STORE_FORMAT_VERSION), { sync: true });
      }
      if (scan.orphans.length > 0) await this.db.batch(scan.orphans.map((key) => ({ type: 'del' as const, key })));
      this.startScan = scan;
      let subscriptions = 0;
      let outgoing = 0;
      let incoming = 0;
      for (const state of scan.sessions.values()) {
        subscriptions += state.subscriptions.length;
        outgoing += state.outgoing.length;
        incoming += state.incoming.length;
      }
      this.recovered = {
        sessions: scan.sessions.size,
        subscriptions,
        outgoing,
        incoming,
        retained: scan.retained.length,
        bytes: this.index.bytes,
        orphans: scan.orphans.length,
        milliseconds: Math.round(performance.now() - started),
      };
      return this.recovered;
    } catch (err) {
      this.log?.close(false);
      this.log = undefined;
      await this.db?.close().catch(() => undefined);
      this.db = undefined;
      this.lock.release();
      throw err;
    }
  }

  write(ops: readonly StoreOp[]): Promise<void> {
    const result = this.tail.then(() => this.writeNow(ops));
    this.tail = result.catch(() => undefined);
    return result;
  }

  async loadRetained(): Promise<BrokerMessage[]> {
    return (await this.loadScan()).retained;
  }

  async loadSessions(): Promise<StoredSessionState[]> {
    return [...(await this.loadScan()).sessions.values()];
  }

  /** Resolves once LevelDB holds everything logged; rejects with a StoreError when LevelDB fails. */
  async flushed(): Promise<void> {
    while (this.levelWrite !== undefined || this.pending.length > 0 || this.failedBatch !== undefined) {
      await (this.levelWrite ?? this.startLevelWrite());
    }
  }

  /** Hands what is logged to LevelDB; the log is deleted when LevelDB took it, or replayed at the next start. */
  async close(): Promise<void> {
    await this.tail;
    let flushed = false;
    if (this.db !== undefined) flushed = await this.flushed().then(() => true, () => false);
    // A failed LevelDB write leaves a retry scheduled.
    clearTimeout(this.levelTimer);
    this.levelTimer = undefined;
    const db = this.db;
    this.db = undefined;
    this.startScan = undefined;
    try {
      this.log?.close(flushed);
      this.log = undefined;
      await db?.close();
    } finally {
      this.lock.release();
    }
  }

  // ---- writing

  private async writeNow(ops: readonly StoreOp[]): Promise<void> {
    // While LevelDB fails, or lags far behind, writes wait for it: the log does not grow without bound, and a
    // disk error refuses new messages instead of being noticed only by the background writes.
    if (this.levelError !== undefined || (this.log !== undefined && this.log.backlog > MAX_BACKLOG)) await this.flushed();
    const log = this.log;
    if (this.db === undefined || log === undefined) throw new StoreError('io', `store in ${this.dir} is not open`);
    this.startScan = undefined;
    const index = this.index;
    const builder = this.builder;
    index.begin();
    builder.begin();
    const batch: LoggedOp[] = [];
    const retainedBefore = index.retained.size;
    try {
      for (const op of ops) this.prepare(op, batch);
    } catch (err) {
      this.refuse();
      throw err instanceof StoreError ? err : new StoreError('io', `cannot encode a store change: ${(err as Error).message}`, { cause: err });
    }
    if (this.maxBytes > 0 && index.growth > 0 && index.bytes > this.maxBytes) {
      const needed = index.bytes;
      this.refuse();
      throw new StoreError(
        'full',
        `store in ${this.dir} is full: ${needed} bytes needed, limit ${this.maxBytes}; ` +
          'it takes more once clients fetch their queued messages or sessions expire (the limit is the store option maxBytes)',
      );
    }
    if (this.maxRetained > 0 && index.retained.size > this.maxRetained && index.retained.size > retainedBefore) {
      this.refuse();
      throw new StoreError(
        'full',
        `store in ${this.dir} is full: more than ${this.maxRetained} retained messages; ` +
          'clear retained messages (an empty retained message on their topic) or raise the store option maxRetained',
      );
    }
    if (batch.length === 0) {
      index.commit();
      builder.discard();
      return;
    }
    const record = builder.finish();
    try {
      log.append(record);
    } catch (err) {
      index.rollback();
      throw err instanceof StoreError ? err : new StoreError('io', `store write in ${log.dir} failed: ${describe(err)}; ${DISK_REMEDY}`, { cause: err });
    }
    index.commit();
    for (const op of batch) op.record = record;
    this.merge(batch);
    this.scheduleLevelWrite();
    // The record is in the operating system's hands; with fsync it must be on the disk before the write resolves.
    // Should the flush fail, the write is refused although its changes stay: written again, they change nothing.
    if (this.sync) await log.syncNow();
  }

  /** Undoes the batch being prepared. */
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
  private logDelete<K>(batch: LoggedOp[], keyLength: number, map?: Map<K, number>, id?: K): number {
    const at = this.builder.del(keyLength);
    batch.push({ put: false, record: NO_RECORD, at: this.builder.offset(at), keyLength, valueLength: 0, map: map as IndexMap | undefined, id, created: false, slot: 0 });
    return at;
  }

  /** Adds a logged batch to the operations waiting for LevelDB, leaving out those it makes needless. */
  private merge(batch: readonly LoggedOp[]): void {
    const pending = this.pending;
    for (const op of batch) {
      const map = op.map;
      if (map !== undefined) {
        let puts = this.pendingPuts.get(map);
        if (puts === undefined) this.pendingPuts.set(map, (puts = new Map()));
        const last = puts.get(op.id);
        if (op.put) {
          if (last !== undefined) {
            pending[last.slot] = undefined;
            this.annulledTotal++;
            op.created = last.created;
          }
          puts.set(op.id, op);
        } else if (last !== undefined) {
          pending[last.slot] = undefined;
          puts.delete(op.id);
          this.annulledTotal++;
          // Created since LevelDB last got a batch: it never held the record, so the delete is left out too.
          if (last.created) {
            this.annulledTotal++;
            continue;
          }
        }
      }
      op.slot = pending.length;
      pending.push(op);
    }
  }

  private scheduleLevelWrite(): void {
    if (this.levelWrite !== undefined) return;
    if (this.pending.length >= LEVEL_BATCH_OPS) {
      this.startLevelWrite().catch(() => undefined);
      return;
    }
    if (this.levelTimer !== undefined) return;
    this.levelTimer = setTimeout(this.levelTick, this.levelError === undefined ? LEVEL_DELAY_MS : LEVEL_RETRY_MS);
    this.levelTimer.unref();
  }

  /** Writes the logged operations waiting for LevelDB as one batch, after a batch that failed before. */
  private startLevelWrite(): Promise<void> {
    clearTimeout(this.levelTimer);
    this.levelTimer = undefined;
    const ops: LogOp[] = this.failedBatch ?? [];
    for (const op of this.pending) if (op !== undefined) ops.push(levelOp(op));
    this.pending = [];
    this.pendingPuts.clear();
    const upTo = this.log?.appended ?? 0;
    this.levelWrite = this.writeLevel(ops, upTo).finally(() => {
      this.levelWrite = undefined;
      if (this.pending.length > 0 || this.failedBatch !== undefined) this.scheduleLevelWrite();
    });
    return this.levelWrite;
  }

  private async writeLevel(ops: LogOp[], upTo: number): Promise<void> {
    try {
      if (this.needsReopen) await this.reopen();
      const db = this.db;
      if (db === undefined) throw new Error('the database is closed');
      if (ops.length > 0) await writeBatch(db, ops, this.sync);
    } catch (err) {
      this.failedBatch = ops;
      this.needsReopen = true;
      this.levelError = err instanceof StoreError ? err : new StoreError('io', `store write in ${this.dbPath} failed: ${describe(err)}; ${DISK_REMEDY}`, { cause: err });
      throw this.levelError;
    }
    this.failedBatch = undefined;
    this.levelError = undefined;
    this.log?.release(upTo);
  }

  /** Writes what the log holds over LevelDB (again, where it has some of it: in order, the operations are idempotent) and deletes it. */
  private async replayLog(db: Db): Promise<WriteAheadLog> {
    const logged = readLog(this.logDir);
    const torn = logged.torn;
    if (torn !== undefined) {
      this.logger.warn(
        `store log ${torn.path}: dropped ${torn.bytes} bytes at its end, from byte ${torn.offset} (${torn.what}): ` +
          'an append the process did not finish, never acknowledged',
      );
    }
    const ops = logged.batches.flat();
    for (const op of ops) if (op.type === 'put') seal(op.value);
    try {
      for (let i = 0; i < ops.length; i += REPLAY_CHUNK) {
        const last = i + REPLAY_CHUNK >= ops.length;
        // On the disk before the log is deleted.
        await writeBatch(db, ops.slice(i, i + REPLAY_CHUNK), last);
      }
    } catch (err) {
      throw new StoreError(
        'io',
        `cannot replay the store log into ${this.dbPath}: ${describe(err)}; free disk space or fix the file system, then start again (the log is kept until it is replayed)`,
        { cause: err },
      );
    }
    removeSegments(this.logDir, logged.paths);
    return new WriteAheadLog(this.logDir, this.sync, logged.next);
  }

  /**
   * After a disk error: LevelDB stays failed until reopened. The index still matches the log, and the failed
   * batch is written again, so nothing needs to be read back.
   */
  private async reopen(): Promise<void> {
    await this.db?.close().catch(() => undefined);
    this.db = undefined;
    try {
      this.db = await this.openDb(false);
      this.needsReopen = false;
    } catch (err) {
      await this.db?.close().catch(() => undefined);
      this.db = undefined;
      throw err instanceof StoreError ? err : new StoreError('io', `cannot reopen store in ${this.dbPath}: ${describe(err)}; ${DISK_REMEDY}`, { cause: err });
    }
  }

  // ---- reading

  private async openDb(create: boolean): Promise<Db> {
    const db: Db = new ClassicLevel<Buffer, Buffer>(this.dbPath, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    try {
      await db.open({ createIfMissing: create, errorIfExists: false });
    } catch (err) {
      const reason = describe(err);
      // LevelDB's lock, taken although ours was: ours was deleted while its owner ran.
      if (/lock/i.test(reason) && /temporarily unavailable|already held/i.test(reason)) throw this.lock.engineLocked(join(this.dbPath, 'LOCK'));
      if (/corrupt/i.test(reason)) throw new StoreError('corrupt', `cannot open store in ${this.dbPath}: ${reason}; ${RESTORE_REMEDY}`, { cause: err });
      throw new StoreError('io', `cannot open store in ${this.dbPath}: ${reason}; check free disk space and the permissions of ${this.dbPath}`, { cause: err });
    }
    try {
      this.checkRecoveryLog();
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
    return db;
  }

  /**
   * LevelDB skips log records whose checksum fails while it recovers, and says so only in its LOG file (rewritten
   * on every open). A torn record at the very end, as a killed process leaves, is not reported there.
   */
  private checkRecoveryLog(): void {
    let log: string;
    try {
      log = readFileSync(join(this.dbPath, 'LOG'), 'utf8');
    } catch {
      return;
    }
    const damage = log.split('\n').filter((line) => /Corruption|dropping/.test(line));
    if (damage.length === 0) return;
    const report = damage.map((line) => line.replace(/^\S+ \S+ /, '')).join('\n');
    writeFileSync(join(this.dir, DAMAGED_FILE), `${report}\n`);
    this.refuseIfDamaged();
  }

  private refuseIfDamaged(): void {
    const marker = join(this.dir, DAMAGED_FILE);
    if (!existsSync(marker)) return;
    // One line, as the operator reads it in a log.
    const report = readFileSync(marker, 'utf8').trim().replace(/\s*\n\s*/g, '; ');
    throw new StoreError(
      'corrupt',
      `store data in ${this.dbPath} is corrupt: LevelDB dropped damaged records while recovering (${report}); ` +
        `check which records ${marker} lists, copy the data directory if they may be needed, then remove ${marker} ` +
        'to start with the records LevelDB could read',
    );
  }

  private async loadScan(): Promise<Scan> {
    if (this.db === undefined) throw new StoreError('io', `store in ${this.dir} is not open`);
    if (this.startScan !== undefined) return this.startScan;
    await this.flushed();
    return this.scan(this.db);
  }

  /** Reads every record, rebuilding the index; a record that does not decode stops it with an error. */
  private async scan(db: Db): Promise<Scan> {
    const index = this.index;
    index.clear();
    const result: Scan = { sessions: new Map(), retained: [], orphans: [], formatFound: false };
    const iterator = db.iterator();
    try {
      for (;;) {
        let entries: Array<[Buffer, Buffer]>;
        try {
          entries = await iterator.nextv(SCAN_CHUNK);
        } catch (err) {
          throw new StoreError('corrupt', `store data in ${this.dbPath} cannot be read: ${describe(err)}; ${RESTORE_REMEDY}`, { cause: err });
        }
        if (entries.length === 0) break;
        for (const [key, value] of entries) this.scanRecord(key, value, result);
      }
    } finally {
      await iterator.close();
    }
    index.commit();
    return result;
  }

  private scanRecord(key: Buffer, value: Buffer, result: Scan): void {
    const index = this.index;
    const size = key.length + value.length;
    try {
      if (key[0] === KIND_META) {
        if (!key.equals(FORMAT_KEY)) throw new RecordError('unknown meta record');
        const version = decodeFormat(value);
        if (version !== STORE_FORMAT_VERSION) {
          throw new StoreError(
            'format',
            `store data in ${this.dbPath} has format version ${version}; this culex reads version ${STORE_FORMAT_VERSION}; ` +
              'start it with the culex version that wrote it, or use another data directory',
          );
        }
        result.formatFound = true;
        return;
      }
      const parsed = parseKey(key);
      if (parsed.kind === KIND_RETAINED) {
        result.retained.push(decodeRetained(value));
        index.set(index.retained, parsed.filter, size);
        return;
      }
      if (parsed.kind === KIND_SESSION) {
        const session = decodeSession(parsed.clientId, value);
        result.sessions.set(parsed.clientId, { session, subscriptions: [], outgoing: [], incoming: [] });
        index.addClient(parsed.clientId, size);
        return;
      }
      const state = result.sessions.get(parsed.clientId);
      const records: ClientRecords | undefined = index.clients.get(parsed.clientId);
      if (state === undefined || records === undefined) {
        result.orphans.push(key);
        return;
      }
      switch (parsed.kind) {
        case KIND_SUBSCRIPTION:
          state.subscriptions.push(decodeSubscription(parsed.filter, value));
          index.set(records.subscriptions, parsed.filter, size);
          return;
        case KIND_OUTGOING:
          state.outgoing.push(decodeOutgoing(parsed.number, value));
          index.set(records.outgoing, parsed.number, size);
          return;
        case KIND_INCOMING:
          checkIncoming(value);
          state.incoming.push(parsed.number);
          index.set(records.incoming, parsed.number, size);
          return;
      }
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(
        'corrupt',
        `store data in ${this.dbPath} is corrupt (record ${key.subarray(0, 40).toString('hex')}: ${describe(err)}); refusing to start with partial state; ${RESTORE_REMEDY}`,
        { cause: err },
      );
    }
  }

  /** LevelDB's own files in the database directory (none for a new data directory). */
  private databaseFiles(): string[] {
    try {
      return readdirSync(this.dbPath).filter((name) => name !== 'LOCK' && name !== 'LOG' && name !== 'LOG.old');
    } catch {
      return [];
    }
  }
}

/**
 * Writes a batch of Buffer keys and values. classic-level's own batch method (`_batch`, its implementation of the
 * abstract-level contract) takes them as they are; the public `batch` first copies, checks and re-encodes every
 * operation, which measured as 40% of a write's time. The public method is the fallback.
 */
function writeBatch(db: Db, batch: LogOp[], sync: boolean): Promise<void> {
  const raw = (db as unknown as { _batch?: (ops: LogOp[], options: { sync: boolean }) => Promise<void> })._batch;
  return raw !== undefined && db.status === 'open' ? raw.call(db, batch, { sync }) : db.batch(batch, { sync });
}

/** The LevelDB form of a logged operation: views of the log record, the value sealed. */
function levelOp(op: LoggedOp): LogOp {
  const key = op.record.subarray(op.at, op.at + op.keyLength);
  if (!op.put) return { type: 'del', key };
  const start = op.at + op.keyLength + 4;
  return { type: 'put', key, value: seal(op.record.subarray(start, start + op.valueLength)) };
}

/** The most specific message of a classic-level error (its cause holds LevelDB's own words). */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause.message : undefined;
  return cause !== undefined && cause !== err.message ? `${err.message} (${cause})` : err.message;
}
