// MQTT 5.0 server statements on PUBLISH and its acknowledgements (chapters 3.3-3.7), the QoS 1 and 2 flows
// (4.3), retry (4.4), distribution (4.5) and flow control (4.9), checked against an embedded broker.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encode } from '../../src/packet/index.js';
import { sleep, startBroker, text, type Fixture } from '../broker/core/fixture.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';
import { dupNotCopied, fanOut, message, publishes } from './scenarios.js';


/** PUBACK / PUBREC reason codes MQTT 5.0 defines (sections 3.4.2.1 and 3.5.2.1). */
const PUBLISH_ACK_CODES = new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]);

describe('MQTT 5.0 PUBLISH', () => {
  let f: Fixture;
  before(async () => {
    f = await startBroker({
      hooks: {
        onPublish: (_client, m) =>
          m.topic.startsWith('reject/') ? { action: 'reject', reasonCode: 0x97, reasonString: 'quota exceeded for this topic, try again later' } : undefined,
      },
    });
  });
  after(() => f.close());

  it('v5/MQTT-2.2.1-5, v5/MQTT-3.3.4-1, v5/MQTT-4.3.2-4, v5/MQTT-4.3.3-8, v5/MQTT-4.3.3-11: QoS 1 gets PUBACK, QoS 2 PUBREC then PUBCOMP, each with the PUBLISH packet id; QoS 0 nothing', async () => {
    const c = await f.connect({ protocolVersion: 5 }, false);
    c.send(message('acks/x', '0', 0));
    c.send(message('acks/x', '1', 1, 513));
    assert.equal((await c.expect('puback')).packetId, 513);
    c.send(message('acks/x', '2', 2, 65535));
    assert.equal((await c.expect('pubrec')).packetId, 65535);
    c.send({ type: 'pubrel', packetId: 65535 });
    assert.equal((await c.expect('pubcomp')).packetId, 65535);
    assert.deepEqual(await c.drain(100), []);
    c.destroy();
  });

  it('v5/MQTT-3.3.4-6: a PUBLISH from a client carrying a Subscription Identifier is a Protocol Error (DISCONNECT 0x82)', async () => {
    const sub = await f.connect({ protocolVersion: 5 });
    await sub.subscribe('subid/#', 1);
    const c = await f.connect({ protocolVersion: 5 }, false);
    c.send({ type: 'publish', topic: 'subid/x', payload: new Uint8Array([1]), qos: 1, packetId: 7, retain: false, dup: false, properties: { subscriptionIdentifiers: [5] } });
    assert.equal((await c.expect('disconnect')).reasonCode, 0x82);
    await c.closedWithin();
    assert.deepEqual(publishes(await sub.drain(150)), []);
    sub.destroy();
  });

  it('v5/MQTT-2.2.1-4, v5/MQTT-4.3.2-1, v5/MQTT-4.3.2-2, v5/MQTT-4.3.3-1, v5/MQTT-4.3.3-2: the broker sends QoS 1/2 with non-zero ids not in use and DUP 0', async () => {
    const sub = await f.connect({ protocolVersion: 5 }, false);
    await sub.subscribe('ids/#', 2);
    const pub = await f.connect({ protocolVersion: 5 });
    for (let i = 0; i < 10; i++) await pub.publish(`ids/${i % 2 === 0 ? 'one' : 'two'}`, String(i), i % 2 === 0 ? 1 : 2);
    const got = publishes(await sub.drain(200));
    assert.equal(got.length, 10);
    const ids = got.map((p) => p.packetId!);
    assert.ok(ids.every((id) => id > 0 && id <= 65535));
    assert.equal(new Set(ids).size, ids.length, 'no id is reused while its message is unacknowledged');
    assert.ok(got.every((p) => !p.dup));
    sub.destroy();
    pub.destroy();
  });

  it('v5/MQTT-4.3.2-3, v5/MQTT-4.3.3-3, v5/MQTT-4.3.3-4, v5/MQTT-4.3.3-5, v5/MQTT-4.3.3-6, v5/MQTT-4.4.0-1: unacknowledged packets are kept and resent only on session resume: PUBLISH until PUBREC, then only PUBREL until PUBCOMP', async () => {
    const props = { sessionExpiryInterval: 30 };
    const sub = await f.connect({ protocolVersion: 5, clientId: 'flows', properties: props }, false);
    await sub.subscribe([{ topicFilter: 'flow/1', qos: 1 }, { topicFilter: 'flow/2', qos: 2 }, { topicFilter: 'flow/r', qos: 2 }]);
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('flow/1', 'one', 1);
    await pub.publish('flow/2', 'two', 2);
    await pub.publish('flow/r', 'released', 2);
    const one = await sub.expectPublish('flow/1');
    const two = await sub.expectPublish('flow/2');
    const released = await sub.expectPublish('flow/r');
    sub.send({ type: 'pubrec', packetId: released.packetId! });
    const pubrel = await sub.expect('pubrel');
    assert.equal(pubrel.packetId, released.packetId);
    // While connected nothing is resent, however long the acknowledgements take.
    assert.deepEqual(await sub.drain(300), []);
    sub.destroy();
    await waitFor(() => f.broker.connectedClients === 1, 2000, 'the subscriber to be gone');
    const back = await RawClient.connect(f.port, { protocolVersion: 5, clientId: 'flows', clean: false, properties: props }, { autoAck: false });
    assert.equal(back.connack.sessionPresent, true);
    const resent = await back.client.drain(300);
    const again = publishes(resent);
    assert.deepEqual(again.map((p) => [p.topic, p.packetId, p.dup]), [['flow/1', one.packetId, true], ['flow/2', two.packetId, true]]);
    assert.deepEqual(resent.filter((p) => p.type === 'pubrel').map((p) => (p as { packetId: number }).packetId), [released.packetId]);
    back.client.send({ type: 'puback', packetId: one.packetId! });
    back.client.send({ type: 'pubrec', packetId: two.packetId! });
    assert.equal((await back.client.expect('pubrel')).packetId, two.packetId);
    back.client.send({ type: 'pubcomp', packetId: two.packetId! });
    back.client.send({ type: 'pubcomp', packetId: released.packetId! });
    // Clean Start 1 discards the session: nothing more is resent.
    back.client.destroy();
    await waitFor(() => f.broker.connectedClients === 1, 2000, 'the subscriber to be gone');
    const clean = await RawClient.connect(f.port, { protocolVersion: 5, clientId: 'flows', clean: true }, { autoAck: false });
    assert.deepEqual(await clean.client.drain(200), []);
    clean.client.destroy();
    pub.destroy();
  });

  it('v5/MQTT-4.3.2-5, v5/MQTT-4.3.3-12: a packet id reused after PUBACK or PUBCOMP is a new message', async () => {
    const sub = await f.connect({ protocolVersion: 5 });
    await sub.subscribe('reuse/#', 2);
    const pub = await f.connect({ protocolVersion: 5 }, false);
    for (const payload of ['a', 'b']) {
      pub.send(message('reuse/1', payload, 1, 7));
      await pub.expect('puback');
    }
    for (const payload of ['c', 'd']) {
      pub.send(message('reuse/2', payload, 2, 8));
      await pub.expect('pubrec');
      pub.send({ type: 'pubrel', packetId: 8 });
      await pub.expect('pubcomp');
    }
    const got = publishes(await sub.drain(200)).map((p) => text(p.payload));
    assert.deepEqual(got, ['a', 'b', 'c', 'd']);
    sub.destroy();
    pub.destroy();
  });

  it('v5/MQTT-4.3.3-10, v5/MQTT-4.3.3-8: a QoS 2 PUBLISH repeated before PUBREL is answered with PUBREC and delivered once', async () => {
    const sub = await f.connect({ protocolVersion: 5 });
    await sub.subscribe('once/#', 2);
    const pub = await f.connect({ protocolVersion: 5 }, false);
    pub.send(message('once/x', 'only', 2, 11));
    assert.equal((await pub.expect('pubrec')).packetId, 11);
    pub.send(message('once/x', 'only', 2, 11, { dup: true }));
    assert.equal((await pub.expect('pubrec')).packetId, 11);
    pub.send({ type: 'pubrel', packetId: 11 });
    await pub.expect('pubcomp');
    assert.equal(publishes(await sub.drain(200)).length, 1);
    sub.destroy();
    pub.destroy();
  });

  it('v5/MQTT-4.3.3-9, v5/MQTT-3.5.2-1: after a failed PUBREC the id is free for a new message', async () => {
    const pub = await f.connect({ protocolVersion: 5 }, false);
    pub.send(message('reject/x', 'no', 2, 21));
    const pubrec = await pub.expect('pubrec');
    assert.equal(pubrec.reasonCode, 0x97);
    assert.ok(PUBLISH_ACK_CODES.has(pubrec.reasonCode!));
    // The same id again is a new message, answered afresh (and not by PUBCOMP or silence).
    const sub = await f.connect({ protocolVersion: 5 });
    await sub.subscribe('fresh/#', 2);
    pub.send(message('fresh/x', 'yes', 2, 21));
    const second = await pub.expect('pubrec');
    assert.ok(second.reasonCode === undefined || second.reasonCode < 0x80);
    pub.send({ type: 'pubrel', packetId: 21 });
    await pub.expect('pubcomp');
    assert.equal(text((await sub.expectPublish('fresh/x')).payload), 'yes');
    sub.destroy();
    pub.destroy();
  });

  it('v5/MQTT-4.4.0-2: a delivery the client answers with PUBACK >= 0x80 is not sent again on session resume', async () => {
    const props = { sessionExpiryInterval: 30 };
    const sub = await f.connect({ protocolVersion: 5, clientId: 'nack', properties: props }, false);
    await sub.subscribe('nack/#', 1);
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('nack/x', 'refused', 1);
    const got = await sub.expectPublish('nack/x');
    sub.send({ type: 'puback', packetId: got.packetId!, reasonCode: 0x80 });
    await sub.drain(100);
    sub.destroy();
    await waitFor(() => f.broker.connectedClients === 1, 2000, 'the subscriber to be gone');
    const back = await RawClient.connect(f.port, { protocolVersion: 5, clientId: 'nack', clean: false, properties: props });
    assert.equal(back.connack.sessionPresent, true);
    assert.deepEqual(publishes(await back.client.drain(300)), []);
    back.client.disconnect(0, { sessionExpiryInterval: 0 });
    pub.destroy();
  });

  it('v5/MQTT-4.3.3-7: a QoS 2 exchange the broker started goes on after the message expires', async () => {
    const sub = await f.connect({ protocolVersion: 5 }, false);
    await sub.subscribe('expiring/live', 2);
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('expiring/live', 'short-lived', 2, { properties: { messageExpiryInterval: 1 } });
    const got = await sub.expectPublish('expiring/live');
    await sleep(1300);
    sub.send({ type: 'pubrec', packetId: got.packetId! });
    assert.equal((await sub.expect('pubrel')).packetId, got.packetId);
    sub.send({ type: 'pubcomp', packetId: got.packetId! });
    sub.destroy();
    pub.destroy();
  });

  it('v5/MQTT-4.3.3-7: a QoS 2 message the broker has sent is resent on session resume after it expired', async () => {
    const props = { sessionExpiryInterval: 30 };
    const sub = await f.connect({ protocolVersion: 5, clientId: 'late-acker', properties: props }, false);
    await sub.subscribe('expiring/resume', 2);
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('expiring/resume', 'short-lived', 2, { properties: { messageExpiryInterval: 1 } });
    const got = await sub.expectPublish('expiring/resume');
    sub.destroy();
    await sleep(1300);
    const back = await RawClient.connect(f.port, { protocolVersion: 5, clientId: 'late-acker', clean: false, properties: props }, { autoAck: false });
    try {
      const again = await back.client.expectPublish('expiring/resume', 1000);
      assert.equal(again.packetId, got.packetId);
    } finally {
      back.client.disconnect(0, { sessionExpiryInterval: 0 });
      pub.destroy();
    }
  });

  it('v5/MQTT-4.3.3-13: the broker completes a QoS 2 exchange whose message expired before PUBREL', async () => {
    const pub = await f.connect({ protocolVersion: 5 }, false);
    pub.send(message('expired/x', 'x', 2, 31, { properties: { messageExpiryInterval: 1 } }));
    assert.equal((await pub.expect('pubrec')).packetId, 31);
    await sleep(1300);
    pub.send({ type: 'pubrel', packetId: 31 });
    const pubcomp = await pub.expect('pubcomp');
    assert.equal(pubcomp.packetId, 31);
    assert.ok(pubcomp.reasonCode === undefined || pubcomp.reasonCode === 0);
    pub.destroy();
  });

  it('v5/MQTT-3.3.1-3: the DUP flag of a forwarded message does not copy the incoming one', async () => {
    await dupNotCopied(f, 5);
  });

  it('v5/MQTT-3.3.2-3, v5/MQTT-4.5.0-1: every matching session gets the message, under the topic name the publisher used', async () => {
    await fanOut(f, 5);
  });

  it('v5/MQTT-3.3.1-5, v5/MQTT-3.3.1-6, v5/MQTT-3.3.1-7, v5/MQTT-3.3.1-8: a retained PUBLISH replaces the retained message, an empty one deletes it and is not kept, a non-retained one leaves it', async () => {
    const pub = await f.connect({ protocolVersion: 5 });
    const retainedOn = async (topic: string): Promise<string[]> => {
      const probe = await f.connect({ protocolVersion: 5 });
      await probe.subscribe(topic, 1);
      const got = publishes(await probe.drain(150)).map((p) => text(p.payload));
      probe.destroy();
      return got;
    };
    await pub.publish('kept/x', 'first', 1, { retain: true });
    await pub.publish('kept/x', 'second', 1, { retain: true });
    assert.deepEqual(await retainedOn('kept/x'), ['second']);
    await pub.publish('kept/x', 'live only', 1);
    assert.deepEqual(await retainedOn('kept/x'), ['second']);
    await pub.publish('kept/x', '', 1, { retain: true });
    assert.deepEqual(await retainedOn('kept/x'), []);
    pub.destroy();
  });

  it('v5/MQTT-3.3.2-7: a topic alias does not outlive its connection', async () => {
    const first = await f.connect({ protocolVersion: 5, clientId: 'aliased', properties: { sessionExpiryInterval: 30 } });
    first.send(message('alias/x', '1', 0, undefined, { properties: { topicAlias: 1 } }));
    first.disconnect();
    await first.closedWithin();
    const second = await f.connect({ protocolVersion: 5, clientId: 'aliased', clean: false, properties: { sessionExpiryInterval: 0 } });
    second.send(message('', '2', 0, undefined, { properties: { topicAlias: 1 } }));
    assert.equal((await second.expect('disconnect')).reasonCode, 0x82);
    await second.closedWithin();
  });

  it('v5/MQTT-3.1.2-27: a client that sets no Topic Alias Maximum gets no topic aliases', async () => {
    const sub = await f.connect({ protocolVersion: 5 });
    await sub.subscribe('noalias/#', 0);
    const pub = await f.connect({ protocolVersion: 5 });
    for (let i = 0; i < 5; i++) await pub.publish('noalias/same/topic', String(i), 0);
    const got = [];
    for (let i = 0; i < 5; i++) got.push(await sub.expect('publish'));
    assert.ok(got.every((p) => p.topic === 'noalias/same/topic' && p.properties?.topicAlias === undefined));
    sub.destroy();
    pub.destroy();
  });

  it('v5/MQTT-3.3.2-13: a Response Topic that is not UTF-8 is a malformed packet', async () => {
    const pub = await f.connect({ protocolVersion: 5 });
    // PUBLISH QoS 0, topic "t", properties: Response Topic (0x08) of 2 bytes C3 28 (an invalid sequence), payload "a".
    pub.sendRaw(new Uint8Array([0x30, 0x0a, 0x00, 0x01, 0x74, 0x05, 0x08, 0x00, 0x02, 0xc3, 0x28, 0x61]));
    assert.equal((await pub.expect('disconnect')).reasonCode, 0x81);
    await pub.closedWithin();
  });

  it('v5/MQTT-3.3.2-14: a Response Topic with wildcards is refused, never forwarded', async () => {
    const sub = await f.connect({ protocolVersion: 5 });
    await sub.subscribe('resp/#', 0);
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('resp/x', 'q', 0, { properties: { responseTopic: 'reply/+/x' } });
    assert.deepEqual(publishes(await sub.drain(200)), []);
    sub.destroy();
    pub.destroy();
  });

  it('v5/MQTT-3.4.2-2, v5/MQTT-3.4.2-3, v5/MQTT-3.5.2-2, v5/MQTT-3.5.2-3: a PUBACK or PUBREC too large for the client goes without Reason String and User Properties', async () => {
    const roomy = await f.connect({ protocolVersion: 5 }, false);
    roomy.send(message('reject/a', 'x', 1, 1));
    assert.ok((await roomy.expect('puback')).properties?.reasonString, 'a roomy client gets the Reason String');
    const tight = await f.connect({ protocolVersion: 5, properties: { maximumPacketSize: 20 } }, false);
    tight.send(message('reject/a', 'x', 1, 1));
    tight.send(message('reject/b', 'x', 2, 2));
    for (const ack of [await tight.expect('puback'), await tight.expect('pubrec')]) {
      assert.equal(ack.reasonCode, 0x97);
      assert.equal(ack.properties?.reasonString, undefined);
      assert.equal(ack.properties?.userProperties, undefined);
      assert.ok(encode(ack, 5).length <= 20);
    }
    roomy.destroy();
    tight.destroy();
  });

  it('v5/MQTT-3.6.2-2, v5/MQTT-3.6.2-3, v5/MQTT-3.7.2-2, v5/MQTT-3.7.2-3: PUBREL and PUBCOMP stay within the client Maximum Packet Size', async () => {
    const max = 24;
    const c = await f.connect({ protocolVersion: 5, properties: { maximumPacketSize: max } }, false);
    await c.subscribe('small/#', 2);
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('small/x', 'x', 2);
    const got = await c.expectPublish('small/x');
    c.send({ type: 'pubrec', packetId: got.packetId! });
    const pubrel = await c.expect('pubrel');
    c.send({ type: 'pubcomp', packetId: pubrel.packetId });
    c.send(message('small/y', 'y', 2, 9));
    await c.expect('pubrec');
    c.send({ type: 'pubrel', packetId: 9 });
    const pubcomp = await c.expect('pubcomp');
    for (const p of [pubrel, pubcomp]) {
      assert.equal(p.properties?.reasonString, undefined);
      assert.equal(p.properties?.userProperties, undefined);
      assert.ok(encode(p, 5).length <= max);
    }
    // The unknown-id PUBCOMP (0x92) too.
    c.send({ type: 'pubrel', packetId: 4242 });
    const unknown = await c.expect('pubcomp');
    assert.equal(unknown.reasonCode, 0x92);
    assert.ok(encode(unknown, 5).length <= max);
    c.destroy();
    pub.destroy();
  });
});

describe('MQTT 5.0 flow control', () => {
  let f: Fixture;
  before(async () => {
    f = await startBroker();
  });
  after(() => f.close());

  it('v5/MQTT-4.9.0-1, v5/MQTT-4.9.0-2, v5/MQTT-4.9.0-3, v5/MQTT-3.3.4-10: at zero send quota no QoS 1/2 PUBLISH goes out, but every other packet is still answered', async () => {
    const sub = await f.connect({ protocolVersion: 5, properties: { receiveMaximum: 2 } }, false);
    await sub.subscribe('quota/#', 1);
    const pub = await f.connect({ protocolVersion: 5 });
    for (let i = 0; i < 5; i++) await pub.publish('quota/x', String(i), 1);
    const first = publishes(await sub.drain(200));
    assert.equal(first.length, 2, 'the quota starts at the client Receive Maximum');
    // Quota 0: PINGREQ, SUBSCRIBE, UNSUBSCRIBE and the client's own PUBLISH are still answered.
    sub.send({ type: 'pingreq' });
    await sub.expect('pingresp');
    assert.deepEqual(await sub.subscribe('quota0/#', 0), [0]);
    assert.deepEqual(await sub.unsubscribe(['quota0/#']), [0]);
    sub.send(message('quota/own', 'mine', 1, 77));
    assert.equal((await sub.expect('puback')).packetId, 77);
    assert.deepEqual(publishes(await sub.drain(100)).filter((p) => p.topic === 'quota/x'), []);
    // Each PUBACK opens room for one more.
    sub.send({ type: 'puback', packetId: first[0]!.packetId! });
    assert.equal(text((await sub.expectPublish('quota/x')).payload), '2');
    sub.destroy();
    pub.destroy();
  });
});
