// Builds write-ahead log records in place (layout in write-ahead-log.ts). The store writes each operation's key
// and value straight into the record it appends, and LevelDB later gets views of those same bytes: an operation
// is encoded once and copied nowhere, and carries no buffers of its own.
import { crc32 } from 'node:zlib';
import { writeU32 } from '../../packet/internal.js';

/** One LevelDB operation as the log records and replays it. */
export type LogOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

/** The layout of segment files this version writes and reads. */
export const LOG_FORMAT_VERSION = 1;
/** 'CXLG', the first four bytes of a segment. */
export const MAGIC = 0x43584c47;
/** Magic number u32 BE, format version u32 BE. */
export const SEGMENT_HEADER = 8;
/** Payload length u32 BE, CRC-32 of the payload u32 BE. */
export const RECORD_HEADER = 8;
export const PUT = 1;
export const DEL = 2;
/** Records are built one after another in slabs of this size (a larger one for a larger record). */
const SLAB_BYTES = 1024 * 1024;

/**
 * One record at a time, built in a slab. Bytes once written are never written over (a record dropped half-built
 * is skipped, not reused), so views of earlier records stay valid for as long as they are held.
 */
export class LogRecordBuilder {
  /** The slab holding the record being built; adding an operation may move the record to a new one: read it after. */
  buf: Buffer = Buffer.allocUnsafe(SLAB_BYTES);
  private start = 0;
  private pos = 0;

  /** Starts a record after the last one. */
  begin(): void {
    this.start = this.pos;
    this.room(RECORD_HEADER);
    this.pos += RECORD_HEADER;
  }

  /**
   * Adds a put of a `keyLength`-byte key and a `valueLength`-byte value; returns where in `buf` the key goes,
   * the value following 4 bytes after it.
   */
  put(keyLength: number, valueLength: number): number {
    const buf = this.room(9 + keyLength + valueLength);
    const pos = this.pos;
    buf[pos] = PUT;
    writeU32(buf, pos + 1, keyLength);
    writeU32(buf, pos + 5 + keyLength, valueLength);
    this.pos = pos + 9 + keyLength + valueLength;
    return pos + 5;
  }

  /** Adds a delete of a `keyLength`-byte key; returns where in `buf` the key goes. */
  del(keyLength: number): number {
    const buf = this.room(5 + keyLength);
    const pos = this.pos;
    buf[pos] = DEL;
    writeU32(buf, pos + 1, keyLength);
    this.pos = pos + 5 + keyLength;
    return pos + 5;
  }

  /** Where `at` (a position in `buf`) lies in the record being built, which may yet move. */
  offset(at: number): number {
    return at - this.start;
  }

  /** Fills in the header of the record being built and returns it (a view of `buf`). */
  finish(): Buffer {
    const record = this.buf.subarray(this.start, this.pos);
    const payload = record.subarray(RECORD_HEADER);
    record.writeUInt32BE(payload.length, 0);
    record.writeUInt32BE(crc32(payload), 4);
    this.start = this.pos;
    return record;
  }

  /** Drops the record being built. */
  discard(): void {
    this.start = this.pos;
  }

  /** Makes room for `size` more bytes, moving the record being built to a new slab if need be. */
  private room(size: number): Buffer {
    if (this.pos + size <= this.buf.length) return this.buf;
    const built = this.pos - this.start;
    const slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, 2 * (built + size)));
    this.buf.copy(slab, 0, this.start, this.pos);
    this.buf = slab;
    this.start = 0;
    this.pos = built;
    return slab;
  }
}
