// How the store writes batches to classic-level: the one place that reaches past its public API.
import type { ClassicLevel } from 'classic-level';
import type { LogOp } from './log-record.js';

export type Db = ClassicLevel<Buffer, Buffer>;

/** Writes one batch of Buffer keys and values to the database it was made for. */
export type LevelBatch = (ops: LogOp[], sync: boolean) => Promise<void>;

/** What `levelBatch` needs of a database: its public batch method, and its status. */
export interface BatchingDb {
  readonly status: string;
  batch(ops: LogOp[], options: { sync: boolean }): Promise<void>;
}

type RawBatch = (ops: LogOp[], options: { sync: boolean }) => Promise<void>;

/**
 * The batch writer for `db`, chosen when it is opened. classic-level's `_batch` (its implementation of the
 * abstract-level contract, private) takes Buffer keys and values as they are; the public `batch` first copies,
 * checks and re-encodes every operation, measured as 40% of a write's time. `_batch` is used when this
 * classic-level has it, through a cast since it is not in its types; otherwise, or while the database is not
 * open (`_batch` skips the status check), the public `batch`. package.json pins classic-level to 3.0.x so that a
 * minor release cannot take `_batch` away unseen, and level-db.test.ts fails if the installed one lacks it.
 */
export function levelBatch(db: BatchingDb): { write: LevelBatch; raw: boolean } {
  const raw = (db as unknown as { _batch?: unknown })._batch;
  if (typeof raw !== 'function') return { write: (ops, sync) => db.batch(ops, { sync }), raw: false };
  const rawBatch = raw as RawBatch;
  return {
    write: (ops, sync) => (db.status === 'open' ? rawBatch.call(db, ops, { sync }) : db.batch(ops, { sync })),
    raw: true,
  };
}
