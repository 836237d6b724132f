import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { BrokerMessage } from '../../../src/broker/message.js';
import { LevelStore } from '../../../src/broker/store/level-store.js';
import type { StoredOutgoing, StoredSession, StoredSessionState } from '../../../src/broker/store/store.js';

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

describe('LevelStore batches leave out operations that later ones in the batch make needless', () => {
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
