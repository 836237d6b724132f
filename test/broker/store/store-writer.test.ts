// The broker's group commit (src/broker/store/writer.ts) with a store that asks for a delay between writes.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { silentLogger } from '../../../src/broker/logger.js';
import { MemoryStore } from '../../../src/broker/store/memory-store.js';
import type { StoreOp } from '../../../src/broker/store/store.js';
import { StoreWriter } from '../../../src/broker/store/writer.js';

/** A store that keeps the client ids of each batch written, and asks for `delayMs` before each batch. */
class DelayedStore extends MemoryStore {
  readonly batches: string[][] = [];
  constructor(private readonly delayMs: number) {
    super();
  }
  override write(ops: readonly StoreOp[]): Promise<void> {
    this.batches.push(ops.map((op) => ('clientId' in op ? op.clientId : '?')));
    return super.write(ops);
  }
  writeDelay(): number {
    return this.delayMs;
  }
}

const remove = (clientId: string): StoreOp => ({ op: 'deleteSession', clientId });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

it('changes recorded while the store asks to wait join the batch, and the acknowledgement waits for it', async () => {
  // Far longer than the test's own pause, so a slow machine cannot let the delay run out before the check.
  const store = new DelayedStore(1000);
  const writer = new StoreWriter(store, silentLogger);
  const acked: number[] = [];
  const target = { sendStoredAck: (_kind: string, packetId: number) => acked.push(packetId) };
  writer.record(remove('a'));
  writer.ackAfterCommit(target, 'puback', 1, 0);
  await sleep(20);
  writer.record(remove('b'));
  writer.ackAfterCommit(target, 'puback', 2, 0);
  assert.deepEqual(store.batches, [], 'nothing is written before the delay');
  assert.deepEqual(acked, []);
  await writer.drain();
  assert.deepEqual(store.batches, [['a', 'b']]);
  assert.deepEqual(acked, [1, 2]);
});

it('without a delay, changes of different ticks with nothing in flight go in batches of their own', async () => {
  const store = new DelayedStore(0);
  const writer = new StoreWriter(store, silentLogger);
  writer.record(remove('a'));
  await sleep(5);
  writer.record(remove('b'));
  await writer.drain();
  assert.deepEqual(store.batches, [['a'], ['b']]);
});
