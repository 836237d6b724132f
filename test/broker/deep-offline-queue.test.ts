// 100,000 QoS 1 messages queued for an offline session arrive in order when it comes back, and no packet id is
// reused while the message that carried it is still unacknowledged.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RawClient } from '../helpers/raw-client.js';
import { brokerKinds, startBroker, type BrokerUnderTest } from './target.js';

const TOTAL = 100_000;
/** The broker's outgoing window, also the subscriber's Receive Maximum. */
const INFLIGHT = 20;
/** QoS 1 publishes the publisher keeps unacknowledged at once (below the broker's Receive Maximum). */
const PUBLISH_WINDOW = 50;
const TOPIC = 'deep/offline';

for (const kind of brokerKinds()) {
  describe(`offline queue of ${TOTAL} QoS 1 messages against ${kind}`, () => {
    let broker: BrokerUnderTest;
    const clients: RawClient[] = [];

    before(async () => {
      broker = await startBroker(kind, {
        limits: { maxQueuedMessages: TOTAL + 1000, maxQueuedBytes: 64 * 1024 * 1024, maxInflight: INFLIGHT },
      });
    });
    after(async () => {
      for (const c of clients) c.destroy();
      await broker?.stop();
    });

    test('queued while offline, delivered in order on reconnect with no in-flight packet id reused', async () => {
      const session = { protocolVersion: 5 as const, clientId: 'deep-offline', properties: { sessionExpiryInterval: 600, receiveMaximum: INFLIGHT } };
      const { client: first } = await RawClient.connect(broker.port, { ...session, clean: true });
      clients.push(first);
      assert.deepEqual(await first.subscribe(TOPIC, 1), [1]);
      first.disconnect();
      await first.closedWithin();

      const { client: publisher } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: 'deep-offline-pub' });
      clients.push(publisher);
      const payload = new Uint8Array(4);
      const view = new DataView(payload.buffer);
      let acked = 0;
      for (let seq = 0; seq < TOTAL; seq++) {
        if (seq - acked >= PUBLISH_WINDOW) {
          const ack = await publisher.expect('puback', 10_000);
          assert.ok((ack.reasonCode ?? 0) < 0x80, `PUBACK 0x${(ack.reasonCode ?? 0).toString(16)} for a queued message`);
          acked++;
        }
        view.setUint32(0, seq);
        // The codec copies the payload into the packet, so one buffer serves every message.
        publisher.send({ type: 'publish', topic: TOPIC, payload, qos: 1, retain: false, dup: false, packetId: (seq % 60000) + 1 });
      }
      while (acked < TOTAL) {
        await publisher.expect('puback', 10_000);
        acked++;
      }

      const { client: back, connack } = await RawClient.connect(broker.port, { ...session, clean: false }, { autoAck: false });
      clients.push(back);
      assert.equal(connack.sessionPresent, true);
      const inflight: number[] = [];
      let next = 0;
      while (next < TOTAL) {
        let p;
        try {
          p = await back.expect('publish', inflight.length > 0 ? 1000 : 10_000);
        } catch (err) {
          // A broker with a smaller window than ours waits for acknowledgements: give them.
          if (inflight.length === 0) throw err;
          for (const id of inflight.splice(0)) back.send({ type: 'puback', packetId: id });
          continue;
        }
        const id = p.packetId ?? 0;
        assert.equal(p.qos, 1);
        assert.ok(!inflight.includes(id), `packet id ${id} reused while in flight (message ${next})`);
        const seq = new DataView(p.payload.buffer, p.payload.byteOffset, 4).getUint32(0);
        assert.equal(seq, next, `message ${seq} arrived where ${next} was due`);
        next++;
        inflight.push(id);
        // Acknowledge the older half once the window is full, so ids are recycled while others are in flight.
        if (inflight.length >= INFLIGHT) {
          for (const done of inflight.splice(0, INFLIGHT / 2)) back.send({ type: 'puback', packetId: done });
        }
      }
      for (const id of inflight.splice(0)) back.send({ type: 'puback', packetId: id });
      assert.deepEqual((await back.drain(200)).filter((p) => p.type === 'publish').length, 0, 'more messages than were sent');
      back.disconnect();
    });
  });
}
