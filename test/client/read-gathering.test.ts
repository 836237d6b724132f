import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FakeBroker } from './fake-broker.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * While many publishes await their answer, the client stops reading for a moment after some answers arrive, so
 * that the rest are read together. These cases check that nothing that arrives meanwhile is lost or stranded.
 */
describe('gathering answers to many publishes', () => {
  let broker: FakeBroker;
  before(async () => {
    broker = await new FakeBroker().start();
  });
  after(async () => {
    await broker.stop();
  });

  it('settles every publish and takes a message when the answers come one by one', async () => {
    const { c: conn, client } = await broker.open({ protocolVersion: 4, keepalive: 0, maxInflight: 1000 });
    const received: string[] = [];
    client.on('message', (topic) => received.push(topic));
    const count = 150;
    const settled = Array.from({ length: count }, (_, i) => client.publish('gather/out', String(i), { qos: 1 }));
    const ids: number[] = [];
    for (let i = 0; i < count; i++) ids.push((await conn.next('publish')).packetId!);
    // Each answer in its own segment, as Mosquitto sends them; a message for the client among them.
    for (const [i, packetId] of ids.entries()) {
      conn.send({ type: 'puback', packetId });
      if (i === 75) conn.send({ type: 'publish', topic: 'gather/in', payload: new Uint8Array(0), qos: 1, retain: false, dup: false, packetId: 7 });
      await nextTurn();
    }
    assert.equal((await Promise.all(settled)).length, count);
    assert.equal((await conn.next('puback')).packetId, 7);
    assert.deepEqual(received, ['gather/in']);
    // A publish made afterwards, alone, is answered as usual.
    const lone = client.publish('gather/out', 'lone', { qos: 1 });
    const publish = await conn.next('publish');
    conn.send({ type: 'puback', packetId: publish.packetId! });
    await lone;
    assert.equal(client.pendingCount, 0);
    await client.end();
  });

  it('closes when the broker goes away while reading is paused, failing what is left', async () => {
    const { c: conn, client } = await broker.open({ protocolVersion: 4, keepalive: 0, maxInflight: 1000 });
    const count = 150;
    const settled = Array.from({ length: count }, (_, i) => client.publish('gather/out', String(i), { qos: 1 }));
    const first = await conn.next('publish');
    conn.send({ type: 'puback', packetId: first.packetId! });
    await settled[0];
    conn.close();
    const outcomes = await Promise.allSettled(settled.slice(1));
    assert.ok(outcomes.every((outcome) => outcome.status === 'rejected'));
  });
});
