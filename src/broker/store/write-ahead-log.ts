// The store's write-ahead log: each batch of LevelDB operations is appended to a segment file with one `write`
// before the batch is acknowledged, so acknowledgements do not wait for LevelDB, which gets the same operations
// later and in larger batches. A segment is deleted once LevelDB holds every batch in it; segments left by a
// process that died are replayed over LevelDB at start-up.
//
// Segment file: 8-byte header (magic 'CXLG', format version u32 BE), then records. Record: payload length u32 BE,
// CRC-32 of the payload u32 BE, payload. Payload: operations, each a type byte (1 put, 2 delete), key length u32
// BE, key, and for a put value length u32 BE, value. log-scan.ts reads segments, log-repair.ts salvages them.
import { closeSync, fdatasync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fsyncPath } from './fsync.js';
import { LOG_FORMAT_VERSION, MAGIC, RECORD_HEADER, SEGMENT_HEADER, type LogOp } from './log-record.js';
import { readOps, scanSegment } from './log-scan.js';
import { DISK_REMEDY, repairCommand, StoreError } from './store-errors.js';

/** A segment is closed and a new one started once it passes this size, so that confirmed ones can be deleted. */
const SEGMENT_BYTES = 8 * 1024 * 1024;
const SEGMENT_NAME = /^(\d{16})\.log$/;

interface Segment {
  path: string;
  fd: number;
  size: number;
  /** Number of the last record appended to it. */
  lastRecord: number;
}

/** What the segments left in the log directory hold, oldest first. */
export interface LoggedBatches {
  batches: LogOp[][];
  /** The segment files read, to delete once LevelDB holds their batches. */
  paths: string[];
  /** Number for the next segment. */
  next: number;
  /** The unfinished append dropped from the end of the newest segment, if any. */
  torn: { path: string; offset: number; bytes: number; what: string } | undefined;
}

export class WriteAheadLog {
  /** Records appended since the log was opened; `release(n)` refers to these numbers. */
  appended = 0;
  private readonly segments: Segment[] = [];
  /** A failed append whose partial bytes could not be cut off yet; appends wait until they are. */
  private torn: { segment: Segment; size: number } | undefined;

  /**
   * @param sync with true, `sync()` flushes appended records to the disk and new segment files are made durable
   *   in their directory.
   */
  constructor(
    readonly dir: string,
    private readonly sync: boolean,
    private next: number,
  ) {}

  /** Bytes in segments LevelDB may not hold yet. */
  get backlog(): number {
    let total = 0;
    for (const segment of this.segments) total += segment.size;
    return total;
  }

  /**
   * Appends a record (built by a LogRecordBuilder) with one `write`: once it returns, the record survives the
   * process being killed. A failure leaves the log as it was and throws a StoreError (`io`).
   */
  append(record: Buffer): void {
    if (this.torn !== undefined) this.cutTorn();
    let segment = this.segments.at(-1);
    if (segment === undefined || segment.size >= SEGMENT_BYTES) segment = this.startSegment();
    let written = 0;
    try {
      while (written < record.length) {
        written += writeSync(segment.fd, record, written, record.length - written, segment.size + written);
      }
    } catch (err) {
      if (written > 0 || (err as NodeJS.ErrnoException).code !== 'ENOSPC') {
        this.torn = { segment, size: segment.size };
        this.cutTorn();
      }
      throw new StoreError('io', `store write in ${segment.path} failed: ${(err as Error).message}; ${DISK_REMEDY}`, { cause: err });
    }
    segment.size += record.length;
    segment.lastRecord = ++this.appended;
  }

  /** Flushes the newest segment to the disk (`fdatasync`). */
  syncNow(): Promise<void> {
    const segment = this.segments.at(-1);
    if (segment === undefined) return Promise.resolve();
    return new Promise((resolve, reject) =>
      fdatasync(segment.fd, (err) => {
        if (err === null) resolve();
        else reject(new StoreError('io', `store flush of ${segment.path} failed: ${err.message}; ${DISK_REMEDY}`, { cause: err }));
      }),
    );
  }

  /** Deletes the closed segments whose records up to `record` LevelDB holds. */
  release(record: number): void {
    let deleted = false;
    while (this.segments.length > 1 && this.segments[0]!.lastRecord <= record) {
      const segment = this.segments[0]!;
      try {
        unlinkSync(segment.path);
      } catch (err) {
        // Kept, and tried again at the next release: deleting a newer segment first would break the replay order.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') break;
      }
      this.segments.shift();
      closeSync(segment.fd);
      deleted = true;
    }
    // A segment that came back after a power loss while a newer one stayed deleted would replay stale records.
    if (deleted && this.sync) {
      try {
        fsyncPath(this.dir);
      } catch {
        // LevelDB holds what the deleted segments held; at worst an old one replays again after a power loss.
      }
    }
  }

  /** Closes the segments; with `discard` (LevelDB holds everything) deletes them too. */
  close(discard: boolean): void {
    if (discard) this.release(Infinity);
    // The newest only once the older ones are gone: replaying older records without it would bring back old state.
    const last = discard && this.segments.length === 1 ? this.segments[0]!.path : undefined;
    for (const segment of this.segments.splice(0)) closeSync(segment.fd);
    if (last !== undefined) {
      try {
        unlinkSync(last);
      } catch {
        // Replayed at the next start, which changes nothing: LevelDB already holds it.
      }
    }
  }

  private startSegment(): Segment {
    mkdirSync(this.dir, { recursive: true });
    const path = join(this.dir, segmentName(this.next));
    // 'w': a file by this name can only be what a failed start of this segment left.
    const fd = openSync(path, 'w');
    const header = Buffer.allocUnsafe(SEGMENT_HEADER);
    header.writeUInt32BE(MAGIC, 0);
    header.writeUInt32BE(LOG_FORMAT_VERSION, 4);
    try {
      writeSync(fd, header, 0, SEGMENT_HEADER, 0);
      if (this.sync) fsyncPath(this.dir);
    } catch (err) {
      closeSync(fd);
      // Should it stay, a start-up reads a file shorter than a header as a segment that holds nothing.
      rmSync(path, { force: true });
      throw new StoreError('io', `cannot start store log segment ${path}: ${(err as Error).message}; ${DISK_REMEDY}`, { cause: err });
    }
    this.next++;
    const segment: Segment = { path, fd, size: SEGMENT_HEADER, lastRecord: this.appended };
    this.segments.push(segment);
    return segment;
  }

  /** Cuts off what a failed append left, so that the next record follows the last complete one. */
  private cutTorn(): void {
    const { segment, size } = this.torn!;
    try {
      ftruncateSync(segment.fd, size);
    } catch (err) {
      throw new StoreError('io', `store write in ${segment.path} failed: cannot cut off a partial record: ${(err as Error).message}; ${DISK_REMEDY}`, {
        cause: err,
      });
    }
    this.torn = undefined;
  }
}

function segmentName(number: number): string {
  return `${String(number).padStart(16, '0')}.log`;
}

/** The segment files in `dir`, oldest first; none when it does not exist. */
export function segmentPaths(dir: string): string[] {
  try {
    return readdirSync(dir).filter((name) => SEGMENT_NAME.test(name)).sort().map((name) => join(dir, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new StoreError('io', `cannot read store log directory ${dir}: ${(err as Error).message}; check its permissions`, { cause: err });
  }
}

/** The contents of a segment file. */
export function readSegmentFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new StoreError('io', `cannot read store log ${path}: ${(err as Error).message}; check its permissions`, { cause: err });
  }
}

/** Refuses a segment of another log format, which neither the reader nor the repair understand. */
export function checkVersion(path: string, version: number | undefined): void {
  if (version === undefined || version === LOG_FORMAT_VERSION) return;
  throw new StoreError(
    'format',
    `store log ${path} has format version ${version}; this culex reads version ${LOG_FORMAT_VERSION}; ` +
      'start the culex version that wrote it and stop it cleanly (which empties the log), then this one',
  );
}

/**
 * Reads every segment in `dir` (the `log` directory of a data directory), oldest first. The unfinished append a
 * killed process leaves at the end of the newest segment is dropped and reported in `torn` (log-scan.ts tells it
 * from damage); anything else that is not an intact record is refused with an error naming the file, the byte
 * offset and the repair command.
 */
export function readLog(dir: string): LoggedBatches {
  const paths = segmentPaths(dir);
  const logged: LoggedBatches = { batches: [], paths, next: 1, torn: undefined };
  paths.forEach((path, i) => readSegment(path, i === paths.length - 1, logged));
  const last = paths.at(-1);
  if (last !== undefined) logged.next = Number(SEGMENT_NAME.exec(basename(last))![1]) + 1;
  return logged;
}

function readSegment(path: string, newest: boolean, logged: LoggedBatches): void {
  const data = readSegmentFile(path);
  const scan = scanSegment(data, newest);
  checkVersion(path, scan.version);
  const damage = scan.gaps.find((gap) => !gap.torn);
  if (damage !== undefined) {
    const after = scan.records.filter((record) => record.start > damage.from).length;
    const follow = after === 0 ? '' : `; followed by ${after} intact record${after === 1 ? '' : 's'}`;
    throw new StoreError(
      'corrupt',
      `store log ${path} is damaged at byte ${damage.from} (${damage.what}${follow}); nothing was loaded and the file is kept; ` +
        // The log is the `log` directory of the data directory.
        `run \`${repairCommand(dirname(dirname(path)))}\` to keep every intact record (it copies the damaged file first)`,
    );
  }
  const torn = scan.gaps[0];
  if (torn !== undefined) logged.torn = { path, offset: torn.from, bytes: torn.to - torn.from, what: torn.what };
  for (const { start, end } of scan.records) {
    const ops: LogOp[] = [];
    readOps(data, start + RECORD_HEADER, end, ops);
    logged.batches.push(ops);
  }
}

/** Deletes replayed segments, oldest first, so that a failure leaves a log that still replays in order. */
export function removeSegments(dir: string, paths: readonly string[]): void {
  if (paths.length === 0) return;
  for (const path of paths) {
    try {
      unlinkSync(path);
    } catch (err) {
      throw new StoreError('io', `cannot delete replayed store log ${path}: ${(err as Error).message}; check the permissions of ${dir}`, { cause: err });
    }
  }
  fsyncPath(dir);
}
