import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PublishPacket } from '../../../src/packet/types.js';
import { sleep, startBroker, text, type Fixture } from './fixture.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const publishes = (packets: readonly { type: string }[]): PublishPacket[] => packets.filter((p) => p.type === 'publish') as PublishPacket[];

describe('PUBLISH and SUBSCRIBE', () => {
  let f: Fixture;
  before(async () => {
    f = await startBroker();
  });
  after(() => f.close());

  for (const version of [4, 5] as const) {
    it(`v${version}: QoS 0, 1 and 2 both ways, downgraded to the subscription`, async () => {
      const sub = await f.connect({ protocolVersion: version });
      assert.deepEqual(await sub.subscribe([{ topicFilter: `q${version}/2`, qos: 2 }, { topicFilter: `q${version}/1`, qos: 1 }]), [2, 1]);
      const pub = await f.connect({ protocolVersion: version });
      for (const qos of [0, 1, 2] as const) {
        await pub.publish(`q${version}/2`, `two-${qos}`, qos);
        await pub.publish(`q${version}/1`, `one-${qos}`, qos);
      }
      const got = new Map<string, number>();
      for (let i = 0; i < 6; i++) {
        const p = await sub.expect('publish');
        got.set(text(p.payload), p.qos);
        if (p.qos > 0) assert.ok(p.packetId! > 0);
      }
      assert.deepEqual(Object.fromEntries(got), { 'two-0': 0, 'two-1': 1, 'two-2': 2, 'one-0': 0, 'one-1': 1, 'one-2': 1 });
      sub.destroy();
      pub.destroy();
    });
  }

  it('keeps the order of one publisher through the in-flight window', async () => {
    const sub = await f.connect({ protocolVersion: 5, properties: { receiveMaximum: 3 } });
    await sub.subscribe('order/#', 1);
    const pub = await f.connect({ protocolVersion: 4 });
    for (let i = 0; i < 50; i++) pub.send({ type: 'publish', topic: 'order/a', payload: enc(String(i)), qos: i % 2 === 0 ? 1 : 0, packetId: i % 2 === 0 ? i + 1 : undefined, retain: false, dup: false });
    const seen: number[] = [];
    for (let i = 0; i < 50; i++) seen.push(Number(text((await sub.expect('publish')).payload)));
    assert.deepEqual(seen, [...Array(50).keys()]);
    sub.destroy();
    pub.destroy();
  });

  it('never exceeds the client Receive Maximum', async () => {
    const sub = await f.connect({ protocolVersion: 5, properties: { receiveMaximum: 2 } }, false);
    await sub.subscribe('rm/#', 1);
    const pub = await f.connect({ protocolVersion: 5 });
    for (let i = 0; i < 5; i++) await pub.publish('rm/x', String(i), 1);
    const first = publishes(await sub.drain(200));
    assert.equal(first.length, 2);
    sub.send({ type: 'puback', packetId: first[0]!.packetId! });
    const next = await sub.expect('publish');
    assert.equal(text(next.payload), '2');
    assert.equal(publishes(await sub.drain(100)).length, 0);
    sub.destroy();
    pub.destroy();
  });

  it('disconnects a v5 client exceeding our Receive Maximum (0x93)', async () => {
    const g = await startBroker({ limits: { receiveMaximum: 2 } });
    try {
      const pub = await g.connect({ protocolVersion: 5 }, false);
      // QoS 2 without PUBREL: each stays unacknowledged until released.
      for (let id = 1; id <= 3; id++) pub.send({ type: 'publish', topic: 'x', payload: enc('x'), qos: 2, packetId: id, retain: false, dup: false });
      const disconnect = await pub.expect('disconnect');
      assert.equal(disconnect.reasonCode, 0x93);
    } finally {
      await g.close();
    }
  });

  it('answers a resent QoS 2 PUBLISH without delivering it twice', async () => {
    const sub = await f.connect({ protocolVersion: 4 });
    await sub.subscribe('dup2', 2);
    const pub = await f.connect({ protocolVersion: 4 }, false);
    const packet = { type: 'publish' as const, topic: 'dup2', payload: enc('once'), qos: 2 as const, packetId: 42, retain: false, dup: false };
    pub.send(packet);
    await pub.expect('pubrec');
    pub.send({ ...packet, dup: true });
    await pub.expect('pubrec');
    pub.send({ type: 'pubrel', packetId: 42 });
    await pub.expect('pubcomp');
    pub.send({ type: 'pubrel', packetId: 42 });
    await pub.expect('pubcomp');
    assert.equal(publishes(await sub.drain(150)).length, 1);
    sub.destroy();
    pub.destroy();
  });

  it('v5 acknowledges with 0x10 when nobody subscribed, 0x92 for an unknown PUBREL', async () => {
    const pub = await f.connect({ protocolVersion: 5 }, false);
    assert.equal(await pub.publish('nobody/here', 'x', 1), 0x10);
    pub.send({ type: 'pubrel', packetId: 999 });
    assert.equal((await pub.expect('pubcomp')).reasonCode, 0x92);
    pub.destroy();
  });

  it('delivers overlapping subscriptions once at the highest QoS with every identifier', async () => {
    const sub = await f.connect({ protocolVersion: 5 });
    await sub.subscribe({ topicFilter: 'ov/+', qos: 0 }, 0, { subscriptionIdentifiers: [11] });
    await sub.subscribe({ topicFilter: 'ov/#', qos: 2 }, 0, { subscriptionIdentifiers: [22] });
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('ov/a', 'x', 2);
    const got = publishes(await sub.drain(150));
    assert.equal(got.length, 1);
    assert.equal(got[0]!.qos, 2);
    assert.deepEqual([...(got[0]!.properties?.subscriptionIdentifiers ?? [])].sort(), [11, 22]);
    sub.destroy();
    pub.destroy();
  });

  it('does not match $ topics with leading wildcards and refuses client publishes to $SYS', async () => {
    const sub = await f.connect({ protocolVersion: 5 });
    await sub.subscribe('#', 0);
    await sub.subscribe('$SYS/#', 0);
    const pub = await f.connect({ protocolVersion: 5 });
    assert.equal(await pub.publish('$SYS/broker/fake', 'x', 1), 0x87);
    await pub.publish('$internal/x', 'y', 0);
    const got = publishes(await sub.drain(150)).map((p) => p.topic);
    assert.deepEqual(got.filter((t) => t.startsWith('$')), []);
    sub.destroy();
    pub.destroy();
  });

  it('honours No Local and Retain As Published', async () => {
    const c = await f.connect({ protocolVersion: 5 });
    await c.subscribe([{ topicFilter: 'nl/x', qos: 0, noLocal: true }]);
    await c.subscribe([{ topicFilter: 'rap/x', qos: 0, retainAsPublished: true }]);
    const other = await f.connect({ protocolVersion: 5 });
    await other.subscribe('rap/x', 0);
    await c.publish('nl/x', 'mine', 0);
    await c.publish('rap/x', 'flagged', 0, { retain: true });
    // Waited for, not caught in a fixed window: a loaded machine may take longer. Its own 'nl/x' would have come
    // first, so whatever else arrived is in the queue by now, or within the drain.
    const mine = [await c.expectPublish('rap/x'), ...publishes(await c.drain(150))];
    assert.deepEqual(mine.map((p) => [p.topic, p.retain]), [['rap/x', true]]);
    const theirs = await other.expectPublish('rap/x');
    assert.equal(theirs.retain, false);
    await c.publish('rap/x', '', 0, { retain: true });
    c.destroy();
    other.destroy();
  });

  it('stores, replaces, clears and sends retained messages with Retain Handling 0, 1, 2', async () => {
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('ret/a', 'first', 1, { retain: true });
    await pub.publish('ret/a', 'second', 1, { retain: true });
    await pub.publish('ret/b', 'other', 0, { retain: true });
    const sub = await f.connect({ protocolVersion: 5 });
    await sub.subscribe({ topicFilter: 'ret/#', qos: 1, retainHandling: 0 });
    const got = publishes(await sub.drain(150));
    assert.deepEqual(got.map((p) => [p.topic, text(p.payload), p.retain]).sort(), [['ret/a', 'second', true], ['ret/b', 'other', true]]);
    await sub.subscribe({ topicFilter: 'ret/#', qos: 1, retainHandling: 1 });
    await sub.subscribe({ topicFilter: 'ret/a', qos: 1, retainHandling: 2 });
    assert.equal(publishes(await sub.drain(150)).length, 0);
    await sub.subscribe({ topicFilter: 'ret/+', qos: 1, retainHandling: 1 });
    assert.equal(publishes(await sub.drain(150)).length, 2);
    await pub.publish('ret/a', '', 1, { retain: true });
    await pub.publish('ret/b', '', 1, { retain: true });
    await sub.drain(100);
    const late = await f.connect({ protocolVersion: 4 });
    await late.subscribe('ret/#', 1);
    assert.equal(publishes(await late.drain(150)).length, 0);
    for (const c of [pub, sub, late]) c.destroy();
  });

  it('accepts topic aliases from a client and refuses out-of-range ones (0x94)', async () => {
    const sub = await f.connect({ protocolVersion: 4 });
    await sub.subscribe('alias/#', 0);
    const pub = await f.connect({ protocolVersion: 5 });
    pub.send({ type: 'publish', topic: 'alias/one', payload: enc('1'), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } });
    pub.send({ type: 'publish', topic: '', payload: enc('2'), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } });
    const got = [await sub.expect('publish'), await sub.expect('publish')];
    assert.deepEqual(got.map((p) => [p.topic, text(p.payload)]), [['alias/one', '1'], ['alias/one', '2']]);
    pub.send({ type: 'publish', topic: 'alias/x', payload: enc('3'), qos: 0, retain: false, dup: false, properties: { topicAlias: 11 } });
    assert.equal((await pub.expect('disconnect')).reasonCode, 0x94);
    const unknown = await f.connect({ protocolVersion: 5 });
    unknown.send({ type: 'publish', topic: '', payload: enc('4'), qos: 0, retain: false, dup: false, properties: { topicAlias: 2 } });
    assert.equal((await unknown.expect('disconnect')).reasonCode, 0x82);
    sub.destroy();
  });

  it('assigns topic aliases to outgoing messages within the client maximum', async () => {
    const sub = await f.connect({ protocolVersion: 5, properties: { topicAliasMaximum: 1 } });
    await sub.subscribe('out/#', 0);
    const pub = await f.connect({ protocolVersion: 4 });
    for (const t of ['out/a', 'out/a', 'out/b', 'out/a']) await pub.publish(t, t, 0);
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await sub.expect('publish'));
    // At the maximum, the least recently used alias is bound again to the new topic.
    assert.deepEqual(
      got.map((p) => [p.topic, p.properties?.topicAlias]),
      [['out/a', 1], ['', 1], ['out/b', 1], ['out/a', 1]],
    );
    sub.destroy();
    pub.destroy();
  });

  it('Payload Format Indicator 1 with a payload that is not UTF-8: PUBACK/PUBREC 0x99, DISCONNECT 0x99 at QoS 0, CONNACK 0x99 for a Will', async () => {
    const sub = await f.connect({ protocolVersion: 5 });
    await sub.subscribe('pfi/#', 1);
    const pub = await f.connect({ protocolVersion: 5 });
    const bad = new Uint8Array([0x61, 0xff, 0xfe]);
    const utf8 = { payloadFormatIndicator: true };
    assert.equal(await pub.publish('pfi/a', bad, 1, { properties: utf8 }), 0x99);
    assert.equal(await pub.publish('pfi/a', bad, 2, { properties: utf8 }), 0x99);
    assert.equal(await pub.publish('pfi/a', bad, 1), 0); // no indicator: bytes are bytes
    assert.equal(await pub.publish('pfi/a', 'héllo ✓', 1, { properties: utf8 }), 0);
    const got = [await sub.expectPublish('pfi/a'), await sub.expectPublish('pfi/a')];
    assert.deepEqual(got.map((p) => [[...p.payload].length, p.properties?.payloadFormatIndicator]), [[3, undefined], [Buffer.byteLength('héllo ✓'), true]]);
    pub.send({ type: 'publish', topic: 'pfi/a', payload: bad, qos: 0, retain: false, dup: false, properties: utf8 });
    const disconnect = await pub.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x99);
    assert.deepEqual(await sub.drain(100), []);
    const { client, connack } = await f.handshake({
      protocolVersion: 5,
      will: { topic: 'pfi/will', payload: bad, qos: 0, retain: false, properties: utf8 },
    });
    assert.equal(connack.reasonCode, 0x99);
    client.destroy();
    sub.destroy();
  });

  it('reuses the least recently used outgoing alias when the client maximum is reached', async () => {
    const sub = await f.connect({ protocolVersion: 5, properties: { topicAliasMaximum: 2 } });
    await sub.subscribe('lru/#', 1);
    const pub = await f.connect({ protocolVersion: 4 });
    const sent = ['lru/a', 'lru/b', 'lru/a', 'lru/c', 'lru/a', 'lru/c', 'lru/b', 'lru/a', 'lru/b'];
    for (const t of sent) await pub.publish(t, t, 1);
    const got = [];
    for (let i = 0; i < sent.length; i++) got.push(await sub.expect('publish'));
    // What the client sees, resolved as a client resolves aliases, is what was published.
    const bound = new Map<number, string>();
    const resolved = got.map((p) => {
      const alias = p.properties?.topicAlias;
      assert.ok(alias !== undefined && alias >= 1 && alias <= 2, `alias ${alias}`);
      if (p.topic.length > 0) bound.set(alias, p.topic);
      return bound.get(alias);
    });
    assert.deepEqual(resolved, sent);
    assert.deepEqual(resolved, got.map((p) => Buffer.from(p.payload).toString()));
    // b was least recently used when c came, c when b came back, a stayed bound throughout.
    assert.deepEqual(
      got.map((p) => [p.topic, p.properties?.topicAlias]),
      [['lru/a', 1], ['lru/b', 2], ['', 1], ['lru/c', 2], ['', 1], ['', 2], ['lru/b', 1], ['lru/a', 2], ['', 1]],
    );
    sub.destroy();
    pub.destroy();
  });

  it('drops a message larger than the subscriber Maximum Packet Size for that subscriber only', async () => {
    const small = await f.connect({ protocolVersion: 5, properties: { maximumPacketSize: 100 } });
    const big = await f.connect({ protocolVersion: 5 });
    await small.subscribe('size/#', 1);
    await big.subscribe('size/#', 1);
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('size/x', 'x'.repeat(200), 1);
    await pub.publish('size/x', 'small', 1);
    assert.equal(text((await big.expect('publish')).payload).length, 200);
    assert.equal(text((await small.expect('publish')).payload), 'small');
    assert.ok(f.broker.stats.publishDropped >= 1);
    for (const c of [small, big, pub]) c.destroy();
  });

  it('leaves out the Reason String when it would exceed the client Maximum Packet Size', async () => {
    const roomy = await f.connect({ protocolVersion: 5 });
    roomy.send({ type: 'publish', topic: 'x', payload: enc('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 99 } });
    const full = await roomy.expect('disconnect');
    assert.equal(full.reasonCode, 0x94);
    assert.ok(full.properties?.reasonString);
    const tight = await f.connect({ protocolVersion: 5, properties: { maximumPacketSize: 16 } });
    tight.send({ type: 'publish', topic: 'x', payload: enc('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 99 } });
    const bare = await tight.expect('disconnect');
    assert.equal(bare.reasonCode, 0x94);
    assert.equal(bare.properties?.reasonString, undefined);
  });

  it('refuses a packet above maxPacketSize (v5 DISCONNECT 0x95)', async () => {
    const g = await startBroker({ limits: { maxPacketSize: 1000 } });
    try {
      const pub = await g.connect({ protocolVersion: 5 });
      pub.send({ type: 'publish', topic: 'big', payload: new Uint8Array(2000), qos: 0, retain: false, dup: false });
      assert.equal((await pub.expect('disconnect')).reasonCode, 0x95);
      await pub.closedWithin();
    } finally {
      await g.close();
    }
  });

  it('passes v5 properties through and counts message expiry down', async () => {
    const pub = await f.connect({ protocolVersion: 5 });
    const properties = {
      payloadFormatIndicator: true,
      contentType: 'text/plain',
      responseTopic: 'reply/here',
      correlationData: enc('corr'),
      userProperties: [['a', '1'], ['a', '2'], ['b', '3']] as Array<[string, string]>,
      messageExpiryInterval: 60,
    };
    await pub.publish('props/x', 'hello', 1, { retain: true, properties });
    await sleep(1100);
    const sub = await f.connect({ protocolVersion: 5 });
    await sub.subscribe('props/x', 1);
    const got = await sub.expect('publish');
    assert.equal(got.properties?.contentType, 'text/plain');
    assert.equal(got.properties?.responseTopic, 'reply/here');
    assert.equal(text(got.properties?.correlationData ?? new Uint8Array()), 'corr');
    assert.deepEqual(got.properties?.userProperties, properties.userProperties);
    assert.equal(got.properties?.payloadFormatIndicator, true);
    assert.ok(got.properties!.messageExpiryInterval! <= 59);
    await pub.publish('props/x', '', 1, { retain: true });
    sub.destroy();
    pub.destroy();
  });

  it('does not deliver expired retained messages', async () => {
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('exp/x', 'short', 1, { retain: true, properties: { messageExpiryInterval: 1 } });
    await sleep(1200);
    const sub = await f.connect({ protocolVersion: 5 });
    await sub.subscribe('exp/x', 1);
    assert.equal(publishes(await sub.drain(150)).length, 0);
    sub.destroy();
    pub.destroy();
  });

  it('UNSUBSCRIBE stops delivery; v5 reports missing subscriptions (0x11)', async () => {
    const sub = await f.connect({ protocolVersion: 5 });
    await sub.subscribe('un/x', 0);
    assert.deepEqual(await sub.unsubscribe(['un/x', 'un/none']), [0, 0x11]);
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('un/x', 'x', 1);
    assert.equal(publishes(await sub.drain(150)).length, 0);
    const v4 = await f.connect({ protocolVersion: 4 });
    assert.deepEqual(await v4.unsubscribe(['whatever']), []);
    for (const c of [sub, pub, v4]) c.destroy();
  });

  it('closes the connection on a malformed topic filter (v5: DISCONNECT 0x81) and on No Local on a shared subscription (0x82)', async () => {
    const v5 = await f.connect({ protocolVersion: 5 });
    v5.send({ type: 'subscribe', packetId: 8, subscriptions: [{ topicFilter: 'ok/+', qos: 1 }, { topicFilter: 'a/#/b', qos: 0 }] });
    assert.equal((await v5.expect('disconnect')).reasonCode, 0x81);
    assert.deepEqual(v5.pending().filter((p) => p.type === 'suback'), []);
    const v4 = await f.connect({ protocolVersion: 4 });
    v4.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'a+', qos: 0 }] });
    await v4.closedWithin();
    assert.deepEqual(v4.pending(), []);
    const shared = await f.connect({ protocolVersion: 5 });
    shared.send({ type: 'subscribe', packetId: 9, subscriptions: [{ topicFilter: '$share/g/x', qos: 0, noLocal: true }] });
    assert.equal((await shared.expect('disconnect')).reasonCode, 0x82);
  });

  it('closes a v5 client that publishes to a malformed topic (0x81: 0x90 is for well-formed names the broker refuses)', async () => {
    const pub = await f.connect({ protocolVersion: 5 });
    pub.send({ type: 'publish', topic: 'a/+/b', payload: enc('x'), qos: 0, retain: false, dup: false });
    assert.equal((await pub.expect('disconnect')).reasonCode, 0x81);
  });

  it('publish() and deliverTo() send from the broker itself', async () => {
    const sub = await f.connect({ protocolVersion: 4, clientId: 'direct' });
    await sub.subscribe('api/#', 1);
    assert.equal(f.broker.publish({ topic: 'api/x', payload: 'from broker', qos: 1 }), 1);
    assert.equal(text((await sub.expectPublish('api/x')).payload), 'from broker');
    assert.equal(f.broker.deliverTo('direct', { topic: 'private/x', payload: 'only you', qos: 0 }), true);
    assert.equal(text((await sub.expectPublish('private/x')).payload), 'only you');
    assert.equal(f.broker.deliverTo('nobody', { topic: 'x', payload: 'x' }), false);
    sub.destroy();
  });
});

describe('publish and subscribe hooks', () => {
  it('authorise, reject, rewrite and consume', async () => {
    const consumed: string[] = [];
    const f = await startBroker({
      hooks: {
        authorizeSubscribe: ({ subscription }) => (subscription.topicFilter === 'test/nosubscribe' ? false : subscription.topicFilter.startsWith('low/') ? 0 : true),
        authorizePublish: async ({ topic }) => (topic === 'denied' ? 0x87 : true),
        onPublish: (_client, message) => {
          if (message.topic === 'reject') return { action: 'reject', reasonCode: 0x99 };
          if (message.topic === 'rewrite') return { action: 'rewrite', message: { ...message, topic: 'rewritten' } };
          if (message.topic.startsWith('$SYS/dialect/')) {
            consumed.push(message.topic);
            return { action: 'consume' };
          }
          return undefined;
        },
      },
    });
    try {
      const v5 = await f.connect({ protocolVersion: 5 });
      assert.deepEqual(await v5.subscribe([{ topicFilter: 'test/nosubscribe', qos: 1 }, { topicFilter: 'low/x', qos: 2 }, { topicFilter: 'rewritten', qos: 1 }]), [0x87, 0, 1]);
      const v4 = await f.connect({ protocolVersion: 4 });
      assert.deepEqual(await v4.subscribe('test/nosubscribe', 1), [0x80]);
      assert.equal(await v5.publish('denied', 'x', 1), 0x87);
      assert.equal(await v5.publish('reject', 'x', 2), 0x99);
      assert.equal(await v5.publish('rewrite', 'x', 1), 0);
      assert.equal((await v5.expectPublish('rewritten')).topic, 'rewritten');
      assert.equal(await v5.publish('$SYS/dialect/cmd', 'x', 1), 0);
      assert.deepEqual(consumed, ['$SYS/dialect/cmd']);
      assert.equal(await v4.publish('denied', 'x', 1), 0);
      v5.destroy();
      v4.destroy();
    } finally {
      await f.close();
    }
  });

  it('authorizeRead filters deliveries, retained messages and shared members; acceptConnection refuses sockets', async () => {
    let refuse = false;
    const f = await startBroker({
      hooks: {
        acceptConnection: () => !refuse,
        authorizeRead: (client, topic) => client.username !== 'reader' || topic.startsWith('public/'),
      },
    });
    try {
      const pub = await f.connect({ protocolVersion: 4 });
      await pub.publish('secret/r', 'hidden', 1, { retain: true });
      await pub.publish('public/r', 'shown', 1, { retain: true });
      const reader = await f.connect({ protocolVersion: 4, username: 'reader' });
      await reader.subscribe('#', 1);
      const retained = publishes(await reader.drain(150)).map((p) => p.topic);
      assert.deepEqual(retained, ['public/r']);
      const other = await f.connect({ protocolVersion: 4, username: 'other' });
      await other.subscribe('$share/g/secret/#', 1);
      await reader.subscribe('$share/g/secret/#', 1);
      for (let i = 0; i < 4; i++) await pub.publish('secret/live', String(i), 1);
      await pub.publish('public/live', 'x', 1);
      assert.deepEqual(publishes(await reader.drain(150)).map((p) => p.topic), ['public/live']);
      assert.equal(publishes(await other.drain(10)).length, 4);
      await pub.publish('secret/r', '', 1, { retain: true });
      await pub.publish('public/r', '', 1, { retain: true });
      refuse = true;
      const refused = await f.open();
      await refused.closedWithin();
      for (const c of [pub, reader, other]) c.destroy();
    } finally {
      await f.close();
    }
  });
});

describe('publish hooks that close the connection', () => {
  let f: Fixture;
  before(async () => {
    f = await startBroker({
      hooks: {
        authorizePublish: ({ topic }) => (topic.startsWith('close/') ? { action: 'disconnect', reasonCode: 0x87, reasonString: 'not yours' } : true),
        onPublish: async (client, message) => {
          if (message.topic.startsWith('late/')) return { action: 'disconnect', reasonCode: 0x97 };
          if (message.topic.startsWith('kick/')) {
            // The hook closes the connection itself, then refuses: the refusal must not reach the client.
            f.broker.disconnectClient(client.clientId, 0x98);
            await sleep(10);
            return { action: 'reject', reasonCode: 0x87 };
          }
          return undefined;
        },
      },
    });
  });
  after(() => f.close());

  for (const version of [4, 5] as const) {
    for (const qos of [1, 2] as const) {
      it(`v${version} QoS ${qos}: a refusal that closes the connection is never acknowledged`, async () => {
        for (const [topic, code] of [['close/x', 0x87], ['late/x', 0x97], ['kick/x', 0x98]] as const) {
          const c = await f.connect({ protocolVersion: version }, false);
          c.send({ type: 'publish', topic, payload: enc('x'), qos, packetId: 3, retain: false, dup: false });
          await c.closedWithin();
          const got = c.pending();
          assert.deepEqual(got.filter((p) => p.type !== 'disconnect'), [], `${topic}: ${JSON.stringify(got)}`);
          if (version === 5) assert.equal(got.find((p) => p.type === 'disconnect')?.reasonCode, code, topic);
        }
      });
    }
  }
});
