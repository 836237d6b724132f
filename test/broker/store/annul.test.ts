import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { BrokerMessage } from '../../../src/broker/message.js';
import { LevelStore } from '../../../src/broker/store/level-store.js';
import type { StoredOutgoing, StoredSession, StoredSessionState, StoreOp } from '../../../src/broker/store/store.js';
import { generator } from '../../../src/broker/testing/contract-data.js';

const root = mkdtempSync(join(tmpdir(), 'culex-annul-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

const message: BrokerMessage = {
  topic: 't',
  payload: new TextEncoder().encode('payload'),
  qos: 1,
  retain: false,
  properties: undefined,
  expiresAt: undefined,
  origin: 'p',
};
const session: StoredSession = {
  clientId: 'c',
  username: undefined,
  protocolVersion: 4,
  expiryInterval: 0xffffffff,
  disconnectedAt: undefined,
  will: undefined,
};
const outgoing = (seq: number, packetId: number): StoredOutgoing => ({
  seq,
  message,
  qos: 1,
  retain: false,
  subscriptionIds: undefined,
  packetId,
  state: packetId === 0 ? 'queued' : 'publish',
});

async function opened(): Promise<LevelStore> {
  const store = new LevelStore(join(root, `d${++dirs}`));
  await store.open();
  return store;
}

/** Closes `store` and reads back what the disk holds for client `c`. */
async function onDisk(store: LevelStore): Promise<StoredSessionState | undefined> {
  await store.close();
  const again = new LevelStore(store.dir);
  await again.open();
  try {
    return (await again.loadSessions()).find((s) => s.session.clientId === 'c');
  } finally {
    await again.close();
  }
}

describe('LevelStore batches leave out operations that later ones make needless', () => {
  it('writes neither the puts nor the delete of a record created and deleted in one batch', async () => {
    const store = await opened();
    await store.write([{ op: 'putSession', session }]);
    const sessionBytes = store.bytes;
    await store.write([
      { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(1, 0) },
      { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(2, 7) },
      { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(1, 8) },
      { op: 'putIncoming', clientId: 'c', packetId: 5 },
      { op: 'deleteOutgoing', clientId: 'c', seq: 1 },
      { op: 'deleteIncoming', clientId: 'c', packetId: 5 },
    ]);
    // seq 1: two puts and the delete; incoming 5: the put and the delete.
    assert.equal(store.annulled, 5);
    assert.ok(store.bytes > sessionBytes, 'seq 2 is stored');
    const state = await onDisk(store);
    assert.deepEqual(state?.outgoing.map((o) => o.seq), [2]);
    assert.deepEqual(state?.incoming, []);
  });

  it('writes the delete of a record an earlier batch stored, without the update before it', async () => {
    const store = await opened();
    await store.write([{ op: 'putSession', session }, { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(1, 0) }]);
    await store.flushed();
    await store.write([
      { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(1, 3) },
      { op: 'deleteOutgoing', clientId: 'c', seq: 1 },
    ]);
    assert.equal(store.annulled, 1);
    const state = await onDisk(store);
    assert.deepEqual(state?.outgoing, []);
  });

  it('writes only the last of several puts of a record', async () => {
    const store = await opened();
    await store.write([{ op: 'putSession', session }, { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(1, 0) }]);
    await store.flushed();
    await store.write([
      { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(1, 3) },
      { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(1, 9) },
    ]);
    assert.equal(store.annulled, 1);
    const state = await onDisk(store);
    assert.deepEqual(state?.outgoing.map((o) => [o.seq, o.packetId, o.state]), [[1, 9, 'publish']]);
  });

  it('writes the delete of a stored record and leaves out the record created again after it', async () => {
    const store = await opened();
    await store.write([{ op: 'putSession', session }, { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(1, 0) }]);
    await store.flushed();
    await store.write([
      { op: 'deleteOutgoing', clientId: 'c', seq: 1 },
      { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(1, 4) },
      { op: 'deleteOutgoing', clientId: 'c', seq: 1 },
      { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(2, 0) },
    ]);
    assert.equal(store.annulled, 2);
    const state = await onDisk(store);
    assert.deepEqual(state?.outgoing.map((o) => o.seq), [2]);
  });

  it('leaves out of LevelDB what later batches logged before LevelDB got them make needless', async () => {
    const store = await opened();
    await store.flushed();
    // Three batches in one tick: LevelDB gets them together, after the log has all three.
    await store.write([{ op: 'putSession', session }, { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(1, 0) }]);
    await store.write([{ op: 'putOutgoing', clientId: 'c', outgoing: outgoing(1, 3) }, { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(2, 0) }]);
    await store.write([{ op: 'deleteOutgoing', clientId: 'c', seq: 1 }]);
    // seq 1: both puts and the delete.
    assert.equal(store.annulled, 3);
    const state = await onDisk(store);
    assert.deepEqual(state?.outgoing.map((o) => o.seq), [2]);
  });

  it('keeps records put again after their session was deleted and created again in the batch', async () => {
    const store = await opened();
    await store.write([
      { op: 'putSession', session },
      { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(1, 0) },
      { op: 'deleteSession', clientId: 'c' },
      { op: 'putSession', session },
      { op: 'putOutgoing', clientId: 'c', outgoing: outgoing(1, 2) },
    ]);
    assert.equal(store.annulled, 0);
    const state = await onDisk(store);
    assert.deepEqual(state?.outgoing.map((o) => [o.seq, o.packetId]), [[1, 2]]);
  });
});

describe('LevelStore leaves out only what changes nothing', () => {
  it('holds what a model holds after random batches, with LevelDB catching up at random points', async () => {
    // Deterministic, so that a failure repeats.
    const random = generator(20261122);
    for (let run = 0; run < 40; run++) {
      const store = await opened();
      const model = new Map<number, number>();
      await store.write([{ op: 'putSession', session }]);
      for (let b = 0; b < 30; b++) {
        const ops: StoreOp[] = [];
        for (let i = 1 + random(4); i > 0; i--) {
          const seq = 1 + random(4);
          const choice = random(10);
          if (choice < 5) {
            const packetId = 1 + random(1000);
            ops.push({ op: 'putOutgoing', clientId: 'c', outgoing: outgoing(seq, packetId) });
            model.set(seq, packetId);
          } else if (choice < 9) {
            ops.push({ op: 'deleteOutgoing', clientId: 'c', seq });
            model.delete(seq);
          } else {
            ops.push({ op: 'deleteSession', clientId: 'c' }, { op: 'putSession', session });
            model.clear();
          }
        }
        await store.write(ops);
        if (random(4) === 0) await store.flushed();
      }
      const state = await onDisk(store);
      const expected = [...model].sort(([a], [b]) => a - b);
      assert.deepEqual(state?.outgoing.map((o) => [o.seq, o.packetId]), expected, `run ${run}`);
    }
  });
});
