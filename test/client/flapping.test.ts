// Connections the broker accepts and then drops at once: the back-off must keep growing, and a message that
// causes the drop must not be resent forever.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, DeliveryError, type MqttClient } from '../../src/client/index.js';
import { startBroker, type BrokerUnderTest } from '../broker/target.js';
import { waitFor } from '../helpers/wait.js';

describe('accept-then-drop loops (Culex broker)', () => {
  let broker: BrokerUnderTest;
  before(async () => {
    broker = await startBroker('culex', { limits: { maxPacketSize: 1024 } });
  });
  after(async () => broker.stop());

  it('MQTT 3.1.1: a QoS 1 message over the broker\'s maximum packet size rejects after its delivery attempts, with the likely cause', async () => {
    const client = await connect(`mqtt://127.0.0.1:${broker.port}`, {
      protocolVersion: 4,
      reconnect: { initialDelay: 50, maxDelay: 2000, jitter: 0 },
      maxDeliveryAttempts: 3,
    });
    try {
      let connects = 0;
      client.on('connect', () => connects++);
      client.on('error', () => undefined);
      const started = Date.now();
      const big = client.publish('flap/big', new Uint8Array(4000), { qos: 1 });
      const error = await big.then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof DeliveryError, String(error));
      assert.equal(error.attempts, 3);
      assert.match(error.message, /3 times/);
      assert.match(error.message, /maximum packet size/);
      assert.match(error.message, /4000 bytes/);
      // Three sends, two reconnects with a growing delay between them (50 ms, 100 ms).
      assert.ok(Date.now() - started < 10_000);
      assert.equal(connects, 2);
      // The client goes on: once connected again, a message that fits is delivered.
      await waitFor(() => client.connected, 5000, 'the next connection');
      const ack = await client.publish('flap/small', 'fits', { qos: 1 });
      assert.equal(ack?.type, 'puback');
      assert.equal(client.pendingCount, 0);
    } finally {
      await client.end({ force: true });
    }
  });

  it('two clients with one client id take the session from each other ever more slowly', async () => {
    const options = {
      protocolVersion: 4 as const,
      clientId: 'duel',
      reconnect: { initialDelay: 100, maxDelay: 5000, jitter: 0 },
      connectTimeout: 2000,
    };
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const clients: MqttClient[] = [];
    try {
      const times: number[] = [];
      for (let i = 0; i < 2; i++) {
        const client = await connect(url, options);
        client.on('connect', () => times.push(Date.now()));
        client.on('error', () => undefined);
        clients.push(client);
      }
      await new Promise((r) => setTimeout(r, 6000));
      // With the back-off reset at every CONNACK, each takeover came 100 ms after the last: about 60 in 6 s.
      assert.ok(times.length >= 2 && times.length < 20, `${times.length} reconnects in 6 s`);
      const last = times.at(-1)! - times.at(-2)!;
      assert.ok(last >= 700, `the last two reconnects ${last} ms apart`);
    } finally {
      for (const client of clients) await client.end({ force: true });
    }
  });
});
