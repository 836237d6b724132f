// Client-side normative statements that need a look at the bytes the client sends (scripted broker).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import { connect, InvalidOptionError } from '../../src/client/index.js';
import { encode, PacketParser, type Packet } from '../../src/packet/index.js';
import { FakeBroker } from './fake-broker.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);

describe('client conformance (scripted broker)', () => {
  let broker: FakeBroker;
  before(async () => {
    broker = await new FakeBroker().start();
  });
  after(async () => {
    await broker.stop();
  });

  const open = (...args: Parameters<FakeBroker['open']>) => broker.open(...args);

  it('sends CONNECT first, with the will, user name and password fields exactly as configured', async () => {
    for (const protocolVersion of [3, 4, 5] as const) {
      const { c, hello } = await open({
        protocolVersion,
        clientId: 'fields',
        username: 'ü-user',
        password: 'pw',
        will: { topic: 'will/ü', payload: 'gone', qos: 2, retain: true, ...(protocolVersion === 5 ? { properties: { willDelayInterval: 5 } } : {}) },
      });
      assert.equal(c.received[0]?.type, 'connect');
      assert.equal(hello.clientId, 'fields');
      assert.equal(hello.username, 'ü-user');
      assert.equal(text(hello.password), 'pw');
      assert.deepEqual({ ...hello.will, payload: text(hello.will?.payload) }, {
        topic: 'will/ü', payload: 'gone', qos: 2, retain: true,
        ...(protocolVersion === 5 ? { properties: { willDelayInterval: 5 } } : {}),
      });
      const bare = await open({ protocolVersion, clientId: 'bare' });
      assert.equal(bare.hello.will, undefined);
      assert.equal(bare.hello.username, undefined);
      assert.equal(bare.hello.password, undefined);
    }
  });

  it('gives QoS 1/2 publishes and subscriptions non-zero packet ids never in use, over a full wrap of the id space', async () => {
    const { c, client } = await open({ protocolVersion: 5 });
    const inUse = new Set<number>();
    let seen = 0;
    // Acknowledge each PUBLISH as it comes, checking its id is free.
    c.socket.removeAllListeners('data');
    const parser = new PacketParser({ protocolVersion: 5 });
    c.socket.on('data', (chunk: Buffer) => {
      parser.push(chunk);
      for (let p = parser.next(); p; p = parser.next()) {
        if (p.type !== 'publish' && p.type !== 'subscribe') continue;
        const id = p.packetId!;
        assert.ok(id > 0 && id <= 65535);
        assert.ok(!inUse.has(id), `packet id ${id} reused while in use`);
        seen++;
        if (p.type === 'subscribe') {
          inUse.add(id); // held unanswered until the end: the client must route around it
          continue;
        }
        c.socket.write(encode({ type: 'puback', packetId: id }, 5));
      }
    });
    const held = client.subscribe('held');
    held.catch(() => undefined);
    const total = 66_000;
    const batch = 6000;
    for (let i = 0; i < total; i += batch) {
      await Promise.all(Array.from({ length: batch }, () => client.publish('ids', 'x', { qos: 1 })));
    }
    assert.equal(seen, total + 1);
  });

  it('keeps sending other packets while Receive Maximum holds publishes back (MQTT-3.3.4-8)', async () => {
    const { c, client } = await open({}, { properties: { receiveMaximum: 1 } });
    client.publish('rm', '1', { qos: 1 }).catch(() => undefined);
    client.publish('rm', '2', { qos: 1 }).catch(() => undefined);
    const first = await c.next('publish');
    const subscribing = client.subscribe('still-flows', { qos: 1 });
    const sub = await c.next('subscribe');
    c.send({ type: 'suback', packetId: sub.packetId, reasonCodes: [1] });
    assert.deepEqual(await subscribing, [1]);
    c.send({ type: 'puback', packetId: first.packetId! });
    assert.equal(text((await c.next('publish')).payload), '2');
  });

  it('acknowledges every received PUBLISH, also with no listener (MQTT-4.5.0-2)', async () => {
    for (const protocolVersion of [4, 5] as const) {
      const { c } = await open({ protocolVersion });
      c.send({ type: 'publish', topic: 'a', payload: enc('1'), qos: 1, retain: false, dup: false, packetId: 11 });
      c.send({ type: 'publish', topic: 'a', payload: enc('2'), qos: 2, retain: false, dup: false, packetId: 12 });
      c.send({ type: 'publish', topic: 'a', payload: enc('3'), qos: 1, retain: false, dup: false, packetId: 13 });
      // In arrival order (MQTT-4.6.0-2, MQTT-4.6.0-3).
      const acks = [await c.next(), await c.next(), await c.next()];
      assert.deepEqual(acks.map((p: Packet) => [p.type, 'packetId' in p ? p.packetId : 0]),
        [['puback', 11], ['pubrec', 12], ['puback', 13]]);
    }
  });

  it('resends unacknowledged publishes in their original order, and sends PUBRELs in PUBREC order', async () => {
    const index = broker.connections.length;
    const connecting = connect(broker.url, { protocolVersion: 4, clean: false, clientId: 'order', reconnect: { initialDelay: 5, jitter: 0 } });
    const c0 = await broker.connection(index);
    await c0.accept();
    const client = await connecting;
    broker.track(client);
    for (let i = 0; i < 3; i++) client.publish('o', `m${i}`, { qos: 2 }).catch(() => undefined);
    const sent = [await c0.next('publish'), await c0.next('publish'), await c0.next('publish')];
    for (const i of [2, 0, 1]) c0.send({ type: 'pubrec', packetId: sent[i]!.packetId! });
    const rels = [await c0.next('pubrel'), await c0.next('pubrel'), await c0.next('pubrel')];
    assert.deepEqual(rels.map((r) => r.packetId), [2, 0, 1].map((i) => sent[i]!.packetId));
    // A fourth one, not yet answered, and the connection breaks: all come back in their first order.
    client.publish('o', 'm3', { qos: 1 }).catch(() => undefined);
    client.publish('o', 'm4', { qos: 1 }).catch(() => undefined);
    await c0.next('publish');
    await c0.next('publish');
    c0.close();
    const c1 = await broker.connection(index + 1);
    await c1.accept({ sessionPresent: true });
    const again = [await c1.next(), await c1.next(), await c1.next(), await c1.next(), await c1.next()];
    assert.deepEqual(again.map((p) => (p.type === 'publish' ? text(p.payload) : p.type)), ['pubrel', 'pubrel', 'pubrel', 'm3', 'm4']);
    assert.deepEqual(again.slice(0, 3).map((p) => (p as { packetId: number }).packetId), sent.map((p) => p.packetId));
  });

  it('sends only AUTH before CONNACK when it authenticates, and no AUTH at all without a method', async () => {
    const index = broker.connections.length;
    const connecting = connect(broker.url, {
      reconnect: false,
      authenticationMethod: 'M',
      onAuth: () => ({ authenticationData: enc('r') }),
    });
    const c = await broker.connection(index);
    await c.next('connect');
    c.send({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'M' } });
    const reply = await c.next('auth');
    assert.equal(reply.reasonCode, 0x18);
    assert.equal(reply.properties?.authenticationMethod, 'M');
    assert.deepEqual(c.received.map((p) => p.type), ['connect', 'auth']);
    c.send({ type: 'connack', sessionPresent: false, reasonCode: 0, properties: { authenticationMethod: 'M' } });
    broker.track(await connecting);

    const { c: plain, client } = await open({});
    await assert.rejects(client.reauthenticate(), InvalidOptionError);
    await client.publish('sync', 'x');
    await plain.next('publish');
    assert.ok(!plain.received.some((p) => p.type === 'auth'));
  });

  it('sends topic filters as UTF-8 strings, and refuses SUBSCRIBE and UNSUBSCRIBE without one', async () => {
    for (const protocolVersion of [4, 5] as const) await filtersAsUtf8(protocolVersion);
  });

  async function filtersAsUtf8(protocolVersion: 4 | 5): Promise<void> {
    const { c, client } = await open({ protocolVersion });
    await assert.rejects(client.subscribe([]), InvalidOptionError);
    await assert.rejects(client.unsubscribe([]), InvalidOptionError);
    assert.ok(!c.received.some((p) => p.type === 'subscribe' || p.type === 'unsubscribe'));
    const subscribing = client.subscribe(['größe/+', '温度/#'], { qos: 1 });
    const sub = await c.next('subscribe');
    assert.deepEqual(sub.subscriptions.map((x) => x.topicFilter), ['größe/+', '温度/#']);
    c.send({ type: 'suback', packetId: sub.packetId, reasonCodes: [1, 1] });
    await subscribing;
    const unsubscribing = client.unsubscribe('温度/#');
    const unsub = await c.next('unsubscribe');
    assert.deepEqual(unsub.topicFilters, ['温度/#']);
    c.send({ type: 'unsuback', packetId: unsub.packetId, reasonCodes: protocolVersion === 5 ? [0] : [] });
    assert.deepEqual(await unsubscribing, protocolVersion === 5 ? [0] : []);
  }
});

describe('WebSocket subprotocol', () => {
  it('offers mqtt (MQTT-6.0.0-3)', async () => {
    const offered: string[][] = [];
    const wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) => {
        offered.push([...protocols]);
        return 'mqtt';
      },
    });
    const server = createServer();
    server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data: Buffer) => {
        const parser = new PacketParser();
        parser.push(data);
        if (parser.next()?.type === 'connect') ws.send(encode({ type: 'connack', sessionPresent: false, reasonCode: 0 }, 5));
      });
    }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const client = await connect(`ws://127.0.0.1:${port}`, { reconnect: false });
    await client.end({ force: true });
    wss.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    assert.deepEqual(offered, [['mqtt']]);
  });
});
