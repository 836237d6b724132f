// Recovery of an opened LevelStore database: the write-ahead log a process left is replayed over LevelDB, then
// one scan reads every record, rebuilding the record index and giving the broker its sessions and retained
// messages. A record that does not decode stops the start: partial state is never loaded.
import type { Logger } from '../logger.js';
import type { BrokerMessage } from '../message.js';
import { RESTORE_REMEDY } from './data-dir.js';
import { levelBatch, type Db } from './level-db.js';
import {
  checkIncoming,
  decodeFormat,
  decodeOutgoing,
  decodeRetained,
  decodeSession,
  decodeSubscription,
  encodeFormat,
  FORMAT_KEY,
  KIND_INCOMING,
  KIND_META,
  KIND_OUTGOING,
  KIND_RETAINED,
  KIND_SESSION,
  KIND_SUBSCRIPTION,
  parseKey,
  RecordError,
  seal,
} from './record-codec.js';
import type { ClientRecords, RecordIndex } from './record-index.js';
import { describeError, StoreError } from './store-errors.js';
import { STORE_FORMAT_VERSION } from './store-format.js';
import type { RecoveryStats, StoredSessionState } from './store.js';
import { readLog, removeSegments, WriteAheadLog } from './write-ahead-log.js';

const SCAN_CHUNK = 1024;
/** Operations per LevelDB batch when the log is replayed at start-up. */
const REPLAY_CHUNK = 10_000;

/** What one scan of the database yields. */
export interface Scan {
  sessions: Map<string, StoredSessionState>;
  retained: BrokerMessage[];
  orphans: Buffer[];
  formatFound: boolean;
}

export interface RecoveryOptions {
  dbPath: string;
  logDir: string;
  /** The log's appends are flushed to the disk (the store's `fsync` option). */
  sync: boolean;
  /** Where the drop of an unfinished append is reported. */
  logger: Logger;
}

/** The log, ready for appends, and what the database holds. */
export interface Recovered {
  log: WriteAheadLog;
  scan: Scan;
}

/**
 * Replays the log over `db`, scans it into `index`, writes the format record of a new database and removes the
 * records of sessions that no longer exist.
 */
export async function recoverDatabase(db: Db, index: RecordIndex, options: RecoveryOptions): Promise<Recovered> {
  const log = await replayLog(db, options);
  try {
    const scan = await scanDatabase(db, index, options.dbPath);
    if (!scan.formatFound) {
      if (scan.sessions.size > 0 || scan.retained.length > 0) {
        throw new StoreError('corrupt', `store data in ${options.dbPath} has no format record; refusing to guess; ${RESTORE_REMEDY}`);
      }
      await db.put(Buffer.from(FORMAT_KEY), encodeFormat(STORE_FORMAT_VERSION), { sync: true });
    }
    if (scan.orphans.length > 0) await db.batch(scan.orphans.map((key) => ({ type: 'del' as const, key })));
    return { log, scan };
  } catch (err) {
    log.close(false);
    throw err;
  }
}

/** The counts of a scan, for the start-up log. */
export function recoveryStats(scan: Scan, bytes: number, started: number): RecoveryStats {
  let subscriptions = 0;
  let outgoing = 0;
  let incoming = 0;
  for (const state of scan.sessions.values()) {
    subscriptions += state.subscriptions.length;
    outgoing += state.outgoing.length;
    incoming += state.incoming.length;
  }
  return {
    sessions: scan.sessions.size,
    subscriptions,
    outgoing,
    incoming,
    retained: scan.retained.length,
    bytes,
    orphans: scan.orphans.length,
    milliseconds: Math.round(performance.now() - started),
  };
}

/** Writes what the log holds over LevelDB (again, where it has some of it: in order, the operations are idempotent) and deletes it. */
async function replayLog(db: Db, { dbPath, logDir, sync, logger }: RecoveryOptions): Promise<WriteAheadLog> {
  const logged = readLog(logDir);
  const torn = logged.torn;
  if (torn !== undefined) {
    logger.warn(
      `store log ${torn.path}: dropped ${torn.bytes} bytes at its end, from byte ${torn.offset} (${torn.what}): ` +
        'an append the process did not finish, never acknowledged',
    );
  }
  const ops = logged.batches.flat();
  for (const op of ops) if (op.type === 'put') seal(op.value);
  const writeBatch = levelBatch(db).write;
  try {
    for (let i = 0; i < ops.length; i += REPLAY_CHUNK) {
      const last = i + REPLAY_CHUNK >= ops.length;
      // On the disk before the log is deleted.
      await writeBatch(ops.slice(i, i + REPLAY_CHUNK), last);
    }
  } catch (err) {
    throw new StoreError(
      'io',
      `cannot replay the store log into ${dbPath}: ${describeError(err)}; free disk space or fix the file system, then start again (the log is kept until it is replayed)`,
      { cause: err },
    );
  }
  removeSegments(logDir, logged.paths);
  return new WriteAheadLog(logDir, sync, logged.next);
}

/** Reads every record of `db`, rebuilding `index`; a record that does not decode stops it with an error. */
export async function scanDatabase(db: Db, index: RecordIndex, dbPath: string): Promise<Scan> {
  index.clear();
  const result: Scan = { sessions: new Map(), retained: [], orphans: [], formatFound: false };
  const iterator = db.iterator();
  try {
    for (;;) {
      let entries: Array<[Buffer, Buffer]>;
      try {
        entries = await iterator.nextv(SCAN_CHUNK);
      } catch (err) {
        throw new StoreError('corrupt', `store data in ${dbPath} cannot be read: ${describeError(err)}; ${RESTORE_REMEDY}`, { cause: err });
      }
      if (entries.length === 0) break;
      for (const [key, value] of entries) scanRecord(key, value, index, result, dbPath);
    }
  } finally {
    await iterator.close();
  }
  index.commit();
  return result;
}

function scanRecord(key: Buffer, value: Buffer, index: RecordIndex, result: Scan, dbPath: string): void {
  const size = key.length + value.length;
  try {
    if (key[0] === KIND_META) {
      if (!key.equals(FORMAT_KEY)) throw new RecordError('unknown meta record');
      const version = decodeFormat(value);
      if (version !== STORE_FORMAT_VERSION) {
        throw new StoreError(
          'format',
          `store data in ${dbPath} has format version ${version}; this culex reads version ${STORE_FORMAT_VERSION}; ` +
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
      `store data in ${dbPath} is corrupt (record ${key.subarray(0, 40).toString('hex')}: ${describeError(err)}); refusing to start with partial state; ${RESTORE_REMEDY}`,
      { cause: err },
    );
  }
}
