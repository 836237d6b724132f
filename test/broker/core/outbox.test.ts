import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HOLD_LIMIT_MS, type Holdable } from '../../../src/broker/flow.js';
import { createMessage, type BrokerMessage } from '../../../src/broker/message.js';
import { defaultLimits } from '../../../src/broker/options.js';
import { Outbox, type DeliveryTarget } from '../../../src/broker/outbox.js';
import { BrokerStats } from '../../../src/broker/stats.js';
import type { QoS } from '../../../src/packet/types.js';

/** Records what the outbox sends. */
class FakeTarget implements DeliveryTarget {
  sent: Array<{ payload: string; qos: QoS; packetId: number; dup: boolean }> = [];
  released: number[] = [];
  open = true;
  constructor(readonly sendWindow: number) {}
  writable(): boolean {
    return this.open;
  }
  sendPublish(message: BrokerMessage, qos: QoS, _retain: boolean, dup: boolean, packetId: number): boolean {
    if (message.expiresAt !== undefined && message.expiresAt <= Date.now()) return false;
    this.sent.push({ payload: new TextDecoder().decode(message.payload), qos, packetId, dup });
    return true;
  }
  sendPubrel(packetId: number): void {
    this.released.push(packetId);
  }
  stalls: number[] = [];
  stalled(seconds: number): void {
    this.stalls.push(seconds);
  }
}

const msg = (payload: string, qos: QoS = 1, expiry?: number): BrokerMessage =>
  createMessage({ topic: 't', payload, qos, properties: expiry === undefined ? undefined : { messageExpiryInterval: expiry } }, undefined);

/** An outbox with default limits, attached to a fake connection whose window is `window`. */
function attached(window: number): { outbox: Outbox; target: FakeTarget } {
  const outbox = new Outbox('c', defaultLimits, new BrokerStats());
  const target = new FakeTarget(window);
  outbox.target = target;
  return { outbox, target };
}

describe('outbox', () => {
  it('keeps order and never reuses a packet id in flight over 100,000 messages acknowledged out of order', () => {
    const stats = new BrokerStats();
    const outbox = new Outbox('c', { ...defaultLimits, maxQueuedMessages: 100_000 }, stats);
    for (let i = 0; i < 100_000; i++) assert.equal(outbox.deliver(msg(String(i)), 1, false, undefined, undefined), true);
    const target = new FakeTarget(20);
    outbox.target = target;
    outbox.pump();
    const inFlight = new Set<number>();
    let next = 0;
    let seed = 7;
    while (target.sent.length > 0 || inFlight.size > 0) {
      for (const s of target.sent.splice(0)) {
        assert.equal(s.payload, String(next++));
        assert.ok(!inFlight.has(s.packetId), `packet id ${s.packetId} reused while in flight`);
        inFlight.add(s.packetId);
      }
      assert.ok(inFlight.size <= 20);
      // Acknowledge a pseudo-random one of those in flight.
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const ids = [...inFlight];
      const id = ids[seed % ids.length]!;
      inFlight.delete(id);
      outbox.acknowledged(id, 0);
    }
    assert.equal(next, 100_000);
    assert.equal(stats.publishDropped, 0);
  });

  it('queues behind a full window or socket and drops the newest when the queue is full', () => {
    const stats = new BrokerStats();
    const outbox = new Outbox('c', { ...defaultLimits, maxQueuedMessages: 3 }, stats);
    const target = new FakeTarget(1);
    outbox.target = target;
    outbox.deliver(msg('a'), 1, false, undefined, undefined);
    outbox.deliver(msg('b'), 0, false, undefined, undefined); // QoS 0 is not held by the window
    outbox.deliver(msg('c'), 1, false, undefined, undefined);
    target.open = false;
    outbox.deliver(msg('d'), 0, false, undefined, undefined);
    outbox.deliver(msg('e'), 1, false, undefined, undefined);
    assert.equal(outbox.deliver(msg('f'), 1, false, undefined, undefined), false);
    assert.equal(stats.publishDropped, 1);
    assert.deepEqual(target.sent.map((s) => s.payload), ['a', 'b']);
    target.open = true;
    outbox.acknowledged(target.sent[0]!.packetId, 0);
    assert.deepEqual(target.sent.map((s) => s.payload), ['a', 'b', 'c', 'd']);
    outbox.acknowledged(target.sent[2]!.packetId, 0);
    assert.deepEqual(target.sent.map((s) => s.payload), ['a', 'b', 'c', 'd', 'e']);
  });

  it('resends with DUP in order after a reconnect, PUBREL for released QoS 2', () => {
    const outbox = new Outbox('c', defaultLimits, new BrokerStats());
    const first = new FakeTarget(10);
    outbox.target = first;
    outbox.deliver(msg('one'), 1, false, undefined, undefined);
    outbox.deliver(msg('two'), 2, false, undefined, undefined);
    outbox.deliver(msg('three'), 2, false, undefined, undefined);
    const [, two] = first.sent;
    assert.equal(outbox.received(two!.packetId, 0), true);
    outbox.target = undefined;
    const second = new FakeTarget(10);
    outbox.target = second;
    outbox.resend();
    assert.deepEqual(second.sent.map((s) => [s.payload, s.dup]), [['one', true], ['three', true]]);
    assert.deepEqual(second.released, [two!.packetId]);
    outbox.completed(two!.packetId);
    assert.equal(outbox.inflightCount, 2);
  });

  it('does not send expired messages', async () => {
    const stats = new BrokerStats();
    const outbox = new Outbox('c', defaultLimits, stats);
    outbox.deliver(msg('short', 1, 0), 1, false, undefined, undefined);
    outbox.deliver(msg('long', 1, 60), 1, false, undefined, undefined);
    await new Promise((r) => setTimeout(r, 5));
    const target = new FakeTarget(10);
    outbox.target = target;
    outbox.pump();
    assert.deepEqual(target.sent.map((s) => s.payload), ['long']);
    assert.equal(outbox.inflightCount, 1);
  });

  it('hands unacknowledged shared-subscription messages back when the session ends', () => {
    const given: string[] = [];
    const group = { filter: '$share/g/t', reassign: (m: BrokerMessage) => void given.push(new TextDecoder().decode(m.payload)) };
    const { outbox, target } = attached(1);
    outbox.deliver(msg('in flight'), 1, false, undefined, group);
    outbox.deliver(msg('queued'), 1, false, undefined, group);
    outbox.deliver(msg('own'), 1, false, undefined, undefined);
    outbox.release();
    assert.deepEqual(given, ['in flight', 'queued']);
    assert.equal(outbox.queued + outbox.inflightCount, 0);
  });

  it('holds a publisher instead of dropping for a connected subscriber, and releases it below half the limit', () => {
    const stats = new BrokerStats();
    const outbox = new Outbox('c', { ...defaultLimits, maxQueuedMessages: 4 }, stats);
    const target = new FakeTarget(1);
    outbox.target = target;
    const publisher = new CountingHoldable();
    for (let i = 0; i < 8; i++) assert.equal(outbox.deliver(msg(String(i)), 1, false, undefined, undefined, publisher), true);
    assert.equal(stats.publishDropped, 0);
    assert.equal(publisher.holds, 1, 'held once however many messages it adds');
    // Acknowledging one at a time: released once at most 2 (half of 4) are queued.
    for (let i = 0; i < 4; i++) outbox.acknowledged(target.sent[i]!.packetId, 0);
    assert.equal(outbox.queued, 3);
    assert.equal(publisher.releases, 0);
    outbox.acknowledged(target.sent[4]!.packetId, 0);
    assert.equal(outbox.queued, 2);
    assert.equal(publisher.releases, 1);
    // Offline: overflow is dropped again.
    outbox.detach();
    for (let i = 0; i < 3; i++) outbox.deliver(msg('late'), 1, false, undefined, undefined, publisher);
    assert.equal(stats.publishDropped, 1);
    outbox.release();
  });

  it('releases its publishers and drops once the subscriber takes nothing for the hold limit', async () => {
    const stats = new BrokerStats();
    const outbox = new Outbox('c', { ...defaultLimits, maxQueuedMessages: 2 }, stats);
    const target = new FakeTarget(1);
    outbox.target = target;
    const publisher = new CountingHoldable();
    for (let i = 0; i < 4; i++) outbox.deliver(msg(String(i)), 1, false, undefined, undefined, publisher);
    assert.equal(publisher.holds, 1);
    await new Promise((r) => setTimeout(r, HOLD_LIMIT_MS + 200));
    assert.equal(publisher.releases, 1);
    assert.equal(outbox.deliver(msg('dropped'), 1, false, undefined, undefined, publisher), false);
    assert.equal(stats.publishDropped, 1);
    // Moving again (an acknowledgement), it holds publishers again rather than drop.
    outbox.acknowledged(target.sent[0]!.packetId, 0);
    assert.equal(outbox.deliver(msg('kept'), 1, false, undefined, undefined, publisher), true);
    assert.equal(publisher.holds, 2);
    outbox.release();
    assert.equal(publisher.releases, 2);
  });

  it('reports a connected client stuck when queued messages wait writeStallTimeout without progress', async () => {
    const outbox = new Outbox('c', { ...defaultLimits, writeStallTimeout: 0.2 }, new BrokerStats());
    const target = new FakeTarget(2);
    outbox.target = target;
    for (let i = 0; i < 5; i++) outbox.deliver(msg(String(i)), 1, false, undefined, undefined);
    await new Promise((r) => setTimeout(r, 150));
    // One acknowledgement is progress: the watch starts again.
    outbox.acknowledged(target.sent[0]!.packetId, 0);
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(target.stalls, []);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(target.stalls, [0.2]);
    // Offline sessions are not watched.
    outbox.detach();
    outbox.deliver(msg('offline'), 1, false, undefined, undefined);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(target.stalls, [0.2]);
  });
  describe('retained feed', () => {
    const retained = (count: number, qos: QoS = 0): BrokerMessage[] => Array.from({ length: count }, (_, i) => msg(`r${i}`, qos));
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

    it('sends the first slice at once, the rest in later turns of the event loop, before any newer message', async () => {
      const { outbox, target } = attached(100);
      outbox.deliverRetained(retained(5000), 1, undefined);
      // With QoS 0 retained messages (granted QoS 1), only the socket limits the pace.
      assert.equal(target.sent.length, 1024, 'one slice in this turn');
      assert.equal(outbox.deliver(msg('live', 0), 0, false, undefined, undefined), true);
      for (let i = 0; i < 10 && target.sent.length < 5001; i++) await turn();
      assert.equal(target.sent.length, 5001);
      assert.deepEqual(target.sent.slice(0, 3).map((s) => s.payload), ['r0', 'r1', 'r2']);
      assert.equal(target.sent[4999]!.payload, 'r4999');
      assert.equal(target.sent[5000]!.payload, 'live', 'the newer message waited behind the retained ones');
    });

    it('waits for the socket and the window, and goes on when they allow', () => {
      const { outbox, target } = attached(3);
      target.open = false;
      outbox.deliverRetained(retained(5, 1), 2, undefined);
      assert.equal(target.sent.length, 0);
      target.open = true;
      outbox.pump();
      assert.deepEqual(target.sent.map((s) => [s.payload, s.qos]), [['r0', 1], ['r1', 1], ['r2', 1]]);
      outbox.acknowledged(target.sent[0]!.packetId, 0);
      outbox.acknowledged(target.sent[1]!.packetId, 0);
      assert.deepEqual(target.sent.map((s) => s.payload), ['r0', 'r1', 'r2', 'r3', 'r4']);
    });

    it('hands over what a feed has left at QoS 1/2, in order, and no QoS 0 message', () => {
      const { outbox, target } = attached(1);
      outbox.deliverRetained([msg('a', 1), msg('b', 0), msg('c', 1)], 1, undefined);
      outbox.deliver(msg('live'), 1, false, undefined, undefined);
      const exported = outbox.export();
      assert.deepEqual(exported.map((s) => [new TextDecoder().decode(s.message.payload), s.state, s.retain]), [
        ['a', 'publish', true],
        ['c', 'queued', true],
        ['live', 'queued', false],
      ]);
      assert.ok(exported[0]!.seq < exported[1]!.seq && exported[1]!.seq < exported[2]!.seq);
      // Exporting changes nothing here.
      outbox.acknowledged(target.sent[0]!.packetId, 0);
      assert.deepEqual(target.sent.map((s) => s.payload), ['a', 'b', 'c']);
    });

    it('stops when the session ends', async () => {
      const { outbox, target } = attached(100);
      outbox.deliverRetained(retained(3000), 0, undefined);
      outbox.release();
      await turn();
      await turn();
      assert.equal(target.sent.length, 1024);
      assert.equal(outbox.queued, 0);
    });
  });
});

class CountingHoldable implements Holdable {
  holds = 0;
  releases = 0;
  hold(): void {
    this.holds++;
  }
  release(): void {
    this.releases++;
  }
}
