// MQTT 5.0 server statements on SUBSCRIBE, UNSUBSCRIBE, PINGREQ (chapters 3.8-3.12), subscription
// identifiers on several copies (3.3.4) and shared subscriptions (4.8.2), against an embedded broker.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encode } from '../../src/packet/index.js';
import { startBroker, type Client, type Fixture } from '../broker/core/fixture.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';
import { downgrade, literalUnsubscribe, pingPong, publishes, resubscribe, unsubscribeCompletes } from './scenarios.js';


/** SUBACK and UNSUBACK reason codes MQTT 5.0 defines (sections 3.9.3 and 3.11.3). */
const SUBACK_CODES = new Set([0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2]);
const UNSUBACK_CODES = new Set([0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91]);

describe('MQTT 5.0 SUBSCRIBE and SUBACK', () => {
  let f: Fixture;
  before(async () => {
    f = await startBroker({
      limits: { maxTopicLevels: 5 },
      hooks: { authorizeSubscribe: ({ subscription }) => !subscription.topicFilter.startsWith('forbidden/') },
    });
  });
  after(() => f.close());

  it('v5/MQTT-4.7.1-1, v5/MQTT-4.7.1-2, v5/MQTT-4.7.3-1, v5/MQTT-4.13.1-1: a malformed or empty topic filter in SUBSCRIBE or UNSUBSCRIBE is a Malformed Packet (DISCONNECT 0x81), not SUBACK 0x8F', async () => {
    const cases: Array<(c: Client) => void> = [
      (c) => c.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'm/ok', qos: 0 }, { topicFilter: 'ab/+e', qos: 0 }] }),
      (c) => c.send({ type: 'subscribe', packetId: 2, subscriptions: [{ topicFilter: '', qos: 0 }] }),
      (c) => c.send({ type: 'subscribe', packetId: 3, subscriptions: [{ topicFilter: '$share//x', qos: 0 }] }),
      (c) => c.send({ type: 'unsubscribe', packetId: 4, topicFilters: ['a/#/b'] }),
    ];
    for (const send of cases) {
      const c = await f.connect({ protocolVersion: 5 });
      send(c);
      assert.equal((await c.expect('disconnect')).reasonCode, 0x81);
      await c.closedWithin();
      assert.deepEqual(c.pending().filter((p) => p.type !== 'disconnect'), []);
    }
  });

  it('v5/MQTT-3.8.4-1, v5/MQTT-3.8.4-2, v5/MQTT-2.2.1-6, v5/MQTT-3.8.4-5, v5/MQTT-3.8.4-6, v5/MQTT-3.8.4-7, v5/MQTT-3.9.3-1, v5/MQTT-3.9.3-2: one SUBACK with the packet id and one granted QoS or failure code per filter, in order', async () => {
    const c = await f.connect({ protocolVersion: 5 });
    c.send({
      type: 'subscribe',
      packetId: 4097,
      subscriptions: [
        { topicFilter: 'many/two', qos: 2 },
        { topicFilter: 'forbidden/x', qos: 1 },
        { topicFilter: 'many/zero', qos: 0 },
        { topicFilter: 'too/many/levels/for/this/broker', qos: 1 },
        { topicFilter: 'many/one', qos: 1 },
      ],
    });
    const suback = await c.expect('suback');
    assert.equal(suback.packetId, 4097);
    assert.deepEqual(suback.reasonCodes, [2, 0x87, 0, 0x8f, 1]);
    assert.ok(suback.reasonCodes.every((code) => SUBACK_CODES.has(code)));
    assert.deepEqual((await c.drain(100)).filter((p) => p.type === 'suback'), []);
    c.destroy();
  });

  it('v5/MQTT-3.8.4-8: a message goes out at the lower of its QoS and the granted QoS', async () => {
    await downgrade(f, 5);
  });

  it('v5/MQTT-3.8.4-3, v5/MQTT-3.8.4-4: subscribing again to the same filter replaces the subscription, resends retained messages and loses nothing', async () => {
    await resubscribe(f, 5);
  });

  it('v5/MQTT-3.9.2-1, v5/MQTT-3.9.2-2: SUBACK stays within the client Maximum Packet Size, without Reason String or User Properties', async () => {
    const c = await f.connect({ protocolVersion: 5, properties: { maximumPacketSize: 16 } });
    c.send({ type: 'subscribe', packetId: 3, subscriptions: [{ topicFilter: 'forbidden/a', qos: 1 }, { topicFilter: 'fine', qos: 1 }] });
    const suback = await c.expect('suback');
    assert.deepEqual(suback.reasonCodes, [0x87, 1]);
    assert.equal(suback.properties?.reasonString, undefined);
    assert.equal(suback.properties?.userProperties, undefined);
    assert.ok(encode(suback, 5).length <= 16);
    c.destroy();
  });

  it('v5/MQTT-3.3.4-5: when a client gets several copies of one message, each carries the identifier of its own subscription', async () => {
    const sub = await f.connect({ protocolVersion: 5 });
    await sub.subscribe({ topicFilter: 'copies/#', qos: 1 }, 0, { subscriptionIdentifiers: [5] });
    await sub.subscribe({ topicFilter: '$share/g/copies/#', qos: 1 }, 0, { subscriptionIdentifiers: [6] });
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('copies/x', 'x', 1);
    const got = publishes(await sub.drain(200));
    // A shared and a non-shared subscription are delivered separately: two copies.
    assert.equal(got.length, 2);
    assert.deepEqual(got.map((p) => p.properties?.subscriptionIdentifiers).sort(), [[5], [6]]);
    sub.destroy();
    pub.destroy();
  });

  it('v5/MQTT-3.12.4-1: PINGREQ is answered by PINGRESP', async () => {
    await pingPong(f, 5);
  });

  it('v5/MQTT-3.15.1-1: an AUTH with reserved flags set is malformed and closes the connection', async () => {
    const c = await f.connect({ protocolVersion: 5 });
    c.sendRaw(new Uint8Array([0xf1, 0x00]));
    assert.equal((await c.expect('disconnect')).reasonCode, 0x81);
    await c.closedWithin();
  });
});

describe('MQTT 5.0 UNSUBSCRIBE and UNSUBACK', () => {
  let f: Fixture;
  before(async () => {
    f = await startBroker();
  });
  after(() => f.close());

  it('v5/MQTT-3.10.4-4, v5/MQTT-3.10.4-5, v5/MQTT-2.2.1-6, v5/MQTT-3.10.4-6, v5/MQTT-3.11.3-1, v5/MQTT-3.11.3-2: one UNSUBACK with the packet id and a code per filter in order, also when nothing was removed', async () => {
    const c = await f.connect({ protocolVersion: 5 });
    await c.subscribe([{ topicFilter: 'u/a', qos: 0 }, { topicFilter: 'u/c', qos: 1 }]);
    c.send({ type: 'unsubscribe', packetId: 300, topicFilters: ['u/a', 'u/b', 'u/c'] });
    const unsuback = await c.expect('unsuback');
    assert.equal(unsuback.packetId, 300);
    assert.deepEqual(unsuback.reasonCodes, [0, 0x11, 0]);
    assert.ok(unsuback.reasonCodes.every((code) => UNSUBACK_CODES.has(code)));
    c.send({ type: 'unsubscribe', packetId: 301, topicFilters: ['never/subscribed'] });
    const none = await c.expect('unsuback');
    assert.equal(none.packetId, 301);
    assert.deepEqual(none.reasonCodes, [0x11]);
    assert.deepEqual((await c.drain(100)).filter((p) => p.type === 'unsuback'), []);
    c.destroy();
  });

  it('v5/MQTT-3.10.4-1: UNSUBSCRIBE compares filters character by character, without wildcard matching', async () => {
    assert.deepEqual(await literalUnsubscribe(f, 5), [0x11, 0]);
  });

  it('v5/MQTT-3.10.4-2, v5/MQTT-3.10.4-3: after UNSUBSCRIBE nothing new is sent, and deliveries already started are completed', async () => {
    await unsubscribeCompletes(f, 5);
  });

  it('v5/MQTT-3.11.2-1, v5/MQTT-3.11.2-2: UNSUBACK stays within the client Maximum Packet Size, without Reason String or User Properties', async () => {
    const c = await f.connect({ protocolVersion: 5, properties: { maximumPacketSize: 16 } });
    c.send({ type: 'unsubscribe', packetId: 8, topicFilters: ['none/a', 'none/b'] });
    const unsuback = await c.expect('unsuback');
    assert.deepEqual(unsuback.reasonCodes, [0x11, 0x11]);
    assert.equal(unsuback.properties?.reasonString, undefined);
    assert.equal(unsuback.properties?.userProperties, undefined);
    assert.ok(encode(unsuback, 5).length <= 16);
    c.destroy();
  });
});

describe('MQTT 5.0 shared subscriptions', () => {
  let f: Fixture;
  before(async () => {
    f = await startBroker();
  });
  after(() => f.close());

  it('v5/MQTT-4.8.2-3: each member gets shared messages at its own granted QoS', async () => {
    const low = await f.connect({ protocolVersion: 5 });
    const high = await f.connect({ protocolVersion: 5 });
    await low.subscribe('$share/q/sq/#', 0);
    await high.subscribe('$share/q/sq/#', 2);
    const pub = await f.connect({ protocolVersion: 5 });
    for (let i = 0; i < 6; i++) await pub.publish('sq/x', String(i), 2);
    const toLow = publishes(await low.drain(200));
    const toHigh = publishes(await high.drain(10));
    assert.equal(toLow.length + toHigh.length, 6);
    assert.ok(toLow.length > 0 && toHigh.length > 0);
    assert.ok(toLow.every((p) => p.qos === 0));
    assert.ok(toHigh.every((p) => p.qos === 2));
    for (const c of [low, high, pub]) c.destroy();
  });

  it('v5/MQTT-4.8.2-4: a QoS 2 shared message cut off mid-delivery is completed to the same member when it reconnects', async () => {
    const props = { sessionExpiryInterval: 30 };
    const member = await f.connect({ protocolVersion: 5, clientId: 'sh-resume', properties: props }, false);
    await member.subscribe('$share/r/sr/#', 2);
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('sr/x', 'exactly once', 2);
    const first = await member.expectPublish('sr/x');
    member.destroy();
    await waitFor(() => f.broker.connectedClients === 1, 2000, 'the member to be gone');
    const other = await f.connect({ protocolVersion: 5 });
    await other.subscribe('$share/r/sr/#', 2);
    const back = await RawClient.connect(f.port, { protocolVersion: 5, clientId: 'sh-resume', clean: false, properties: props }, { autoAck: false });
    const again = await back.client.expectPublish('sr/x');
    assert.equal(again.packetId, first.packetId);
    assert.equal(again.dup, true);
    back.client.send({ type: 'pubrec', packetId: again.packetId! });
    back.client.send({ type: 'pubcomp', packetId: (await back.client.expect('pubrel')).packetId });
    assert.deepEqual(publishes(await other.drain(150)), []);
    back.client.disconnect(0, { sessionExpiryInterval: 0 });
    other.destroy();
    pub.destroy();
  });

  it('v5/MQTT-4.8.2-5: a QoS 2 shared message is not sent to another member when the session of the chosen member ends', async () => {
    const dying = await f.connect({ protocolVersion: 5, clientId: 'sh-dying' }, false);
    await dying.subscribe('$share/d/sd/#', 2);
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('sd/x', 'only for the chosen one', 2);
    await dying.expectPublish('sd/x');
    const survivor = await f.connect({ protocolVersion: 5 });
    await survivor.subscribe('$share/d/sd/#', 2);
    dying.destroy();
    assert.deepEqual(publishes(await survivor.drain(300)), []);
    survivor.destroy();
    pub.destroy();
  });

  it('v5/MQTT-4.8.2-6: a shared message the member refuses with a PUBACK >= 0x80 is not sent to another member', async () => {
    const refuser = await f.connect({ protocolVersion: 5 }, false);
    await refuser.subscribe('$share/n/sn/#', 1);
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('sn/x', 'refused', 1);
    const got = await refuser.expectPublish('sn/x');
    const other = await f.connect({ protocolVersion: 5 });
    await other.subscribe('$share/n/sn/#', 1);
    refuser.send({ type: 'puback', packetId: got.packetId!, reasonCode: 0x80 });
    assert.deepEqual(publishes(await other.drain(200)), []);
    assert.deepEqual(publishes(await refuser.drain(10)), []);
    for (const c of [refuser, other, pub]) c.destroy();
  });
});
