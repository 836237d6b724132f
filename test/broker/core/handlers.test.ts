// The broker's packet handlers driven with lists of packets through a fake connection (no socket, no parser, no
// timers): what each packet makes the broker send, route, keep or close.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConnectPacket, Packet, PublishPacket } from '../../../src/packet/types.js';
import { FakeBroker, FakeContext } from './fake-context.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const connect = (fields: Partial<ConnectPacket> = {}): ConnectPacket => ({ type: 'connect', protocolVersion: 5, clientId: 'c', clean: true, keepalive: 30, ...fields });
const publish = (topic: string, qos: 0 | 1 | 2, packetId?: number, extra: Partial<PublishPacket> = {}): PublishPacket =>
  ({ type: 'publish', topic, payload: bytes('x'), qos, retain: false, dup: false, ...(qos > 0 ? { packetId } : {}), ...extra }) as PublishPacket;

/** A fake client past CONNACK. */
async function connected(broker = new FakeBroker(), fields: Partial<ConnectPacket> = {}, ...rest: ConstructorParameters<typeof FakeContext> extends [unknown, ...infer R] ? R : never): Promise<FakeContext> {
  const context = new FakeContext(broker, ...rest);
  await context.receive(connect(fields));
  assert.equal(context.take('connack')[0]?.reasonCode, 0);
  return context;
}

async function feed(context: FakeContext, packets: Packet[]): Promise<void> {
  for (const packet of packets) await context.receive(packet);
}

describe('CONNECT handler', () => {
  it('answers CONNACK with the broker limits and opens the session', async () => {
    const context = new FakeContext(new FakeBroker());
    await context.receive(connect({ clientId: '' }));
    const [connack] = context.take('connack');
    assert.equal(connack?.reasonCode, 0);
    assert.equal(connack?.properties?.receiveMaximum, 100);
    assert.match(connack?.properties?.assignedClientIdentifier ?? '', /^culex-/);
    assert.equal(context.state, 'open');
    assert.equal(context.session?.clientId, context.client.clientId);
  });

  it('refuses an empty client id with clean session 0 in 3.1.1, and in 3.1 always', async () => {
    for (const [fields, code] of [[{ protocolVersion: 4, clean: false }, 0x85], [{ protocolVersion: 3 }, 0x85]] as const) {
      const context = new FakeContext(new FakeBroker());
      await context.receive(connect({ clientId: '', ...fields }));
      assert.deepEqual([context.closed()?.how, context.closed()?.reasonCode], ['refuse', code]);
    }
  });

  it('a malformed Will topic is a Malformed Packet; one over the level limit is 0x90', async () => {
    const malformed = new FakeContext(new FakeBroker());
    await malformed.receive(connect({ will: { topic: 'a/+', payload: bytes('x'), qos: 0, retain: false } }));
    assert.equal(malformed.closed()?.reasonCode, 0x81);
    const deep = new FakeContext(new FakeBroker(), {}, { maxTopicLevels: 2 });
    await deep.receive(connect({ will: { topic: 'a/b/c', payload: bytes('x'), qos: 0, retain: false } }));
    assert.equal(deep.closed()?.reasonCode, 0x90);
  });

  it('runs an AUTH exchange: AUTH 0x18 out, the answer back to the hook, then CONNACK with the method', async () => {
    const broker = new FakeBroker();
    const context = new FakeContext(broker, {
      authenticate: (ctx) => (ctx.step === 0 ? { result: 'continue', data: bytes('challenge') } : { result: 'success', data: bytes('done') }),
    });
    await context.receive(connect({ properties: { authenticationMethod: 'M' } }));
    assert.equal(context.state, 'auth');
    assert.equal(context.take('auth')[0]?.reasonCode, 0x18);
    await context.receive({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'M', authenticationData: bytes('answer') } });
    const [connack] = context.take('connack');
    assert.equal(connack?.properties?.authenticationMethod, 'M');
    assert.equal(context.state, 'open');
  });

  it('a second client with the same id takes the session over (the first gets 0x8E)', async () => {
    const broker = new FakeBroker();
    const first = await connected(broker, { clientId: 'same', clean: false, properties: { sessionExpiryInterval: 60 } });
    const second = new FakeContext(broker);
    await second.receive(connect({ clientId: 'same', clean: false, properties: { sessionExpiryInterval: 60 } }));
    assert.deepEqual([first.closed()?.how, first.closed()?.reasonCode], ['disconnect', 0x8e]);
    assert.equal(second.take('connack')[0]?.sessionPresent, true);
  });
});

describe('PUBLISH handler', () => {
  it('routes QoS 0/1/2 and acknowledges 1 and 2 (0x10 when nobody subscribed)', async () => {
    const broker = new FakeBroker();
    const context = await connected(broker);
    await feed(context, [publish('t', 0), publish('t', 1, 1), publish('t', 2, 2)]);
    assert.equal(broker.routed.length, 3);
    assert.deepEqual(context.take('puback').map((p) => [p.packetId, p.reasonCode]), [[1, 0x10]]);
    assert.deepEqual(context.take('pubrec').map((p) => [p.packetId, p.reasonCode]), [[2, 0x10]]);
    await context.receive({ type: 'pubrel', packetId: 2 });
    assert.deepEqual(context.take('pubcomp').map((p) => [p.packetId, p.reasonCode]), [[2, 0]]);
    assert.equal(context.inboundUnacked, 0);
  });

  it('a resent QoS 2 PUBLISH is acknowledged again and not routed twice', async () => {
    const broker = new FakeBroker();
    const context = await connected(broker);
    await feed(context, [publish('t', 2, 7), publish('t', 2, 7, { dup: true })]);
    assert.equal(broker.routed.length, 1);
    assert.equal(context.take('pubrec').length, 2);
  });

  it('PUBREL for an id it does not hold gets PUBCOMP 0x92', async () => {
    const context = await connected();
    await context.receive({ type: 'pubrel', packetId: 9 });
    assert.equal(context.take('pubcomp')[0]?.reasonCode, 0x92);
  });

  it('refuses a Subscription Identifier from a client (0x82)', async () => {
    const context = await connected();
    await context.receive(publish('t', 1, 1, { properties: { subscriptionIdentifiers: [3] } }));
    assert.equal(context.closed()?.reasonCode, 0x82);
  });

  it('topic aliases: set then used; 0 or above the maximum is 0x94; unknown is 0x82', async () => {
    const broker = new FakeBroker();
    const context = await connected(broker);
    await feed(context, [publish('long/topic', 0, undefined, { properties: { topicAlias: 1 } }), publish('', 0, undefined, { properties: { topicAlias: 1 } })]);
    assert.deepEqual(broker.routed.map((m) => m.topic), ['long/topic', 'long/topic']);
    const high = await connected(broker, { clientId: 'h' });
    await high.receive(publish('x', 0, undefined, { properties: { topicAlias: 11 } }));
    assert.equal(high.closed()?.reasonCode, 0x94);
    const unknown = await connected(broker, { clientId: 'u' });
    await unknown.receive(publish('', 0, undefined, { properties: { topicAlias: 2 } }));
    assert.equal(unknown.closed()?.reasonCode, 0x82);
  });

  it('more unacknowledged QoS 1/2 than our Receive Maximum is 0x93', async () => {
    const broker = new FakeBroker();
    const context = await connected(broker, {}, { onPublish: () => new Promise<undefined>(() => undefined) }, { receiveMaximum: 2 });
    // The hook never answers: each PUBLISH stays unacknowledged.
    void context.receive(publish('t', 1, 1));
    void context.receive(publish('t', 1, 2));
    await context.receive(publish('t', 1, 3));
    assert.equal(context.closed()?.reasonCode, 0x93);
  });

  it('malformed topic names are 0x81, names over the level limit 0x90, $SYS is read-only', async () => {
    const broker = new FakeBroker();
    const wild = await connected(broker, { clientId: 'w' });
    await wild.receive(publish('a/#', 0));
    assert.equal(wild.closed()?.reasonCode, 0x81);
    const deep = await connected(broker, { clientId: 'd' }, {}, { maxTopicLevels: 2 });
    await deep.receive(publish('a/b/c', 0));
    assert.equal(deep.closed()?.reasonCode, 0x90);
    const sys = await connected(broker, { clientId: 's' });
    await sys.receive(publish('$SYS/x', 1, 4));
    assert.equal(sys.take('puback')[0]?.reasonCode, 0x87);
    assert.equal(broker.routed.length, 0);
  });

  it('hooks: reject answers with the code (v5) or a plain PUBACK (3.1.1); disconnect closes without any acknowledgement', async () => {
    const hooks = {
      authorizePublish: ({ topic }: { topic: string }) => (topic === 'close' ? ({ action: 'disconnect', reasonCode: 0x87 } as const) : topic !== 'no'),
    };
    for (const version of [4, 5] as const) {
      const broker = new FakeBroker();
      const context = await connected(broker, { protocolVersion: version }, hooks);
      await context.receive(publish('no', 1, 1));
      assert.equal(context.take('puback')[0]?.reasonCode, version === 5 ? 0x87 : 0);
      await context.receive(publish('close', 2, 2));
      assert.deepEqual(context.take('pubrec'), []);
      assert.deepEqual([context.closed()?.how, context.closed()?.reasonCode], ['disconnect', 0x87]);
      assert.equal(broker.routed.length, 0);
    }
  });
});

describe('SUBSCRIBE and UNSUBSCRIBE handlers', () => {
  it('grants per filter, 0x8F over the level limit, and delivers matching messages at the granted QoS', async () => {
    const broker = new FakeBroker();
    const sub = await connected(broker, { clientId: 'sub' }, {}, { maxTopicLevels: 3 });
    await sub.receive({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'a/+', qos: 1 }, { topicFilter: 'a/b/c/d', qos: 0 }] });
    assert.deepEqual(sub.take('suback')[0]?.reasonCodes, [1, 0x8f]);
    const pub = await connected(broker, { clientId: 'pub' });
    await pub.receive(publish('a/b', 2, 5));
    assert.deepEqual(sub.events.filter((e) => e.kind === 'publish').map((e) => e.kind === 'publish' && [e.topic, e.qos]), [['a/b', 1]]);
  });

  it('a malformed filter closes the connection (0x81) without a SUBACK, in SUBSCRIBE and UNSUBSCRIBE', async () => {
    for (const packet of [
      { type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'ok', qos: 0 }, { topicFilter: 'a+', qos: 0 }] },
      { type: 'unsubscribe', packetId: 2, topicFilters: [''] },
    ] as Packet[]) {
      const context = await connected();
      await context.receive(packet);
      assert.equal(context.closed()?.reasonCode, 0x81);
      assert.deepEqual(context.take('suback'), []);
      assert.deepEqual(context.take('unsuback'), []);
    }
  });

  it('UNSUBSCRIBE says per filter whether it existed, and removes it from the router', async () => {
    const broker = new FakeBroker();
    const context = await connected(broker);
    await context.receive({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'x/#', qos: 0 }] });
    assert.equal(broker.router.subscriptionCount, 1);
    await context.receive({ type: 'unsubscribe', packetId: 2, topicFilters: ['x/#', 'y'] });
    assert.deepEqual(context.take('unsuback')[0]?.reasonCodes, [0, 0x11]);
    assert.equal(broker.router.subscriptionCount, 0);
  });

  it('No Local on a shared subscription is a Protocol Error', async () => {
    const context = await connected();
    await context.receive({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: '$share/g/x', qos: 0, noLocal: true }] });
    assert.equal(context.closed()?.reasonCode, 0x82);
  });
});

describe('DISCONNECT handler', () => {
  it('a v5 DISCONNECT may not raise the Session Expiry Interval from 0', async () => {
    const context = await connected();
    await context.receive({ type: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 10 } });
    assert.deepEqual([context.closed()?.how, context.closed()?.reasonCode], ['protocolError', 0x82]);
  });

  it('a session with expiry outlives its connection, with its subscriptions', async () => {
    const broker = new FakeBroker();
    const context = await connected(broker, { clientId: 'keep', clean: false, properties: { sessionExpiryInterval: 60 } });
    await context.receive({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'k', qos: 1 }] });
    await context.receive({ type: 'disconnect', reasonCode: 0 });
    assert.equal(context.closed()?.how, 'close');
    const session = broker.sessions.get('keep');
    assert.equal(session?.online, false);
    assert.deepEqual([...session!.subscriptions.keys()], ['k']);
    broker.sessions.stopTimers();
  });
});
