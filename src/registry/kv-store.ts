/**
 * The small key-value contract the device registry and the IoT hub keep their durable state in: JSON values
 * under string keys, ordered by key, written in all-or-nothing batches.
 */
export type KeyValueOp = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string };

export interface KeyValueStore {
  open(): Promise<void>;
  get(key: string): Promise<unknown>;
  /** Every entry whose key starts with `prefix`, in key order. */
  list(prefix: string): Promise<Array<[key: string, value: unknown]>>;
  write(ops: readonly KeyValueOp[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * Keeps values as JSON text, so callers get copies exactly as a durable store would hand them back (a caller
 * changing an object after `put` changes nothing stored).
 */
export class MemoryKeyValueStore implements KeyValueStore {
  private readonly entries = new Map<string, string>();

  async open(): Promise<void> {}

  async get(key: string): Promise<unknown> {
    const text = this.entries.get(key);
    return text === undefined ? undefined : JSON.parse(text);
  }

  async list(prefix: string): Promise<Array<[string, unknown]>> {
    const found: Array<[string, unknown]> = [];
    for (const [key, text] of this.entries) if (key.startsWith(prefix)) found.push([key, JSON.parse(text)]);
    return found.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  async write(ops: readonly KeyValueOp[]): Promise<void> {
    const encoded = ops.map((op) => (op.type === 'put' ? ([op.key, JSON.stringify(op.value)] as const) : ([op.key, undefined] as const)));
    for (const [key, text] of encoded) {
      if (text === undefined) this.entries.delete(key);
      else this.entries.set(key, text);
    }
  }

  async close(): Promise<void> {}
}
