import assert from 'node:assert/strict';
import { FailingStore } from '../../helpers/failing-store.js';
import { describe, it } from 'node:test';
import { MemoryStore } from '../../../src/broker/store/memory-store.js';
import { Broker } from '../../../src/broker/broker.js';
import { silentLogger } from '../../../src/broker/logger.js';
import type { RecoveryStats, StoreOp } from '../../../src/broker/store/store.js';
import type { PublishPacket } from '../../../src/packet/types.js';
import { waitFor } from '../../helpers/wait.js';
import { startBroker, text } from './fixture.js';
import { runStoreContract } from './store-contract.js';
import { writeCrashWorkload } from '../../../src/broker/testing/index.js';

// The reference implementation. Its data lives as long as the object, so `reopen` hands back the same store; a
// memory store has nothing that can fail, so the fault case runs on FailingStore, which refuses whole writes while
// `failing` is set (it checks the case, not the store); and a killed process takes a memory store with it, so the
// crash case stops the workload in this process without closing the store (again checking the case itself).
runStoreContract('MemoryStore', () => new MemoryStore(), {
  reopen: (store) => store,
  faults: {
    makeStore: () => new FailingStore(),
    inject: (store) => void ((store as FailingStore).failing = true),
    clear: (store) => void ((store as FailingStore).failing = false),
  },
  crash: async ({ afterWrites }) => {
    const store = new MemoryStore();
    await store.open();
    // Goes on a little past the point where the "kill" is seen, as a real writer does.
    await writeCrashWorkload(store, (count) => count < afterWrites + 10);
    return { store, acknowledged: afterWrites };
  },
});

/** A MemoryStore whose writes wait for `release()`, and that counts them. */
class GatedStore extends MemoryStore {
  writes = 0;
  private gate: Promise<void> = Promise.resolve();
  private open_: (() => void) | undefined;

  hold(): void {
    this.gate = new Promise((resolve) => (this.open_ = resolve));
  }

  release(): void {
    this.open_?.();
  }

  override async write(ops: readonly StoreOp[]): Promise<void> {
    this.writes++;
    await this.gate;
    return super.write(ops);
  }
}

const publishes = (packets: readonly { type: string }[]): PublishPacket[] => packets.filter((p) => p.type === 'publish') as PublishPacket[];

describe('persistence through the store', () => {
  it('recovers sessions, queued messages and retained messages in a new broker on the same store', async () => {
    const store = new MemoryStore();
    const first = await startBroker({ store });
    const sub = await first.connect({ protocolVersion: 5, clientId: 'keeper', properties: { sessionExpiryInterval: 300 } });
    await sub.subscribe('keep/#', 1, { subscriptionIdentifiers: [4] });
    sub.disconnect();
    await sub.closedWithin();
    const pub = await first.connect({ protocolVersion: 5 });
    for (let i = 0; i < 5; i++) await pub.publish('keep/x', `m${i}`, 1);
    await pub.publish('keep/retained', 'still here', 1, { retain: true });
    await pub.publish('$SYS/not/stored', 'x', 0, { retain: true });
    pub.destroy();
    await first.close();

    const second = await startBroker({ store });
    try {
      const { client, connack } = await second.handshake({ protocolVersion: 5, clientId: 'keeper', clean: false, properties: { sessionExpiryInterval: 300 } });
      assert.equal(connack.sessionPresent, true);
      const got = [];
      for (let i = 0; i < 6; i++) got.push(await client.expect('publish'));
      assert.deepEqual(got.map((p) => text(p.payload)), ['m0', 'm1', 'm2', 'm3', 'm4', 'still here']);
      assert.deepEqual(got[0]!.properties?.subscriptionIdentifiers, [4]);
      const late = await second.connect({ protocolVersion: 4 });
      await late.subscribe('keep/retained', 0);
      assert.equal(text((await late.expectPublish('keep/retained')).payload), 'still here');
      client.destroy();
      late.destroy();
    } finally {
      await second.close();
    }
    const states = await store.loadSessions();
    assert.deepEqual(states.map((s) => s.session.clientId), ['keeper']);
    assert.deepEqual(states[0]!.outgoing, []);
  });

  it('acknowledges a QoS 1/2 message only after the store has written it', async () => {
    const store = new GatedStore();
    const f = await startBroker({ store });
    try {
      const sub = await f.connect({ protocolVersion: 4, clientId: 'gated', clean: false });
      await sub.subscribe('gate/#', 2);
      sub.destroy();
      await waitFor(() => f.broker.connectedClients === 0, 2000, 'disconnect');
      const pub = await f.connect({ protocolVersion: 4 }, false);
      store.hold();
      pub.send({ type: 'publish', topic: 'gate/x', payload: new Uint8Array([1]), qos: 1, packetId: 1, retain: false, dup: false });
      pub.send({ type: 'publish', topic: 'gate/x', payload: new Uint8Array([2]), qos: 2, packetId: 2, retain: false, dup: false });
      const early = await pub.drain(150);
      assert.deepEqual(early.map((p) => p.type), []);
      store.release();
      assert.equal((await pub.expect('puback')).packetId, 1);
      assert.equal((await pub.expect('pubrec')).packetId, 2);
      const stored = (await store.loadSessions()).find((s) => s.session.clientId === 'gated')!;
      assert.equal(stored.outgoing.length, 2);
      const { client } = await f.handshake({ protocolVersion: 4, clientId: 'gated', clean: false });
      assert.equal(publishes(await client.drain(150)).length, 2);
      client.destroy();
      pub.destroy();
    } finally {
      await f.close();
    }
  });

  it('holds QoS 2 PUBLISH, PUBREL and PUBCOMP of persistent sessions until the store has their state', async () => {
    const store = new GatedStore();
    const f = await startBroker({ store });
    try {
      const sub = await f.connect({ protocolVersion: 5, clientId: 'q2sub', properties: { sessionExpiryInterval: 60 } }, false);
      await sub.subscribe('q2/#', 2);
      const pub = await f.connect({ protocolVersion: 5, clientId: 'q2pub', properties: { sessionExpiryInterval: 60 } }, false);
      pub.send({ type: 'publish', topic: 'q2/x', payload: new Uint8Array([1]), qos: 2, packetId: 5, retain: false, dup: false });
      assert.equal((await pub.expect('pubrec')).packetId, 5);

      store.hold();
      pub.send({ type: 'publish', topic: 'q2/x', payload: new Uint8Array([2]), qos: 2, packetId: 6, retain: false, dup: false });
      pub.send({ type: 'pubrel', packetId: 5 });
      const first = await sub.expectPublish('q2/x');
      sub.send({ type: 'pubrec', packetId: first.packetId! });
      // Nothing announcing unstored state gets out: no PUBREC 6, no PUBCOMP 5, no second PUBLISH, no PUBREL.
      assert.deepEqual((await pub.drain(150)).map((p) => p.type), []);
      assert.deepEqual((await sub.drain(10)).map((p) => p.type), []);
      store.release();
      assert.equal((await pub.expect('pubcomp')).packetId, 5);
      assert.equal((await pub.expect('pubrec')).packetId, 6);
      assert.equal((await sub.expect('pubrel')).packetId, first.packetId);
      const second = await sub.expectPublish('q2/x');
      assert.deepEqual([...second.payload], [2]);
      sub.destroy();
      pub.destroy();
    } finally {
      await f.close();
    }
  });

  it('a failed write: what was routed is acknowledged once written again, later messages wait for the store or are refused unrouted', async () => {
    const store = new FailingStore();
    const errors: string[] = [];
    const logger = { ...silentLogger, error: (message: string) => errors.push(message) };
    let f = await startBroker({ store, logger });
    try {
      const offline = await f.connect({ protocolVersion: 4, clientId: 'offline-sub', clean: false });
      await offline.subscribe('full/#', 1);
      offline.destroy();
      await waitFor(() => f.broker.connectedClients === 0, 2000, 'disconnect');
      const live = await f.connect({ protocolVersion: 5, clientId: 'live' });
      await live.subscribe('full/#', 2);
      const v5 = await f.connect({ protocolVersion: 5 });
      const v4 = await f.connect({ protocolVersion: 4 }, false);
      store.failing = true;
      // Routed before the write failed: its changes stay queued for the store, its PUBACK waits for them.
      v5.send({ type: 'publish', topic: 'full/x', payload: new TextEncoder().encode('a'), qos: 1, packetId: 900, retain: false, dup: false });
      await waitFor(() => errors.some((m) => /store write of \d+ changes failed: disk full/.test(m)), 2000, 'the failed write');
      const ackA = (): boolean => v5.pending().some((p) => p.type === 'puback' && p.packetId === 900);
      // While the store fails, nothing new is routed: v5 hears 0x80; a 3.x client, which cannot be told, is
      // disconnected (a transient error) and sends the message again on its next connection.
      assert.equal(await v5.publish('full/x', 'b', 2), 0x80);
      assert.ok(!ackA(), 'acknowledged before it was stored');
      v4.send({ type: 'publish', topic: 'full/x', payload: new Uint8Array([99]), qos: 1, packetId: 3, retain: false, dup: false });
      await v4.closedWithin(2000);
      assert.deepEqual(v4.pending().map((p) => p.type), []);
      store.failing = false;
      // Sent again after the refusal: delivered once; the first message is acknowledged now that it is stored.
      assert.equal(await v5.publish('full/x', 'b', 2), 0);
      await waitFor(ackA, 2000, 'the PUBACK of the first message once it is stored');
      const got: string[] = [];
      for (const packet of publishes(await live.drain(200))) got.push(text(packet.payload));
      assert.deepEqual(got, ['a', 'b']);
      v5.destroy();
      v4.destroy();
      live.destroy();
    } finally {
      await f.close();
    }
    // The failed batch was written later: the offline session has both messages, once each.
    f = await startBroker({ store });
    try {
      const { client } = await f.handshake({ protocolVersion: 4, clientId: 'offline-sub', clean: false });
      assert.deepEqual(publishes(await client.drain(200)).map((p) => text(p.payload)), ['a', 'b']);
      client.destroy();
    } finally {
      await f.close();
    }
  });

  it('a resent QoS 2 PUBLISH (DUP) gets PUBREC only once the original is stored, and is delivered once', async () => {
    const store = new GatedStore();
    const f = await startBroker({ store });
    try {
      const sub = await f.connect({ protocolVersion: 5, clientId: 'dup-sub' });
      await sub.subscribe('dup/#', 2);
      const pub = await f.connect({ protocolVersion: 5, clientId: 'dup-pub', properties: { sessionExpiryInterval: 60 } }, false);
      store.hold();
      const packet = { type: 'publish', topic: 'dup/x', payload: new Uint8Array([7]), qos: 2, packetId: 7, retain: false } as const;
      pub.send({ ...packet, dup: false });
      pub.send({ ...packet, dup: true });
      assert.deepEqual((await pub.drain(150)).map((p) => p.type), []);
      store.release();
      assert.equal((await pub.expect('pubrec')).packetId, 7);
      assert.equal((await pub.expect('pubrec')).packetId, 7);
      pub.send({ type: 'pubrel', packetId: 7 });
      assert.equal((await pub.expect('pubcomp')).packetId, 7);
      assert.equal(publishes(await sub.drain(150)).length, 1);
      sub.destroy();
      pub.destroy();
    } finally {
      await f.close();
    }
  });

  it('listen(): a store that fails to open leaves the broker idle (listen can be retried); recovery counts are logged', async () => {
    class FlakyOpenStore extends MemoryStore {
      opens = 0;
      override async open(): Promise<RecoveryStats> {
        if (this.opens++ === 0) throw new Error('locked by another process');
        return { sessions: 2, subscriptions: 3, outgoing: 4, incoming: 1, retained: 5, bytes: 600, orphans: 0, milliseconds: 7 };
      }
    }
    const infos: string[] = [];
    const logger = { ...silentLogger, info: (message: string) => infos.push(message) };
    const broker = new Broker({ listeners: [{ port: 0 }], sysInterval: 0, logger, store: new FlakyOpenStore() });
    await assert.rejects(broker.listen(), /locked by another process/);
    assert.throws(() => broker.port, /not listening/);
    await broker.listen();
    try {
      assert.ok(broker.port > 0);
      assert.ok(
        infos.some((m) => m.includes('2 sessions, 3 subscriptions, 4 outgoing and 1 incoming messages, 5 retained messages, 600 bytes')),
        infos.join(' | '),
      );
    } finally {
      await broker.close();
    }
  });

  it('recovered messages of a shared subscription keep their group: a member ending its session hands them on', async () => {
    const store = new MemoryStore();
    const persistent = (clientId: string) => ({ protocolVersion: 5 as const, clientId, clean: false, properties: { sessionExpiryInterval: 300 } });
    let f = await startBroker({ store });
    try {
      for (const id of ['member-a', 'member-b']) {
        const member = await f.connect(persistent(id));
        await member.subscribe('$share/g/jobs/#', 1);
        member.disconnect();
        await member.closedWithin();
      }
      const pub = await f.connect({ protocolVersion: 5 });
      for (let i = 0; i < 4; i++) assert.equal(await pub.publish('jobs/x', `j${i}`, 1), 0);
      pub.destroy();
    } finally {
      await f.close();
    }
    assert.deepEqual((await store.loadSessions()).map((s) => s.outgoing.map((o) => o.shared)), [['$share/g/jobs/#', '$share/g/jobs/#'], ['$share/g/jobs/#', '$share/g/jobs/#']]);
    f = await startBroker({ store });
    try {
      // member-a comes back with a clean start: its session, and the two jobs it held, are handed to member-b.
      const a = await f.connect({ protocolVersion: 5, clientId: 'member-a', clean: true });
      a.disconnect();
      await a.closedWithin();
      const b = await f.connect(persistent('member-b'));
      const jobs = publishes(await b.drain(200)).map((p) => text(p.payload)).sort();
      assert.deepEqual(jobs, ['j0', 'j1', 'j2', 'j3']);
      b.destroy();
    } finally {
      await f.close();
    }
  });
});
