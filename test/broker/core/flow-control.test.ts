// Back-pressure from a slow subscriber to its publishers: with small queues and a subscriber that reads and
// acknowledges slowly, nothing the broker acknowledged (or, at QoS 0, read) is lost.
import assert from 'node:assert/strict';
import { getDefaultHighWaterMark } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { HOLD_LIMIT_MS } from '../../../src/broker/flow.js';
import type { PublishPacket } from '../../../src/packet/types.js';
import { memoryPipe } from '../../helpers/memory-pipe.js';
import { RawClient } from '../../helpers/raw-client.js';
import { sleep, startBroker, type Client, type Fixture } from './fixture.js';

const QOS1_COUNT = 3000;
const QOS0_COUNT = 20_000;
const PUBLISH_WINDOW = 100;
const payload = new Uint8Array(256);
const LIMITS = { limits: { maxQueuedMessages: 50, maxInflight: 10, maxWriteBuffer: 4096 } };

/** Reads PUBLISHes in order of their 4-byte sequence number, acknowledging five at a time and pausing now and then. */
async function readSlowly(client: Client, topic: string, count: number): Promise<number> {
  let next = 0;
  const unacked: number[] = [];
  while (next < count) {
    const p: PublishPacket = await client.expectPublish(topic, 10_000);
    const seq = new DataView(p.payload.buffer, p.payload.byteOffset, 4).getUint32(0);
    assert.equal(seq, next, `message ${seq} arrived where ${next} was due`);
    next++;
    if (p.qos === 1) unacked.push(p.packetId!);
    if (next % 50 === 0) {
      client.socket.pause();
      await sleep(5);
      client.socket.resume();
    }
    if (unacked.length === 5) for (const id of unacked.splice(0)) client.send({ type: 'puback', packetId: id });
  }
  for (const id of unacked.splice(0)) client.send({ type: 'puback', packetId: id });
  return next;
}

// On both transports: over TCP the publishers meet real sockets' back-pressure; in memory the broker's backlog is
// exactly what its subscriber has not read yet, where loopback TCP's large kernel buffers would take it all.
for (const transport of ['memory', 'tcp'] as const) {
  describe(`flow control (${transport})`, () => {
    let fx: Fixture;
    before(async () => {
      fx = await startBroker(LIMITS, { transport });
    });
    after(() => fx.close());

    it('a slow QoS 1 subscriber gets every acknowledged message', async () => {
      const sub = await fx.connect({ clientId: 'flow-sub-1' }, false);
      await sub.subscribe('flow/q1', 1);
      const pub = await fx.connect({ clientId: 'flow-pub-1' });
      const reading = readSlowly(sub, 'flow/q1', QOS1_COUNT);
      const view = new DataView(payload.buffer);
      let acked = 0;
      for (let seq = 0; seq < QOS1_COUNT; seq++) {
        if (seq - acked >= PUBLISH_WINDOW) {
          await pub.expect('puback', 10_000);
          acked++;
        }
        view.setUint32(0, seq);
        pub.send({ type: 'publish', topic: 'flow/q1', payload, qos: 1, retain: false, dup: false, packetId: (seq % 60_000) + 1 });
      }
      while (acked < QOS1_COUNT) {
        await pub.expect('puback', 10_000);
        acked++;
      }
      assert.equal(await reading, QOS1_COUNT);
      assert.equal(fx.broker.stats.publishDropped, 0);
    });

    it('a slow QoS 0 subscriber gets every message four publishers flood it with', async () => {
      const sub = await fx.connect({ clientId: 'flow-sub-0' });
      await sub.subscribe('flow/q0/#', 0);
      const pubs = await Promise.all([0, 1, 2, 3].map((i) => fx.connect({ clientId: `flow-pub-0-${i}` })));
      const perPublisher = QOS0_COUNT / pubs.length;
      const counts = [0, 0, 0, 0];
      let received = 0;
      const reading = (async () => {
        while (received < QOS0_COUNT) {
          const p = await sub.expect('publish', 10_000);
          const i = Number(p.topic.slice('flow/q0/'.length));
          const seq = new DataView(p.payload.buffer, p.payload.byteOffset, 4).getUint32(0);
          assert.equal(seq, counts[i], `publisher ${i}: message ${seq} arrived where ${counts[i]} was due`);
          counts[i]!++;
          received++;
          if (received % 500 === 0) {
            sub.socket.pause();
            await sleep(5);
            sub.socket.resume();
          }
        }
      })();
      // Each publisher writes everything at once: the broker must stop reading it rather than drop.
      pubs.forEach((pub, i) => {
        const body = new Uint8Array(payload.length);
        const view = new DataView(body.buffer);
        for (let seq = 0; seq < perPublisher; seq++) {
          view.setUint32(0, seq);
          pub.send({ type: 'publish', topic: `flow/q0/${i}`, payload: body, qos: 0, retain: false, dup: false });
        }
      });
      await reading;
      assert.deepEqual(counts, [perPublisher, perPublisher, perPublisher, perPublisher]);
      assert.equal(fx.broker.stats.publishDropped, 0);
    });

    it('a client publishing to its own full queue is not held (it must go on reading its acknowledgements)', async () => {
      const client = await fx.connect({ clientId: 'flow-self' });
      await client.subscribe('flow/self', 1);
      const dropped = fx.broker.stats.publishDropped;
      for (let i = 1; i <= 300; i++) client.send({ type: 'publish', topic: 'flow/self', payload, qos: 1, retain: false, dup: false, packetId: i });
      // Each PUBACK is awaited for less than the hold limit: a held client would only go on after the stuck check.
      for (let i = 0; i < 300; i++) await client.expect('puback', HOLD_LIMIT_MS - 500);
      assert.ok(fx.broker.stats.publishDropped > dropped, 'its own overflow is dropped as before');
    });
  });
}

describe('flow control below the drain mark', () => {
  let fx: Fixture;
  before(async () => {
    fx = await startBroker(LIMITS);
  });
  after(() => fx.close());

  it('a QoS 0 subscriber gets what queued behind a backlog over maxWriteBuffer but under the drain mark', async () => {
    // Every unread byte counts in the broker's backlog (window 0), so it is known exactly: each batch below stays
    // under the high-water mark where a write would ask for a wait and 'drain' would follow, and over 4096 bytes.
    const pipe = memoryPipe({ window: 0 });
    fx.broker.accept(pipe.server, { name: 'memory' });
    const sub = RawClient.over(pipe.client);
    try {
      await sub.connect({ clientId: 'flow-backlog' });
      await sub.subscribe('flow/backlog', 0);
      const pub = await fx.connect({ clientId: 'flow-backlog-pub' });
      sub.socket.pause();
      const body = new Uint8Array(1000);
      const view = new DataView(body.buffer);
      let seq = 0;
      for (const batch of [8, 8]) {
        for (let i = 0; i < batch; i++, seq++) {
          view.setUint32(0, seq);
          pub.send({ type: 'publish', topic: 'flow/backlog', payload: body, qos: 0, retain: false, dup: false });
        }
        // Its PINGRESP says the batch was routed; the first went out, the second queued behind the backlog.
        pub.send({ type: 'pingreq' });
        await pub.expect('pingresp');
      }
      assert.ok(pipe.server.bufferedAmount > 4096 && pipe.server.bufferedAmount < getDefaultHighWaterMark(false));
      sub.socket.resume();
      for (let i = 0; i < seq; i++) {
        const p = await sub.expectPublish('flow/backlog', 5000);
        assert.equal(new DataView(p.payload.buffer, p.payload.byteOffset, 4).getUint32(0), i);
      }
      assert.equal(fx.broker.stats.publishDropped, 0);
    } finally {
      sub.destroy();
    }
  });
});
