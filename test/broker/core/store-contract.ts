// The contract every BrokerStore must meet. A store's own test file calls
// `runStoreContract(name, makeStore, reopen?)`; `reopen` (close and open the same data again) enables the
// durability cases.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BrokerMessage } from '../../../src/broker/message.js';
import type { BrokerStore, StoredOutgoing, StoredSession, StoreOp } from '../../../src/broker/store/store.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function message(topic: string, payload: string, extra: Partial<BrokerMessage> = {}): BrokerMessage {
  return { topic, payload: enc(payload), qos: 1, retain: false, properties: undefined, expiresAt: undefined, origin: 'publisher', ...extra };
}

function session(clientId: string, extra: Partial<StoredSession> = {}): StoredSession {
  return { clientId, username: 'user', protocolVersion: 5, expiryInterval: 3600, disconnectedAt: undefined, will: undefined, ...extra };
}

function outgoing(seq: number, payload: string, extra: Partial<StoredOutgoing> = {}): StoredOutgoing {
  return { seq, message: message('q/t', payload), qos: 1, retain: false, subscriptionIds: undefined, packetId: 0, state: 'queued', ...extra };
}

/** Compares messages by value (payload bytes, not buffer identity). */
function plain(m: BrokerMessage): unknown {
  return {
    ...m,
    payload: [...m.payload],
    properties: m.properties && {
      ...m.properties,
      correlationData: m.properties.correlationData && [...m.properties.correlationData],
    },
  };
}

export function runStoreContract(
  name: string,
  makeStore: () => BrokerStore | Promise<BrokerStore>,
  reopen?: (store: BrokerStore) => Promise<BrokerStore>,
): void {
  async function fresh(): Promise<BrokerStore> {
    const store = await makeStore();
    await store.open();
    return store;
  }

  async function apply(store: BrokerStore, ...ops: StoreOp[]): Promise<void> {
    await store.write(ops);
  }

  describe(`store contract: ${name}`, () => {
    it('starts empty', async () => {
      const store = await fresh();
      assert.deepEqual(await store.loadSessions(), []);
      assert.deepEqual(await store.loadRetained(), []);
      await store.close();
    });

    it('keeps a session with its subscriptions, outgoing messages in seq order and incoming QoS 2 ids', async () => {
      const store = await fresh();
      await apply(
        store,
        { op: 'putSession', session: session('c1') },
        { op: 'putSubscription', clientId: 'c1', subscription: { filter: 'a/#', qos: 1, noLocal: false, retainAsPublished: true, retainHandling: 2, identifier: 7 } },
        { op: 'putSubscription', clientId: 'c1', subscription: { filter: '$share/g/b', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0, identifier: undefined } },
        { op: 'putOutgoing', clientId: 'c1', outgoing: outgoing(3, 'third') },
        { op: 'putOutgoing', clientId: 'c1', outgoing: outgoing(1, 'first', { packetId: 9, state: 'publish', subscriptionIds: [7] }) },
        { op: 'putOutgoing', clientId: 'c1', outgoing: outgoing(2, 'second', { qos: 2, packetId: 10, state: 'pubrel', shared: '$share/g/q/#' }) },
        { op: 'putIncoming', clientId: 'c1', packetId: 5 },
        { op: 'putIncoming', clientId: 'c1', packetId: 6 },
      );
      const [state, ...rest] = await store.loadSessions();
      assert.equal(rest.length, 0);
      assert.deepEqual(state!.session, session('c1'));
      assert.deepEqual(
        state!.subscriptions.map((s) => s.filter).sort(),
        ['$share/g/b', 'a/#'],
      );
      const a = state!.subscriptions.find((s) => s.filter === 'a/#')!;
      assert.deepEqual(a, { filter: 'a/#', qos: 1, noLocal: false, retainAsPublished: true, retainHandling: 2, identifier: 7 });
      assert.deepEqual(state!.outgoing.map((o) => [o.seq, new TextDecoder().decode(o.message.payload), o.packetId, o.state]), [
        [1, 'first', 9, 'publish'],
        [2, 'second', 10, 'pubrel'],
        [3, 'third', 0, 'queued'],
      ]);
      assert.deepEqual(state!.outgoing[0]!.subscriptionIds, [7]);
      assert.deepEqual(state!.outgoing.map((o) => o.shared), [undefined, '$share/g/q/#', undefined]);
      assert.deepEqual([...state!.incoming].sort(), [5, 6]);
      await store.close();
    });

    it('replaces on put and removes on delete', async () => {
      const store = await fresh();
      await apply(
        store,
        { op: 'putSession', session: session('c2') },
        { op: 'putOutgoing', clientId: 'c2', outgoing: outgoing(1, 'one') },
        { op: 'putOutgoing', clientId: 'c2', outgoing: outgoing(2, 'two') },
        { op: 'putSubscription', clientId: 'c2', subscription: { filter: 'x', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0, identifier: undefined } },
        { op: 'putIncoming', clientId: 'c2', packetId: 1 },
      );
      await apply(
        store,
        { op: 'putSession', session: session('c2', { expiryInterval: 10, disconnectedAt: 1234 }) },
        { op: 'putOutgoing', clientId: 'c2', outgoing: outgoing(1, 'one', { packetId: 3, state: 'publish' }) },
        { op: 'deleteOutgoing', clientId: 'c2', seq: 2 },
        { op: 'deleteSubscription', clientId: 'c2', filter: 'x' },
        { op: 'deleteIncoming', clientId: 'c2', packetId: 1 },
      );
      const [state] = await store.loadSessions();
      assert.equal(state!.session.expiryInterval, 10);
      assert.equal(state!.session.disconnectedAt, 1234);
      assert.deepEqual(state!.outgoing.map((o) => [o.seq, o.packetId, o.state]), [[1, 3, 'publish']]);
      assert.deepEqual(state!.subscriptions, []);
      assert.deepEqual(state!.incoming, []);
      await store.close();
    });

    it('deleteSession removes the session and everything under it', async () => {
      const store = await fresh();
      await apply(
        store,
        { op: 'putSession', session: session('gone') },
        { op: 'putSession', session: session('kept') },
        { op: 'putOutgoing', clientId: 'gone', outgoing: outgoing(1, 'x') },
        { op: 'putSubscription', clientId: 'gone', subscription: { filter: 'y', qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 0, identifier: undefined } },
        { op: 'deleteSession', clientId: 'gone' },
      );
      const states = await store.loadSessions();
      assert.deepEqual(states.map((s) => s.session.clientId), ['kept']);
      // A session created again under the same id starts empty.
      await apply(store, { op: 'putSession', session: session('gone') });
      const again = (await store.loadSessions()).find((s) => s.session.clientId === 'gone')!;
      assert.deepEqual([again.outgoing, again.subscriptions, again.incoming], [[], [], []]);
      await store.close();
    });

    it('applies the operations of a batch in order', async () => {
      const store = await fresh();
      await apply(
        store,
        { op: 'putRetained', message: message('r/1', 'a', { retain: true }) },
        { op: 'deleteRetained', topic: 'r/1' },
        { op: 'deleteRetained', topic: 'r/2' },
        { op: 'putRetained', message: message('r/2', 'b', { retain: true }) },
      );
      assert.deepEqual((await store.loadRetained()).map((m) => m.topic), ['r/2']);
      await store.close();
    });

    it('keeps retained messages with binary payloads and every property', async () => {
      const store = await fresh();
      const full = message('r/full', '', {
        payload: new Uint8Array([0, 1, 2, 255, 254]),
        qos: 2,
        retain: true,
        properties: {
          payloadFormatIndicator: false,
          contentType: 'application/octet-stream',
          responseTopic: 'resp',
          correlationData: new Uint8Array([9, 8, 7]),
          userProperties: [['k', 'v'], ['k', 'w']],
        },
        expiresAt: 4102444800000,
        origin: 'origin-client',
      });
      await apply(store, { op: 'putRetained', message: full }, { op: 'putRetained', message: message('r/other', 'x', { retain: true }) });
      await apply(store, { op: 'putRetained', message: message('r/other', 'replaced', { retain: true }) });
      const loaded = await store.loadRetained();
      const byTopic = new Map(loaded.map((m) => [m.topic, m]));
      assert.deepEqual(plain(byTopic.get('r/full')!), plain(full));
      assert.equal(new TextDecoder().decode(byTopic.get('r/other')!.payload), 'replaced');
      await store.close();
    });

    it('keeps a pending Will with its session', async () => {
      const store = await fresh();
      const will = { will: { topic: 'w', payload: enc('bye'), qos: 1 as const, retain: true, properties: { willDelayInterval: 30 } }, dueAt: 1_800_000_000_000 };
      await apply(store, { op: 'putSession', session: session('w1', { will, disconnectedAt: 1_799_999_999_000 }) });
      const [state] = await store.loadSessions();
      assert.equal(state!.session.will?.dueAt, will.dueAt);
      assert.equal(state!.session.will?.will.topic, 'w');
      assert.deepEqual([...state!.session.will!.will.payload], [...enc('bye')]);
      assert.equal(state!.session.will?.will.properties?.willDelayInterval, 30);
      await store.close();
    });

    it('takes large batches and many sequential writes', async () => {
      const store = await fresh();
      const ops: StoreOp[] = [{ op: 'putSession', session: session('big') }];
      for (let i = 1; i <= 2000; i++) ops.push({ op: 'putOutgoing', clientId: 'big', outgoing: outgoing(i, `m${i}`) });
      await store.write(ops);
      for (let i = 1; i <= 1000; i++) await apply(store, { op: 'deleteOutgoing', clientId: 'big', seq: i });
      const [state] = await store.loadSessions();
      assert.equal(state!.outgoing.length, 1000);
      assert.equal(state!.outgoing[0]!.seq, 1001);
      await store.close();
    });

    if (reopen !== undefined) {
      it('keeps everything across close and reopen', async () => {
        const store = await fresh();
        await apply(
          store,
          { op: 'putSession', session: session('durable') },
          { op: 'putOutgoing', clientId: 'durable', outgoing: outgoing(1, 'kept') },
          { op: 'putIncoming', clientId: 'durable', packetId: 77 },
          { op: 'putRetained', message: message('r/d', 'kept', { retain: true }) },
        );
        await store.close();
        const again = await reopen(store);
        await again.open();
        const [state] = await again.loadSessions();
        assert.equal(state!.session.clientId, 'durable');
        assert.equal(new TextDecoder().decode(state!.outgoing[0]!.message.payload), 'kept');
        assert.deepEqual(state!.incoming, [77]);
        assert.deepEqual((await again.loadRetained()).map((m) => m.topic), ['r/d']);
        await again.close();
      });
    }
  });
}
