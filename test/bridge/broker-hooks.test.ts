// What the broker gives bridges and sinks: a subscriber whose full queue drops instead of holding publishers back,
// an age limit on queued messages that survives a restart, a session's figures, and the `subscribed` event.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Broker, LevelStore, silentLogger, type ClientInfo } from '../../src/broker/index.js';
import type { Subscription } from '../../src/packet/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';

describe('broker hooks for bridges and sinks', () => {
  it('holdPublishers false: a full queue drops and counts the overflow, and the publisher is not held back', async () => {
    const broker = new Broker({
      listeners: [{ port: 0 }, { port: 0, holdPublishers: false, limits: { maxQueuedMessages: 5 } }],
      logger: silentLogger,
      sysInterval: 0,
    });
    await broker.listen();
    const [publisherPort, subscriberPort] = broker.ports as [number, number];
    // A subscriber that takes one message and acknowledges nothing: its window is full, then its queue.
    const { client: subscriber } = await RawClient.connect(subscriberPort, { protocolVersion: 5, clientId: 'slow', properties: { receiveMaximum: 1 } }, { autoAck: false });
    const { client: publisher } = await RawClient.connect(publisherPort, { protocolVersion: 5, clientId: 'fast' });
    try {
      await subscriber.subscribe('q/#', 1);
      const started = Date.now();
      for (let i = 0; i < 20; i++) await publisher.publish(`q/${i}`, 'x', 1);
      // Held back, the publisher would wait HOLD_LIMIT_MS (2 s) for its acknowledgements.
      assert.ok(Date.now() - started < 1500, `publishing took ${Date.now() - started} ms`);
      const info = broker.sessionInfo('slow')!;
      assert.deepEqual({ inflight: info.inflight, queued: info.queued, full: info.dropped.queueFull }, { inflight: 1, queued: 5, full: 14 });
      assert.equal(broker.stats.publishDropped, 14);
    } finally {
      subscriber.socket.destroy();
      publisher.socket.destroy();
      await broker.close();
    }
  });

  it('maxQueuedAge drops messages that waited too long, also across a restart, and counts them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'culex-queue-age-'));
    const start = async (): Promise<Broker> => {
      const broker = new Broker({ listeners: [{ port: 0, limits: { maxQueuedAge: 1 } }], logger: silentLogger, sysInterval: 0, store: new LevelStore(dir, { logger: silentLogger }) });
      await broker.listen();
      return broker;
    };
    let broker = await start();
    try {
      const { client: subscriber } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: 'late', clean: false, properties: { sessionExpiryInterval: 600 } });
      await subscriber.subscribe('aged/#', 1);
      subscriber.send({ type: 'disconnect' });
      await subscriber.closedWithin();
      const { client: publisher } = await RawClient.connect(broker.port, { protocolVersion: 5 });
      for (let i = 0; i < 3; i++) await publisher.publish(`aged/old${i}`, 'x', 1);
      publisher.socket.destroy();
      assert.equal(broker.sessionInfo('late')!.queued, 3);
      await broker.close();
      await new Promise((r) => setTimeout(r, 1300));
      broker = await start();
      const { client: publisher2 } = await RawClient.connect(broker.port, { protocolVersion: 5 });
      await publisher2.publish('aged/new', 'x', 1);
      publisher2.socket.destroy();
      const { client: back } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: 'late', clean: false, properties: { sessionExpiryInterval: 600 } });
      const delivered = await back.expect('publish');
      assert.equal(delivered.topic, 'aged/new');
      assert.deepEqual((await back.drain(200)).filter((p) => p.type === 'publish'), []);
      assert.equal(broker.sessionInfo('late')!.dropped.expired, 3);
      back.socket.destroy();
    } finally {
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sessionInfo shows subscriptions with their QoS and the QoS 2 ids held; subscribed names what was granted', async () => {
    const broker = new Broker({
      listeners: [{ port: 0 }],
      logger: silentLogger,
      sysInterval: 0,
      hooks: { authorizeSubscribe: ({ subscription }) => subscription.topicFilter !== 'no/#' },
    });
    const events: Array<[string, Subscription[]]> = [];
    broker.on('subscribed', (client: ClientInfo, subscriptions: Subscription[]) => events.push([client.clientId, subscriptions]));
    await broker.listen();
    const { client } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: 'info' });
    try {
      assert.deepEqual(await client.subscribe([{ topicFilter: 'a/#', qos: 1 }, { topicFilter: 'no/#', qos: 0 }, { topicFilter: 'b', qos: 2 }]), [1, 0x87, 2]);
      client.send({ type: 'publish', topic: 'b', payload: Buffer.from('x'), qos: 2, retain: false, dup: false, packetId: 77 });
      await client.expect('pubrec');
      const info = broker.sessionInfo('info')!;
      assert.deepEqual(info.subscriptions, [{ filter: 'a/#', qos: 1 }, { filter: 'b', qos: 2 }]);
      assert.deepEqual(info.incoming, [77]);
      assert.equal(info.connected, true);
      await waitFor(() => events.length > 0, 2000, 'a subscribed event');
      assert.deepEqual(events.map(([id, subs]) => [id, subs.map((sub) => `${sub.topicFilter} ${sub.qos}`)]), [['info', ['a/# 1', 'b 2']]]);
      assert.equal(broker.sessionInfo('nobody'), undefined);
    } finally {
      client.socket.destroy();
      await broker.close();
    }
  });
});
