// Salvages a damaged write-ahead log: each segment that is not intact is rewritten with every intact record it
// holds, in order, after its original is copied aside. What the skipped bytes held is lost; the rest replays as it
// would have.
import { closeSync, copyFileSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fsyncPath } from './fsync.js';
import { LOG_FORMAT_VERSION, MAGIC, RECORD_HEADER, SEGMENT_HEADER } from './log-record.js';
import { scanSegment } from './log-scan.js';
import { StoreError } from './store-errors.js';
import { checkVersion, readSegmentFile, segmentPaths } from './write-ahead-log.js';

/** What the repair found in one segment, and did about it. */
export interface SegmentRepair {
  path: string;
  /** Records kept (written back, or left where they were when nothing needed repairing). */
  kept: number;
  /** Of those, records whose damaged length field was written again from where the next intact record starts. */
  lengthsRepaired: number;
  /** Byte ranges left out, with what was wrong at their start; `torn` marks an unfinished last append. */
  skipped: Array<{ from: number; to: number; what: string; torn: boolean }>;
  /** Where the original was copied before the segment was rewritten; undefined when it was left alone. */
  copy: string | undefined;
}

/**
 * Repairs every segment in `dir` (a `log` directory) that is not intact; with `dryRun` only reports. The caller
 * holds the data directory. `stamp` names the copies: `0000000000000001.log.damaged-STAMP`.
 */
export function repairLog(dir: string, options: { dryRun: boolean; stamp: string }): SegmentRepair[] {
  const paths = segmentPaths(dir);
  return paths.map((path, i) => repairSegment(path, i === paths.length - 1, options));
}

function repairSegment(path: string, newest: boolean, { dryRun, stamp }: { dryRun: boolean; stamp: string }): SegmentRepair {
  const data = readSegmentFile(path);
  const scan = scanSegment(data, newest);
  checkVersion(path, scan.version);
  const repaired = scan.gaps.filter((gap) => gap.lengthDamaged);
  const report: SegmentRepair = {
    path,
    kept: scan.records.length + repaired.length,
    lengthsRepaired: repaired.length,
    skipped: scan.gaps.filter((gap) => !gap.lengthDamaged).map(({ from, to, what, torn }) => ({ from, to, what, torn })),
    copy: undefined,
  };
  if (scan.gaps.length === 0 || dryRun) return report;

  // Intact records and those whose length alone was wrong, in file order, each with the length it must have.
  const kept = [
    ...scan.records.map(({ start, end }) => ({ start, end, fixLength: false })),
    ...repaired.map(({ from, to }) => ({ start: from, end: to, fixLength: true })),
  ].sort((a, b) => a.start - b.start);
  const header = Buffer.allocUnsafe(SEGMENT_HEADER);
  header.writeUInt32BE(MAGIC, 0);
  header.writeUInt32BE(LOG_FORMAT_VERSION, 4);
  const parts = [header];
  for (const { start, end, fixLength } of kept) {
    const record = Buffer.from(data.subarray(start, end));
    if (fixLength) record.writeUInt32BE(end - start - RECORD_HEADER, 0);
    parts.push(record);
  }

  report.copy = `${path}.damaged-${stamp}`;
  const temporary = `${path}.repairing`;
  try {
    copyFileSync(path, report.copy);
    fsyncPath(report.copy);
    writeSynced(temporary, Buffer.concat(parts));
    // The rewritten segment replaces the original in one step: a crash leaves one or the other.
    renameSync(temporary, path);
    fsyncPath(dirname(path));
  } catch (err) {
    throw new StoreError(
      'io',
      `cannot rewrite store log ${basename(path)} in ${dirname(path)}: ${(err as Error).message}; free disk space or fix its permissions, then run the repair again`,
      { cause: err },
    );
  }
  return report;
}

function writeSynced(path: string, data: Buffer): void {
  const fd = openSync(path, 'w');
  try {
    let written = 0;
    while (written < data.length) written += writeSync(fd, data, written, data.length - written, written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
