// The data directory of a LevelStore and the checks made before its data is trusted: `culex.lock`,
// `culex-store.json`, the `culex-store.damaged` marker, LevelDB's `CURRENT` file and the damage LevelDB reports
// only in its `LOG` file.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataDirLock } from './data-dir-lock.js';
import type { Db } from './level-db.js';
import { describeError, StoreError } from './store-errors.js';
import { formatFileContent, formatFilePath, readFormat, writeFormat } from './store-format.js';

const DB_DIR = 'level';
const LOG_DIR = 'log';
/** Written when LevelDB reported dropping damaged data, so that later starts keep refusing until someone looks. */
const DAMAGED_FILE = 'culex-store.damaged';
/** What to do about a database LevelDB cannot read. */
export const RESTORE_REMEDY = 'restore the data directory from a backup, or move it aside to start with an empty store';

export class DataDir {
  /** The LevelDB database. */
  readonly dbPath: string;
  /** The write-ahead log's segments. */
  readonly logDir: string;
  private readonly lock: DataDirLock;

  constructor(readonly dir: string) {
    this.dbPath = join(dir, DB_DIR);
    this.logDir = join(dir, LOG_DIR);
    this.lock = new DataDirLock(dir);
  }

  /**
   * Creates the directory if need be, locks it and checks it; returns whether the database is still to be created.
   * A directory whose checks fail is left unlocked.
   */
  acquire(): boolean {
    try {
      mkdirSync(this.dir, { recursive: true });
    } catch (err) {
      throw new StoreError('io', `cannot create data directory ${this.dir}: ${(err as Error).message}; check the path and its permissions`, { cause: err });
    }
    this.lock.acquire();
    try {
      return this.check();
    } catch (err) {
      this.lock.release();
      throw err;
    }
  }

  /** Takes the lock only, for a look at a directory that `requireStore` found. */
  lockOnly(): void {
    this.lock.acquire();
  }

  release(): void {
    this.lock.release();
  }

  /** Refuses a path that holds no store, rather than creating one there (the repair's precondition). */
  requireStore(): void {
    if (!existsSync(this.dir)) throw new StoreError('io', `data directory ${this.dir} does not exist; check the path`);
    if (!existsSync(formatFilePath(this.dir))) {
      throw new StoreError('format', `${this.dir} holds no culex store (no culex-store.json); check the path`);
    }
  }

  /**
   * Opens LevelDB (creating it only when `create`), turning its errors into StoreErrors with their remedies, and
   * refuses a database that LevelDB recovered by dropping damaged records.
   */
  async openDatabase(create: boolean): Promise<Db> {
    // Loaded when a store opens, not with `culex/broker`: a memory-only broker never loads the LevelDB binding.
    const { ClassicLevel } = await import('classic-level');
    const db: Db = new ClassicLevel<Buffer, Buffer>(this.dbPath, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    try {
      await db.open({ createIfMissing: create, errorIfExists: false });
    } catch (err) {
      const reason = describeError(err);
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

  /** The checks made under the lock; returns whether the database is still to be created. */
  private check(): boolean {
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
    return fresh;
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

  /** LevelDB's own files in the database directory (none for a new data directory). */
  private databaseFiles(): string[] {
    try {
      return readdirSync(this.dbPath).filter((name) => name !== 'LOCK' && name !== 'LOG' && name !== 'LOG.old');
    } catch {
      return [];
    }
  }
}
