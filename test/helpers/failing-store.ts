import { MemoryStore } from '../../src/broker/store/memory-store.js';
import type { StoreOp } from '../../src/broker/store/store.js';

/** A memory store whose writes fail (as on a full disk) while `failing` is set. */
export class FailingStore extends MemoryStore {
  failing = false;

  override async write(ops: readonly StoreOp[]): Promise<void> {
    if (this.failing) throw new Error('disk full');
    return super.write(ops);
  }
}
