import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from '../../src/client/index.js';
import { startMosquitto, type MosquittoInstance } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { FakeBroker, type FakeConnection } from './fake-broker.js';

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function publishesWithin(c: FakeConnection, ms: number): Promise<number> {
  await pause(ms);
  return c.received.filter((p) => p.type === 'publish').length;
}

describe('in-flight cap (Mosquitto, default max_inflight_messages 20)', () => {
  let mosquitto: MosquittoInstance;
  before(async () => {
    mosquitto = await startMosquitto();
  });
  after(async () => mosquitto.stop());

  // Beyond its in-flight window Mosquitto 2.0 answers a 3.x client's QoS 2 PUBLISH with PUBREC and drops the message
  // (3.x has no reason code to say so): every publish completes, 20 messages arrive.
  for (const protocolVersion of [3, 4] as const) {
    for (const qos of [1, 2] as const) {
      it(`delivers every one of 300 QoS ${qos} messages published at once (MQTT level ${protocolVersion})`, async () => {
        const url = `mqtt://127.0.0.1:${mosquitto.port}`;
        const topic = `inflight/${protocolVersion}/${qos}`;
        const subscriber = await connect(url, { protocolVersion: 4 });
        const publisher = await connect(url, { protocolVersion });
        try {
          const got = new Set<string>();
          subscriber.on('message', (_t, payload) => got.add(new TextDecoder().decode(payload)));
          await subscriber.subscribe(topic, { qos });
          await Promise.all(Array.from({ length: 300 }, (_, i) => publisher.publish(topic, String(i), { qos })));
          await waitFor(() => got.size === 300, 10_000, `300 messages (have ${got.size})`);
        } finally {
          await publisher.end();
          await subscriber.end();
        }
      });
    }
  }
});

describe('in-flight cap (scripted broker)', () => {
  let broker: FakeBroker;
  before(async () => {
    broker = await new FakeBroker().start();
  });
  after(async () => broker.stop());

  it('MQTT 3.1.1: maxInflight bounds the unacknowledged QoS 1/2 publishes, 20 by default', async () => {
    const { c, client } = await broker.open({ protocolVersion: 4 });
    const sent = Array.from({ length: 30 }, (_, i) => client.publish('t', String(i), { qos: 1 }));
    assert.equal(await publishesWithin(c, 100), 20);
    const first = await c.next('publish');
    c.send({ type: 'puback', packetId: first.packetId! });
    assert.equal(await publishesWithin(c, 100), 21);
    await client.end({ force: true });
    await Promise.allSettled(sent);

    const small = await broker.open({ protocolVersion: 4, maxInflight: 3 });
    const more = Array.from({ length: 5 }, (_, i) => small.client.publish('t', String(i), { qos: 2 }));
    assert.equal(await publishesWithin(small.c, 100), 3);
    await small.client.end({ force: true });
    await Promise.allSettled(more);
  });

  it('MQTT 5: the broker\'s Receive Maximum is the cap, and maxInflight lowers it when given', async () => {
    const { c, client } = await broker.open({ protocolVersion: 5 }, { properties: { receiveMaximum: 50 } });
    const sent = Array.from({ length: 60 }, (_, i) => client.publish('t', String(i), { qos: 1 }));
    assert.equal(await publishesWithin(c, 100), 50);
    await client.end({ force: true });
    await Promise.allSettled(sent);

    const capped = await broker.open({ protocolVersion: 5, maxInflight: 4 }, { properties: { receiveMaximum: 50 } });
    const more = Array.from({ length: 10 }, (_, i) => capped.client.publish('t', String(i), { qos: 1 }));
    assert.equal(await publishesWithin(capped.c, 100), 4);
    await capped.client.end({ force: true });
    await Promise.allSettled(more);
  });
});
