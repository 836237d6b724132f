import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PublishPacket } from '../../../src/packet/types.js';
import { waitFor } from '../../helpers/wait.js';
import { sleep, startBroker, text, type Fixture } from './fixture.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const publishes = (packets: readonly { type: string }[]): PublishPacket[] => packets.filter((p) => p.type === 'publish') as PublishPacket[];

describe('sessions', () => {
  let f: Fixture;
  before(async () => {
    f = await startBroker();
  });
  after(() => f.close());

  it('3.1.1: a persistent session keeps subscriptions and queues QoS 1/2 (not QoS 0) while offline', async () => {
    const first = await f.connect({ protocolVersion: 4, clientId: 'p311', clean: false });
    await first.subscribe('p311/#', 2);
    first.disconnect();
    await first.closedWithin();
    const pub = await f.connect({ protocolVersion: 4 });
    for (const qos of [0, 1, 2] as const) await pub.publish('p311/x', `m${qos}`, qos);
    const again = await f.handshake({ protocolVersion: 4, clientId: 'p311', clean: false });
    assert.equal(again.connack.sessionPresent, true);
    const got = publishes(await again.client.drain(200));
    assert.deepEqual(got.map((p) => [text(p.payload), p.qos]), [['m1', 1], ['m2', 2]]);
    again.client.destroy();
    pub.destroy();
    const clean = await f.handshake({ protocolVersion: 4, clientId: 'p311', clean: true });
    assert.equal(clean.connack.sessionPresent, false);
    clean.client.destroy();
  });

  it('resends unacknowledged messages with DUP after a reconnect, and PUBREL for released ones', async () => {
    const sub = await f.connect({ protocolVersion: 5, clientId: 'redeliver', clean: true, properties: { sessionExpiryInterval: 60 } }, false);
    await sub.subscribe([{ topicFilter: 'rd/1', qos: 1 }, { topicFilter: 'rd/2', qos: 2 }]);
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('rd/1', 'one', 1);
    await pub.publish('rd/2', 'two', 2);
    const one = await sub.expectPublish('rd/1');
    const two = await sub.expectPublish('rd/2');
    sub.send({ type: 'pubrec', packetId: two.packetId! });
    await sub.expect('pubrel');
    sub.destroy();
    await waitFor(() => f.broker.connectedClients === 1, 2000, 'the subscriber to be gone');
    const again = await f.handshake({ protocolVersion: 5, clientId: 'redeliver', clean: false, properties: { sessionExpiryInterval: 60 } }, { autoAck: false });
    assert.equal(again.connack.sessionPresent, true);
    const resent = await again.client.expectPublish('rd/1');
    assert.equal(resent.dup, true);
    assert.equal(resent.packetId, one.packetId);
    assert.equal((await again.client.expect('pubrel')).packetId, two.packetId);
    again.client.destroy();
    pub.destroy();
  });

  it('v5: a session with expiry 0 ends at disconnect; a set expiry ends it later', async () => {
    const a = await f.connect({ protocolVersion: 5, clientId: 'exp0' });
    a.disconnect();
    await a.closedWithin();
    const b = await f.connect({ protocolVersion: 5, clientId: 'exp1', properties: { sessionExpiryInterval: 1 } });
    await b.subscribe('exp1/x', 1);
    b.disconnect();
    await b.closedWithin();
    const back = await f.handshake({ protocolVersion: 5, clientId: 'exp0', clean: false });
    assert.equal(back.connack.sessionPresent, false);
    back.client.destroy();
    await sleep(1300);
    const late = await f.handshake({ protocolVersion: 5, clientId: 'exp1', clean: false });
    assert.equal(late.connack.sessionPresent, false);
    late.client.destroy();
  });

  it('v5: DISCONNECT may not raise the session expiry from 0 (0x82)', async () => {
    const c = await f.connect({ protocolVersion: 5 });
    c.send({ type: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 30 } });
    assert.equal((await c.expect('disconnect')).reasonCode, 0x82);
  });

  it('3.1.1 persistent sessions expire after persistentClientExpiration', async () => {
    const g = await startBroker({ limits: { persistentClientExpiration: 1 } });
    try {
      const c = await g.connect({ protocolVersion: 4, clientId: 'pce', clean: false });
      c.disconnect();
      await c.closedWithin();
      const soon = await g.handshake({ protocolVersion: 4, clientId: 'pce', clean: false });
      assert.equal(soon.connack.sessionPresent, true);
      soon.client.disconnect();
      await soon.client.closedWithin();
      await sleep(1300);
      const late = await g.handshake({ protocolVersion: 4, clientId: 'pce', clean: false });
      assert.equal(late.connack.sessionPresent, false);
      late.client.destroy();
    } finally {
      await g.close();
    }
  });

  it('requireSameUsername false lets another user resume a session; deliverTo reaches offline sessions', async () => {
    const g = await startBroker({ requireSameUsername: false });
    try {
      const a = await g.connect({ protocolVersion: 4, clientId: 'shared-id', clean: false, username: 'alice' });
      a.disconnect();
      await a.closedWithin();
      assert.equal(g.broker.deliverTo('shared-id', { topic: 'direct/x', payload: 'queued', qos: 1 }), true);
      const b = await g.handshake({ protocolVersion: 4, clientId: 'shared-id', clean: false, username: 'bob' });
      assert.equal(b.connack.reasonCode, 0);
      assert.equal(b.connack.sessionPresent, true);
      assert.equal(text((await b.client.expectPublish('direct/x')).payload), 'queued');
      b.client.destroy();
    } finally {
      await g.close();
    }
  });

  it('bounds the queue of an offline session and counts the drops', async () => {
    const g = await startBroker({ limits: { maxQueuedMessages: 5 } });
    try {
      const sub = await g.connect({ protocolVersion: 4, clientId: 'bounded', clean: false });
      await sub.subscribe('b/#', 1);
      sub.destroy();
      await waitFor(() => g.broker.connectedClients === 0, 2000, 'disconnect');
      const pub = await g.connect({ protocolVersion: 4 });
      for (let i = 0; i < 8; i++) await pub.publish('b/x', String(i), 1);
      const back = await g.handshake({ protocolVersion: 4, clientId: 'bounded', clean: false });
      const got = publishes(await back.client.drain(200)).map((p) => text(p.payload));
      assert.deepEqual(got, ['0', '1', '2', '3', '4']);
      assert.equal(g.broker.stats.publishDropped, 3);
      back.client.destroy();
      pub.destroy();
    } finally {
      await g.close();
    }
  });
});

describe('wills', () => {
  let f: Fixture;
  before(async () => {
    f = await startBroker();
  });
  after(() => f.close());

  const will = (topic: string, extra = {}) => ({ topic, payload: enc(`will:${topic}`), qos: 1 as const, retain: false, ...extra });

  it('sends the Will on an abnormal close, not after a normal DISCONNECT', async () => {
    const watcher = await f.connect({ protocolVersion: 4 });
    await watcher.subscribe('will/#', 1);
    const gone = await f.connect({ protocolVersion: 4, will: will('will/abnormal') });
    gone.destroy();
    assert.equal(text((await watcher.expectPublish('will/abnormal')).payload), 'will:will/abnormal');
    const polite = await f.connect({ protocolVersion: 4, will: will('will/normal') });
    polite.disconnect();
    await polite.closedWithin();
    assert.equal(publishes(await watcher.drain(150)).length, 0);
    watcher.destroy();
  });

  it('v5: DISCONNECT 0x04 sends the Will; the Will is retained when flagged', async () => {
    const watcher = await f.connect({ protocolVersion: 5 });
    await watcher.subscribe('will5/#', 1);
    const c = await f.connect({ protocolVersion: 5, will: will('will5/x', { retain: true }) });
    c.disconnect(0x04);
    await watcher.expectPublish('will5/x');
    const late = await f.connect({ protocolVersion: 5 });
    await late.subscribe('will5/x', 1);
    assert.equal((await late.expectPublish('will5/x')).retain, true);
    await late.publish('will5/x', '', 0, { retain: true });
    watcher.destroy();
    late.destroy();
  });

  it('v5: delays the Will, cancels it when the client returns in time, sends it at session end when sooner', async () => {
    const watcher = await f.connect({ protocolVersion: 5 });
    await watcher.subscribe('wd/#', 1);
    const delayed = await f.connect({ protocolVersion: 5, clientId: 'wd1', properties: { sessionExpiryInterval: 60 }, will: will('wd/cancel', { properties: { willDelayInterval: 1 } }) });
    delayed.destroy();
    await sleep(200);
    const back = await f.handshake({ protocolVersion: 5, clientId: 'wd1', clean: false, properties: { sessionExpiryInterval: 0 } });
    assert.equal(back.connack.sessionPresent, true);
    await sleep(1100);
    assert.equal(publishes(await watcher.drain(10)).length, 0);
    back.client.disconnect();

    const short = await f.connect({ protocolVersion: 5, clientId: 'wd2', properties: { sessionExpiryInterval: 1 }, will: will('wd/session-end', { properties: { willDelayInterval: 30 } }) });
    short.destroy();
    const got = await watcher.expectPublish('wd/session-end', 3000);
    assert.equal(got.properties?.willDelayInterval, undefined);

    const later = await f.connect({ protocolVersion: 5, clientId: 'wd3', properties: { sessionExpiryInterval: 60 }, will: will('wd/later', { properties: { willDelayInterval: 1 } }) });
    later.destroy();
    await watcher.expectPublish('wd/later', 3000);
    watcher.destroy();
  });

  it('sends the Will of a taken-over connection', async () => {
    const watcher = await f.connect({ protocolVersion: 4 });
    await watcher.subscribe('tw/#', 1);
    const first = await f.connect({ protocolVersion: 4, clientId: 'tw', will: will('tw/x') });
    const second = await f.connect({ protocolVersion: 4, clientId: 'tw' });
    await first.closedWithin();
    await watcher.expectPublish('tw/x');
    watcher.destroy();
    second.destroy();
  });
});

describe('shared subscriptions', () => {
  let f: Fixture;
  before(async () => {
    f = await startBroker();
  });
  after(() => f.close());

  it('gives each message to one member, in turn, and no retained messages', async () => {
    const pub = await f.connect({ protocolVersion: 5 });
    await pub.publish('sh/r', 'retained', 0, { retain: true });
    const a = await f.connect({ protocolVersion: 5 });
    const b = await f.connect({ protocolVersion: 4 });
    await a.subscribe('$share/g/sh/#', 1);
    await b.subscribe('$share/g/sh/#', 1);
    for (let i = 0; i < 10; i++) await pub.publish('sh/x', String(i), 1);
    const gotA = publishes(await a.drain(200)).map((p) => text(p.payload));
    const gotB = publishes(await b.drain(10)).map((p) => text(p.payload));
    assert.equal(gotA.length + gotB.length, 10);
    assert.ok(gotA.length >= 4 && gotB.length >= 4, `${gotA} / ${gotB}`);
    assert.ok(!gotA.includes('retained') && !gotB.includes('retained'));
    await pub.publish('sh/r', '', 0, { retain: true });
    for (const c of [pub, a, b]) c.destroy();
  });

  it('sends the unacknowledged QoS 1 messages of a member whose session ends to another member', async () => {
    const pub = await f.connect({ protocolVersion: 5 });
    const dying = await f.connect({ protocolVersion: 5, clientId: 'dying' }, false);
    await dying.subscribe('$share/k/kill/#', 1);
    for (let i = 0; i < 4; i++) await pub.publish('kill/x', String(i), 1);
    assert.equal(publishes(await dying.drain(150)).length, 4);
    const survivor = await f.connect({ protocolVersion: 5 });
    await survivor.subscribe('$share/k/kill/#', 1);
    dying.destroy();
    const got = [];
    for (let i = 0; i < 4; i++) got.push(text((await survivor.expectPublish('kill/x')).payload));
    assert.deepEqual(got.sort(), ['0', '1', '2', '3']);
    pub.destroy();
    survivor.destroy();
  });

  it('gives another member the queued messages of an ended session, but not a QoS 2 message already sent', async () => {
    const pub = await f.connect({ protocolVersion: 5 });
    const dying = await f.connect({ protocolVersion: 5, clientId: 'dying-q2', properties: { receiveMaximum: 1 } }, false);
    await dying.subscribe('$share/q/q2/#', 2);
    for (let i = 0; i < 3; i++) await pub.publish('q2/x', String(i), 2);
    // One in flight (receive maximum 1), two queued behind it.
    assert.deepEqual(publishes(await dying.drain(150)).map((p) => text(p.payload)), ['0']);
    const survivor = await f.connect({ protocolVersion: 5 });
    await survivor.subscribe('$share/q/q2/#', 2);
    dying.destroy();
    const got = publishes(await survivor.drain(300)).map((p) => text(p.payload));
    assert.deepEqual(got.sort(), ['1', '2']);
    pub.destroy();
    survivor.destroy();
  });
});
