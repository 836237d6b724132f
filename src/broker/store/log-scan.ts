// Reads a write-ahead log segment (layout in write-ahead-log.ts): which bytes hold intact records, and whether
// the bytes that do not are what a process killed in the middle of an append leaves, or damage.
//
// The writer appends one record at a time with `write(2)` (with fsync, the next only after the previous one is on
// the disk), so a process that dies leaves at most one unfinished append, and it leaves a prefix of it: a partial
// header, or a header whose length runs past the end of the file. Zeros are what a power loss leaves where the file
// grew but its data did not reach the disk. So the end of the newest segment is a torn append only when it has
// one of those shapes and no intact record starts anywhere in it; anything else (a complete record whose checksum
// fails, a length field that sends the reader past records that are intact) is damage.
import { crc32 } from 'node:zlib';
import { DEL, MAGIC, PUT, RECORD_HEADER, SEGMENT_HEADER, type LogOp } from './log-record.js';

/** Bytes of a segment where no intact record starts, up to the next one that does (or the end of the file). */
export interface Gap {
  from: number;
  to: number;
  /** What is wrong at `from`. */
  what: string;
  /** The unfinished last append of a process that died: never acknowledged, dropped without harm. */
  torn: boolean;
  /**
   * The bytes are one record whose length field alone is wrong: the payload up to `to` has the operations'
   * layout and the checksum the header gives. The repair keeps it.
   */
  lengthDamaged: boolean;
}

export interface SegmentScan {
  /** The format version in the segment header; undefined when the header is cut short or not a segment's. */
  version: number | undefined;
  /** Intact records, header included, in file order. */
  records: Array<{ start: number; end: number }>;
  gaps: Gap[];
}

/**
 * Splits a segment into intact records and gaps. `newest`: the segment the log was appending to, the only one
 * whose end may be a torn append.
 */
export function scanSegment(data: Buffer, newest: boolean): SegmentScan {
  const scan: SegmentScan = { version: undefined, records: [], gaps: [] };
  if (data.length === 0) return scan;
  if (data.length < SEGMENT_HEADER || isZero(data, 0, data.length)) {
    // The process died creating the segment: nothing was appended to it.
    const what = data.length < SEGMENT_HEADER ? 'segment header cut short' : 'zeros';
    scan.gaps.push({ from: 0, to: data.length, what, torn: newest, lengthDamaged: false });
    return scan;
  }
  if (data.readUInt32BE(0) === MAGIC) scan.version = data.readUInt32BE(4);
  else scan.gaps.push({ from: 0, to: SEGMENT_HEADER, what: 'not a culex store log segment header', torn: false, lengthDamaged: false });
  let pos = SEGMENT_HEADER;
  while (pos < data.length) {
    const end = recordEnd(data, pos);
    if (end > 0) {
      scan.records.push({ start: pos, end });
      pos = end;
      continue;
    }
    const next = nextRecord(data, pos + 1);
    const gap = describeGap(data, pos, next < 0 ? data.length : next);
    gap.torn = newest && next < 0 && !gap.lengthDamaged && tornShape(data, pos);
    scan.gaps.push(gap);
    pos = gap.to;
  }
  return scan;
}

/** Where the record starting at `pos` ends, or -1 when no intact record starts there. */
function recordEnd(data: Buffer, pos: number): number {
  const start = pos + RECORD_HEADER;
  // The cheap tests first: this runs at every byte offset when the reader looks for the next intact record.
  if (start >= data.length || (data[start] !== PUT && data[start] !== DEL)) return -1;
  const end = start + data.readUInt32BE(pos);
  if (end === start || end > data.length || !readOps(data, start, end, undefined)) return -1;
  return crc32(data.subarray(start, end)) === data.readUInt32BE(pos + 4) ? end : -1;
}

/**
 * Walks the operations of the payload `start`..`end` (type byte, key length, key, and for a put value length,
 * value), adding them to `out` when given; false when they do not fill it exactly.
 */
export function readOps(data: Buffer, start: number, end: number, out: LogOp[] | undefined): boolean {
  let pos = start;
  while (pos < end) {
    const type = data[pos];
    if ((type !== PUT && type !== DEL) || pos + 5 > end) return false;
    const keyStart = pos + 5;
    const keyEnd = keyStart + data.readUInt32BE(pos + 1);
    if (keyEnd > end) return false;
    if (type === DEL) {
      out?.push({ type: 'del', key: data.subarray(keyStart, keyEnd) });
      pos = keyEnd;
      continue;
    }
    if (keyEnd + 4 > end) return false;
    const valueEnd = keyEnd + 4 + data.readUInt32BE(keyEnd);
    if (valueEnd > end) return false;
    out?.push({ type: 'put', key: data.subarray(keyStart, keyEnd), value: data.subarray(keyEnd + 4, valueEnd) });
    pos = valueEnd;
  }
  return true;
}

/** The first offset from `from` on where an intact record starts; -1 when there is none. */
function nextRecord(data: Buffer, from: number): number {
  for (let pos = from; pos + RECORD_HEADER < data.length; pos++) if (recordEnd(data, pos) > 0) return pos;
  return -1;
}

function describeGap(data: Buffer, from: number, to: number): Gap {
  const gap: Gap = { from, to, what: '', torn: false, lengthDamaged: false };
  if (from + RECORD_HEADER > data.length) {
    gap.what = 'record header cut short';
    return gap;
  }
  if (isZero(data, from, to)) {
    gap.what = 'zeros';
    return gap;
  }
  const length = data.readUInt32BE(from);
  const payloadEnd = from + RECORD_HEADER + length;
  if (length === 0) gap.what = 'empty record';
  else if (payloadEnd > data.length) gap.what = `record length ${length} runs past the end of the file`;
  else if (payloadEnd > to) gap.what = `record length ${length} runs into the intact record at byte ${to}`;
  else if (crc32(data.subarray(from + RECORD_HEADER, payloadEnd)) !== data.readUInt32BE(from + 4)) gap.what = 'checksum mismatch';
  else gap.what = 'operations do not fill the record';
  gap.lengthDamaged =
    to - from > RECORD_HEADER &&
    readOps(data, from + RECORD_HEADER, to, undefined) &&
    crc32(data.subarray(from + RECORD_HEADER, to)) === data.readUInt32BE(from + 4);
  if (gap.lengthDamaged) gap.what += `, though its payload is the ${to - from - RECORD_HEADER} bytes up to byte ${to}`;
  return gap;
}

/** Whether the bytes from `from` to the end of the file look like the prefix of one append. */
function tornShape(data: Buffer, from: number): boolean {
  if (from + RECORD_HEADER > data.length || isZero(data, from, data.length)) return true;
  const length = data.readUInt32BE(from);
  return length > 0 && from + RECORD_HEADER + length > data.length;
}

function isZero(data: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (data[i] !== 0) return false;
  return true;
}
