import { SequenceTable } from './sequence-table.js';

/** Records of one kind by id, with their sizes: a `Map`, or a `SequenceTable` for outgoing sequence numbers. */
export interface SizeMap<K> {
  readonly size: number;
  get(key: K): number | undefined;
  set(key: K, size: number): unknown;
  delete(key: K): boolean;
  keys(): IterableIterator<K>;
  values(): IterableIterator<number>;
}

/** Any map of the index, as the undo log restores it. */
interface Restorable {
  set(key: unknown, value: unknown): unknown;
  delete(key: unknown): boolean;
}

/** The records stored under one client id, each with its size on disk (key plus value bytes). */
export interface ClientRecords {
  sessionSize: number;
  subscriptions: Map<string, number>;
  /** Sequence numbers only grow, and deliveries mostly end in order: a ring, not a Map rebuilt as they come and go. */
  outgoing: SequenceTable<number>;
  incoming: Map<number, number>;
}

/**
 * Which records the store holds and their sizes, kept in memory so that deleting a session can name every key
 * under it in the same atomic batch, and so that size limits are checked before anything reaches the disk.
 * Changes made while a batch is prepared are logged and rolled back if the batch is refused or fails.
 */
export class RecordIndex {
  readonly clients = new Map<string, ClientRecords>();
  readonly retained = new Map<string, number>();
  bytes = 0;
  /**
   * The undo log of map changes, three entries per change (map, key, previous value, undefined when the key was
   * absent): one flat array, kept between batches, so that logging allocates nothing per change.
   */
  private readonly undo: unknown[] = [];
  private sessionUndo: Array<{ records: ClientRecords; size: number }> = [];
  private bytesBefore = 0;
  /** Changes are logged only between `begin` and `commit`/`rollback` (not while a scan rebuilds the index). */
  private batching = false;

  /** Starts logging changes for one batch. */
  begin(): void {
    this.batching = true;
    this.undo.length = 0;
    this.sessionUndo.length = 0;
    this.bytesBefore = this.bytes;
  }

  /** Bytes the current batch adds (negative when it frees space). */
  get growth(): number {
    return this.bytes - this.bytesBefore;
  }

  /** Keeps the batch's changes. */
  commit(): void {
    this.batching = false;
    this.undo.length = 0;
    this.sessionUndo.length = 0;
  }

  /** Restores the state before `begin`. */
  rollback(): void {
    const undo = this.undo;
    for (let i = undo.length - 3; i >= 0; i -= 3) {
      const map = undo[i] as Restorable;
      const previous = undo[i + 2];
      if (previous !== undefined) map.set(undo[i + 1], previous);
      else map.delete(undo[i + 1]);
    }
    for (let i = this.sessionUndo.length - 1; i >= 0; i--) {
      const u = this.sessionUndo[i]!;
      u.records.sessionSize = u.size;
    }
    this.bytes = this.bytesBefore;
    this.commit();
  }

  /** Records `key` of `map` as `size` bytes; returns whether it existed before. */
  set<K>(map: SizeMap<K>, key: K, size: number): boolean {
    const previous = map.get(key);
    this.log(map, key, previous);
    map.set(key, size);
    this.bytes += size - (previous ?? 0);
    return previous !== undefined;
  }

  /** Removes `key` of `map`; returns whether it existed. */
  remove<K>(map: SizeMap<K>, key: K): boolean {
    const previous = map.get(key);
    if (previous === undefined) return false;
    this.log(map, key, previous);
    map.delete(key);
    this.bytes -= previous;
    return true;
  }

  setSession(records: ClientRecords, size: number): void {
    if (this.batching) this.sessionUndo.push({ records, size: records.sessionSize });
    this.bytes += size - records.sessionSize;
    records.sessionSize = size;
  }

  /** A new, empty client entry. */
  addClient(clientId: string, sessionSize: number): ClientRecords {
    const records: ClientRecords = { sessionSize: 0, subscriptions: new Map(), outgoing: new SequenceTable(), incoming: new Map() };
    this.log(this.clients, clientId, this.clients.get(clientId));
    this.clients.set(clientId, records);
    this.setSession(records, sessionSize);
    return records;
  }

  /** Removes a client entry and counts its records' bytes as freed. */
  removeClient(clientId: string, records: ClientRecords): void {
    this.log(this.clients, clientId, records);
    this.clients.delete(clientId);
    this.bytes -= records.sessionSize + sum(records.subscriptions) + sum(records.outgoing) + sum(records.incoming);
  }

  /** Forgets everything (before a rescan). */
  clear(): void {
    this.clients.clear();
    this.retained.clear();
    this.bytes = 0;
    this.commit();
  }

  private log<K>(map: SizeMap<K> | Map<string, ClientRecords>, key: K, previous: number | ClientRecords | undefined): void {
    if (this.batching) this.undo.push(map, key, previous);
  }
}

function sum(map: SizeMap<unknown>): number {
  let total = 0;
  for (const size of map.values()) total += size;
  return total;
}
