import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { BrokerMessage } from '../message.js';
import { DataDirLock } from './data-dir-lock.js';
import {
  checkIncoming,
  decodeFormat,
  decodeOutgoing,
  decodeRetained,
  decodeSession,
  decodeSubscription,
  encodeFormat,
  encodeIncoming,
  encodeOutgoing,
  encodeRetained,
  encodeSession,
  encodeSubscription,
  FORMAT_KEY,
  incomingKey,
  KIND_INCOMING,
  KIND_META,
  KIND_OUTGOING,
  KIND_RETAINED,
  KIND_SESSION,
  KIND_SUBSCRIPTION,
  outgoingKey,
  parseKey,
  RecordError,
  retainedKey,
  sessionKey,
  subscriptionKey,
} from './record-codec.js';
import { RecordIndex, type ClientRecords } from './record-index.js';
import type { BrokerStore, RecoveryStats, StoredSessionState, StoreOp } from './store.js';

export type { RecoveryStats } from './store.js';
import { StoreError } from './store-errors.js';
import { readFormat, STORE_FORMAT_VERSION, writeFormat } from './store-format.js';

export interface LevelStoreOptions {
  /** Flush every batch to the disk before `write` resolves (power-loss safety). Default false: handed to the OS. */
  fsync?: boolean;
  /** Largest total size of the stored records, bytes; 0 = unlimited. Default 1 GiB. */
  maxBytes?: number;
  /** Most retained messages kept; 0 = unlimited. Default 1,000,000. */
  maxRetained?: number;
}

type Db = ClassicLevel<Buffer, Buffer>;
type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };
/** Where the last put of a record sits in the batch being prepared, and whether the batch created the record. */
interface LastPut {
  at: number;
  created: boolean;
}

const DB_DIR = 'level';
/** Written when LevelDB reported dropping damaged data, so that later starts keep refusing until someone looks. */
const DAMAGED_FILE = 'culex-store.damaged';
const SCAN_CHUNK = 1024;

/** What one scan of the database yields. */
interface Scan {
  sessions: Map<string, StoredSessionState>;
  retained: BrokerMessage[];
  orphans: Buffer[];
  formatFound: boolean;
}

/**
 * The broker's durable store on LevelDB (classic-level), in a data directory holding a lock file, a format file
 * and the database. Each `write` is one atomic LevelDB batch (group commit: the broker collects the changes of a
 * tick into one call); when it resolves the batch is in the operating system's hands, so it survives the broker
 * process being killed, and with `fsync` it is on the disk. Size limits are checked in memory before the write;
 * a disk error fails the write, and the next write reopens the database so the broker carries on once space
 * returns.
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
  private readonly index = new RecordIndex();
  private db: Db | undefined;
  /** Set after a failed write: LevelDB refuses all writes after a disk error until it is reopened. */
  private needsReopen = false;
  /** Serialises writes (the broker sends one at a time; this keeps the index right if a caller does not). */
  private tail: Promise<void> = Promise.resolve();
  /** The start-up scan, handed out by the loads until the first write. */
  private startScan: Scan | undefined;
  /**
   * While a batch is prepared: the last put of each record in it, by index map and key. Only the last operation
   * on a key decides what the disk holds, so a later put or delete of the record drops that put, and the delete
   * of a record the batch created (absent before it) is dropped as well.
   */
  private readonly lastPuts = new Map<Map<unknown, number>, Map<unknown, LastPut>>();
  /** Operations of the batch being prepared that later ones in it made needless. */
  private annulledNow = 0;
  private annulledTotal = 0;

  constructor(dir: string, options: LevelStoreOptions = {}) {
    this.dir = dir;
    this.dbPath = join(dir, DB_DIR);
    this.lock = new DataDirLock(dir);
    this.sync = options.fsync ?? false;
    this.maxBytes = options.maxBytes ?? 1024 * 1024 * 1024;
    this.maxRetained = options.maxRetained ?? 1_000_000;
  }

  /** Operations left out of written batches because later ones in the same batch made them needless. */
  get annulled(): number {
    return this.annulledTotal;
  }

  /** Total size of the stored records, bytes. */
  get bytes(): number {
    return this.index.bytes;
  }

  /** Locks the data directory, checks its format and recovers it; the counts are in `recovered` afterwards. */
  async open(): Promise<RecoveryStats> {
    const started = performance.now();
    try {
      mkdirSync(this.dir, { recursive: true });
    } catch (err) {
      throw new StoreError('io', `cannot create data directory ${this.dir}: ${(err as Error).message}`, { cause: err });
    }
    this.lock.acquire();
    try {
      this.refuseIfDamaged();
      const version = readFormat(this.dir);
      const hasFiles = this.databaseFiles().length > 0;
      if (version === undefined) {
        if (hasFiles) {
          throw new StoreError('corrupt', `data directory ${this.dir} has database files but no culex-store.json; refusing to start with an empty store`);
        }
        writeFormat(this.dir);
      }
      const fresh = !this.databaseFiles().includes('CURRENT');
      if (fresh && hasFiles) {
        throw new StoreError('corrupt', `store data in ${this.dbPath} is damaged: the CURRENT file is missing; refusing to start with an empty store`);
      }
      this.db = await this.openDb(fresh);
      const scan = await this.scan(this.db);
      if (!scan.formatFound) {
        if (scan.sessions.size > 0 || scan.retained.length > 0) {
          throw new StoreError('corrupt', `store data in ${this.dbPath} has no format record; refusing to guess`);
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

  async close(): Promise<void> {
    await this.tail;
    const db = this.db;
    this.db = undefined;
    this.startScan = undefined;
    try {
      await db?.close();
    } finally {
      this.lock.release();
    }
  }

  // ---- writing

  private async writeNow(ops: readonly StoreOp[]): Promise<void> {
    if (this.needsReopen) await this.reopen();
    const db = this.db;
    if (db === undefined) throw new StoreError('io', `store in ${this.dir} is not open`);
    this.startScan = undefined;
    const index = this.index;
    index.begin();
    const batch: Array<BatchOp | undefined> = [];
    const retainedBefore = index.retained.size;
    this.annulledNow = 0;
    try {
      for (const op of ops) this.prepare(op, batch);
    } catch (err) {
      index.rollback();
      throw err instanceof StoreError ? err : new StoreError('io', `cannot encode a store change: ${(err as Error).message}`, { cause: err });
    } finally {
      this.lastPuts.clear();
    }
    const written = this.annulledNow === 0 ? (batch as BatchOp[]) : batch.filter(isOp);
    if (this.maxBytes > 0 && index.growth > 0 && index.bytes > this.maxBytes) {
      const needed = index.bytes;
      index.rollback();
      throw new StoreError('full', `store in ${this.dir} is full: ${needed} bytes needed, limit ${this.maxBytes}`);
    }
    if (this.maxRetained > 0 && index.retained.size > this.maxRetained && index.retained.size > retainedBefore) {
      index.rollback();
      throw new StoreError('full', `store in ${this.dir} is full: more than ${this.maxRetained} retained messages`);
    }
    if (written.length === 0) {
      index.commit();
      this.annulledTotal += this.annulledNow;
      return;
    }
    try {
      await writeBatch(db, written, this.sync);
    } catch (err) {
      index.rollback();
      this.needsReopen = true;
      throw new StoreError('io', `store write in ${this.dbPath} failed: ${describe(err)}`, { cause: err });
    }
    index.commit();
    this.annulledTotal += this.annulledNow;
  }

  /** Adds the LevelDB operations for one change to `batch` and records it in the index. */
  private prepare(op: StoreOp, batch: Array<BatchOp | undefined>): void {
    const index = this.index;
    switch (op.op) {
      case 'putSession': {
        const key = sessionKey(op.session.clientId);
        const value = encodeSession(op.session);
        const records = index.clients.get(op.session.clientId);
        if (records === undefined) index.addClient(op.session.clientId, key.length + value.length);
        else index.setSession(records, key.length + value.length);
        batch.push({ type: 'put', key, value });
        return;
      }
      case 'deleteSession': {
        const records = index.clients.get(op.clientId);
        if (records === undefined) return;
        batch.push({ type: 'del', key: sessionKey(op.clientId) });
        for (const filter of records.subscriptions.keys()) batch.push({ type: 'del', key: subscriptionKey(op.clientId, filter) });
        for (const seq of records.outgoing.keys()) batch.push({ type: 'del', key: outgoingKey(op.clientId, seq) });
        for (const id of records.incoming.keys()) batch.push({ type: 'del', key: incomingKey(op.clientId, id) });
        index.removeClient(op.clientId, records);
        return;
      }
      case 'putSubscription': {
        const records = index.clients.get(op.clientId);
        if (records === undefined) return;
        const key = subscriptionKey(op.clientId, op.subscription.filter);
        const value = encodeSubscription(op.subscription);
        this.put(records.subscriptions, op.subscription.filter, key, value, batch);
        return;
      }
      case 'deleteSubscription': {
        const records = index.clients.get(op.clientId);
        if (records !== undefined && this.remove(records.subscriptions, op.filter, batch)) {
          batch.push({ type: 'del', key: subscriptionKey(op.clientId, op.filter) });
        }
        return;
      }
      case 'putOutgoing': {
        const records = index.clients.get(op.clientId);
        if (records === undefined) return;
        const key = outgoingKey(op.clientId, op.outgoing.seq);
        const value = encodeOutgoing(op.outgoing);
        this.put(records.outgoing, op.outgoing.seq, key, value, batch);
        return;
      }
      case 'deleteOutgoing': {
        const records = index.clients.get(op.clientId);
        if (records !== undefined && this.remove(records.outgoing, op.seq, batch)) {
          batch.push({ type: 'del', key: outgoingKey(op.clientId, op.seq) });
        }
        return;
      }
      case 'putIncoming': {
        const records = index.clients.get(op.clientId);
        if (records === undefined) return;
        const key = incomingKey(op.clientId, op.packetId);
        const value = encodeIncoming();
        this.put(records.incoming, op.packetId, key, value, batch);
        return;
      }
      case 'deleteIncoming': {
        const records = index.clients.get(op.clientId);
        if (records !== undefined && this.remove(records.incoming, op.packetId, batch)) {
          batch.push({ type: 'del', key: incomingKey(op.clientId, op.packetId) });
        }
        return;
      }
      case 'putRetained': {
        const key = retainedKey(op.message.topic);
        const value = encodeRetained(op.message);
        this.put(index.retained, op.message.topic, key, value, batch);
        return;
      }
      case 'deleteRetained':
        if (this.remove(index.retained, op.topic, batch)) batch.push({ type: 'del', key: retainedKey(op.topic) });
        return;
    }
  }

  /** Adds a record's put to `batch` and the index, in place of an earlier put of it in the batch. */
  private put<K>(map: Map<K, number>, id: K, key: Buffer, value: Buffer, batch: Array<BatchOp | undefined>): void {
    const existed = this.index.set(map, id, key.length + value.length);
    let puts = this.lastPuts.get(map as Map<unknown, number>);
    if (puts === undefined) this.lastPuts.set(map as Map<unknown, number>, (puts = new Map()));
    const last = puts.get(id);
    if (last === undefined) puts.set(id, { at: batch.length, created: !existed });
    else {
      batch[last.at] = undefined;
      this.annulledNow++;
      last.at = batch.length;
    }
    batch.push({ type: 'put', key, value });
  }

  /**
   * Removes a record from the index and its put from `batch`; true when its deletion has to be written, false
   * when the store did not hold it before this batch.
   */
  private remove<K>(map: Map<K, number>, id: K, batch: Array<BatchOp | undefined>): boolean {
    if (!this.index.remove(map, id)) return false;
    const puts = this.lastPuts.get(map as Map<unknown, number>);
    const last = puts?.get(id);
    if (last === undefined) return true;
    batch[last.at] = undefined;
    puts!.delete(id);
    this.annulledNow += last.created ? 2 : 1;
    return !last.created;
  }

  /** After a disk error: LevelDB stays failed until reopened; the rescan makes the index match the disk again. */
  private async reopen(): Promise<void> {
    await this.db?.close().catch(() => undefined);
    this.db = undefined;
    try {
      this.db = await this.openDb(false);
      await this.scan(this.db);
      this.needsReopen = false;
    } catch (err) {
      await this.db?.close().catch(() => undefined);
      this.db = undefined;
      throw err instanceof StoreError ? err : new StoreError('io', `cannot reopen store in ${this.dbPath}: ${describe(err)}`, { cause: err });
    }
  }

  // ---- reading

  private async openDb(create: boolean): Promise<Db> {
    const db: Db = new ClassicLevel<Buffer, Buffer>(this.dbPath, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    try {
      await db.open({ createIfMissing: create, errorIfExists: false });
    } catch (err) {
      const reason = describe(err);
      if (/lock/i.test(reason) && /temporarily unavailable|already held/i.test(reason)) {
        throw this.lock.inUse(this.lock.owner()?.pid);
      }
      const code = /corrupt/i.test(reason) ? 'corrupt' : 'io';
      throw new StoreError(code, `cannot open store in ${this.dbPath}: ${reason}`, { cause: err });
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
    const report = readFileSync(marker, 'utf8').trim();
    throw new StoreError(
      'corrupt',
      `store data in ${this.dbPath} is corrupt: LevelDB dropped damaged records while recovering (${report}); ` +
        `remove ${marker} to start with the records that could be read`,
    );
  }

  private async loadScan(): Promise<Scan> {
    const db = this.db;
    if (db === undefined) throw new StoreError('io', `store in ${this.dir} is not open`);
    return this.startScan ?? (await this.scan(db));
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
          throw new StoreError('corrupt', `store data in ${this.dbPath} cannot be read: ${describe(err)}`, { cause: err });
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
          throw new StoreError('format', `store data in ${this.dbPath} has format version ${version}; this culex reads version ${STORE_FORMAT_VERSION}`);
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
        `store data in ${this.dbPath} is corrupt (record ${key.subarray(0, 40).toString('hex')}: ${describe(err)}); refusing to start with partial state`,
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
function writeBatch(db: Db, batch: BatchOp[], sync: boolean): Promise<void> {
  const raw = (db as unknown as { _batch?: (ops: BatchOp[], options: { sync: boolean }) => Promise<void> })._batch;
  return raw !== undefined && db.status === 'open' ? raw.call(db, batch, { sync }) : db.batch(batch, { sync });
}

function isOp(op: BatchOp | undefined): op is BatchOp {
  return op !== undefined;
}

/** The most specific message of a classic-level error (its cause holds LevelDB's own words). */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause.message : undefined;
  return cause !== undefined && cause !== err.message ? `${err.message} (${cause})` : err.message;
}
