import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  connect,
  ConnectionRefusedError,
  PacketTooLargeError,
  PublishError,
  TimeoutError,
  type MqttClient,
} from '../../src/client/index.js';
import { startMosquitto, type MosquittoInstance } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { FakeBroker, type FakeConnection } from './fake-broker.js';

const fast = { initialDelay: 5, maxDelay: 20, jitter: 0 };
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Nothing more of this type arrives within a short grace period. */
async function nothingMore(c: FakeConnection, type: string): Promise<void> {
  const before = c.received.length;
  await pause(50);
  assert.deepEqual(c.received.slice(before).filter((p) => p.type === type), []);
}

describe('MQTT 5 behaviour (scripted broker)', () => {
  let broker: FakeBroker;
  let other: FakeBroker;
  const clients: MqttClient[] = [];
  async function open(connack: Parameters<FakeConnection['accept']>[0], options: Parameters<typeof connect>[1] = {}) {
    const index = broker.connections.length;
    const connecting = connect(broker.url, { reconnect: fast, ...options });
    const c = await broker.connection(index);
    const hello = await c.accept(connack);
    const client = await connecting;
    clients.push(client);
    return { c, client, hello };
  }
  before(async () => {
    broker = await new FakeBroker().start();
    other = await new FakeBroker().start();
  });
  after(async () => {
    for (const client of clients) await client.end({ force: true });
    await broker.stop();
    await other.stop();
  });

  it('respects Receive Maximum: never more unacknowledged than allowed, the rest in order', async () => {
    const { c, client } = await open({ properties: { receiveMaximum: 2 } });
    const done = Array.from({ length: 5 }, (_, i) => client.publish('rm', `m${i}`, { qos: i % 2 === 0 ? 1 : 2 }));
    const p0 = await c.next('publish');
    const p1 = await c.next('publish');
    await nothingMore(c, 'publish');
    assert.deepEqual([text(p0.payload), text(p1.payload)], ['m0', 'm1']);
    c.send({ type: 'puback', packetId: p0.packetId! });
    const p2 = await c.next('publish');
    assert.equal(text(p2.payload), 'm2');
    await nothingMore(c, 'publish');
    // QoS 2 holds its slot until PUBCOMP, not PUBREC.
    c.send({ type: 'pubrec', packetId: p1.packetId! });
    await c.next('pubrel');
    await nothingMore(c, 'publish');
    c.send({ type: 'pubcomp', packetId: p1.packetId! });
    const p3 = await c.next('publish');
    assert.equal(text(p3.payload), 'm3');
    c.send({ type: 'puback', packetId: p2.packetId! });
    const p4 = await c.next('publish');
    assert.equal(text(p4.payload), 'm4');
    c.send({ type: 'pubrec', packetId: p3.packetId! });
    await c.next('pubrel');
    c.send({ type: 'pubcomp', packetId: p3.packetId! });
    c.send({ type: 'puback', packetId: p4.packetId! });
    await Promise.all(done);
  });

  it('rejects a publish above Maximum Packet Size locally; rejects with reason code and string on a negative ack', async () => {
    const { c, client } = await open({ properties: { maximumPacketSize: 64 } });
    await assert.rejects(client.publish('big', 'x'.repeat(100), { qos: 1 }), PacketTooLargeError);
    const small = client.publish('small', 'ok', { qos: 1 });
    const p = await c.next('publish');
    assert.equal(p.topic, 'small');
    c.send({ type: 'puback', packetId: p.packetId!, reasonCode: 0x87, properties: { reasonString: 'no way' } });
    const error = await small.then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof PublishError);
    assert.equal(error.reasonCode, 0x87);
    assert.equal(error.reasonString, 'no way');
  });

  it('assigns outgoing topic aliases and resolves incoming ones', async () => {
    const { c, client, hello } = await open({ properties: { topicAliasMaximum: 1 } },
      { properties: { topicAliasMaximum: 4 } });
    assert.equal(hello.properties?.topicAliasMaximum, 4);
    await client.publish('alias/a', '1');
    await client.publish('alias/a', '2');
    await client.publish('alias/b', '3');
    const sent = [await c.next('publish'), await c.next('publish'), await c.next('publish')];
    assert.deepEqual(sent.map((p) => [p.topic, p.properties?.topicAlias]), [['alias/a', 1], ['', 1], ['alias/b', undefined]]);
    const got: string[] = [];
    client.on('message', (topic, payload) => got.push(`${topic}=${text(payload)}`));
    c.send({ type: 'publish', topic: 'in/x', payload: enc('a'), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } });
    c.send({ type: 'publish', topic: '', payload: enc('b'), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } });
    await waitFor(() => got.length === 2, 2000, 'aliased messages');
    assert.deepEqual(got, ['in/x=a', 'in/x=b']);
    // A broker without Topic Alias Maximum gets no aliases.
    const plain = await open({});
    await plain.client.publish('alias/a', '1');
    await plain.client.publish('alias/a', '2');
    const unaliased = [await plain.c.next('publish'), await plain.c.next('publish')];
    assert.deepEqual(unaliased.map((p) => [p.topic, p.properties?.topicAlias]), [['alias/a', undefined], ['alias/a', undefined]]);
  });

  it('uses the assigned client identifier and the server keep alive, also when reconnecting', async () => {
    const { c, client, hello } = await open({ properties: { assignedClientIdentifier: 'given-by-broker', serverKeepAlive: 1 } },
      { clientId: '', clean: false, keepalive: 600 });
    assert.equal(hello.clientId, '');
    assert.equal(client.clientId, 'given-by-broker');
    await c.next('pingreq', 3000);
    c.send({ type: 'pingresp' });
    c.close();
    const c1 = await broker.connection(broker.connections.length - 1 + 1);
    const hello1 = await c1.accept({ sessionPresent: true });
    assert.equal(hello1.clientId, 'given-by-broker');
  });

  it('exposes the Server Reference of a refusal, and follows a DISCONNECT Server moved when asked', async () => {
    const index = broker.connections.length;
    const refused = connect(broker.url, { reconnect: false });
    const c = await broker.connection(index);
    await c.accept({ reasonCode: 0x9c, properties: { serverReference: `127.0.0.1:${other.port}`, reasonString: 'go away' } });
    const error = await refused.then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof ConnectionRefusedError);
    assert.equal(error.reasonCode, 0x9c);
    assert.equal(error.serverReference, `127.0.0.1:${other.port}`);
    assert.equal(error.reasonString, 'go away');

    // The first connect follows a refusal's reference when asked to.
    const followIndex = broker.connections.length;
    const following = connect(broker.url, { reconnect: false, followServerReference: true });
    await (await broker.connection(followIndex)).accept({ reasonCode: 0x9d, properties: { serverReference: `127.0.0.1:${other.port}` } });
    await (await other.connection(0)).accept();
    clients.push(await following);

    const { c: c2, client } = await open({}, { followServerReference: true });
    const disconnects: number[] = [];
    client.on('disconnect', (p) => disconnects.push(p.reasonCode ?? 0));
    c2.send({ type: 'disconnect', reasonCode: 0x9d, properties: { serverReference: `127.0.0.1:${other.port}` } });
    const moved = await other.connection(1);
    await moved.accept();
    await waitFor(() => client.connected, 2000, 'connected to the other server');
    assert.deepEqual(disconnects, [0x9d]);
    assert.equal(client.serverReference, `127.0.0.1:${other.port}`);
  });

  it('answers enhanced authentication challenges, at connect and on re-authentication', async () => {
    const index = broker.connections.length;
    const seen: string[] = [];
    const connecting = connect(broker.url, {
      reconnect: false,
      authenticationMethod: 'TEST-1',
      authenticationData: enc('first'),
      onAuth: async (auth) => {
        seen.push(text(auth.properties?.authenticationData));
        return { authenticationData: enc(`answer to ${text(auth.properties?.authenticationData)}`) };
      },
    });
    const c = await broker.connection(index);
    const hello = await c.next('connect');
    assert.equal(hello.properties?.authenticationMethod, 'TEST-1');
    assert.equal(text(hello.properties?.authenticationData), 'first');
    c.send({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'TEST-1', authenticationData: enc('challenge 1') } });
    const reply = await c.next('auth');
    assert.equal(reply.reasonCode, 0x18);
    assert.equal(text(reply.properties?.authenticationData), 'answer to challenge 1');
    c.send({ type: 'connack', sessionPresent: false, reasonCode: 0, properties: { authenticationMethod: 'TEST-1' } });
    const client = await connecting;
    clients.push(client);

    const reauth = client.reauthenticate(enc('again'));
    const start = await c.next('auth');
    assert.equal(start.reasonCode, 0x19);
    assert.equal(text(start.properties?.authenticationData), 'again');
    c.send({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'TEST-1', authenticationData: enc('challenge 2') } });
    assert.equal(text((await c.next('auth')).properties?.authenticationData), 'answer to challenge 2');
    c.send({ type: 'auth', reasonCode: 0x00, properties: { authenticationMethod: 'TEST-1' } });
    await reauth;
    assert.deepEqual(seen, ['challenge 1', 'challenge 2']);
  });

  it('checks the success data with onAuthSuccess before handling anything after CONNACK', async () => {
    const method = { authenticationMethod: 'TEST-1' };
    const checked: string[] = [];
    let release = (): void => undefined;
    const options = {
      reconnect: false,
      ...method,
      onAuthSuccess: async (data: Uint8Array | undefined) => {
        checked.push(text(data));
        await new Promise<void>((resolve) => (release = resolve));
        if (text(data) !== 'proof') throw new Error('wrong proof');
      },
    };

    let index = broker.connections.length;
    const connecting = connect(broker.url, options);
    let c = await broker.connection(index);
    await c.next('connect');
    c.send({ type: 'connack', sessionPresent: false, reasonCode: 0, properties: { ...method, authenticationData: enc('proof') } });
    c.send({ type: 'publish', topic: 'early', payload: enc('x'), qos: 1, retain: false, dup: false, packetId: 1 });
    // The PUBLISH waits while the proof is being checked, and is handled once it passed.
    await nothingMore(c, 'puback');
    assert.deepEqual(checked, ['proof']);
    release();
    clients.push(await connecting);
    assert.equal((await c.next('puback')).packetId, 1);

    index = broker.connections.length;
    const refused = connect(broker.url, options);
    c = await broker.connection(index);
    await c.next('connect');
    c.send({ type: 'connack', sessionPresent: false, reasonCode: 0, properties: { ...method, authenticationData: enc('forged') } });
    await waitFor(() => checked.length === 2, 2000, 'the second check');
    release();
    await assert.rejects(refused, /wrong proof/);
    assert.equal((await c.next('disconnect')).reasonCode, 0x87);
  });

  it('messages(): acknowledges QoS 1/2 when the loop takes the message', async () => {
    const { c, client } = await open({});
    const iterator = client.messages('it/#');
    const publish = (packetId: number, topic: string, qos: 1 | 2): void =>
      c.send({ type: 'publish', topic, payload: enc(String(packetId)), qos, retain: false, dup: false, packetId });
    publish(1, 'it/a', 1);
    publish(2, 'other', 1);
    // Not for the iterator, but acknowledgements keep the arrival order (MQTT-4.6.0-2): 2 waits for 1.
    await nothingMore(c, 'puback');
    const first = await iterator.next();
    assert.equal(first.value?.topic, 'it/a');
    assert.equal((await c.next('puback')).packetId, 1);
    assert.equal((await c.next('puback')).packetId, 2);
    publish(3, 'it/b', 2);
    publish(4, 'it/c', 1);
    await nothingMore(c, 'pubrec');
    let taken = 0;
    for await (const message of iterator) {
      assert.equal(message.topic, 'it/b');
      taken++;
      break; // leaving the loop acknowledges what is still buffered
    }
    assert.equal(taken, 1);
    assert.equal((await c.next('pubrec')).packetId, 3);
    assert.equal((await c.next('puback')).packetId, 4);
  });
});

describe('MQTT 5 against Mosquitto', () => {
  let mosquitto: MosquittoInstance;
  before(async () => {
    mosquitto = await startMosquitto({ extraConfig: 'max_packet_size 2000' });
  });
  after(async () => mosquitto.stop());

  it('request() gets the response with the matching correlation data; times out otherwise', async () => {
    const url = `mqtt://127.0.0.1:${mosquitto.port}`;
    const responder = await connect(url);
    responder.on('message', (_topic, payload, packet) => {
      const { responseTopic, correlationData } = packet.properties ?? {};
      if (responseTopic) {
        responder.publish(responseTopic, `pong ${text(payload)}`, { qos: 1, properties: { correlationData } }).catch(() => undefined);
      }
    });
    await responder.subscribe('service', { qos: 1 });
    const client = await connect(url);
    const general: string[] = [];
    client.on('message', (topic) => general.push(topic));
    const iterated = (async () => {
      const topics: string[] = [];
      for await (const message of client.messages('#')) topics.push(message.topic);
      return topics;
    })();
    const [a, b] = await Promise.all([client.request('service', 'a'), client.request('service', 'b')]);
    assert.equal(text(a.payload), 'pong a');
    assert.equal(text(b.payload), 'pong b');
    await assert.rejects(client.request('nobody', 'x', { timeout: 100 }), TimeoutError);
    // Responses belong to their request alone: neither the message event nor a messages() loop sees them.
    await client.subscribe('plain', { qos: 1 });
    await client.publish('plain', 'p', { qos: 1 });
    await waitFor(() => general.length > 0, 5000, 'the plain message');
    await client.end();
    assert.deepEqual(general, ['plain']);
    assert.deepEqual(await iterated, ['plain']);
    await responder.end();
  });

  it('messages() iterates, topic aliases go out automatically, Maximum Packet Size is honoured', async () => {
    const client = await connect(`mqtt://127.0.0.1:${mosquitto.port}`);
    assert.ok((client.connack?.properties?.topicAliasMaximum ?? 0) > 0);
    assert.equal(client.connack?.properties?.maximumPacketSize, 2000);
    await client.subscribe('stream/#', { qos: 1 });
    const received: string[] = [];
    const reading = (async () => {
      for await (const message of client.messages('stream/+')) {
        received.push(text(message.payload));
        if (received.length === 20) break;
      }
    })();
    for (let i = 0; i < 20; i++) await client.publish('stream/a', String(i), { qos: (i % 3) as 0 | 1 | 2 });
    await reading;
    assert.deepEqual(received.length, 20);
    assert.deepEqual(new Set(received).size, 20);
    await assert.rejects(client.publish('stream/a', 'x'.repeat(3000), { qos: 1 }), PacketTooLargeError);
    await client.end();
  });
});
