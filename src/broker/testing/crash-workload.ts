// The workload of the store contract's crash case: numbered batches that touch every kind of record, put and
// delete records of earlier batches, and end with a progress marker (retained message `crash/progress`, payload
// the batch number), so that what a killed writer left can be compared with the state after that many batches.
// A store's crash hook runs `writeCrashWorkload` in a process it kills.
import type { BrokerStore, StoreOp } from '../store/store.js';
import { message, outgoing, session, subscription } from './contract-data.js';

/** When the crash hook kills the writer. */
export interface CrashPlan {
  /** Kill once at least this many writes of the workload resolved. */
  afterWrites: number;
}

export interface CrashResult<S extends BrokerStore> {
  /** A new store, unopened, over what the killed writer left. */
  store: S;
  /** Writes of the workload known to have resolved before the kill (the writer may have done more). */
  acknowledged: number;
}

/** The retained topic whose payload is the number of the last batch applied. */
export const CRASH_PROGRESS_TOPIC = 'crash/progress';
/** Most batches the workload writes; a writer not killed by then stops. */
const CRASH_WORKLOAD_BATCHES = 200_000;

const CLIENTS = 5;
const client = (n: number): string => `crash-${n % CLIENTS}`;

/** Batch `n` (from 1) of the workload. */
export function crashBatch(n: number): StoreOp[] {
  const ops: StoreOp[] = [];
  if (n === 1) {
    for (let c = 0; c < CLIENTS; c++) {
      ops.push({ op: 'putSession', session: session(client(c)) }, { op: 'putSubscription', clientId: client(c), subscription: subscription('crash/#') });
    }
  }
  // Now and then a session ends and starts again: its records go.
  if (n % 97 === 0) ops.push({ op: 'deleteSession', clientId: client(n) }, { op: 'putSession', session: session(client(n), { username: `u${n}` }) });
  // Every tenth message is larger, so that appends differ in size.
  const payload = n % 10 === 0 ? `m${n}`.padEnd(4096, '.') : `m${n}`;
  ops.push({ op: 'putOutgoing', clientId: client(n), outgoing: outgoing(n, payload) });
  if (n > 3 && n % 3 === 0) {
    ops.push({ op: 'putOutgoing', clientId: client(n - 3), outgoing: outgoing(n - 3, `sent ${n - 3}`, { packetId: ((n - 3) % 65535) + 1, state: 'publish' }) });
  }
  if (n > 7) ops.push({ op: 'deleteOutgoing', clientId: client(n - 7), seq: n - 7 });
  ops.push({ op: 'putIncoming', clientId: client(n), packetId: (n % 1000) + 1 });
  if (n > 2) ops.push({ op: 'deleteIncoming', clientId: client(n - 2), packetId: ((n - 2) % 1000) + 1 });
  ops.push({ op: 'putRetained', message: message(`crash/r/${n % 13}`, `r${n}`, { retain: true }) });
  if (n % 4 === 0) ops.push({ op: 'deleteRetained', topic: `crash/r/${(n + 5) % 13}` });
  ops.push({ op: 'putRetained', message: message(CRASH_PROGRESS_TOPIC, String(n), { retain: true }) });
  return ops;
}

/**
 * Writes the workload's batches to an open store, one write at a time, calling `written(n)` once write `n`
 * resolved; stops after CRASH_WORKLOAD_BATCHES, or when `written` returns false.
 */
export async function writeCrashWorkload(store: BrokerStore, written: (count: number) => boolean | void): Promise<void> {
  for (let n = 1; n <= CRASH_WORKLOAD_BATCHES; n++) {
    await store.write(crashBatch(n));
    if (written(n) === false) return;
  }
}
