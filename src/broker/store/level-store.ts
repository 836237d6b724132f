import { stderrLogger, type Logger } from '../logger.js';
import type { BrokerMessage } from '../message.js';
import { BatchEncoder, type LoggedOp } from './batch-encoder.js';
import { DataDir } from './data-dir.js';
import type { Db } from './level-db.js';
import { LevelWriteBehind } from './level-write-behind.js';
import { repairLog, type SegmentRepair } from './log-repair.js';
import { recoverDatabase, recoveryStats, scanDatabase, type Scan } from './recovery.js';
import { describeError, DISK_REMEDY, StoreError } from './store-errors.js';
import type { BrokerStore, RecoveryStats, StoredSessionState, StoreOp } from './store.js';
import type { WriteAheadLog } from './write-ahead-log.js';

export type { RecoveryStats } from './store.js';

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

/**
 * The broker's durable store on LevelDB (classic-level), in a data directory holding a lock file, a format file,
 * the database and a write-ahead log. Each `write` (group commit: the broker collects the changes of a tick, or of a
 * turn of the event loop when busy, into one call) is appended to the log as one record with one `write(2)`; when
 * it resolves the batch is in the operating system's hands, so it survives the broker process being killed, and with
 * `fsync` it is on the disk.
 * LevelDB gets the logged operations a little later, many batches in one, leaving out those that later ones made
 * needless (most deliveries are acknowledged before they reach it); log segments are deleted once LevelDB holds
 * them and replayed at start-up otherwise. Size limits are checked in memory before the write; a disk error
 * fails the write, and the next write reopens the database so the broker carries on once space returns.
 *
 * The parts: data-dir.ts (the directory's lock and checks), batch-encoder.ts (a batch into a log record and the
 * record index), write-ahead-log.ts, level-write-behind.ts (LevelDB behind the log), recovery.ts (replay and scan).
 */
export class LevelStore implements BrokerStore {
  readonly dir: string;
  /** What `open` recovered, for the start-up log. */
  recovered: RecoveryStats | undefined;
  private readonly dataDir: DataDir;
  private readonly sync: boolean;
  private readonly logger: Logger;
  private readonly encoder: BatchEncoder;
  private log: WriteAheadLog | undefined;
  private writeBehind: LevelWriteBehind | undefined;
  /** Serialises writes (the broker sends one at a time; this keeps the index right if a caller does not). */
  private tail: Promise<void> = Promise.resolve();
  /** The start-up scan, handed out by the loads until the first write. */
  private startScan: Scan | undefined;

  constructor(dir: string, options: LevelStoreOptions = {}) {
    this.dir = dir;
    this.dataDir = new DataDir(dir);
    this.sync = options.fsync ?? false;
    this.logger = options.logger ?? stderrLogger('warn');
    this.encoder = new BatchEncoder(dir, { maxBytes: options.maxBytes ?? 1024 * 1024 * 1024, maxRetained: options.maxRetained ?? 1_000_000 });
  }

  /** Logged operations left out of LevelDB batches because later ones, logged before LevelDB got them, made them needless. */
  get annulled(): number {
    return this.writeBehind?.annulled ?? 0;
  }

  /** Total size of the stored records, bytes. */
  get bytes(): number {
    return this.encoder.index.bytes;
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
    const dataDir = this.dataDir;
    dataDir.requireStore();
    const stamp = new Date().toISOString().replace(/[-:.]/g, '');
    if (options.dryRun === true) {
      dataDir.lockOnly();
      try {
        return { segments: repairLog(dataDir.logDir, { dryRun: true, stamp }), recovered: undefined };
      } finally {
        dataDir.release();
      }
    }
    let segments: SegmentRepair[] = [];
    let recovered: RecoveryStats;
    try {
      // Under both locks: LevelDB's refuses a broker whose lock file was deleted.
      recovered = await this.recover(() => (segments = repairLog(dataDir.logDir, { dryRun: false, stamp })));
    } catch (err) {
      if (!segments.some((segment) => segment.copy !== undefined) || !(err instanceof StoreError)) throw err;
      throw new StoreError(
        err.code,
        `the log was repaired (the originals are kept as ${dataDir.logDir}/*.damaged-${stamp}), but the store does not open: ${err.message}`,
        { cause: err },
      );
    }
    await this.close();
    return { segments, recovered };
  }

  /** `open`, with `salvage` run on the log once the database is open and before the log is replayed. */
  private async recover(salvage: (() => void) | undefined): Promise<RecoveryStats> {
    const started = performance.now();
    const dataDir = this.dataDir;
    const fresh = dataDir.acquire();
    let db: Db | undefined;
    try {
      db = await dataDir.openDatabase(fresh);
      salvage?.();
      const { dbPath, logDir } = dataDir;
      const { log, scan } = await recoverDatabase(db, this.encoder.index, { dbPath, logDir, sync: this.sync, logger: this.logger });
      this.log = log;
      this.writeBehind = new LevelWriteBehind(db, log, { sync: this.sync, dbPath, reopen: () => dataDir.openDatabase(false) });
      this.startScan = scan;
      this.recovered = recoveryStats(scan, this.encoder.index.bytes, started);
      return this.recovered;
    } catch (err) {
      await db?.close().catch(() => undefined);
      dataDir.release();
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
    await this.writeBehind?.flushed();
  }

  /** Hands what is logged to LevelDB; the log is deleted when LevelDB took it, or replayed at the next start. */
  async close(): Promise<void> {
    await this.tail;
    this.startScan = undefined;
    const writeBehind = this.log === undefined ? undefined : this.writeBehind;
    this.log = undefined;
    try {
      await writeBehind?.close();
    } finally {
      this.dataDir.release();
    }
  }

  private async writeNow(ops: readonly StoreOp[]): Promise<void> {
    const log = this.log;
    const writeBehind = this.writeBehind;
    if (log === undefined || writeBehind === undefined) throw new StoreError('io', `store in ${this.dir} is not open`);
    // While LevelDB fails, or lags far behind, writes wait for it (level-write-behind.ts says why).
    if (writeBehind.mustCatchUp) await writeBehind.flushed();
    if (writeBehind.database === undefined) throw new StoreError('io', `store in ${this.dir} is not open`);
    this.startScan = undefined;
    const batch: LoggedOp[] = [];
    const record = this.encoder.encode(ops, batch);
    if (record === undefined) return;
    try {
      log.append(record);
    } catch (err) {
      this.encoder.rollback();
      throw err instanceof StoreError ? err : new StoreError('io', `store write in ${log.dir} failed: ${describeError(err)}; ${DISK_REMEDY}`, { cause: err });
    }
    this.encoder.commit();
    writeBehind.add(batch);
    // The record is in the operating system's hands; with fsync it must be on the disk before the write resolves.
    // Should the flush fail, the write is refused although its changes stay: written again, they change nothing.
    if (this.sync) await log.syncNow();
  }

  private async loadScan(): Promise<Scan> {
    if (this.log === undefined || this.writeBehind?.database === undefined) throw new StoreError('io', `store in ${this.dir} is not open`);
    if (this.startScan !== undefined) return this.startScan;
    await this.writeBehind.flushed();
    const db = this.writeBehind.database;
    if (db === undefined) throw new StoreError('io', `store in ${this.dir} is not open`);
    return scanDatabase(db, this.encoder.index, this.dataDir.dbPath);
  }
}
