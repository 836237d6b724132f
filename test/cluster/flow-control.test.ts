// Back-pressure across nodes: a burst of QoS 1 messages from a publisher on one node to a slow subscriber with a
// small queue on another. As on a single broker, nothing acknowledged is dropped: the subscriber's node stops
// reading the journal while the queue is full, and the messages wait in the engine.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PublishPacket } from '../../src/packet/types.js';
import { RawClient } from '../helpers/raw-client.js';
import { startCluster, type ClusterFixture } from './cluster-fixture.js';

const COUNT = 2000;
const WINDOW = 200;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

for (const engine of ['memory', 'nats'] as const) {
  describe(`cluster flow control (${engine} engine)`, () => {
    let f: ClusterFixture;
    const clients: RawClient[] = [];
    before(async () => {
      f = await startCluster({ engine, nodes: 2, broker: { limits: { maxQueuedMessages: 50, maxInflight: 10, maxWriteBuffer: 4096 } } });
    });
    after(async () => {
      for (const c of clients) c.destroy();
      await f.stop();
    });

    it(`a slow subscriber on another node gets all ${COUNT} acknowledged QoS 1 messages of a burst, in order`, async () => {
      const { client: sub } = await RawClient.connect(f.ports[1]!, { protocolVersion: 5, clientId: `slow-${engine}` });
      clients.push(sub);
      await sub.subscribe([{ topicFilter: 'burst/t', qos: 1 }]);
      const { client: pub } = await RawClient.connect(f.ports[0]!, { protocolVersion: 4, clientId: `burst-${engine}` });
      clients.push(pub);

      const reading = (async () => {
        let next = 0;
        while (next < COUNT) {
          const p: PublishPacket = await sub.expect('publish', 15_000);
          assert.equal(Buffer.from(p.payload).toString(), String(next), `message ${Buffer.from(p.payload).toString()} arrived where ${next} was due`);
          next++;
          sub.send({ type: 'puback', packetId: p.packetId! });
          if (next % 100 === 0) await sleep(20);
        }
        return next;
      })();

      let acked = 0;
      for (let seq = 0; seq < COUNT; seq++) {
        if (seq - acked >= WINDOW) {
          await pub.expect('puback', 15_000);
          acked++;
        }
        pub.send({ type: 'publish', topic: 'burst/t', payload: Buffer.from(String(seq)), qos: 1, retain: false, dup: false, packetId: (seq % 60_000) + 1 });
      }
      while (acked < COUNT) {
        await pub.expect('puback', 15_000);
        acked++;
      }
      assert.equal(await reading, COUNT);
      assert.deepEqual((await sub.drain(300)).filter((p) => p.type === 'publish'), [], 'no duplicates');
    });
  });
}
