import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PublishPacket } from '../../../src/packet/types.js';
import { startBroker, text } from './fixture.js';

const publishes = (packets: readonly { type: string }[]): PublishPacket[] => packets.filter((p) => p.type === 'publish') as PublishPacket[];

describe('$SYS', () => {
  it('publishes the broker figures as retained messages, named as Mosquitto names them', async () => {
    const f = await startBroker({ sysInterval: 1 });
    try {
      const pub = await f.connect({ protocolVersion: 4 });
      await pub.publish('some/topic', 'x', 1);
      f.broker.updateSys();
      const sub = await f.connect({ protocolVersion: 4 });
      await sub.subscribe('$SYS/#', 0);
      const got = new Map(publishes(await sub.drain(300)).map((p) => [p.topic, text(p.payload)]));
      for (const topic of [
        'version',
        'uptime',
        'clients/connected',
        'clients/total',
        'clients/maximum',
        'clients/disconnected',
        'messages/received',
        'messages/sent',
        'publish/messages/dropped',
        'publish/messages/received',
        'publish/messages/sent',
        'bytes/received',
        'bytes/sent',
        'subscriptions/count',
        'retained messages/count',
        'load/messages/received/1min',
        'load/bytes/sent/15min',
        'heap/current',
      ]) {
        assert.ok(got.has(`$SYS/broker/${topic}`), `missing $SYS/broker/${topic}`);
      }
      assert.match(got.get('$SYS/broker/version')!, /^culex version \d+\.\d+\.\d+/);
      assert.match(got.get('$SYS/broker/uptime')!, /^\d+ seconds$/);
      assert.equal(got.get('$SYS/broker/publish/messages/received'), '1');
      // The next interval brings the new client count.
      const update = await sub.expectPublish('$SYS/broker/clients/connected', 3000);
      assert.equal(text(update.payload), '2');
      pub.destroy();
      sub.destroy();
    } finally {
      await f.close();
    }
  });
});

describe('limits', () => {
  it('maxSubscriptionsPerClient: further filters are refused with 0x97 (3.x: 0x80)', async () => {
    const f = await startBroker({ limits: { maxSubscriptionsPerClient: 2 } });
    try {
      const v5 = await f.connect({ protocolVersion: 5 });
      assert.deepEqual(await v5.subscribe([{ topicFilter: 'a', qos: 0 }, { topicFilter: 'b', qos: 0 }, { topicFilter: 'c', qos: 0 }]), [0, 0, 0x97]);
      assert.deepEqual(await v5.subscribe('a', 1), [1]);
      const v4 = await f.connect({ protocolVersion: 4 });
      assert.deepEqual(await v4.subscribe([{ topicFilter: 'a', qos: 0 }, { topicFilter: 'b', qos: 0 }, { topicFilter: 'c', qos: 0 }]), [0, 0, 0x80]);
      v5.destroy();
      v4.destroy();
    } finally {
      await f.close();
    }
  });

  it('maxRetainedMessages: new topics beyond it are not retained, existing ones are replaced', async () => {
    const f = await startBroker({ limits: { maxRetainedMessages: 2 } });
    try {
      const pub = await f.connect({ protocolVersion: 4 });
      for (const t of ['r/1', 'r/2', 'r/3']) await pub.publish(t, t, 1, { retain: true });
      await pub.publish('r/1', 'new', 1, { retain: true });
      const sub = await f.connect({ protocolVersion: 4 });
      await sub.subscribe('r/#', 0);
      const got = publishes(await sub.drain(200)).map((p) => `${p.topic}=${text(p.payload)}`).sort();
      assert.deepEqual(got, ['r/1=new', 'r/2=r/2']);
      pub.destroy();
      sub.destroy();
    } finally {
      await f.close();
    }
  });

  it('maxTopicLevels and maxClientIdLength', async () => {
    const f = await startBroker({ limits: { maxTopicLevels: 3, maxClientIdLength: 8 } });
    try {
      const long = await f.handshake({ protocolVersion: 5, clientId: 'x'.repeat(9) });
      assert.equal(long.connack.reasonCode, 0x85);
      long.client.destroy();
      const c = await f.connect({ protocolVersion: 5, clientId: 'short' });
      assert.deepEqual(await c.subscribe([{ topicFilter: 'a/b/c', qos: 0 }, { topicFilter: 'a/b/c/d', qos: 0 }]), [0, 0x8f]);
      c.send({ type: 'publish', topic: 'a/b/c/d', payload: new Uint8Array(0), qos: 0, retain: false, dup: false });
      assert.equal((await c.expect('disconnect')).reasonCode, 0x90);
    } finally {
      await f.close();
    }
  });

  it('retainAvailable false: CONNACK says so and a retained PUBLISH is refused (0x9A)', async () => {
    const f = await startBroker({ retainAvailable: false });
    try {
      const c = await f.connect({ protocolVersion: 5 });
      c.send({ type: 'publish', topic: 'r', payload: new Uint8Array(1), qos: 0, retain: true, dup: false });
      assert.equal((await c.expect('disconnect')).reasonCode, 0x9a);
      const { client, connack } = await f.handshake({ protocolVersion: 5 });
      assert.equal(connack.properties?.retainAvailable, false);
      client.destroy();
    } finally {
      await f.close();
    }
  });
});
