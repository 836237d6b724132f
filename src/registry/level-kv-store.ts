import { mkdirSync } from 'node:fs';
import { ClassicLevel } from 'classic-level';
import type { KeyValueOp, KeyValueStore } from './kv-store.js';

/** A KeyValueStore in a LevelDB directory (one process at a time: LevelDB locks it). */
export class LevelKeyValueStore implements KeyValueStore {
  private readonly db: ClassicLevel<string, string>;

  constructor(
    private readonly dir: string,
    private readonly options: { fsync?: boolean } = {},
  ) {
    this.db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  }

  async open(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    try {
      await this.db.open();
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
      throw new Error(`cannot open ${this.dir}: ${cause} (is another process using it?)`);
    }
  }

  async get(key: string): Promise<unknown> {
    const text = await this.db.get(key);
    return text === undefined ? undefined : JSON.parse(text);
  }

  async list(prefix: string): Promise<Array<[string, unknown]>> {
    const found: Array<[string, unknown]> = [];
    for await (const [key, text] of this.db.iterator({ gte: prefix, lt: `${prefix}\uffff` })) found.push([key, JSON.parse(text)]);
    return found;
  }

  async write(ops: readonly KeyValueOp[]): Promise<void> {
    if (ops.length === 0) return;
    const batch = ops.map((op) =>
      op.type === 'put' ? { type: 'put' as const, key: op.key, value: JSON.stringify(op.value) } : { type: 'del' as const, key: op.key },
    );
    await this.db.batch(batch, { sync: this.options.fsync ?? false });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
