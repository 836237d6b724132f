// Store contract: what each kind of record keeps (sessions, Wills, subscriptions, outgoing messages, incoming
// QoS 2 ids, retained messages, MQTT 5 properties, payloads) and what deleting a session takes with it. Each case
// checks the open store, then, with `reopen`, the same data reopened.
import assert from 'node:assert/strict';
import type { BrokerStore, StoreOp } from '../store/store.js';
import {
  ALL_MESSAGE_PROPERTIES,
  ALL_WILL_PROPERTIES,
  bytes,
  message,
  outgoing,
  outgoingOf,
  plainMessage,
  plainOutgoing,
  plainSession,
  plainSubscription,
  retainedOf,
  session,
  snapshot,
  stateOf,
  subscription,
  text,
} from './contract-data.js';
import type { ContractContext } from './contract-types.js';

export function recordCases<S extends BrokerStore>({ it, fresh, again }: ContractContext<S>): void {
  it('starts empty', async () => {
    const store = await fresh();
    assert.deepEqual(await store.loadSessions(), []);
    assert.deepEqual(await store.loadRetained(), []);
    await store.close();
  });

  it('keeps a session with its subscriptions, outgoing messages in seq order and incoming QoS 2 ids', async () => {
    let store = await fresh();
    await store.write([
      { op: 'putSession', session: session('c1') },
      { op: 'putSubscription', clientId: 'c1', subscription: subscription('a/#', { retainAsPublished: true, retainHandling: 2, identifier: 7 }) },
      { op: 'putSubscription', clientId: 'c1', subscription: subscription('$share/g/b', { qos: 2 }) },
      { op: 'putOutgoing', clientId: 'c1', outgoing: outgoing(3, 'third') },
      { op: 'putOutgoing', clientId: 'c1', outgoing: outgoing(1, 'first', { packetId: 9, state: 'publish', subscriptionIds: [7] }) },
      { op: 'putOutgoing', clientId: 'c1', outgoing: outgoing(2, 'second', { qos: 2, packetId: 10, state: 'pubrel', shared: '$share/g/q/#' }) },
      { op: 'putIncoming', clientId: 'c1', packetId: 5 },
      { op: 'putIncoming', clientId: 'c1', packetId: 6 },
    ]);
    for (let pass = 0; pass < 2; pass++) {
      const [state, ...rest] = await store.loadSessions();
      assert.equal(rest.length, 0);
      assert.deepEqual(plainSession(state!.session), plainSession(session('c1')));
      assert.deepEqual(state!.subscriptions.map((s) => s.filter).sort(), ['$share/g/b', 'a/#']);
      const a = state!.subscriptions.find((s) => s.filter === 'a/#')!;
      assert.deepEqual(plainSubscription(a), plainSubscription(subscription('a/#', { retainAsPublished: true, retainHandling: 2, identifier: 7 })));
      assert.deepEqual(
        state!.outgoing.map((o) => [o.seq, text(o.message.payload), o.qos, o.packetId, o.state]),
        [
          [1, 'first', 1, 9, 'publish'],
          [2, 'second', 2, 10, 'pubrel'],
          [3, 'third', 1, 0, 'queued'],
        ],
      );
      assert.deepEqual(state!.outgoing[0]!.subscriptionIds, [7]);
      assert.deepEqual(state!.outgoing.map((o) => o.shared), [undefined, '$share/g/q/#', undefined]);
      assert.deepEqual([...state!.incoming].sort(), [5, 6]);
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });

  it('keeps every field of a session: user name or none, protocol version, expiry, disconnect time', async () => {
    let store = await fresh();
    const sessions = [
      session('v3', { username: undefined, protocolVersion: 3, expiryInterval: 0 }),
      session('v4', { username: 'пользователь 用户', protocolVersion: 4, expiryInterval: 1, disconnectedAt: 1_700_000_000_123 }),
      session('v5 клиент 🦟', { username: '', protocolVersion: 5, expiryInterval: 0xffffffff, disconnectedAt: 0 }),
    ];
    await store.write(sessions.map((s): StoreOp => ({ op: 'putSession', session: s })));
    const expected = sessions.map(plainSession).sort((a, b) => ((a as { clientId: string }).clientId < (b as { clientId: string }).clientId ? -1 : 1));
    assert.deepEqual((await snapshot(store)).sessions.map((s) => (s as { session: unknown }).session), expected);
    store = await again(store);
    assert.deepEqual((await snapshot(store)).sessions.map((s) => (s as { session: unknown }).session), expected);
    await store.close();
  });

  it('keeps a pending Will with every Will property', async () => {
    let store = await fresh();
    const will = {
      will: { topic: 'will/последний', payload: Uint8Array.of(0, 1, 254, 255), qos: 2 as const, retain: true, properties: ALL_WILL_PROPERTIES },
      dueAt: 1_800_000_000_000,
    };
    const plain = session('w1', { will, disconnectedAt: 1_799_999_970_000 });
    const bare = session('w2', { will: { will: { topic: 'w', payload: bytes('bye'), qos: 0, retain: false }, dueAt: 5 } });
    await store.write([
      { op: 'putSession', session: plain },
      { op: 'putSession', session: bare },
    ]);
    for (let pass = 0; pass < 2; pass++) {
      assert.deepEqual(plainSession((await stateOf(store, 'w1'))!.session), plainSession(plain));
      assert.deepEqual(plainSession((await stateOf(store, 'w2'))!.session), plainSession(bare));
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });

  it('putSession of a session that exists replaces its record and keeps its subscriptions, outgoing messages and incoming ids', async () => {
    let store = await fresh();
    await store.write([
      { op: 'putSession', session: session('s') },
      { op: 'putSubscription', clientId: 's', subscription: subscription('x/+') },
      { op: 'putOutgoing', clientId: 's', outgoing: outgoing(1, 'one') },
      { op: 'putIncoming', clientId: 's', packetId: 42 },
    ]);
    await store.write([{ op: 'putSession', session: session('s', { username: undefined, disconnectedAt: 99, expiryInterval: 10 }) }]);
    for (let pass = 0; pass < 2; pass++) {
      const state = (await stateOf(store, 's'))!;
      assert.deepEqual([state.session.username, state.session.disconnectedAt, state.session.expiryInterval], [undefined, 99, 10]);
      assert.deepEqual(state.subscriptions.map((s) => s.filter), ['x/+']);
      assert.deepEqual(await outgoingOf(store, 's'), [[1, 'one']]);
      assert.deepEqual(state.incoming, [42]);
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });

  it('a session put again without its Will (sent, or cancelled by a reconnect) loads without it', async () => {
    let store = await fresh();
    const will = { will: { topic: 'w', payload: bytes('bye'), qos: 1 as const, retain: false, properties: { willDelayInterval: 60 } }, dueAt: 1_800_000_000_000 };
    await store.write([{ op: 'putSession', session: session('w', { will, disconnectedAt: 1_799_999_940_000 }) }]);
    await store.write([{ op: 'putSession', session: session('w') }]);
    for (let pass = 0; pass < 2; pass++) {
      assert.deepEqual(plainSession((await stateOf(store, 'w'))!.session), plainSession(session('w')));
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });

  it('replaces on put and removes on delete', async () => {
    let store = await fresh();
    await store.write([
      { op: 'putSession', session: session('c2') },
      { op: 'putOutgoing', clientId: 'c2', outgoing: outgoing(1, 'one') },
      { op: 'putOutgoing', clientId: 'c2', outgoing: outgoing(2, 'two') },
      { op: 'putSubscription', clientId: 'c2', subscription: subscription('x', { qos: 0 }) },
      { op: 'putIncoming', clientId: 'c2', packetId: 1 },
    ]);
    await store.write([
      { op: 'putOutgoing', clientId: 'c2', outgoing: outgoing(1, 'one', { packetId: 3, state: 'publish' }) },
      { op: 'putSubscription', clientId: 'c2', subscription: subscription('x', { qos: 2, noLocal: true }) },
      { op: 'deleteOutgoing', clientId: 'c2', seq: 2 },
      { op: 'deleteIncoming', clientId: 'c2', packetId: 1 },
    ]);
    let state = (await stateOf(store, 'c2'))!;
    assert.deepEqual(state.outgoing.map((o) => [o.seq, o.packetId, o.state]), [[1, 3, 'publish']]);
    assert.deepEqual(state.subscriptions.map(plainSubscription), [plainSubscription(subscription('x', { qos: 2, noLocal: true }))]);
    assert.deepEqual(state.incoming, []);
    await store.write([{ op: 'deleteSubscription', clientId: 'c2', filter: 'x' }]);
    store = await again(store);
    state = (await stateOf(store, 'c2'))!;
    assert.deepEqual(state.outgoing.map((o) => [o.seq, o.packetId, o.state]), [[1, 3, 'publish']]);
    assert.deepEqual([state.subscriptions, state.incoming], [[], []]);
    await store.close();
  });

  it('keeps every subscription option', async () => {
    let store = await fresh();
    const subscriptions = [
      subscription('#', { qos: 0 }),
      subscription('a/+/c', { qos: 1, noLocal: true, retainHandling: 1, identifier: 1 }),
      subscription('$share/group/sensors/#', { qos: 2, retainAsPublished: true, retainHandling: 2, identifier: 268_435_455 }),
      subscription('датчики/温度/🌡', { qos: 2, noLocal: true, retainAsPublished: true }),
      subscription(`long/${'x'.repeat(2000)}`),
    ];
    await store.write([{ op: 'putSession', session: session('subs') }, ...subscriptions.map((s): StoreOp => ({ op: 'putSubscription', clientId: 'subs', subscription: s }))]);
    const expected = subscriptions.map(plainSubscription).sort((a, b) => ((a as { filter: string }).filter < (b as { filter: string }).filter ? -1 : 1));
    for (let pass = 0; pass < 2; pass++) {
      const state = (await snapshot(store)).sessions[0] as { subscriptions: unknown[] };
      assert.deepEqual(state.subscriptions, expected);
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });

  it('keeps incoming QoS 2 packet ids from 1 to 65535, each once, and ignores deletes of ids it does not hold', async () => {
    let store = await fresh();
    await store.write([
      { op: 'putSession', session: session('in') },
      { op: 'putIncoming', clientId: 'in', packetId: 65535 },
      { op: 'putIncoming', clientId: 'in', packetId: 1 },
      { op: 'putIncoming', clientId: 'in', packetId: 300 },
    ]);
    await store.write([
      { op: 'putIncoming', clientId: 'in', packetId: 300 },
      { op: 'deleteIncoming', clientId: 'in', packetId: 7 },
      { op: 'deleteIncoming', clientId: 'other', packetId: 1 },
    ]);
    for (let pass = 0; pass < 2; pass++) {
      assert.deepEqual([...(await stateOf(store, 'in'))!.incoming].sort((a, b) => a - b), [1, 300, 65535]);
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });

  it('deleteSession removes the session and everything under it, and a session created again under its id starts empty', async () => {
    let store = await fresh();
    await store.write([
      { op: 'putSession', session: session('gone') },
      { op: 'putSession', session: session('kept') },
      { op: 'putOutgoing', clientId: 'gone', outgoing: outgoing(1, 'x') },
      { op: 'putSubscription', clientId: 'gone', subscription: subscription('y', { noLocal: true }) },
      { op: 'putIncoming', clientId: 'gone', packetId: 4 },
      { op: 'deleteSession', clientId: 'gone' },
    ]);
    assert.deepEqual((await store.loadSessions()).map((s) => s.session.clientId), ['kept']);
    await store.write([{ op: 'putSession', session: session('gone') }]);
    store = await again(store);
    const again_ = (await stateOf(store, 'gone'))!;
    assert.deepEqual([again_.outgoing, again_.subscriptions, again_.incoming], [[], [], []]);
    await store.close();
  });

  it('deleteSession removes records written over many batches and leaves sessions with similar ids alone', async () => {
    let store = await fresh();
    const ids = ['gone', 'gon', 'gone2', 'gone/'];
    await store.write(ids.map((id): StoreOp => ({ op: 'putSession', session: session(id) })));
    for (let batch = 1; batch <= 20; batch++) {
      const ops: StoreOp[] = [];
      for (const id of ids) {
        ops.push({ op: 'putOutgoing', clientId: id, outgoing: outgoing(batch, `${id} ${batch}`) });
        ops.push({ op: 'putSubscription', clientId: id, subscription: subscription(`f/${batch}`) });
        ops.push({ op: 'putIncoming', clientId: id, packetId: batch });
      }
      await store.write(ops);
    }
    await store.write([{ op: 'deleteSession', clientId: 'gone' }]);
    for (let pass = 0; pass < 2; pass++) {
      const states = await store.loadSessions();
      assert.deepEqual(states.map((s) => s.session.clientId).sort(), ['gon', 'gone/', 'gone2']);
      for (const state of states) {
        const id = state.session.clientId;
        assert.equal(state.outgoing.length, 20, id);
        assert.ok(state.outgoing.every((o) => text(o.message.payload) === `${id} ${o.seq}`), id);
        assert.equal(state.subscriptions.length, 20, id);
        assert.equal(state.incoming.length, 20, id);
      }
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });

  it('deletes of a session, records or retained messages that do not exist change nothing', async () => {
    let store = await fresh();
    await store.write([
      { op: 'putSession', session: session('here') },
      { op: 'putOutgoing', clientId: 'here', outgoing: outgoing(1, 'kept') },
      { op: 'putRetained', message: message('r/kept', 'kept', { retain: true }) },
    ]);
    const before = await snapshot(store);
    await store.write([
      { op: 'deleteSession', clientId: 'absent' },
      { op: 'deleteOutgoing', clientId: 'here', seq: 2 },
      { op: 'deleteOutgoing', clientId: 'absent', seq: 1 },
      { op: 'deleteSubscription', clientId: 'here', filter: 'none' },
      { op: 'deleteIncoming', clientId: 'here', packetId: 1 },
      { op: 'deleteRetained', topic: 'r/absent' },
    ]);
    assert.deepEqual(await snapshot(store), before);
    store = await again(store);
    assert.deepEqual(await snapshot(store), before);
    await store.close();
  });

  it('retained messages: put, overwrite with another message, delete, and put again', async () => {
    let store = await fresh();
    const first = message('r/a', 'first', { retain: true, qos: 2, properties: ALL_MESSAGE_PROPERTIES, expiresAt: 4_102_444_800_000 });
    await store.write([
      { op: 'putRetained', message: first },
      { op: 'putRetained', message: message('r/b', 'b', { retain: true }) },
      { op: 'putRetained', message: message('r/c', 'c', { retain: true }) },
    ]);
    // The overwrite replaces the whole message: its properties, expiry and QoS go with it.
    const second = message('r/a', 'second', { retain: true, qos: 0, origin: undefined });
    await store.write([{ op: 'putRetained', message: second }, { op: 'deleteRetained', topic: 'r/b' }]);
    await store.write([{ op: 'putRetained', message: message('r/b', 'b again', { retain: true }) }, { op: 'deleteRetained', topic: 'r/c' }]);
    for (let pass = 0; pass < 2; pass++) {
      assert.deepEqual(await retainedOf(store), [['r/a', 'second'], ['r/b', 'b again']]);
      const a = (await store.loadRetained()).find((m) => m.topic === 'r/a')!;
      assert.deepEqual(plainMessage(a), plainMessage(second));
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });

  it('keeps a thousand retained messages on topics that differ by one character, and deletes half of them', async () => {
    let store = await fresh();
    const topics = Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? `t/${i}` : `t/${i - 1}/`));
    await store.write(topics.map((topic): StoreOp => ({ op: 'putRetained', message: message(topic, topic, { retain: true }) })));
    await store.write(topics.filter((_, i) => i % 4 < 2).map((topic): StoreOp => ({ op: 'deleteRetained', topic })));
    const expected = topics.filter((_, i) => i % 4 >= 2).sort().map((topic) => [topic, topic]);
    assert.deepEqual(await retainedOf(store), expected);
    store = await again(store);
    assert.deepEqual(await retainedOf(store), expected);
    await store.close();
  });

  it('keeps every MQTT 5 property of an outgoing message, its subscription ids and its absolute expiry time', async () => {
    let store = await fresh();
    const full = outgoing(1, 'full', {
      message: message('props/全部', Uint8Array.of(0, 0xff, 0x80, 0x7f), {
        qos: 2,
        retain: true,
        properties: ALL_MESSAGE_PROPERTIES,
        expiresAt: 1_767_225_600_500,
        origin: 'издатель 🦟',
      }),
      qos: 1,
      retain: false,
      subscriptionIds: [1, 300, 268_435_455],
      packetId: 65535,
      state: 'publish',
      shared: '$share/g/props/#',
    });
    const spare = outgoing(2, 'spare', {
      message: message('props/b', '', { properties: { payloadFormatIndicator: false, correlationData: new Uint8Array(0) }, origin: undefined }),
      subscriptionIds: [],
    });
    await store.write([
      { op: 'putSession', session: session('p') },
      { op: 'putOutgoing', clientId: 'p', outgoing: full },
      { op: 'putOutgoing', clientId: 'p', outgoing: spare },
    ]);
    for (let pass = 0; pass < 2; pass++) {
      assert.deepEqual((await stateOf(store, 'p'))!.outgoing.map(plainOutgoing), [plainOutgoing(full), plainOutgoing(spare)]);
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });

  it('keeps every MQTT 5 property of a retained message', async () => {
    let store = await fresh();
    const full = message('r/full', Uint8Array.of(0, 1, 2, 255, 254), {
      qos: 2,
      retain: true,
      properties: ALL_MESSAGE_PROPERTIES,
      expiresAt: 4_102_444_800_000,
      origin: 'origin-client',
    });
    await store.write([{ op: 'putRetained', message: full }]);
    for (let pass = 0; pass < 2; pass++) {
      assert.deepEqual((await store.loadRetained()).map(plainMessage), [plainMessage(full)]);
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });

  it('keeps payloads of any content and size: empty, every byte value, 1 MiB', async () => {
    let store = await fresh();
    const payloads = [new Uint8Array(0), Uint8Array.from({ length: 512 }, (_, i) => i & 0xff), Uint8Array.from({ length: 1024 * 1024 }, (_, i) => (i * 31) & 0xff)];
    await store.write([
      { op: 'putSession', session: session('big') },
      ...payloads.map((payload, i): StoreOp => ({ op: 'putOutgoing', clientId: 'big', outgoing: outgoing(i, '', { message: message('p', payload) }) })),
      ...payloads.map((payload, i): StoreOp => ({ op: 'putRetained', message: message(`p/${i}`, payload, { retain: true }) })),
    ]);
    const expected = (await snapshot(store)) as { sessions: Array<{ outgoing: Array<{ message: { payload: string } }> }>; retained: Array<{ payload: string }> };
    const hexes = payloads.map((p) => Buffer.from(p).toString('hex'));
    assert.deepEqual(expected.sessions[0]!.outgoing.map((o) => o.message.payload), hexes);
    assert.deepEqual(expected.retained.map((m) => m.payload), hexes);
    store = await again(store);
    assert.deepEqual(await snapshot(store), expected);
    await store.close();
  });

  it('takes large batches and many sequential writes', async () => {
    let store = await fresh();
    const ops: StoreOp[] = [{ op: 'putSession', session: session('big') }];
    for (let i = 1; i <= 2000; i++) ops.push({ op: 'putOutgoing', clientId: 'big', outgoing: outgoing(i, `m${i}`) });
    await store.write(ops);
    for (let i = 1; i <= 1000; i++) await store.write([{ op: 'deleteOutgoing', clientId: 'big', seq: i }]);
    for (let pass = 0; pass < 2; pass++) {
      const [state] = await store.loadSessions();
      assert.equal(state!.outgoing.length, 1000);
      assert.equal(state!.outgoing[0]!.seq, 1001);
      assert.equal(text(state!.outgoing[999]!.message.payload), 'm2000');
      if (pass === 0) store = await again(store);
    }
    await store.close();
  });
}
