import { open, readFile, rename, type FileHandle } from 'node:fs/promises';
import type { MessageStore, StoredMessage } from './store.js';

export interface FileStoreOptions {
  /** fdatasync after each batch of writes, so messages survive a power loss, not just a process exit. Default false. */
  sync?: boolean;
  /** Rewrite the log once it is this many bytes and mostly dead records. Default 4 MiB. */
  compactBytes?: number;
}

// Binary fields go into JSON as base64 objects.
function replacer(_key: string, value: unknown): unknown {
  if (!(value instanceof Uint8Array)) return value;
  return { $b: Buffer.from(value.buffer, value.byteOffset, value.length).toString('base64') };
}

function reviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && typeof (value as { $b?: unknown }).$b === 'string') {
    return new Uint8Array(Buffer.from((value as { $b: string }).$b, 'base64'));
  }
  return value;
}

type Record = { put: StoredMessage } | { del: number };

/** The lines of one write, and the promise their callers wait on. */
interface Batch {
  lines: string[];
  done: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

function newBatch(): Batch {
  const batch = { lines: [] } as unknown as Batch;
  batch.done = new Promise<void>((resolve, reject) => {
    batch.resolve = resolve;
    batch.reject = reject;
  });
  return batch;
}

/**
 * A MessageStore in an append-only log file of JSON lines (put / delete records), so that unacknowledged QoS 1/2
 * messages survive a process restart. Calls are queued and written in batches, one write per batch, and each call's
 * promise settles when its own batch is written (however many calls come after); the log is rewritten with only the
 * live messages when it has grown mostly dead, and at every load.
 */
export class FileStore implements MessageStore {
  private readonly live = new Map<number, string>();
  private liveBytes = 0;
  private logBytes = 0;
  private handle: FileHandle | undefined;
  /** The batch that lines queued now go into; undefined until a line is queued. */
  private next: Batch | undefined;
  private writing: Promise<void> | undefined;
  private readonly sync: boolean;
  private readonly compactBytes: number;

  constructor(
    readonly path: string,
    options: FileStoreOptions = {},
  ) {
    this.sync = options.sync ?? false;
    this.compactBytes = options.compactBytes ?? 4 * 1024 * 1024;
  }

  async load(): Promise<StoredMessage[]> {
    await this.close();
    this.live.clear();
    this.liveBytes = 0;
    let text = '';
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
    }
    for (const line of text.split('\n')) {
      if (line.length === 0) continue;
      let record: Record;
      try {
        record = JSON.parse(line, reviver) as Record;
      } catch {
        continue; // a line cut short by a crash
      }
      if ('put' in record) this.live.set(record.put.id, line);
      else this.live.delete(record.del);
    }
    const messages = [...this.live.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([, line]) => (JSON.parse(line, reviver) as { put: StoredMessage }).put);
    for (const line of this.live.values()) this.liveBytes += line.length + 1;
    await this.compact();
    return messages;
  }

  put(message: StoredMessage): Promise<void> {
    const previous = this.live.get(message.id);
    if (previous !== undefined) this.liveBytes -= previous.length + 1;
    const line = JSON.stringify({ put: message }, replacer);
    this.live.set(message.id, line);
    this.liveBytes += line.length + 1;
    return this.append(line);
  }

  delete(id: number): Promise<void> {
    const previous = this.live.get(id);
    if (previous === undefined) return Promise.resolve();
    this.live.delete(id);
    this.liveBytes -= previous.length + 1;
    return this.append(`{"del":${id}}`);
  }

  /** Messages in the store. */
  get size(): number {
    return this.live.size;
  }

  async close(): Promise<void> {
    while (this.writing) await this.writing;
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }

  /** Queues a line; every line queued while a batch is being written goes out with the next batch. */
  private append(line: string): Promise<void> {
    const batch = (this.next ??= newBatch());
    batch.lines.push(line);
    this.writing ??= this.writeBatches();
    return batch.done;
  }

  /** Writes batch after batch until none is queued; a failed batch rejects its callers and the next one is tried. */
  private async writeBatches(): Promise<void> {
    try {
      // Let the current task queue more lines before the first write.
      await Promise.resolve();
      for (let batch = this.next; batch; batch = this.next) {
        this.next = undefined;
        try {
          await this.writeBatch(batch.lines.join('\n') + '\n');
          batch.resolve();
        } catch (error) {
          batch.reject(error as Error);
        }
      }
    } finally {
      // In the same step as the last check for a batch: a line queued after it starts a new writer.
      this.writing = undefined;
    }
  }

  private async writeBatch(text: string): Promise<void> {
    this.handle ??= await open(this.path, 'a');
    await this.handle.write(text);
    if (this.sync) await this.handle.datasync();
    this.logBytes += Buffer.byteLength(text);
    if (this.logBytes > this.compactBytes && this.logBytes > 4 * this.liveBytes) await this.compact();
  }

  /** Replaces the log with one holding only the live messages (written aside, then renamed over it). */
  private async compact(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
    const temporary = `${this.path}.tmp`;
    const out = await open(temporary, 'w');
    let text = '';
    for (const line of this.live.values()) text += line + '\n';
    try {
      await out.write(text);
      await out.datasync();
    } finally {
      await out.close();
    }
    await rename(temporary, this.path);
    this.logBytes = Buffer.byteLength(text);
  }
}
