// Many devices, each sending one QoS 1 message at a time, fanned in to one subscriber for two seconds: every
// message arrives once and in each publisher's order. Past its first second the subscriber is written to hundreds
// of times a second, so Culex writes its output once the turn of the event loop has handled every read
// (flush-scheduler.ts) instead of at the end of each read's tick: this holds that path to what the first one does.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RawClient } from '../helpers/raw-client.js';
import { brokerKinds, startBroker, type BrokerUnderTest } from './target.js';

const PUBLISHERS = 40;
const SECONDS = 2;

for (const kind of brokerKinds()) {
  describe(`fan-in of ${PUBLISHERS} one-message-at-a-time publishers against ${kind}`, () => {
    let broker: BrokerUnderTest;
    const clients: RawClient[] = [];

    before(async () => {
      broker = await startBroker(kind, {});
    });
    after(async () => {
      for (const c of clients) c.destroy();
      await broker?.stop();
    });

    test('every message arrives once, in each publisher order', { timeout: 60_000 }, async () => {
      const { client: subscriber } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: 'fan-in-sub' });
      clients.push(subscriber);
      assert.deepEqual(await subscriber.subscribe('fan/+', 1), [1]);
      const publishers: RawClient[] = [];
      for (let i = 0; i < PUBLISHERS; i++) {
        const { client } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: `fan-in-pub-${i}` });
        clients.push(client);
        publishers.push(client);
      }
      const sent = new Array<number>(PUBLISHERS).fill(0);
      const deadline = Date.now() + SECONDS * 1000;
      // Each publisher: one message, its PUBACK, the next; all of them at once, so their reads share turns.
      await Promise.all(
        publishers.map(async (publisher, i) => {
          while (Date.now() < deadline) {
            const code = await publisher.publish(`fan/${i}`, String(sent[i]), 1);
            assert.ok(code < 0x80, `PUBACK 0x${code.toString(16)}`);
            sent[i]!++;
          }
        }),
      );
      const total = sent.reduce((a, b) => a + b, 0);
      assert.ok(total > PUBLISHERS * 10, `only ${total} messages sent`);
      const next = new Array<number>(PUBLISHERS).fill(0);
      for (let received = 0; received < total; received++) {
        const p = await subscriber.expect('publish', 10_000);
        const from = Number(p.topic.slice('fan/'.length));
        assert.equal(new TextDecoder().decode(p.payload), String(next[from]), `publisher ${from}: out of order or repeated`);
        next[from]!++;
      }
      assert.deepEqual(next, sent);
      assert.deepEqual(await subscriber.drain(200), [], 'nothing more');
    });
  });
}
