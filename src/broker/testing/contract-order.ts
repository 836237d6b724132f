// Store contract: order. The operations of a batch apply in order, batches apply in the order written (the last
// operation on a record decides, across any number of batches), and outgoing messages load by seq, per session,
// after deletes and re-puts.
import assert from 'node:assert/strict';
import type { BrokerStore, StoreOp } from '../store/store.js';
import { generator, message, outgoing, outgoingOf, retainedOf, session, stateOf, subscription, text } from './contract-data.js';
import type { ContractContext } from './contract-types.js';

/** Seqs where a key made of two 32-bit halves, or a float, would go wrong. */
const AWKWARD_SEQS = [0, 1, 255, 256, 65_535, 65_536, 0xffff_ffff, 0x1_0000_0000, 0x1_0000_0001, 2 ** 40, Number.MAX_SAFE_INTEGER];

export function orderCases<S extends BrokerStore>({ it, fresh, again }: ContractContext<S>): void {
  it('applies the operations of a batch in order', async () => {
    let store = await fresh();
    await store.write([
      { op: 'putRetained', message: message('r/1', 'a', { retain: true }) },
      { op: 'deleteRetained', topic: 'r/1' },
      { op: 'deleteRetained', topic: 'r/2' },
      { op: 'putRetained', message: message('r/2', 'b', { retain: true }) },
      { op: 'putSession', session: session('c') },
      { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(1, 'first') },
      { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(1, 'second') },
      { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(2, 'gone') },
      { op: 'deleteOutgoing', clientId: 'c', seq: 2 },
      { op: 'putSubscription', clientId: 'c', subscription: subscription('s', { qos: 0 }) },
      { op: 'deleteSubscription', clientId: 'c', filter: 's' },
      { op: 'putSubscription', clientId: 'c', subscription: subscription('s', { qos: 2 }) },
      { op: 'putIncoming', clientId: 'c', packetId: 9 },
      { op: 'deleteIncoming', clientId: 'c', packetId: 9 },
    ]);
    for (let pass = 0; pass < 2; pass++) {
      assert.deepEqual(await retainedOf(store), [['r/2', 'b']]);
      assert.deepEqual(await outgoingOf(store, 'c'), [[1, 'second']]);
      const state = (await stateOf(store, 'c'))!;
      assert.deepEqual(state.subscriptions.map((s) => [s.filter, s.qos]), [['s', 2]]);
      assert.deepEqual(state.incoming, []);
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });

  it('a session deleted and created again in one batch keeps only what was put after the delete', async () => {
    let store = await fresh();
    await store.write([
      { op: 'putSession', session: session('re') },
      { op: 'putOutgoing', clientId: 're', outgoing: outgoing(1, 'before') },
      { op: 'putIncoming', clientId: 're', packetId: 1 },
    ]);
    await store.write([
      { op: 'putOutgoing', clientId: 're', outgoing: outgoing(2, 'before too') },
      { op: 'deleteSession', clientId: 're' },
      { op: 'putSession', session: session('re', { username: 'new' }) },
      { op: 'putOutgoing', clientId: 're', outgoing: outgoing(2, 'after') },
    ]);
    for (let pass = 0; pass < 2; pass++) {
      const state = (await stateOf(store, 're'))!;
      assert.equal(state.session.username, 'new');
      assert.deepEqual(await outgoingOf(store, 're'), [[2, 'after']]);
      assert.deepEqual(state.incoming, []);
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });

  it('a put then a delete of the same record in a later batch, across 300 batches, leaves only the last put', async () => {
    let store = await fresh();
    await store.write([{ op: 'putSession', session: session('pd') }]);
    for (let i = 1; i <= 300; i++) {
      const ops: StoreOp[] = [
        { op: 'putOutgoing', clientId: 'pd', outgoing: outgoing(i, `m${i}`) },
        { op: 'putRetained', message: message(`pd/${i}`, `r${i}`, { retain: true }) },
        { op: 'putSubscription', clientId: 'pd', subscription: subscription(`pd/${i}`) },
        { op: 'putIncoming', clientId: 'pd', packetId: i },
      ];
      if (i > 1) {
        ops.push(
          { op: 'deleteOutgoing', clientId: 'pd', seq: i - 1 },
          { op: 'deleteRetained', topic: `pd/${i - 1}` },
          { op: 'deleteSubscription', clientId: 'pd', filter: `pd/${i - 1}` },
          { op: 'deleteIncoming', clientId: 'pd', packetId: i - 1 },
        );
      }
      await store.write(ops);
      if (i % 100 === 0) assert.deepEqual(await outgoingOf(store, 'pd'), [[i, `m${i}`]], `after batch ${i}`);
    }
    for (let pass = 0; pass < 2; pass++) {
      assert.deepEqual(await outgoingOf(store, 'pd'), [[300, 'm300']]);
      assert.deepEqual(await retainedOf(store), [['pd/300', 'r300']]);
      const state = (await stateOf(store, 'pd'))!;
      assert.deepEqual(state.subscriptions.map((s) => s.filter), ['pd/300']);
      assert.deepEqual(state.incoming, [300]);
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });

  it('a delete then a put of the same record in a later batch, across 300 batches, keeps every record with its last value', async () => {
    let store = await fresh();
    const first: StoreOp[] = [{ op: 'putSession', session: session('dp') }];
    for (let i = 1; i <= 300; i++) {
      first.push({ op: 'putOutgoing', clientId: 'dp', outgoing: outgoing(i, `old${i}`) }, { op: 'putRetained', message: message(`dp/${i}`, `old${i}`, { retain: true }) });
    }
    await store.write(first);
    // Batch i deletes record i and puts back record i - 1, which batch i - 1 deleted.
    for (let i = 1; i <= 301; i++) {
      const ops: StoreOp[] = [];
      if (i <= 300) ops.push({ op: 'deleteOutgoing', clientId: 'dp', seq: i }, { op: 'deleteRetained', topic: `dp/${i}` });
      if (i > 1) {
        ops.push(
          { op: 'putOutgoing', clientId: 'dp', outgoing: outgoing(i - 1, `new${i - 1}`) },
          { op: 'putRetained', message: message(`dp/${i - 1}`, `new${i - 1}`, { retain: true }) },
        );
      }
      await store.write(ops);
    }
    const expected = Array.from({ length: 300 }, (_, i): [number, string] => [i + 1, `new${i + 1}`]);
    for (let pass = 0; pass < 2; pass++) {
      assert.deepEqual(await outgoingOf(store, 'dp'), expected);
      assert.deepEqual(await retainedOf(store), expected.map(([n, value]) => [`dp/${n}`, value]).sort(([a], [b]) => (a! < b! ? -1 : 1)));
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });

  it('random puts and deletes of a few records over 400 batches end as the last operation on each says', async () => {
    let store = await fresh();
    const random = generator(20_261_122);
    const outgoingModel = new Map<number, string>();
    const retainedModel = new Map<string, string>();
    const incomingModel = new Set<number>();
    await store.write([{ op: 'putSession', session: session('rnd') }]);
    for (let b = 1; b <= 400; b++) {
      const ops: StoreOp[] = [];
      for (let n = 1 + random(5); n > 0; n--) {
        const key = 1 + random(5);
        const value = `b${b}n${n}`;
        switch (random(6)) {
          case 0:
          case 1:
            ops.push({ op: 'putOutgoing', clientId: 'rnd', outgoing: outgoing(key, value) });
            outgoingModel.set(key, value);
            break;
          case 2:
            ops.push({ op: 'deleteOutgoing', clientId: 'rnd', seq: key });
            outgoingModel.delete(key);
            break;
          case 3:
            ops.push({ op: 'putRetained', message: message(`rnd/${key}`, value, { retain: true }) });
            retainedModel.set(`rnd/${key}`, value);
            break;
          case 4:
            ops.push({ op: 'deleteRetained', topic: `rnd/${key}` });
            retainedModel.delete(`rnd/${key}`);
            break;
          default:
            ops.push(random(2) === 0 ? { op: 'putIncoming', clientId: 'rnd', packetId: key } : { op: 'deleteIncoming', clientId: 'rnd', packetId: key });
            if (ops.at(-1)!.op === 'putIncoming') incomingModel.add(key);
            else incomingModel.delete(key);
        }
      }
      await store.write(ops);
      // Sometimes load (and, with reopen, reopen) in the middle.
      if (random(50) === 0) store = await again(store);
    }
    const expectedOutgoing = [...outgoingModel].sort(([a], [b]) => a - b);
    const expectedRetained = [...retainedModel].sort(([a], [b]) => (a < b ? -1 : 1));
    for (let pass = 0; pass < 2; pass++) {
      assert.deepEqual(await outgoingOf(store, 'rnd'), expectedOutgoing);
      assert.deepEqual(await retainedOf(store), expectedRetained);
      assert.deepEqual([...(await stateOf(store, 'rnd'))!.incoming].sort((a, b) => a - b), [...incomingModel].sort((a, b) => a - b));
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });

  it('loads outgoing messages by seq whatever order they were written in, up to the largest safe integer', async () => {
    let store = await fresh();
    await store.write([{ op: 'putSession', session: session('seq') }]);
    const shuffled = [...AWKWARD_SEQS].sort((a, b) => (a * 7919) % 11 - (b * 7919) % 11);
    // Half in one batch, backwards; the rest one batch each.
    const half = Math.floor(shuffled.length / 2);
    await store.write(shuffled.slice(0, half).reverse().map((seq): StoreOp => ({ op: 'putOutgoing', clientId: 'seq', outgoing: outgoing(seq, `s${seq}`) })));
    for (const seq of shuffled.slice(half)) await store.write([{ op: 'putOutgoing', clientId: 'seq', outgoing: outgoing(seq, `s${seq}`) }]);
    const expected = AWKWARD_SEQS.map((seq): [number, string] => [seq, `s${seq}`]);
    for (let pass = 0; pass < 2; pass++) {
      assert.deepEqual(await outgoingOf(store, 'seq'), expected);
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });

  it('loads outgoing messages by seq after deletes and re-puts', async () => {
    let store = await fresh();
    await store.write([{ op: 'putSession', session: session('rp') }]);
    await store.write(Array.from({ length: 40 }, (_, i): StoreOp => ({ op: 'putOutgoing', clientId: 'rp', outgoing: outgoing(40 - i, `a${40 - i}`) })));
    // Delete the even seqs, put some of them back with new contents, add higher ones, delete the first.
    await store.write(Array.from({ length: 20 }, (_, i): StoreOp => ({ op: 'deleteOutgoing', clientId: 'rp', seq: 2 * (i + 1) })));
    for (const seq of [30, 4, 12]) await store.write([{ op: 'putOutgoing', clientId: 'rp', outgoing: outgoing(seq, `b${seq}`) }]);
    await store.write([
      { op: 'putOutgoing', clientId: 'rp', outgoing: outgoing(45, 'b45') },
      { op: 'putOutgoing', clientId: 'rp', outgoing: outgoing(41, 'b41') },
      { op: 'deleteOutgoing', clientId: 'rp', seq: 1 },
    ]);
    const expected: Array<[number, string]> = [];
    for (let seq = 2; seq <= 45; seq++) {
      if (seq <= 40 && seq % 2 === 1) expected.push([seq, `a${seq}`]);
      else if ([4, 12, 30, 41, 45].includes(seq)) expected.push([seq, `b${seq}`]);
    }
    for (let pass = 0; pass < 2; pass++) {
      assert.deepEqual(await outgoingOf(store, 'rp'), expected);
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });

  it("keeps each session's outgoing messages apart and in seq order, for client ids that are prefixes of one another", async () => {
    let store = await fresh();
    const ids = ['a', 'ab', 'a/b', 'a-', 'b', 'ä', '客户'];
    await store.write(ids.map((id): StoreOp => ({ op: 'putSession', session: session(id) })));
    // Interleaved: each batch puts one message for every session, seqs descending across batches.
    for (let seq = 30; seq >= 1; seq--) {
      await store.write(ids.map((id): StoreOp => ({ op: 'putOutgoing', clientId: id, outgoing: outgoing(seq, `${id}:${seq}`) })));
    }
    await store.write(ids.map((id, i): StoreOp => ({ op: 'deleteOutgoing', clientId: id, seq: i + 1 })));
    for (let pass = 0; pass < 2; pass++) {
      const states = await store.loadSessions();
      assert.deepEqual(states.map((s) => s.session.clientId).sort(), [...ids].sort());
      for (const state of states) {
        const id = state.session.clientId;
        const skipped = ids.indexOf(id) + 1;
        const seqs = Array.from({ length: 30 }, (_, i) => i + 1).filter((seq) => seq !== skipped);
        assert.deepEqual(
          state.outgoing.map((o) => [o.seq, text(o.message.payload)]),
          seqs.map((seq) => [seq, `${id}:${seq}`]),
          id,
        );
      }
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });
}
