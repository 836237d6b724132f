/**
 * Inbound rate limits: the buckets' arithmetic with a fake clock, then on a real broker a flooding publisher slowed to
 * its limit and then disconnected (0x96, 0x97) while a well-behaved client's messages keep flowing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { ConnectionGuard } from '../../src/auth/connection-guard.js';
import { RateLimits } from '../../src/auth/rate-limits.js';
import { Broker, silentLogger, type ClientInfo, type InboundMeter } from '../../src/broker/index.js';
import { connect } from '../../src/client/index.js';
import { loadBrokerConfig } from '../../src/config/broker-config.js';
import { setUpBroker } from '../../src/config/broker-setup.js';
import { encode } from '../../src/packet/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';

const client = (clientId: string, username?: string, listener = 'l1'): ClientInfo =>
  ({ clientId, username, listener, protocolVersion: 5, keepalive: 0, peer: { remoteAddress: '10.0.0.1', remotePort: 1, transport: 'tcp' } }) as ClientInfo;

describe('rate limits, by the numbers', () => {
  it('lets a burst through, then pauses each PUBLISH for the debt it ran up', () => {
    let now = 0;
    const limits = new RateLimits({ perClient: { messages: 10 }, burstSeconds: 0.5 }, { now: () => now });
    const meter = limits.meter(client('a'))!;
    assert.deepEqual([1, 2, 3, 4, 5].map(() => meter.publish(10)), [0, 0, 0, 0, 0], 'a burst of half a second at 10 a second');
    assert.equal(meter.publish(10), 100, 'one message over: 100 ms to pay back');
    now += 100;
    assert.equal(meter.publish(10), 100);
    now += 1000;
    assert.equal(meter.publish(10), 0, 'refilled');
    assert.equal(limits.counts.paused, 2);
  });

  it('charges every scope: a user name and a listener share their buckets between connections', () => {
    let now = 0;
    const limits = new RateLimits({ perUsername: { messages: 2 }, perListener: { bytes: 1000 } }, { now: () => now });
    const one = limits.meter(client('a', 'alice'))!;
    const two = limits.meter(client('b', 'alice'))!;
    assert.equal(one.publish(10), 0);
    assert.equal(two.publish(10), 0);
    assert.equal(one.publish(10), 500, "alice's third message of the second waits, whichever connection sends it");
    const other = limits.meter(client('c'))!;
    assert.equal(other.publish(800), 0);
    assert.equal(other.publish(100), 0);
    assert.equal(other.publish(300), 230, "the listener holds 1000 bytes for everyone (alice's 30 included): 230 over");
    assert.equal(limits.meter(client('d', undefined, 'l2'))!.publish(999), 0, 'another listener has its own');
    assert.equal(new RateLimits({ perUsername: { messages: 1 } }).meter(client('e')), undefined, 'no user name, no user-name limit');
  });

  it('takes a message larger than the burst when the bucket is full, and slows the next by its size', () => {
    let now = 0;
    const limits = new RateLimits({ perClient: { bytes: 1000 } }, { now: () => now });
    const meter = limits.meter(client('a'))!;
    assert.equal(meter.publish(3000), 2000, 'taken: a full bucket is enough for it');
    now += 2000;
    assert.equal(meter.publish(3000), 3000, 'the bucket is empty now: the whole message is paid back');
  });

  it('disconnects a publisher over its limit without a break for overLimitSeconds: 0x96 messages, 0x97 bytes', () => {
    let now = 0;
    const limits = new RateLimits({ perClient: { messages: 10, bytes: 1_000_000 }, overLimitSeconds: 1 }, { now: () => now });
    const meter = limits.meter(client('a'))!;
    const flood = (m: InboundMeter, bytes: number): ReturnType<InboundMeter['publish']> => {
      // A publisher that sends again as soon as it is read again.
      for (;;) {
        const verdict = m.publish(bytes);
        if (typeof verdict === 'object') return verdict;
        now += verdict;
      }
    };
    const start = now;
    assert.deepEqual(flood(meter, 10), { action: 'disconnect', reasonCode: 0x96, reasonString: 'over the message rate limit for 1 s' });
    assert.ok(now - start >= 1000 && now - start < 1300, `after ${now - start} ms`);
    const slow = limits.meter(client('b'))!;
    for (let i = 0; i < 100; i++) {
      now += 100; // exactly its rate: never short
      assert.equal(slow.publish(10), 0);
    }
    const bytes = new RateLimits({ perClient: { bytes: 1000 }, overLimitSeconds: 1 }, { now: () => now });
    assert.equal((flood(bytes.meter(client('c'))!, 600) as { reasonCode: number }).reasonCode, 0x97);
    assert.deepEqual([limits.counts.disconnectedRate, bytes.counts.disconnectedQuota], [1, 1]);
    const listener = new RateLimits({ perListener: { messages: 10 }, overLimitSeconds: 1 }, { now: () => now });
    const shared = listener.meter(client('d'))!;
    for (let i = 0; i < 100; i++) {
      const verdict = shared.publish(10);
      assert.equal(typeof verdict, 'number', 'a listener limit only slows');
      now += verdict as number;
    }
  });

  it('adds no hook when no limit is set', () => {
    assert.deepEqual(new RateLimits({}).guard({}), {});
    assert.deepEqual(new RateLimits({ perClient: { messages: 0 } }).guard({}), {});
  });

  it('refuses connections over a listener\'s rate, whatever their address', () => {
    let now = 0;
    const guard = new ConnectionGuard({ connectionRate: 0, listenerConnectionRate: 2, listenerConnectionBurst: 3 }, { now: () => now });
    const peer = (address: string) => ({ remoteAddress: address, remotePort: 1, transport: 'tcp' as const });
    const accepted = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'].map((a) => guard.acceptConnection(peer(a), 'l1'));
    assert.deepEqual(accepted, [true, true, true, false]);
    assert.equal(guard.acceptConnection(peer('10.0.0.5'), 'l2'), true, 'another listener');
    now += 500;
    assert.equal(guard.acceptConnection(peer('10.0.0.6'), 'l1'), true);
    assert.equal(guard.counts.listenerRefused, 1);
  });
});

/** Writes QoS 0 PUBLISH packets as fast as the socket takes them until it closes or `untilMs` passes; the count. */
async function flood(socket: Socket, topic: string, payload: Uint8Array, untilMs: number): Promise<number> {
  const packet = Buffer.from(encode({ type: 'publish', topic, payload, qos: 0, retain: false, dup: false }, 5));
  const batch = Buffer.concat(Array.from({ length: 50 }, () => packet));
  const deadline = performance.now() + untilMs;
  let sent = 0;
  while (!socket.destroyed && performance.now() < deadline) {
    sent += 50;
    if (!socket.write(batch)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(0, deadline - performance.now()));
        socket.once('drain', done);
        socket.once('close', done);
      });
    } else await new Promise((resolve) => setImmediate(resolve));
  }
  return sent;
}

describe('rate limits on a real broker', () => {
  it("slows a flooding publisher to its limit, then disconnects it; a well-behaved client's messages keep flowing", async () => {
    const limits = new RateLimits({ perClient: { messages: 200 }, overLimitSeconds: 3 });
    const broker = new Broker({ listeners: [{ port: 0 }], allowAnonymous: true, sysInterval: 0, logger: silentLogger, hooks: limits.guard({}) });
    await broker.listen();
    const clients: RawClient[] = [];
    const open = async (clientId: string): Promise<RawClient> => {
      const { client: c } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId });
      clients.push(c);
      return c;
    };
    try {
      const subscriber = await connect(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5, reconnect: false });
      const received = { flood: 0, good: 0 };
      subscriber.on('message', (topic) => void received[topic === 'flood' ? 'flood' : 'good']++);
      await subscriber.subscribe('#', { qos: 0 });
      const flooder = await open('flooder');
      const good = await open('good');
      const started = performance.now();
      const flooding = flood(flooder.socket, 'flood', new Uint8Array(16), 10_000);
      // The well-behaved client: 10 QoS 1 messages a second, each acknowledged promptly, during the flood.
      const waits: number[] = [];
      let floodAfterOneSecond = 0;
      for (let i = 0; i < 25; i++) {
        const sentAt = performance.now();
        assert.equal(await good.publish(`good/${i}`, 'reading', 1), 0);
        waits.push(performance.now() - sentAt);
        if (i === 10) floodAfterOneSecond = received.flood;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const disconnect = await flooder.expect('disconnect', 10_000);
      const floodedFor = performance.now() - started;
      const sent = await flooding;
      assert.equal(disconnect.reasonCode, 0x96, 'Message rate too high');
      assert.ok(floodedFor >= 2900 && floodedFor < 8000, `disconnected after ${floodedFor} ms over the limit`);
      // Over its first second or so it got its burst (200) and its rate (200 a second), far less than it sent.
      assert.ok(floodAfterOneSecond < 200 + 200 * 1.6 + 100, `${floodAfterOneSecond} flood messages went through in the first second`);
      assert.ok(sent > floodAfterOneSecond * 2, `the flooder wrote ${sent}`);
      await waitFor(() => received.good === 25, 2000, 'the good messages at the subscriber');
      assert.ok(Math.max(...waits) < 1000, `a well-behaved publish waited up to ${Math.max(...waits).toFixed(0)} ms for its PUBACK`);
      assert.equal(limits.counts.disconnectedRate, 1);
      assert.ok(limits.counts.paused > 100);
      assert.equal(good.closed, false);
      await subscriber.end();
    } finally {
      for (const c of clients) c.destroy();
      await broker.close();
    }
  });

  it('disconnects a publisher over its byte limit with 0x97 Quota exceeded', async () => {
    const limits = new RateLimits({ perClient: { bytes: 64 * 1024 }, overLimitSeconds: 1 });
    const broker = new Broker({ listeners: [{ port: 0 }], allowAnonymous: true, sysInterval: 0, logger: silentLogger, hooks: limits.guard({}) });
    await broker.listen();
    const { client: flooder } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: 'bulk' });
    try {
      const flooding = flood(flooder.socket, 'bulk', new Uint8Array(4096), 8000);
      const disconnect = await flooder.expect('disconnect', 8000);
      assert.deepEqual([disconnect.reasonCode, disconnect.properties?.reasonString], [0x97, 'over the byte rate limit for 1 s']);
      await flooding;
    } finally {
      flooder.destroy();
      await broker.close();
    }
  });

  it('is configured from the native file, and counted in $SYS', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'culex-rate-'));
    const file = join(dir, 'culex.json');
    writeFileSync(file, JSON.stringify({
      listeners: [{ port: 0 }],
      allowAnonymous: true,
      security: { publishRate: { perClient: { messages: 5 }, burstSeconds: 1, overLimitSeconds: 60 }, listenerConnectionRate: 100 },
    }));
    const setup = await setUpBroker(await loadBrokerConfig(file), silentLogger);
    const broker = new Broker({ ...setup.options, sysInterval: 0 });
    await broker.listen();
    const { client: publisher } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: 'p' });
    const { client: watcher } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: 'w' });
    try {
      const start = performance.now();
      for (let i = 0; i < 8; i++) await publisher.publish('t', 'x', 1);
      assert.ok(performance.now() - start >= 400, 'three messages over a burst of 5 at 5 a second: 600 ms of pauses');
      await watcher.subscribe('$SYS/broker/security/#', 0);
      broker.updateSys();
      const figures = new Map<string, string>();
      for (const packet of await watcher.drain(300)) if (packet.type === 'publish') figures.set(packet.topic, Buffer.from(packet.payload).toString());
      assert.equal(figures.get('$SYS/broker/security/publish/paused'), '3');
      assert.equal(figures.get('$SYS/broker/security/publish/disconnected/rate'), '0');
      assert.equal(figures.get('$SYS/broker/security/connections/refused/listener'), '0');
      assert.equal(setup.protection.rateLimits.counts.paused, 3);
    } finally {
      publisher.destroy();
      watcher.destroy();
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
