import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, ClientClosedError, QueueFullError, type MqttClient } from '../../src/client/index.js';
import { startMosquitto, type MosquittoInstance } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { FakeBroker } from './fake-broker.js';
import { CuttingProxy } from './proxy.js';

const fast = { initialDelay: 5, maxDelay: 20, jitter: 0 };
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('session resumption (scripted broker)', () => {
  let broker: FakeBroker;
  let client: MqttClient | undefined;
  before(async () => {
    broker = await new FakeBroker().start();
  });
  after(async () => {
    await client?.end({ force: true });
    await broker.stop();
  });

  it('resends QoS 1 with DUP when the session is present, as new when it is not', async () => {
    const connecting = connect(broker.url, { protocolVersion: 4, clean: false, clientId: 'dup', reconnect: fast });
    const c0 = await broker.connection(0);
    const hello = await c0.accept();
    assert.equal(hello.clientId, 'dup');
    assert.equal(hello.clean, false);
    client = await connecting;
    const done = client.publish('t', 'one', { qos: 1 });
    const first = await c0.next('publish');
    assert.equal(first.dup, false);
    c0.close();
    const c1 = await broker.connection(1);
    await c1.accept({ sessionPresent: true });
    const again = await c1.next('publish');
    assert.equal(again.dup, true);
    assert.equal(again.packetId, first.packetId);
    c1.close();
    const c2 = await broker.connection(2);
    await c2.accept({ sessionPresent: false });
    const fresh = await c2.next('publish');
    assert.equal(fresh.dup, false);
    assert.equal(text(fresh.payload), 'one');
    c2.send({ type: 'puback', packetId: fresh.packetId! });
    assert.equal((await done)?.type, 'puback');
    await client.end({ force: true });
  });

  it('resends PUBREL for a QoS 2 message that got PUBREC', async () => {
    const base = broker.connections.length;
    const connecting = connect(broker.url, { protocolVersion: 5, clean: false, clientId: 'rel', reconnect: fast });
    const c0 = await broker.connection(base);
    await c0.accept();
    client = await connecting;
    const done = client.publish('t', 'two', { qos: 2 });
    const publish = await c0.next('publish');
    c0.send({ type: 'pubrec', packetId: publish.packetId! });
    const rel = await c0.next('pubrel');
    assert.equal(rel.packetId, publish.packetId);
    c0.close();
    const c1 = await broker.connection(base + 1);
    await c1.accept({ sessionPresent: true });
    const rel2 = await c1.next('pubrel');
    assert.equal(rel2.packetId, publish.packetId);
    c1.send({ type: 'pubcomp', packetId: publish.packetId! });
    assert.equal((await done)?.type, 'pubcomp');
    await client.end({ force: true });
  });

  it('completes a QoS 2 publish after PUBREC when the resent PUBREL finds the id already released, or the session gone', async () => {
    const base = broker.connections.length;
    const connecting = connect(broker.url, { protocolVersion: 5, clean: false, clientId: 'rel92', reconnect: fast });
    const c0 = await broker.connection(base);
    await c0.accept();
    client = await connecting;
    const first = client.publish('t', 'a', { qos: 2 });
    const second = client.publish('t', 'b', { qos: 2 });
    const p1 = await c0.next('publish');
    const p2 = await c0.next('publish');
    c0.send({ type: 'pubrec', packetId: p1.packetId! });
    c0.send({ type: 'pubrec', packetId: p2.packetId! });
    await c0.next('pubrel');
    await c0.next('pubrel');
    c0.close();
    // The broker released the first id before the cut, so the resent PUBREL is unknown to it.
    const c1 = await broker.connection(base + 1);
    await c1.accept({ sessionPresent: true });
    const rel = await c1.next('pubrel');
    assert.equal(rel.packetId, p1.packetId);
    c1.send({ type: 'pubcomp', packetId: rel.packetId, reasonCode: 0x92 });
    assert.equal((await first)?.reasonCode, 0x92);
    await c1.next('pubrel');
    c1.close();
    // Without a session the second message is not sent again: the broker had it at PUBREC.
    const c2 = await broker.connection(base + 2);
    await c2.accept({ sessionPresent: false });
    assert.equal(await second, undefined);
    await assert.rejects(c2.next('publish', 200), /timed out/);
    await client.end({ force: true });
  });

  it('delivers an incoming QoS 2 message once across a reconnect', async () => {
    const base = broker.connections.length;
    const connecting = connect(broker.url, { protocolVersion: 4, clean: false, clientId: 'once', reconnect: fast });
    const c0 = await broker.connection(base);
    await c0.accept();
    client = await connecting;
    const got: string[] = [];
    client.on('message', (_t, payload) => got.push(text(payload)));
    c0.send({ type: 'publish', topic: 'q2', payload: new TextEncoder().encode('only once'), qos: 2, retain: false, dup: false, packetId: 7 });
    assert.equal((await c0.next('pubrec')).packetId, 7);
    c0.close();
    const c1 = await broker.connection(base + 1);
    await c1.accept({ sessionPresent: true });
    c1.send({ type: 'publish', topic: 'q2', payload: new TextEncoder().encode('only once'), qos: 2, retain: false, dup: true, packetId: 7 });
    assert.equal((await c1.next('pubrec')).packetId, 7);
    c1.send({ type: 'pubrel', packetId: 7 });
    assert.equal((await c1.next('pubcomp')).packetId, 7);
    // After PUBREL the id is free: a new message with it is delivered.
    c1.send({ type: 'publish', topic: 'q2', payload: new TextEncoder().encode('next'), qos: 2, retain: false, dup: false, packetId: 7 });
    await c1.next('pubrec');
    assert.deepEqual(got, ['only once', 'next']);
    await client.end({ force: true });
  });

  it('resubscribes after reconnecting without a session, and calls credential functions at every connect', async () => {
    const base = broker.connections.length;
    let calls = 0;
    const connecting = connect(broker.url, {
      protocolVersion: 4,
      reconnect: fast,
      clientId: async () => `fn-${++calls}`,
      username: () => `user-${calls}`,
      password: async () => `token-${calls}`,
    });
    const c0 = await broker.connection(base);
    const hello0 = await c0.accept();
    assert.equal(hello0.clientId, 'fn-1');
    assert.equal(hello0.username, 'user-1');
    assert.equal(text(hello0.password!), 'token-1');
    client = await connecting;
    const subscribing = client.subscribe(['a/#', 'b'], { qos: 1 });
    const sub = await c0.next('subscribe');
    c0.send({ type: 'suback', packetId: sub.packetId, reasonCodes: [1, 0x80] });
    assert.deepEqual(await subscribing, [1, 0x80]);
    c0.close();
    const c1 = await broker.connection(base + 1);
    const hello1 = await c1.accept({ sessionPresent: false });
    assert.equal(hello1.clientId, 'fn-2');
    assert.equal(text(hello1.password!), 'token-2');
    const resub = await c1.next('subscribe');
    assert.deepEqual(resub.subscriptions.map((s) => s.topicFilter), ['a/#']);
    await client.end({ force: true });
  });

  it('declares the connection dead when PINGRESP does not come, and reconnects', async () => {
    const base = broker.connections.length;
    const connecting = connect(broker.url, { protocolVersion: 4, keepalive: 1, reconnect: fast });
    const c0 = await broker.connection(base);
    await c0.accept();
    client = await connecting;
    let offline = 0;
    client.on('offline', () => offline++);
    await c0.next('pingreq', 3000);
    const c1 = await broker.connection(base + 1, 5000);
    await c1.accept();
    assert.equal(offline, 1);
    await waitFor(() => client!.connected, 2000, 'reconnected');
    await client.end({ force: true });
  });
});

describe('offline queue (Mosquitto through a proxy)', () => {
  let mosquitto: MosquittoInstance;
  let proxy: CuttingProxy;
  before(async () => {
    mosquitto = await startMosquitto();
    proxy = await new CuttingProxy(mosquitto.port).start();
  });
  after(async () => {
    await proxy.stop();
    await mosquitto.stop();
  });

  it('queues publishes while offline, sends them in order after reconnecting, bounded by queueLimit', async () => {
    const subscriber = await connect(`mqtt://127.0.0.1:${mosquitto.port}`);
    const got: string[] = [];
    subscriber.on('message', (_t, p) => got.push(text(p)));
    await subscriber.subscribe('queued', { qos: 2 });
    const client = await connect(`mqtt://127.0.0.1:${proxy.port}`, { reconnect: { initialDelay: 300, jitter: 0 }, queueLimit: 5 });
    const offline = new Promise((resolve) => client.once('offline', () => resolve(undefined)));
    proxy.dropAll();
    await offline;
    const sent = [0, 1, 1, 0, 1].map((qos, i) => client.publish('queued', `m${i}`, { qos: qos as 0 | 1 | 2 }));
    await assert.rejects(client.publish('queued', 'overflow', { qos: 1 }), QueueFullError);
    assert.equal(client.pendingCount, 5);
    await Promise.all(sent);
    await waitFor(() => got.length === 5, 5000, 'queued messages');
    assert.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4']);
    await client.end();
    await subscriber.end();
  });

  it('refuses QoS 0 while offline when queueQoSZero is false; end() while offline settles everything', async () => {
    const client = await connect(`mqtt://127.0.0.1:${proxy.port}`, { reconnect: { initialDelay: 10_000 }, queueQoSZero: false });
    const offline = new Promise((resolve) => client.once('offline', () => resolve(undefined)));
    proxy.dropAll();
    await offline;
    await assert.rejects(client.publish('x', 'y'), ClientClosedError);
    const pending = [client.publish('x', 'y', { qos: 1 }), client.subscribe('x'), client.unsubscribe('x')];
    const settled = Promise.allSettled(pending);
    let ended = false;
    client.on('end', () => (ended = true));
    await client.end();
    assert.equal(ended, true);
    const results = await settled;
    assert.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof ClientClosedError));
  });

  it('gives up after maxAttempts and settles everything', async () => {
    const proxy2 = await new CuttingProxy(mosquitto.port).start();
    const client = await connect(`mqtt://127.0.0.1:${proxy2.port}`, { reconnect: { initialDelay: 5, maxAttempts: 3, jitter: 0 } });
    let reconnects = 0;
    const errors: Error[] = [];
    client.on('reconnect', () => reconnects++);
    client.on('error', (e) => errors.push(e));
    const ended = new Promise((resolve) => client.once('end', () => resolve(undefined)));
    await proxy2.stop();
    const pending = client.publish('x', 'y', { qos: 1 });
    await ended;
    assert.equal(reconnects, 3);
    assert.equal(errors.length, 3);
    await assert.rejects(pending, ClientClosedError);
  });
});
