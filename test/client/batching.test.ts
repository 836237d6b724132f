import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type MqttClient } from '../../src/client/index.js';
import type { QoS } from '../../src/packet/index.js';
import { startMosquitto, type MosquittoInstance } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { FakeBroker } from './fake-broker.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * QoS 1/2 PUBLISHes made while many earlier ones await their answer are held back to leave in batches. These cases
 * check that holding never loses, reorders or strands a message.
 */
describe('batched QoS 1/2 publishing', () => {
  let broker: FakeBroker;
  let mosquitto: MosquittoInstance;
  const clients: MqttClient[] = [];
  before(async () => {
    broker = await new FakeBroker().start();
    // Mosquitto drops QoS 1/2 messages beyond its per-client queue limits when a subscriber lags: none here.
    mosquitto = await startMosquitto({ extraConfig: 'max_queued_messages 0\nmax_inflight_messages 0' });
  });
  after(async () => {
    for (const client of clients) await client.end({ force: true });
    await broker.stop();
    await mosquitto.stop();
  });

  it('sends held publishes to a broker that answers none until it has them all', async () => {
    const connecting = connect(broker.url, { protocolVersion: 4, reconnect: false, keepalive: 0, maxInflight: 100 });
    const conn = await broker.connection(broker.connections.length);
    await conn.accept();
    const client = await connecting;
    clients.push(client);
    const count = 28;
    const settled: Promise<unknown>[] = [];
    // One publish per event-loop turn and no answers: the last ones are held, and only the hold timer sends them.
    for (let i = 0; i < count; i++) {
      settled.push(client.publish('batch/held', String(i), { qos: 1 }));
      await nextTurn();
    }
    const ids: number[] = [];
    for (let i = 0; i < count; i++) {
      const publish = await conn.next('publish');
      assert.equal(new TextDecoder().decode(publish.payload), String(i));
      ids.push(publish.packetId!);
    }
    for (const packetId of ids) conn.send({ type: 'puback', packetId });
    const acks = await Promise.all(settled);
    assert.equal(acks.length, count);
    await client.end();
  });

  for (const qos of [1, 2] as const) {
    it(`keeps a window of ${qos === 1 ? 200 : 50} QoS ${qos} publishes full and delivers every message in order`, async () => {
      const url = `mqtt://127.0.0.1:${mosquitto.port}`;
      const topic = `batch/window/${qos}`;
      const subscriber = await connect(url, { protocolVersion: 5, reconnect: false });
      clients.push(subscriber);
      const received: number[] = [];
      subscriber.on('message', (_topic, payload) => received.push(Number(new TextDecoder().decode(payload))));
      await subscriber.subscribe(topic, { qos: 2 });
      // This Mosquitto has no in-flight window (max_inflight_messages 0): the client's may be as large as the test needs.
      const publisher = await connect(url, { protocolVersion: 4, reconnect: false, maxInflight: 65535 });
      clients.push(publisher);
      const total = qos === 1 ? 3000 : 1000;
      await publishWindowed(publisher, topic, qos, total, qos === 1 ? 200 : 50);
      await waitFor(() => received.length >= total, 20_000, `${total} messages at the subscriber`);
      assert.deepEqual(received, Array.from({ length: total }, (_, i) => i));
      assert.equal(publisher.pendingCount, 0);
      await publisher.end();
      await subscriber.end();
    });
  }
});

/** Publishes 0..total-1, each completion starting the next, with at most `window` unsettled. */
function publishWindowed(client: MqttClient, topic: string, qos: QoS, total: number, window: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let done = 0;
    const next = (): void => {
      const n = sent++;
      client.publish(topic, String(n), { qos }).then(() => {
        if (++done === total) resolve();
        else if (sent < total) next();
      }, reject);
    };
    for (let i = 0; i < window && i < total; i++) next();
  });
}
