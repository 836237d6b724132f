/** Past this many slots per key held (plus a few), a key beyond the ring goes beside it rather than growing it. */
const SPARSE_FACTOR = 4;
const SPARSE_SLACK = 64;
const FIRST_CAPACITY = 16;

/**
 * A map from integer keys that mostly grow and mostly leave in order (a session's outgoing sequence numbers) to
 * values: a ring of slots from the lowest key held. Adding and removing allocate nothing, where a `Map` with
 * keys coming and going rebuilds its tables again and again (in a profile of the store with a persistent
 * subscriber online, the index's tables were a quarter of what the collector promoted). A key the ring cannot
 * hold without growing sparse (far below or above the keys held) goes to a `Map` beside it; each key is in one
 * place, looked up in the ring first.
 */
export class SequenceTable<V> {
  private slots: Array<V | undefined> = new Array<V | undefined>(FIRST_CAPACITY).fill(undefined);
  /** Slot of the key `base`; slots outside the `span` keys from there are always empty. */
  private head = 0;
  private base = 0;
  private span = 0;
  private inRing = 0;
  private outliers: Map<number, V> | undefined;

  get size(): number {
    return this.inRing + (this.outliers?.size ?? 0);
  }

  get(key: number): V | undefined {
    const offset = key - this.base;
    if (offset >= 0 && offset < this.span && Number.isInteger(offset)) {
      const value = this.slots[(this.head + offset) & (this.slots.length - 1)];
      if (value !== undefined) return value;
    }
    return this.outliers?.get(key);
  }

  set(key: number, value: V): this {
    if (this.outliers?.has(key) === true) {
      this.outliers.set(key, value);
      return this;
    }
    if (this.span === 0) {
      this.base = key;
      this.head = 0;
    }
    const offset = key - this.base;
    if (offset < 0 || !Number.isSafeInteger(offset)) {
      (this.outliers ??= new Map()).set(key, value);
      return this;
    }
    if (offset >= this.slots.length) {
      if (offset >= SPARSE_FACTOR * (this.inRing + 1) + SPARSE_SLACK) {
        (this.outliers ??= new Map()).set(key, value);
        return this;
      }
      this.grow(offset + 1);
    }
    const slot = (this.head + offset) & (this.slots.length - 1);
    if (this.slots[slot] === undefined) this.inRing++;
    this.slots[slot] = value;
    if (offset >= this.span) this.span = offset + 1;
    return this;
  }

  delete(key: number): boolean {
    const offset = key - this.base;
    if (offset >= 0 && offset < this.span && Number.isInteger(offset)) {
      const mask = this.slots.length - 1;
      const slot = (this.head + offset) & mask;
      if (this.slots[slot] !== undefined) {
        this.slots[slot] = undefined;
        this.inRing--;
        if (this.inRing === 0) this.span = 0;
        else if (offset === 0) {
          // The lowest key left: the ring starts at the next one held.
          do {
            this.head = (this.head + 1) & mask;
            this.base++;
            this.span--;
          } while (this.slots[this.head] === undefined);
        } else if (offset === this.span - 1) {
          while (this.slots[(this.head + this.span - 1) & mask] === undefined) this.span--;
        }
        return true;
      }
    }
    return this.outliers?.delete(key) ?? false;
  }

  *keys(): IterableIterator<number> {
    const mask = this.slots.length - 1;
    for (let i = 0; i < this.span; i++) if (this.slots[(this.head + i) & mask] !== undefined) yield this.base + i;
    if (this.outliers !== undefined) yield* this.outliers.keys();
  }

  *values(): IterableIterator<V> {
    const mask = this.slots.length - 1;
    for (let i = 0; i < this.span; i++) {
      const value = this.slots[(this.head + i) & mask];
      if (value !== undefined) yield value;
    }
    if (this.outliers !== undefined) yield* this.outliers.values();
  }

  /** A ring of at least `needed` slots (a power of two), the keys held from its first slot on. */
  private grow(needed: number): void {
    let capacity = this.slots.length * 2;
    while (capacity < needed) capacity *= 2;
    const slots = new Array<V | undefined>(capacity).fill(undefined);
    const mask = this.slots.length - 1;
    for (let i = 0; i < this.span; i++) slots[i] = this.slots[(this.head + i) & mask];
    this.slots = slots;
    this.head = 0;
  }
}
