import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Broker } from '../../../src/broker/broker.js';
import { HOLD_LIMIT_MS } from '../../../src/broker/flow.js';
import { silentLogger } from '../../../src/broker/logger.js';
import type { BrokerOptions } from '../../../src/broker/options.js';
import { waitFor } from '../../helpers/wait.js';
import { MemoryPeer, tick } from './memory-stream.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

async function connected(broker: Broker, clientId: string, version: 4 | 5 = 5): Promise<MemoryPeer> {
  const peer = new MemoryPeer(version);
  broker.accept(peer.stream);
  peer.send({ type: 'connect', protocolVersion: version, clientId, clean: true, keepalive: 0 });
  await tick();
  const [connack] = peer.take('connack');
  assert.equal(connack?.reasonCode, 0);
  return peer;
}

async function subscribed(broker: Broker, clientId: string, filter: string, qos: 0 | 1 | 2): Promise<MemoryPeer> {
  const peer = await connected(broker, clientId);
  peer.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: filter, qos }] });
  await tick();
  assert.equal(peer.take('suback').length, 1);
  return peer;
}

function quietBroker(options: BrokerOptions = {}): Broker {
  return new Broker({ sysInterval: 0, logger: silentLogger, ...options });
}

describe('connection state machine over an in-memory stream', () => {
  it('batches a tick of deliveries into one write, joining small packets and sharing large payloads', async () => {
    const broker = quietBroker();
    const a = await subscribed(broker, 'a', 'batch/#', 0);
    const b = await subscribed(broker, 'b', 'batch/#', 0);
    const pub = await connected(broker, 'pub');
    const writesBefore = a.stream.writes.length;
    const payload = enc('small payload');
    for (let i = 0; i < 10; i++) pub.send({ type: 'publish', topic: 'batch/x', payload, qos: 0, retain: false, dup: false });
    await tick();
    assert.equal(a.stream.writes.length - writesBefore, 1);
    assert.equal(a.stream.writes.at(-1)!.length, 1, 'small packets go out as one joined chunk');
    assert.equal(a.take('publish').length, 10);
    assert.equal(b.take('publish').length, 10);
    // A large payload is its own chunk: the same bytes for both subscribers.
    pub.send({ type: 'publish', topic: 'batch/x', payload: new Uint8Array(8192), qos: 0, retain: false, dup: false });
    await tick();
    const payloadOfA = a.stream.writes.at(-1)![1]!;
    const payloadOfB = b.stream.writes.at(-1)![1]!;
    assert.equal(payloadOfA.length, 8192);
    assert.equal(payloadOfA.buffer, payloadOfB.buffer);
    assert.equal(payloadOfA.byteOffset, payloadOfB.byteOffset);
    await broker.close();
  });

  it('a frozen subscriber holds the others back only briefly; then its QoS 0 is dropped and counted, its QoS 1 waits bounded', async () => {
    const broker = quietBroker({ limits: { maxWriteBuffer: 16 * 1024, maxQueuedMessages: 50 } });
    const frozen = await subscribed(broker, 'frozen', 'load/#', 1);
    const healthy = await subscribed(broker, 'healthy', 'load/#', 1);
    const pub = await connected(broker, 'pub');
    frozen.stream.frozen = true;
    const payload = new Uint8Array(1024);
    let id = 1;
    let healthyGot = 0;
    const ackAll = (peer: MemoryPeer): number => {
      const got = peer.take('publish');
      for (const p of got) if (p.packetId !== undefined) peer.send({ type: 'puback', packetId: p.packetId });
      return got.length;
    };
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 50; i++) pub.send({ type: 'publish', topic: 'load/0', payload, qos: 0, retain: false, dup: false });
      for (let i = 0; i < 10; i++) pub.send({ type: 'publish', topic: 'load/1', payload, qos: 1, packetId: id++, retain: false, dup: false });
      // Once, the full queue of the frozen subscriber holds the publisher until it is found stuck.
      await waitFor(() => broker.stats.publishReceived >= (round + 1) * 60, HOLD_LIMIT_MS + 3000, `round ${round} routed`);
      await tick();
      // The healthy subscriber acknowledges as it goes.
      healthyGot += ackAll(healthy);
    }
    await tick();
    healthyGot += ackAll(healthy);
    assert.equal(broker.stats.publishReceived, 1200);
    assert.equal(healthyGot, 1200);
    // Bounded by the cap plus what one tick routed to it.
    assert.ok(frozen.stream.bufferedAmount < 16 * 1024 + 70 * 1024, `frozen buffer ${frozen.stream.bufferedAmount}`);
    assert.ok(broker.stats.publishDropped > 900, `dropped ${broker.stats.publishDropped}`);
    frozen.stream.thaw();
    await tick();
    // After thawing: what the socket held, then the bounded queue (QoS 0 waits there too), plus the one message
    // that found it full and held the publisher.
    const after = frozen.take('publish');
    assert.ok(after.some((p) => p.qos === 1) && after.some((p) => p.qos === 0));
    assert.ok(after.length <= 70 + 50 + 1, `frozen subscriber got ${after.length} messages after thawing`);
    await broker.close();
  });

  it('disconnects a subscriber whose socket does not drain within writeStallTimeout', async () => {
    const broker = quietBroker({ limits: { writeStallTimeout: 0.2 } });
    const stuck = await subscribed(broker, 'stuck', 'stall/#', 0);
    const pub = await connected(broker, 'pub');
    stuck.stream.frozen = true;
    pub.send({ type: 'publish', topic: 'stall/x', payload: enc('x'), qos: 0, retain: false, dup: false });
    await waitFor(() => stuck.stream.closed, 3000, 'the stalled subscriber to be closed');
    assert.equal(pub.stream.closed, false);
    await broker.close();
  });

  it('disconnectClient closes one client with DISCONNECT 0x98 and sends its Will', async () => {
    const broker = quietBroker();
    const watcher = await subscribed(broker, 'watcher', 'gone/#', 0);
    const peer = new MemoryPeer(5);
    broker.accept(peer.stream);
    peer.send({ type: 'connect', protocolVersion: 5, clientId: 'kicked', clean: true, keepalive: 0, will: { topic: 'gone/kicked', payload: enc('bye'), qos: 0, retain: false } });
    await tick();
    assert.equal(broker.disconnectClient('kicked'), true);
    assert.equal(broker.disconnectClient('nobody'), false);
    await tick();
    assert.equal(peer.take('disconnect')[0]?.reasonCode, 0x98);
    assert.equal(watcher.take('publish')[0]?.topic, 'gone/kicked');
    await broker.close();
  });

  it('v5 DISCONNECT on shutdown (0x8B)', async () => {
    const broker = quietBroker();
    const peer = await connected(broker, 'shut');
    await broker.close();
    await tick();
    assert.equal(peer.take('disconnect')[0]?.reasonCode, 0x8b);
    assert.equal(peer.stream.closed, true);
  });

  it('emits connected, disconnected and message events', async () => {
    const broker = quietBroker();
    const events: string[] = [];
    broker.on('connected', (c) => events.push(`connected ${c.clientId}`));
    broker.on('disconnected', (c) => events.push(`disconnected ${c.clientId}`));
    broker.on('message', (m, c) => events.push(`message ${m.topic} from ${c?.clientId}`));
    const peer = await connected(broker, 'ev', 4);
    peer.send({ type: 'publish', topic: 'ev/x', payload: enc('1'), qos: 0, retain: false, dup: false });
    peer.send({ type: 'disconnect' });
    await tick();
    await tick();
    assert.deepEqual(events, ['connected ev', 'message ev/x from ev', 'disconnected ev']);
    await broker.close();
  });
});
