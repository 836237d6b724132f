import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Broker } from '../../src/broker/index.js';
import {
  connect,
  createClient,
  ResubscribeError,
  type MqttClient,
  type ResubscribeResult,
} from '../../src/client/index.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { FakeBroker } from './fake-broker.js';
import { CuttingProxy } from './proxy.js';

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('a client that starts offline', () => {
  it('queues while the broker is not there yet, keeps trying, and delivers once it is', async () => {
    const port = await freePort();
    const client = createClient(`mqtt://127.0.0.1:${port}`, {
      protocolVersion: 4,
      reconnect: { initialDelay: 50, maxDelay: 200, jitter: 0 },
    });
    let broker: Broker | undefined;
    let other: MqttClient | undefined;
    try {
      const errors: Error[] = [];
      client.on('error', (e) => errors.push(e));
      assert.equal(client.connected, false);
      const got: string[] = [];
      client.on('message', (topic, payload) => got.push(`${topic} ${text(payload)}`));
      const subscribed = client.subscribe('boot/in', { qos: 1 });
      const published = client.publish('boot/out', 'queued while offline', { qos: 1 });
      await waitFor(() => errors.length >= 2, 5000, 'failed attempts reported as errors');
      assert.match(errors[0]!.message, /ECONNREFUSED/);

      broker = new Broker({ sysInterval: 0, listeners: [{ protocol: 'mqtt', host: '127.0.0.1', port }] });
      await broker.listen();
      assert.deepEqual(await subscribed, [1]);
      assert.equal((await published)?.type, 'puback');
      other = await connect(`mqtt://127.0.0.1:${port}`);
      await other.publish('boot/in', 'hello', { qos: 1 });
      await waitFor(() => got.length === 1, 5000, 'the message');
      assert.deepEqual(got, ['boot/in hello']);
    } finally {
      await other?.end();
      await client.end({ force: true });
      await broker?.close();
    }
  });

  it('with reconnect: false ends after a failed first attempt, settling what was queued', async () => {
    const port = await freePort();
    const client = createClient(`mqtt://127.0.0.1:${port}`, { reconnect: false });
    const ended = new Promise<void>((resolve) => client.once('end', resolve));
    const pending = client.publish('t', 'x', { qos: 1 });
    await ended;
    await assert.rejects(pending, /connecting failed and reconnect is off/);
  });
});

describe('reconnect() when the network is back', () => {
  let broker: FakeBroker;
  let proxy: CuttingProxy;
  before(async () => {
    broker = await new FakeBroker().start();
    proxy = await new CuttingProxy(broker.port).start();
  });
  after(async () => {
    await proxy.stop();
    await broker.stop();
  });

  it('connects at once instead of waiting out the back-off, and does nothing while connected', async () => {
    const connecting = connect(`mqtt://127.0.0.1:${proxy.port}`, { protocolVersion: 4, reconnect: { initialDelay: 60_000 } });
    await (await broker.connection(0)).accept();
    const client = broker.track(await connecting);
    client.reconnect();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(broker.connections.length, 1, 'no second connection while connected');
    const offline = new Promise<void>((resolve) => client.once('offline', resolve));
    proxy.dropAll();
    await offline;
    client.reconnect();
    await (await broker.connection(1, 2000)).accept();
    await waitFor(() => client.connected, 2000, 'the new connection');
  });
});

describe('resubscription after a lost session (scripted broker)', () => {
  let broker: FakeBroker;
  before(async () => {
    broker = await new FakeBroker().start();
  });
  after(async () => broker.stop());

  it('reports the granted codes as an event, a refusal as an error, and drops the refused filter', async () => {
    const connecting = connect(broker.url, { protocolVersion: 5, reconnect: { initialDelay: 5, maxDelay: 20, jitter: 0 } });
    const c0 = await broker.connection(0);
    await c0.accept();
    const client = broker.track(await connecting);
    const reports: ResubscribeResult[][] = [];
    const errors: Error[] = [];
    client.on('resubscribe', (results) => reports.push(results));
    client.on('error', (e) => errors.push(e));
    const subscribing = client.subscribe(['a/#', 'b'], { qos: 1 });
    const sub = await c0.next('subscribe');
    c0.send({ type: 'suback', packetId: sub.packetId, reasonCodes: [1, 1] });
    await subscribing;

    c0.close();
    const c1 = await broker.connection(1);
    await c1.accept({ sessionPresent: false });
    const resub = await c1.next('subscribe');
    assert.deepEqual(resub.subscriptions.map((s) => s.topicFilter), ['a/#', 'b']);
    c1.send({ type: 'suback', packetId: resub.packetId, reasonCodes: [1, 0x87] });
    await waitFor(() => reports.length === 1, 2000, 'the resubscribe event');
    assert.deepEqual(reports[0], [{ topicFilter: 'a/#', reasonCode: 1 }, { topicFilter: 'b', reasonCode: 0x87 }]);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof ResubscribeError);
    assert.equal(errors[0].topicFilter, 'b');
    assert.match(errors[0].message, /refused to subscribe again to b \(0x87 not authorized\)/);

    c1.close();
    const c2 = await broker.connection(2);
    await c2.accept({ sessionPresent: false });
    const again = await c2.next('subscribe');
    assert.deepEqual(again.subscriptions.map((s) => s.topicFilter), ['a/#']);
  });
});
