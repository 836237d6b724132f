// A broker on a LevelStore, closed and started again on the same data directory: everything a persistent
// session holds comes back; what expired while the broker was down does not.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LevelStore } from '../../../src/broker/store/level-store.js';
import type { PublishPacket } from '../../../src/packet/types.js';
import { RawClient } from '../../helpers/raw-client.js';
import { sleep, startBroker, text, type Fixture } from '../core/fixture.js';

const root = mkdtempSync(join(tmpdir(), 'culex-restart-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

/** Starts brokers one after another on one data directory. */
function dataDir(): { start(): Promise<Fixture & { store: LevelStore }> } {
  const dir = join(root, `d${++dirs}`);
  return {
    async start() {
      const store = new LevelStore(dir);
      const fixture = await startBroker({ store });
      return { ...fixture, store };
    },
  };
}

const v5 = (clientId: string, expiry = 300) => ({ protocolVersion: 5 as const, clientId, clean: false, properties: { sessionExpiryInterval: expiry } });

describe('broker restart on a LevelStore', () => {
  it('keeps sessions, subscriptions, queued and in-flight messages in both directions', async () => {
    const data = dataDir();
    let broker = await data.start();
    try {
      // q1: QoS 1 subscriber that receives one message and does not acknowledge it, then goes away.
      const q1 = await broker.connect(v5('q1'), false);
      await q1.subscribe('t/#', 1);
      // q2: QoS 2 subscriber that acknowledges PUBLISH with PUBREC but never completes with PUBCOMP.
      const q2 = await broker.connect(v5('q2'), false);
      await q2.subscribe('t/#', 2);
      const pub = await broker.connect(v5('pub'));
      await pub.publish('t/a', 'in-flight', 2);
      const seen1 = await q1.expect('publish');
      const seen2 = await q2.expect('publish');
      q2.send({ type: 'pubrec', packetId: seen2.packetId! });
      await q2.expect('pubrel');
      q1.destroy();
      q2.destroy();
      await sleep(50);
      await pub.publish('t/b', 'queued', 2);
      // The publisher's own QoS 2 message stops after PUBREC: its packet id stays held across the restart.
      pub.send({ type: 'publish', topic: 't/c', payload: new TextEncoder().encode('once'), qos: 2, retain: false, dup: false, packetId: 4242 });
      await pub.expect('pubrec');
      pub.destroy();
      await broker.close();

      broker = await data.start();
      assert.deepEqual(
        { ...broker.store.recovered, bytes: 0, milliseconds: 0 },
        { sessions: 3, subscriptions: 2, outgoing: 6, incoming: 1, retained: 0, bytes: 0, orphans: 0, milliseconds: 0 },
      );
      // The publisher resends its QoS 2 message: it is acknowledged and not delivered a second time.
      const again = await broker.connect(v5('pub'));
      again.send({ type: 'publish', topic: 't/c', payload: new TextEncoder().encode('once'), qos: 2, retain: false, dup: true, packetId: 4242 });
      await again.expect('pubrec');
      again.send({ type: 'pubrel', packetId: 4242 });
      await again.expect('pubcomp');

      const r1 = await broker.connect(v5('q1'));
      const got1: PublishPacket[] = [];
      for (let i = 0; i < 3; i++) got1.push(await r1.expect('publish'));
      assert.deepEqual(got1.map((p) => text(p.payload)), ['in-flight', 'queued', 'once']);
      assert.equal(got1[0]!.dup, true);
      assert.equal(got1[0]!.packetId, seen1.packetId);

      const r2 = await broker.connect(v5('q2'));
      const pubrel = await r2.expect('pubrel');
      assert.equal(pubrel.packetId, seen2.packetId);
      const got2: PublishPacket[] = [];
      for (let i = 0; i < 2; i++) got2.push(await r2.expect('publish'));
      assert.deepEqual(got2.map((p) => text(p.payload)), ['queued', 'once']);
      assert.deepEqual((await r2.drain(200)).filter((p) => p.type === 'publish'), []);
    } finally {
      await broker.close();
    }
  });

  it('keeps retained messages and sessions, drops those that expired while down', async () => {
    const data = dataDir();
    let broker = await data.start();
    try {
      const pub = await broker.connect({ protocolVersion: 5 });
      await pub.publish('r/keep', 'kept', 1, { retain: true });
      await pub.publish('r/expire', 'gone', 1, { retain: true, properties: { messageExpiryInterval: 1 } });
      const short = await broker.connect(v5('short', 1));
      await short.subscribe('x', 1);
      short.destroy();
      const long = await broker.connect(v5('long', 300));
      await long.subscribe('x', 1);
      long.destroy();
      await sleep(50);
      await broker.close();
      await sleep(1200);

      broker = await data.start();
      const sub = await broker.connect({ protocolVersion: 5 });
      await sub.subscribe('r/#', 1);
      const retained = await sub.expect('publish');
      assert.equal(text(retained.payload), 'kept');
      assert.deepEqual((await sub.drain(200)).filter((p) => p.type === 'publish'), []);
      const { client: s1, connack: c1 } = await RawClient.connect(broker.port, v5('short', 1));
      assert.equal(c1.sessionPresent, false);
      s1.destroy();
      const { client: s2, connack: c2 } = await RawClient.connect(broker.port, v5('long', 300));
      assert.equal(c2.sessionPresent, true);
      s2.destroy();
    } finally {
      await broker.close();
    }
  });

  it('sends a delayed Will after a restart', async () => {
    const data = dataDir();
    let broker = await data.start();
    try {
      const dying = await broker.connect({
        ...v5('dying', 300),
        will: { topic: 'will/t', payload: new TextEncoder().encode('farewell'), qos: 1, retain: false, properties: { willDelayInterval: 1 } },
      });
      dying.destroy();
      await sleep(50);
      await broker.close();

      broker = await data.start();
      const sub = await broker.connect({ protocolVersion: 5 });
      await sub.subscribe('will/t', 1);
      const will = await sub.expect('publish', 5000);
      assert.equal(text(will.payload), 'farewell');
    } finally {
      await broker.close();
    }
  });
});
