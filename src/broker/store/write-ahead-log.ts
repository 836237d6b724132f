// The store's write-ahead log: each batch of LevelDB operations is appended to a segment file with one `write`
// before the batch is acknowledged, so acknowledgements do not wait for LevelDB, which gets the same operations
// later and in larger batches. A segment is deleted once LevelDB holds every batch in it; segments left by a
// process that died are replayed over LevelDB at start-up.
//
// Segment file: 8-byte header (magic 'CXLG', format version u32 BE), then records. Record: payload length u32 BE,
// CRC-32 of the payload u32 BE, payload. Payload: operations, each a type byte (1 put, 2 delete), key length u32
// BE, key, and for a put value length u32 BE, value.
import { closeSync, fdatasync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { DEL, PUT, RECORD_HEADER } from './log-record.js';
import { StoreError } from './store-errors.js';

/** One LevelDB operation as the log records and replays it. */
export type LogOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

/** The layout of segment files this version writes and reads. */
export const LOG_FORMAT_VERSION = 1;
const MAGIC = 0x43584c47; // 'CXLG'
const SEGMENT_HEADER = 8;
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
      throw new StoreError('io', `store write in ${segment.path} failed: ${(err as Error).message}`, { cause: err });
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
        else reject(new StoreError('io', `store flush of ${segment.path} failed: ${err.message}`, { cause: err }));
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
        syncDirectory(this.dir);
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
      if (this.sync) syncDirectory(this.dir);
    } catch (err) {
      closeSync(fd);
      // Should it stay, a start-up reads a file shorter than a header as a segment that holds nothing.
      rmSync(path, { force: true });
      throw new StoreError('io', `cannot start store log segment ${path}: ${(err as Error).message}`, { cause: err });
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
      throw new StoreError('io', `store write in ${segment.path} failed: cannot cut off a partial record: ${(err as Error).message}`, { cause: err });
    }
    this.torn = undefined;
  }
}

function segmentName(number: number): string {
  return `${String(number).padStart(16, '0')}.log`;
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads every segment in `dir`, oldest first. A record cut short at the end of the newest segment (the process
 * died while appending it, so it was never acknowledged) ends the log; any other damage is refused with an error
 * naming the file.
 */
export function readLog(dir: string): LoggedBatches {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => SEGMENT_NAME.test(name)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { batches: [], paths: [], next: 1 };
    throw new StoreError('io', `cannot read store log directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const batches: LogOp[][] = [];
  const paths = names.map((name) => join(dir, name));
  paths.forEach((path, i) => readSegment(path, i === paths.length - 1, batches));
  const last = names.at(-1);
  return { batches, paths, next: last === undefined ? 1 : Number(SEGMENT_NAME.exec(last)![1]) + 1 };
}

function readSegment(path: string, newest: boolean, batches: LogOp[][]): void {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    throw new StoreError('io', `cannot read store log ${path}: ${(err as Error).message}`, { cause: err });
  }
  const corrupt = (offset: number, what: string): StoreError =>
    new StoreError('corrupt', `store log ${path} is corrupt at byte ${offset} (${what}); refusing to start with partial state`);
  // Cut short in its header: the segment was being created when the process died, or creating it failed.
  if (data.length < SEGMENT_HEADER) return;
  if (data.readUInt32BE(0) !== MAGIC) throw corrupt(0, 'not a culex store log');
  const version = data.readUInt32BE(4);
  if (version !== LOG_FORMAT_VERSION) {
    throw new StoreError('format', `store log ${path} has format version ${version}; this culex reads version ${LOG_FORMAT_VERSION}`);
  }
  let pos = SEGMENT_HEADER;
  while (pos < data.length) {
    const length = pos + RECORD_HEADER <= data.length ? data.readUInt32BE(pos) : -1;
    const end = length < 0 ? Infinity : pos + RECORD_HEADER + length;
    const cutShort = end > data.length;
    if (length > 0 && !cutShort && crc32(data.subarray(pos + RECORD_HEADER, end)) === data.readUInt32BE(pos + 4)) {
      batches.push(decodePayload(data, pos + RECORD_HEADER, end, corrupt));
      pos = end;
      continue;
    }
    // The tail of the newest segment may hold a record the process was writing when it died: cut short, or
    // (after a power loss) reaching the end of the file with other bytes than were written, or zeros.
    if (newest && (cutShort || end === data.length || isZero(data, pos))) return;
    throw corrupt(pos, cutShort ? 'record cut short' : length === 0 ? 'empty record' : 'checksum mismatch');
  }
}

function decodePayload(data: Buffer, start: number, end: number, corrupt: (offset: number, what: string) => StoreError): LogOp[] {
  const ops: LogOp[] = [];
  let pos = start;
  const take = (length: number): Buffer => {
    if (pos + length > end) throw corrupt(pos, 'operation runs past its record');
    const bytes = data.subarray(pos, pos + length);
    pos += length;
    return bytes;
  };
  while (pos < end) {
    const type = take(1)[0];
    if (type !== PUT && type !== DEL) throw corrupt(pos - 1, `unknown operation ${type}`);
    const key = take(take(4).readUInt32BE(0));
    if (type === DEL) ops.push({ type: 'del', key });
    else ops.push({ type: 'put', key, value: take(take(4).readUInt32BE(0)) });
  }
  return ops;
}

function isZero(data: Buffer, from: number): boolean {
  for (let i = from; i < data.length; i++) if (data[i] !== 0) return false;
  return true;
}

/** Deletes replayed segments, oldest first, so that a failure leaves a log that still replays in order. */
export function removeSegments(dir: string, paths: readonly string[]): void {
  if (paths.length === 0) return;
  for (const path of paths) {
    try {
      unlinkSync(path);
    } catch (err) {
      throw new StoreError('io', `cannot delete replayed store log ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  syncDirectory(dir);
}
