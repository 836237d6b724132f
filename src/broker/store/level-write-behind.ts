// LevelDB behind the write-ahead log: logged operations wait a little and go to LevelDB many batches in one,
// leaving out those that later ones made needless (most deliveries are acknowledged before LevelDB gets them). A
// LevelDB batch that fails is kept and written again in front of newer operations, after reopening the database;
// log segments are released once LevelDB holds them.
import { levelOp, type IndexMap, type LoggedOp } from './batch-encoder.js';
import { SequenceTable } from './sequence-table.js';
import { levelBatch, type Db, type LevelBatch } from './level-db.js';
import type { LogOp } from './log-record.js';
import { describeError, DISK_REMEDY, StoreError } from './store-errors.js';
import type { WriteAheadLog } from './write-ahead-log.js';

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

export interface WriteBehindOptions {
  /** LevelDB batches are written with `sync`. */
  sync: boolean;
  /** The database's path, for error messages. */
  dbPath: string;
  /** Opens the database again after a failure (LevelDB refuses all writes after a disk error until then). */
  reopen: () => Promise<Db>;
}

/** The last put waiting for LevelDB of each record of one index map; a ring where the map is one (sequence numbers). */
interface PendingPuts {
  get(id: unknown): LoggedOp | undefined;
  set(id: unknown, op: LoggedOp): unknown;
  delete(id: unknown): boolean;
}

export class LevelWriteBehind {
  private db: Db | undefined;
  private writeBatch: LevelBatch;
  /** Set after a failed LevelDB write: LevelDB refuses all writes after a disk error until it is reopened. */
  private needsReopen = false;
  /**
   * The last put of each record among the logged operations waiting for LevelDB, by index map and key. Only the
   * last operation on a key decides what the disk holds, so a later put or delete of the record drops that put,
   * and the delete of a record created while they waited (absent from LevelDB) is dropped as well.
   */
  private readonly pendingPuts = new Map<IndexMap, PendingPuts>();
  /** Logged operations LevelDB does not have yet, in order; left-out ones are holes. */
  private pending: Array<LoggedOp | undefined> = [];
  /** A LevelDB batch that failed, written again in front of `pending`. */
  private failedBatch: LogOp[] | undefined;
  private levelWrite: Promise<void> | undefined;
  private levelTimer: NodeJS.Timeout | undefined;
  /** Why LevelDB last failed, until a LevelDB write succeeds. */
  private levelError: StoreError | undefined;
  private annulledTotal = 0;
  private readonly levelTick = (): void => {
    this.levelTimer = undefined;
    this.startLevelWrite().catch(() => undefined);
  };

  constructor(
    db: Db,
    /** The log whose records LevelDB gets; segments are released as LevelDB takes them. */
    private readonly log: WriteAheadLog,
    private readonly options: WriteBehindOptions,
  ) {
    this.db = db;
    this.writeBatch = levelBatch(db).write;
  }

  /** The open database; undefined once closed, or while a reopen after a failure has not succeeded. */
  get database(): Db | undefined {
    return this.db;
  }

  /** Logged operations left out of LevelDB batches because later ones, logged before LevelDB got them, made them needless. */
  get annulled(): number {
    return this.annulledTotal;
  }

  /**
   * LevelDB failed and has not succeeded since, or lags far behind the log: new writes must wait for it, so that
   * the log does not grow without bound and a disk error refuses new messages instead of being noticed only here.
   */
  get mustCatchUp(): boolean {
    return this.levelError !== undefined || this.log.backlog > MAX_BACKLOG;
  }

  /** Takes the operations of a logged batch, leaving out those it makes needless, and schedules a LevelDB write. */
  add(batch: readonly LoggedOp[]): void {
    this.merge(batch);
    this.scheduleLevelWrite();
  }

  /** Resolves once LevelDB holds everything logged; rejects with a StoreError when LevelDB fails. */
  async flushed(): Promise<void> {
    while (this.levelWrite !== undefined || this.pending.length > 0 || this.failedBatch !== undefined) {
      await (this.levelWrite ?? this.startLevelWrite());
    }
  }

  /**
   * Hands what is logged to LevelDB and closes the log and the database; the log is deleted when LevelDB took
   * it, or kept to be replayed at the next start.
   */
  async close(): Promise<void> {
    let flushed = false;
    if (this.db !== undefined) flushed = await this.flushed().then(() => true, () => false);
    // A failed LevelDB write leaves a retry scheduled.
    clearTimeout(this.levelTimer);
    this.levelTimer = undefined;
    const db = this.db;
    this.db = undefined;
    this.log.close(flushed);
    await db?.close();
  }

  private merge(batch: readonly LoggedOp[]): void {
    const pending = this.pending;
    for (const op of batch) {
      const map = op.map;
      if (map !== undefined) {
        let puts = this.pendingPuts.get(map);
        if (puts === undefined) this.pendingPuts.set(map, (puts = map instanceof SequenceTable ? new SequenceTable<LoggedOp>() : new Map<unknown, LoggedOp>()));
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
    const upTo = this.log.appended;
    this.levelWrite = this.writeLevel(ops, upTo).finally(() => {
      this.levelWrite = undefined;
      if (this.pending.length > 0 || this.failedBatch !== undefined) this.scheduleLevelWrite();
    });
    return this.levelWrite;
  }

  private async writeLevel(ops: LogOp[], upTo: number): Promise<void> {
    try {
      if (this.needsReopen) await this.reopen();
      if (this.db === undefined) throw new Error('the database is closed');
      if (ops.length > 0) await this.writeBatch(ops, this.options.sync);
    } catch (err) {
      this.failedBatch = ops;
      this.needsReopen = true;
      this.levelError =
        err instanceof StoreError ? err : new StoreError('io', `store write in ${this.options.dbPath} failed: ${describeError(err)}; ${DISK_REMEDY}`, { cause: err });
      throw this.levelError;
    }
    this.failedBatch = undefined;
    this.levelError = undefined;
    this.log.release(upTo);
  }

  /**
   * After a disk error: LevelDB stays failed until reopened. The index still matches the log, and the failed
   * batch is written again, so nothing needs to be read back.
   */
  private async reopen(): Promise<void> {
    await this.db?.close().catch(() => undefined);
    this.db = undefined;
    try {
      const db = await this.options.reopen();
      this.db = db;
      this.writeBatch = levelBatch(db).write;
      this.needsReopen = false;
    } catch (err) {
      throw err instanceof StoreError ? err : new StoreError('io', `cannot reopen store in ${this.options.dbPath}: ${describeError(err)}; ${DISK_REMEDY}`, { cause: err });
    }
  }
}
