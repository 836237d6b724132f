// MQTT 5.0 server statements of chapter 3.1-3.2 (CONNECT, CONNACK), Wills, keep alive, enhanced
// authentication and DISCONNECT, each checked against an embedded broker with a raw client.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuthenticateContext } from '../../src/broker/hooks.js';
import { encode } from '../../src/packet/index.js';
import { sleep, startBroker, text, type Client, type Fixture } from '../broker/core/fixture.js';
import { RawClient } from '../helpers/raw-client.js';
import { enc, publishes, rawExchange, shortClientIds, will, willRetain } from './scenarios.js';


/** The CONNACK return codes MQTT 5.0 defines (section 3.2.2.2). */
const CONNACK_CODES = new Set([0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f]);

describe('MQTT 5.0 CONNECT and CONNACK', () => {
  let f: Fixture;
  before(async () => {
    f = await startBroker({
      limits: { maxKeepalive: 60, maxClientIdLength: 40 },
      responseInformation: 'reply/base',
      hooks: {
        authenticate: (ctx: AuthenticateContext) =>
          ctx.username === 'intruder' ? { result: 'fail', reasonCode: 0x86, reasonString: 'x'.repeat(200) } : { result: 'success' },
        onPublish: (_client, message) =>
          message.topic === 'refused/x' ? { action: 'reject', reasonCode: 0x99, reasonString: 'payload format refused here' } : undefined,
      },
    });
  });
  after(() => f.close());

  it('v5/MQTT-3.1.2-1: a CONNECT whose protocol name is not MQTT is not accepted and the connection closes', async () => {
    const connect = encode({ type: 'connect', protocolVersion: 5, clientId: 'badname', clean: true, keepalive: 0 }, 5);
    // Protocol name "MQTT" starts at byte 4 (after the fixed header and the name's length): make it "MQTX".
    connect[7] = 0x58;
    const answer = await rawExchange(f.port, connect);
    // Either nothing, or a CONNACK refusing with 0x84 (Unsupported Protocol Version) as the statement allows.
    if (answer.length > 0) {
      assert.equal(answer[0], 0x20, `unexpected answer ${answer.toString('hex')}`);
      assert.notEqual(answer[3], 0x00, 'the CONNECT was accepted');
    }
  });

  it('v5/MQTT-3.1.4-5, v5/MQTT-3.2.2-1: an accepted CONNECT gets CONNACK 0x00 whose flag bits 7-1 are 0', async () => {
    const client = await RawClient.open(f.port, { version: 5 });
    const chunks: Buffer[] = [];
    client.socket.on('data', (c: Buffer) => chunks.push(c));
    client.send({ type: 'connect', protocolVersion: 5, clientId: 'flags', clean: false, keepalive: 0, properties: { sessionExpiryInterval: 10 } });
    const connack = await client.expect('connack');
    assert.equal(connack.reasonCode, 0);
    const bytes = Buffer.concat(chunks);
    assert.equal(bytes[0], 0x20);
    // Fixed header 0x20, remaining length (one byte here), then the Connect Acknowledge Flags.
    assert.equal(bytes[2]! & 0xfe, 0);
    client.disconnect(0, { sessionExpiryInterval: 0 });
  });

  it('v5/MQTT-3.1.2-4, v5/MQTT-3.1.2-5, v5/MQTT-3.1.2-6, v5/MQTT-3.1.4-4, v5/MQTT-3.2.2-2, v5/MQTT-3.2.2-3, v5/MQTT-3.1.3-2: Clean Start and Session Present follow the stored session of the client id', async () => {
    const props = { sessionExpiryInterval: 30 };
    // Clean Start 0 without a session: a new one, Session Present 0.
    const fresh = await RawClient.connect(f.port, { protocolVersion: 5, clientId: 'cs', clean: false, properties: props });
    assert.equal(fresh.connack.sessionPresent, false);
    await fresh.client.subscribe('cs/topic', 1);
    fresh.client.disconnect();
    await fresh.client.closedWithin();
    // Another client id has no share in that session.
    const other = await RawClient.connect(f.port, { protocolVersion: 5, clientId: 'cs-other', clean: false, properties: props });
    assert.equal(other.connack.sessionPresent, false);
    other.client.disconnect(0, { sessionExpiryInterval: 0 });
    // Clean Start 0 with a session: resumed with its subscription, Session Present 1.
    const resumed = await RawClient.connect(f.port, { protocolVersion: 5, clientId: 'cs', clean: false, properties: props });
    assert.equal(resumed.connack.sessionPresent, true);
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('cs/topic', 'kept', 1);
    assert.equal(text((await resumed.client.expectPublish('cs/topic')).payload), 'kept');
    resumed.client.disconnect();
    await resumed.client.closedWithin();
    // Clean Start 1: the old session (and its subscription) is gone, Session Present 0.
    const clean = await RawClient.connect(f.port, { protocolVersion: 5, clientId: 'cs', clean: true, properties: props });
    assert.equal(clean.connack.sessionPresent, false);
    await pub.publish('cs/topic', 'lost', 1);
    assert.deepEqual(publishes(await clean.client.drain(150)), []);
    clean.client.disconnect(0, { sessionExpiryInterval: 0 });
    pub.destroy();
  });

  it('v5/MQTT-4.1.0-1, v5/MQTT-3.1.2-23: the session lasts while connected, however long, and its expiry counts from the close', async () => {
    const props = { sessionExpiryInterval: 1 };
    const c = await f.connect({ protocolVersion: 5, clientId: 'long-lived', properties: props });
    await c.subscribe('long/x', 1);
    await sleep(1300);
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('long/x', 'still here', 1);
    assert.equal(text((await c.expectPublish('long/x')).payload), 'still here');
    c.disconnect();
    await c.closedWithin();
    const back = await RawClient.connect(f.port, { protocolVersion: 5, clientId: 'long-lived', clean: false, properties: { sessionExpiryInterval: 0 } });
    assert.equal(back.connack.sessionPresent, true);
    back.client.disconnect();
    pub.destroy();
  });

  it('v5/MQTT-3.1.3-5: client ids of 1 to 23 letters and digits are accepted', async () => {
    await shortClientIds(f, 5);
  });

  it('v5/MQTT-3.1.3-6, v5/MQTT-3.1.3-7, v5/MQTT-3.2.2-16: an empty client id gets a unique id, returned as Assigned Client Identifier', async () => {
    const a = await RawClient.connect(f.port, { protocolVersion: 5, clientId: '' });
    const b = await RawClient.connect(f.port, { protocolVersion: 5, clientId: '' });
    const idA = a.connack.properties?.assignedClientIdentifier;
    const idB = b.connack.properties?.assignedClientIdentifier;
    assert.ok(idA && idB);
    assert.notEqual(idA, idB);
    assert.equal(a.client.closed || b.client.closed, false);
    a.client.destroy();
    b.client.destroy();
  });

  it('v5/MQTT-3.1.3-8, v5/MQTT-3.2.2-6, v5/MQTT-3.2.2-7, v5/MQTT-3.2.2-8: a refused client id gets a failure CONNACK with Session Present 0, then the close', async () => {
    const { client, connack } = await RawClient.connect(f.port, { protocolVersion: 5, clientId: 'x'.repeat(41), clean: false });
    assert.equal(connack.reasonCode, 0x85);
    assert.equal(connack.sessionPresent, false);
    assert.ok(CONNACK_CODES.has(connack.reasonCode));
    await client.closedWithin();
  });

  it('v5/MQTT-3.1.4-2, v5/MQTT-4.13.2-1: failed authentication gets CONNACK >= 0x80 and the connection closes', async () => {
    const { client, connack } = await RawClient.connect(f.port, { protocolVersion: 5, username: 'intruder' });
    assert.equal(connack.reasonCode, 0x86);
    assert.ok(CONNACK_CODES.has(connack.reasonCode));
    await client.closedWithin();
  });

  it('v5/MQTT-3.1.4-6, v5/MQTT-3.14.0-1: after refusing a CONNECT the broker acts on nothing else and sends no DISCONNECT', async () => {
    const watcher = await f.connect({ protocolVersion: 5 });
    await watcher.subscribe('after-refusal/#', 0);
    const client = await RawClient.open(f.port, { version: 5 });
    client.send({ type: 'connect', protocolVersion: 5, clientId: 'refused', clean: true, keepalive: 0, username: 'intruder' });
    client.send({ type: 'publish', topic: 'after-refusal/x', payload: enc('x'), qos: 0, retain: false, dup: false });
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'a', qos: 0 }] });
    client.send({ type: 'pingreq' });
    assert.equal((await client.expect('connack')).reasonCode, 0x86);
    await client.closedWithin();
    assert.deepEqual(client.pending().map((p) => p.type), []);
    assert.deepEqual(publishes(await watcher.drain(150)), []);
    watcher.destroy();
  });

  it('v5/MQTT-3.2.0-1, v5/MQTT-3.2.0-2: CONNACK is the first packet the broker sends, and it sends only one', async () => {
    const client = await RawClient.open(f.port, { version: 5 });
    client.send({ type: 'connect', protocolVersion: 5, clientId: 'pipelined', clean: true, keepalive: 0 });
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'pipe/x', qos: 0 }] });
    client.send({ type: 'pingreq' });
    client.send({ type: 'connect', protocolVersion: 5, clientId: 'pipelined', clean: true, keepalive: 0 });
    const first = await client.next();
    assert.equal(first.type, 'connack');
    await client.closedWithin();
    assert.equal(client.pending().filter((p) => p.type === 'connack').length, 0);
  });

  it('v5/MQTT-3.2.2-13: a retained Will where retain is unavailable is refused (0x9A) and the connection closes', async () => {
    const g = await startBroker({ retainAvailable: false });
    try {
      const { client, connack } = await RawClient.connect(g.port, { protocolVersion: 5, will: will('w/x', { retain: true }) });
      assert.equal(connack.reasonCode, 0x9a);
      await client.closedWithin();
    } finally {
      await g.close();
    }
  });

  it('v5/MQTT-3.2.2-19, v5/MQTT-3.2.2-20: a CONNACK that would exceed the client Maximum Packet Size goes without Reason String and User Properties', async () => {
    const roomy = await RawClient.connect(f.port, { protocolVersion: 5, username: 'intruder' });
    assert.ok(roomy.connack.properties?.reasonString, 'a roomy client gets the Reason String');
    const tight = await RawClient.connect(f.port, { protocolVersion: 5, username: 'intruder', properties: { maximumPacketSize: 64 } });
    assert.equal(tight.connack.reasonCode, 0x86);
    assert.equal(tight.connack.properties?.reasonString, undefined);
    assert.equal(tight.connack.properties?.userProperties, undefined);
    assert.ok(encode(tight.connack, 5).length <= 64);
    roomy.client.destroy();
    tight.client.destroy();
  });

  it('v5/MQTT-3.2.0-1, v5/MQTT-3.1.2-24: an accepting CONNACK too large for the client goes without its optional properties, and closes when even that cannot fit', async () => {
    // The full CONNACK states Receive Maximum, Topic Alias Maximum, an assigned client id and more: over 40 bytes.
    const tight = await RawClient.connect(f.port, { protocolVersion: 5, clientId: '', properties: { maximumPacketSize: 16 } });
    assert.equal(tight.connack.reasonCode, 0);
    assert.ok(encode(tight.connack, 5).length <= 16);
    tight.client.send({ type: 'pingreq' });
    await tight.client.expect('pingresp');
    tight.client.destroy();
    // Five bytes is the smallest v5 CONNACK; a client that cannot take it gets nothing and is closed.
    const tiny = await RawClient.open(f.port, { version: 5 });
    tiny.send({ type: 'connect', protocolVersion: 5, clientId: 'tiny', clean: true, keepalive: 0, properties: { maximumPacketSize: 4 } });
    await tiny.closedWithin();
    assert.deepEqual(tiny.pending(), []);
  });

  it('v5/MQTT-3.1.2-28: Response Information only when the client asks for it', async () => {
    const plain = await RawClient.connect(f.port, { protocolVersion: 5 });
    assert.equal(plain.connack.properties?.responseInformation, undefined);
    const no = await RawClient.connect(f.port, { protocolVersion: 5, properties: { requestResponseInformation: false } });
    assert.equal(no.connack.properties?.responseInformation, undefined);
    const asked = await RawClient.connect(f.port, { protocolVersion: 5, properties: { requestResponseInformation: true } });
    assert.equal(asked.connack.properties?.responseInformation, 'reply/base');
    for (const c of [plain, no, asked]) c.client.destroy();
  });

  it('v5/MQTT-3.1.2-29: with Request Problem Information 0 no Reason String comes on a PUBACK', async () => {
    const told = await f.connect({ protocolVersion: 5 });
    told.send({ type: 'publish', topic: 'refused/x', payload: enc('x'), qos: 1, packetId: 3, retain: false, dup: false });
    const full = await told.expect('puback');
    assert.equal(full.reasonCode, 0x99);
    assert.ok(full.properties?.reasonString, 'by default the Reason String is sent');
    const quiet = await f.connect({ protocolVersion: 5, properties: { requestProblemInformation: false } });
    quiet.send({ type: 'publish', topic: 'refused/x', payload: enc('x'), qos: 1, packetId: 3, retain: false, dup: false });
    const bare = await quiet.expect('puback');
    assert.equal(bare.reasonCode, 0x99);
    assert.equal(bare.properties?.reasonString, undefined);
    assert.equal(bare.properties?.userProperties, undefined);
    told.destroy();
    quiet.destroy();
  });

  it('v5/MQTT-3.2.2-22, v5/MQTT-3.1.2-22: without Server Keep Alive the client keep alive holds; silence for 1.5 times it closes the connection', async () => {
    const { client, connack } = await RawClient.connect(f.port, { protocolVersion: 5, keepalive: 1 });
    assert.equal(connack.properties?.serverKeepAlive, undefined);
    // Kept alive by pings for longer than 1.5 keep alive periods...
    for (let i = 0; i < 4; i++) {
      await sleep(500);
      client.send({ type: 'pingreq' });
      await client.expect('pingresp');
    }
    assert.equal(client.closed, false);
    // ...then silent: closed after about 1.5 s, with DISCONNECT 0x8D first.
    const disconnect = await client.expect('disconnect', 4000);
    assert.equal(disconnect.reasonCode, 0x8d);
    await client.closedWithin();
  });
});

describe('MQTT 5.0 Wills', () => {
  let f: Fixture;
  let watcher: Client;
  before(async () => {
    f = await startBroker();
    watcher = await f.connect({ protocolVersion: 5 });
    await watcher.subscribe('will/#', 1);
  });
  after(() => f.close());

  it('v5/MQTT-3.1.2-7, v5/MQTT-3.1.2-8, v5/MQTT-3.1.2-10: the Will is kept with the session, published once on an abnormal close, then removed', async () => {
    const c = await f.connect({ protocolVersion: 5, clientId: 'will-kept', properties: { sessionExpiryInterval: 30 }, will: will('will/abnormal') });
    c.destroy();
    const got = await watcher.expectPublish('will/abnormal');
    assert.equal(text(got.payload), 'will:will/abnormal');
    // The session lives on; reconnecting and dropping again publishes no Will (it was removed once sent).
    const back = await RawClient.connect(f.port, { protocolVersion: 5, clientId: 'will-kept', clean: false, properties: { sessionExpiryInterval: 30 } });
    assert.equal(back.connack.sessionPresent, true);
    back.client.destroy();
    assert.deepEqual(publishes(await watcher.drain(200)), []);
    const end = await RawClient.connect(f.port, { protocolVersion: 5, clientId: 'will-kept', clean: true });
    end.client.disconnect();
  });

  it('v5/MQTT-3.14.4-3, v5/MQTT-3.1.2-10: DISCONNECT 0x00 removes the Will without publishing it', async () => {
    const c = await f.connect({ protocolVersion: 5, will: will('will/normal') });
    c.disconnect(0);
    await c.closedWithin();
    assert.deepEqual(publishes(await watcher.drain(200)), []);
  });

  it('v5/MQTT-3.1.2-14, v5/MQTT-3.1.2-15: Will Retain 0 is published non-retained, Will Retain 1 retained', async () => {
    await willRetain(f, 5, watcher);
  });

  it('v5/MQTT-3.1.3-10: Will User Properties are published in their order', async () => {
    const userProperties: Array<[string, string]> = [['z', '1'], ['a', '2'], ['z', '3'], ['m', '4']];
    const c = await f.connect({ protocolVersion: 5, will: will('will/props', { properties: { userProperties } }) });
    c.destroy();
    const got = await watcher.expectPublish('will/props');
    assert.deepEqual(got.properties?.userProperties, userProperties);
  });
});

describe('MQTT 5.0 server DISCONNECT', () => {
  let f: Fixture;
  before(async () => {
    f = await startBroker();
  });
  after(() => f.close());

  it('v5/MQTT-3.14.2-2, v5/MQTT-3.14.4-1, v5/MQTT-3.14.4-2: a broker DISCONNECT has no Session Expiry Interval, is its last packet, and the connection closes', async () => {
    const sub = await f.connect({ protocolVersion: 5, clientId: 'dropped', properties: { sessionExpiryInterval: 30 } });
    await sub.subscribe('dc/#', 0);
    sub.send({ type: 'connect', protocolVersion: 5, clientId: 'dropped', clean: true, keepalive: 0 });
    const pub = await f.connect({ protocolVersion: 5 });
    for (let i = 0; i < 5; i++) await pub.publish('dc/x', String(i), 0);
    const packets = [...(await sub.drain(300))];
    await sub.closedWithin();
    const at = packets.findIndex((p) => p.type === 'disconnect');
    assert.ok(at >= 0, 'a DISCONNECT came');
    assert.equal(at, packets.length - 1, 'nothing after the DISCONNECT');
    const disconnect = packets[at]!;
    assert.ok(disconnect.type === 'disconnect');
    assert.equal(disconnect.reasonCode, 0x82);
    assert.equal(disconnect.properties?.sessionExpiryInterval, undefined);
    pub.destroy();
  });

  it('v5/MQTT-3.14.2-3, v5/MQTT-3.14.2-4: a DISCONNECT too large for the client goes without Reason String and User Properties', async () => {
    const tight = await f.connect({ protocolVersion: 5, properties: { maximumPacketSize: 16 } });
    tight.send({ type: 'publish', topic: 'x', payload: enc('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 999 } });
    const bare = await tight.expect('disconnect');
    assert.equal(bare.reasonCode, 0x94);
    assert.equal(bare.properties?.reasonString, undefined);
    assert.equal(bare.properties?.userProperties, undefined);
    assert.ok(encode(bare, 5).length <= 16);
    await tight.closedWithin();
  });
});

describe('MQTT 5.0 enhanced authentication', () => {
  let f: Fixture;
  before(async () => {
    f = await startBroker({
      hooks: {
        authenticate: (ctx: AuthenticateContext) => {
          if (ctx.method === undefined) return { result: 'success' };
          if (ctx.method !== 'TOY') return { result: 'fail', reasonCode: 0x8c };
          const data = text(ctx.data ?? new Uint8Array());
          if (ctx.step === 0) return { result: 'continue', data: enc('challenge') };
          return data === 'answer' ? { result: 'success', data: enc('ok') } : { result: 'fail', reasonCode: 0x87 };
        },
      },
    });
  });
  after(() => f.close());

  const method = { authenticationMethod: 'TOY' };

  it('v5/MQTT-4.12.0-1: an unsupported Authentication Method is refused and the connection closes', async () => {
    const { client, connack } = await RawClient.connect(f.port, { protocolVersion: 5, properties: { authenticationMethod: 'UNKNOWN' } });
    assert.ok(connack.reasonCode === 0x8c || connack.reasonCode === 0x87);
    await client.closedWithin();
  });

  it('v5/MQTT-4.12.0-2, v5/MQTT-4.12.0-5, v5/MQTT-4.12.1-2: AUTH asks with 0x18, every AUTH and the CONNACK repeat the method, failed re-authentication closes', async () => {
    const client = await RawClient.open(f.port, { version: 5 });
    client.send({ type: 'connect', protocolVersion: 5, clientId: 'toy', clean: true, keepalive: 0, properties: { ...method, authenticationData: enc('hello') } });
    const challenge = await client.expect('auth');
    assert.equal(challenge.reasonCode, 0x18);
    assert.equal(challenge.properties?.authenticationMethod, 'TOY');
    client.send({ type: 'auth', reasonCode: 0x18, properties: { ...method, authenticationData: enc('answer') } });
    const connack = await client.expect('connack');
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.authenticationMethod, 'TOY');
    client.send({ type: 'auth', reasonCode: 0x19, properties: { ...method, authenticationData: enc('again') } });
    const again = await client.expect('auth');
    assert.equal(again.reasonCode, 0x18);
    assert.equal(again.properties?.authenticationMethod, 'TOY');
    client.send({ type: 'auth', reasonCode: 0x18, properties: { ...method, authenticationData: enc('wrong') } });
    const disconnect = await client.expect('disconnect');
    assert.ok(disconnect.reasonCode !== undefined && disconnect.reasonCode >= 0x80);
    await client.closedWithin();
  });

  it('v5/MQTT-3.15.2-2, v5/MQTT-3.15.2-3: AUTH stays within the client Maximum Packet Size, without Reason String or User Properties', async () => {
    const max = 40;
    const client = await RawClient.open(f.port, { version: 5 });
    client.send({ type: 'connect', protocolVersion: 5, clientId: 'toy-small', clean: true, keepalive: 0, properties: { ...method, maximumPacketSize: max } });
    const auth = await client.expect('auth');
    assert.equal(auth.reasonCode, 0x18);
    assert.equal(auth.properties?.reasonString, undefined);
    assert.equal(auth.properties?.userProperties, undefined);
    assert.ok(encode(auth, 5).length <= max);
    client.destroy();
  });

  it('v5/MQTT-4.12.0-4: a failed authentication exchange closes the connection', async () => {
    const client = await RawClient.open(f.port, { version: 5 });
    client.send({ type: 'connect', protocolVersion: 5, clientId: 'toy-bad', clean: true, keepalive: 0, properties: method });
    assert.equal((await client.expect('auth')).reasonCode, 0x18);
    client.send({ type: 'auth', reasonCode: 0x18, properties: { ...method, authenticationData: enc('wrong') } });
    const connack = await client.expect('connack');
    assert.ok(connack.reasonCode >= 0x80);
    await client.closedWithin();
  });

  it('v5/MQTT-4.12.0-6: without an Authentication Method the broker sends no AUTH and no method in CONNACK', async () => {
    const { client, connack } = await RawClient.connect(f.port, { protocolVersion: 5 });
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.authenticationMethod, undefined);
    client.send({ type: 'pingreq' });
    await client.expect('pingresp');
    assert.deepEqual(client.pending().filter((p) => p.type === 'auth'), []);
    client.destroy();
  });
});
