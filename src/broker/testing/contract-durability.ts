// Store contract: durability. What a store holds survives close and reopen (`reopen`); a batch that fails under a
// real fault leaves all or none of its operations (`faults`); after a kill, every write that resolved is there and
// no batch is there by halves (`crash`). Cases whose hook the store does not give are not registered.
import assert from 'node:assert/strict';
import { MemoryStore } from '../store/memory-store.js';
import type { BrokerStore, StoreOp } from '../store/store.js';
import { ALL_MESSAGE_PROPERTIES, message, outgoing, outgoingOf, retainedOf, session, snapshot, stateOf, subscription, text } from './contract-data.js';
import { CRASH_PROGRESS_TOPIC, crashBatch } from './crash-workload.js';
import type { ContractContext } from './contract-types.js';

/** Base records of the fault case: queued messages 1..20, the one of batch `b` deleted by that batch. */
const FAULT_BASE = 20;
/** Batches tried while the fault lasts. */
const FAULT_BATCHES = 20;
/** Failed batches after which the fault case stops trying. */
const FAULT_FAILURES = 3;
/** Kill points of the crash case, in resolved writes. */
const CRASH_POINTS = [1, 300, 2000];

/** Batch `b` of the fault case: 8 queued messages of 8 KiB, a delete, a retained message and an incoming id. */
function faultBatch(b: number): StoreOp[] {
  const ops: StoreOp[] = [];
  for (let i = 1; i <= 8; i++) ops.push({ op: 'putOutgoing', clientId: 'f', outgoing: outgoing(100 * b + i, `${b}:${i}:`.padEnd(8192, 'x')) });
  ops.push(
    { op: 'deleteOutgoing', clientId: 'f', seq: b },
    { op: 'putRetained', message: message(`fault/${b}`, String(b), { retain: true }) },
    { op: 'putIncoming', clientId: 'f', packetId: b },
  );
  return ops;
}

/** How many of batch `b`'s 11 operations `store` shows. */
async function visibleOps(store: BrokerStore, b: number): Promise<number> {
  const state = (await stateOf(store, 'f'))!;
  const seqs = new Set(state.outgoing.map((o) => o.seq));
  let visible = 0;
  for (let i = 1; i <= 8; i++) if (seqs.has(100 * b + i)) visible++;
  if (!seqs.has(b)) visible++;
  if ((await store.loadRetained()).some((m) => m.topic === `fault/${b}`)) visible++;
  if (state.incoming.includes(b)) visible++;
  return visible;
}

export function durabilityCases<S extends BrokerStore>({ it, options, fresh, again }: ContractContext<S>): void {
  const { reopen, faults, crash } = options;
  if (reopen !== undefined) {
    it('keeps everything across close and reopen', async () => {
      let store = await fresh();
      await store.write([
        { op: 'putSession', session: session('durable', { disconnectedAt: 1_700_000_000_000 }) },
        { op: 'putSubscription', clientId: 'durable', subscription: subscription('d/#', { qos: 2, identifier: 5 }) },
        { op: 'putOutgoing', clientId: 'durable', outgoing: outgoing(1, 'kept', { message: message('d/1', 'kept', { properties: ALL_MESSAGE_PROPERTIES }) }) },
        { op: 'putOutgoing', clientId: 'durable', outgoing: outgoing(2, 'sent', { packetId: 12, state: 'pubrel', qos: 2 }) },
        { op: 'putIncoming', clientId: 'durable', packetId: 77 },
        { op: 'putRetained', message: message('r/d', 'kept', { retain: true, expiresAt: 1_900_000_000_000 }) },
      ]);
      const before = await snapshot(store);
      store = await again(store);
      assert.deepEqual(await snapshot(store), before);
      // Closed and reopened without a write in between: still all there.
      store = await again(store);
      assert.deepEqual(await snapshot(store), before);
      await store.close();
    });

    it('a reopened store takes writes on top of what it holds', async () => {
      let store = await fresh();
      await store.write([
        { op: 'putSession', session: session('on') },
        { op: 'putOutgoing', clientId: 'on', outgoing: outgoing(1, 'one') },
        { op: 'putOutgoing', clientId: 'on', outgoing: outgoing(2, 'two') },
        { op: 'putRetained', message: message('r/on', 'first', { retain: true }) },
      ]);
      store = await again(store);
      await store.write([
        { op: 'deleteOutgoing', clientId: 'on', seq: 1 },
        { op: 'putOutgoing', clientId: 'on', outgoing: outgoing(2, 'two again') },
        { op: 'putOutgoing', clientId: 'on', outgoing: outgoing(3, 'three') },
        { op: 'putRetained', message: message('r/on', 'second', { retain: true }) },
      ]);
      assert.deepEqual(await outgoingOf(store, 'on'), [[2, 'two again'], [3, 'three']]);
      store = await again(store);
      assert.deepEqual(await outgoingOf(store, 'on'), [[2, 'two again'], [3, 'three']]);
      assert.deepEqual(await retainedOf(store), [['r/on', 'second']]);
      await store.write([{ op: 'deleteSession', clientId: 'on' }, { op: 'deleteRetained', topic: 'r/on' }]);
      store = await again(store);
      assert.deepEqual(await snapshot(store), { sessions: [], retained: [] });
      await store.close();
    });
  }

  if (faults !== undefined) {
    it('a batch that fails leaves all or none of its operations, and once the fault ends the store takes writes again', async () => {
      let store = await fresh(faults.makeStore);
      let faulty = false;
      try {
        const base: StoreOp[] = [{ op: 'putSession', session: session('f') }];
        for (let seq = 1; seq <= FAULT_BASE; seq++) base.push({ op: 'putOutgoing', clientId: 'f', outgoing: outgoing(seq, `base ${seq}`) });
        await store.write(base);
        await faults.inject(store);
        faulty = true;
        const outcomes: Array<'written' | 'failed'> = [];
        for (let b = 1; b <= FAULT_BATCHES && outcomes.filter((o) => o === 'failed').length < FAULT_FAILURES; b++) {
          outcomes.push(await store.write(faultBatch(b)).then(() => 'written' as const, () => 'failed' as const));
        }
        assert.ok(outcomes.includes('failed'), `the injected fault failed no write: ${outcomes.join(', ')}`);
        faulty = false;
        await faults.clear(store);
        const last = outcomes.length + 1;
        await store.write(faultBatch(last));
        store = await again(store);
        for (let b = 1; b <= last; b++) {
          const visible = await visibleOps(store, b);
          if (b === last || outcomes[b - 1] === 'written') assert.equal(visible, 11, `batch ${b} (${outcomes[b - 1] ?? 'after the fault'}) is all there`);
          else assert.ok(visible === 0 || visible === 11, `failed batch ${b}: ${visible} of its 11 operations are there`);
        }
        // The base records no batch touched are all there.
        const seqs = new Set((await stateOf(store, 'f'))!.outgoing.map((o) => o.seq));
        for (let seq = last + 1; seq <= FAULT_BASE; seq++) assert.ok(seqs.has(seq), `base message ${seq}`);
      } catch (err) {
        // Whatever failed, the fault ends and the store is closed: a store left open can keep its place busy.
        if (faulty) await faults.clear(store);
        await store.close().catch(() => undefined);
        throw err;
      }
      await store.close();
    });
  }

  if (crash !== undefined) {
    it('after a kill, every write that resolved is there and no batch is there by halves', async () => {
      for (const afterWrites of CRASH_POINTS) {
        const { store, acknowledged } = await crash({ afterWrites });
        assert.ok(acknowledged >= afterWrites, `killed after ${acknowledged} writes, ${afterWrites} asked`);
        await store.open();
        try {
          const progress = (await store.loadRetained()).find((m) => m.topic === CRASH_PROGRESS_TOPIC);
          const reached = progress === undefined ? 0 : Number(text(progress.payload));
          assert.ok(reached >= acknowledged, `${acknowledged} writes resolved before the kill, the store holds ${reached}`);
          // The state after exactly that many batches, from the reference implementation.
          const model = new MemoryStore();
          for (let n = 1; n <= reached; n++) await model.write(crashBatch(n));
          assert.deepEqual(await snapshot(store), await snapshot(model), `state after batch ${reached} (killed after ${acknowledged})`);
        } finally {
          await store.close();
        }
      }
    });
  }
}
