/** Slots of a table at first and when it is empty again; it doubles when half full. */
const FIRST_SLOTS = 8;

/**
 * What is in flight by a positive integer id (a packet id, or a client's message id): an open-addressing table
 * (linear probing, deletion by backward shift) whose two arrays are replaced only when it grows or empties, and
 * whose slots are cleared when an entry goes.
 *
 * Not a Map, because of how V8 collects one that churns. A Map with one `set` and one `delete` per QoS 1/2
 * message replaces its hash table every hundred or so messages; once one of its tables has reached the old
 * generation, each replacement is allocated there too, and the obsolete tables keep their entries until the next
 * full collection. Every young entry they point to then survives each scavenge and is promoted with all it holds
 * (message, payload): in the broker half of what the message path allocated, at twice its CPU per message, in a
 * state a process fell into or not depending on where the first scavenges fell (docs/benchmarks.md).
 */
export class IdTable<T> {
  /** Ids, 0 for an empty slot; the entry of a slot is at the same index in `entries`. */
  private ids: number[] = emptyIds(FIRST_SLOTS);
  private entries: Array<T | undefined> = emptyEntries(FIRST_SLOTS);
  private mask = FIRST_SLOTS - 1;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: number): T | undefined {
    const ids = this.ids;
    for (let i = key & this.mask; ; i = (i + 1) & this.mask) {
      const id = ids[i]!;
      if (id === key) return this.entries[i];
      if (id === 0) return undefined;
    }
  }

  has(key: number): boolean {
    return this.get(key) !== undefined;
  }

  set(key: number, entry: T): void {
    if ((this.count + 1) * 2 > this.ids.length) this.resize(this.ids.length * 2);
    const ids = this.ids;
    for (let i = key & this.mask; ; i = (i + 1) & this.mask) {
      const id = ids[i]!;
      if (id === key || id === 0) {
        if (id === 0) this.count++;
        ids[i] = key;
        this.entries[i] = entry;
        return;
      }
    }
  }

  delete(key: number): boolean {
    const ids = this.ids;
    const entries = this.entries;
    const mask = this.mask;
    let i = key & mask;
    while (ids[i] !== key) {
      if (ids[i] === 0) return false;
      i = (i + 1) & mask;
    }
    this.count--;
    // Each later entry of the run whose home slot is not between the hole and itself moves into the hole, so
    // that no lookup stops short at an empty slot (Knuth's algorithm R).
    for (let j = (i + 1) & mask; ids[j] !== 0; j = (j + 1) & mask) {
      const home = ids[j]! & mask;
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        ids[i] = ids[j]!;
        entries[i] = entries[j];
        i = j;
      }
    }
    ids[i] = 0;
    entries[i] = undefined;
    // Empty after a burst: back to the first size, so an idle session holds little.
    if (this.count === 0 && ids.length > FIRST_SLOTS) this.resize(FIRST_SLOTS);
    return true;
  }

  clear(): void {
    this.ids.fill(0);
    this.entries.fill(undefined);
    this.count = 0;
  }

  /** The ids in use, in no particular order. */
  keys(): number[] {
    return this.ids.filter((id) => id !== 0);
  }

  /** The entries, in no particular order (callers that resend sort them by when they were sent). */
  values(): T[] {
    const out: T[] = [];
    for (const entry of this.entries) if (entry !== undefined) out.push(entry);
    return out;
  }

  private resize(slots: number): void {
    const ids = this.ids;
    const entries = this.entries;
    this.ids = emptyIds(slots);
    this.entries = emptyEntries(slots);
    this.mask = slots - 1;
    this.count = 0;
    for (let i = 0; i < ids.length; i++) if (ids[i] !== 0) this.set(ids[i]!, entries[i]!);
    // The arrays let go hold nothing, wherever V8 put them (see above).
    entries.fill(undefined);
  }
}

function emptyIds(slots: number): number[] {
  return new Array<number>(slots).fill(0);
}

function emptyEntries<T>(slots: number): Array<T | undefined> {
  return new Array<T | undefined>(slots).fill(undefined);
}
