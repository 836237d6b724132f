// What one hostile or faulty client, or a throwing listener, must not do to the broker: stop the process, starve
// other clients, or grow memory past its limits.
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { encode } from '../../../src/packet/index.js';
import type { Logger } from '../../../src/broker/logger.js';
import { sleep, startBroker, text, type Fixture } from './fixture.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const deepTopic = (levels: number): string => Array.from({ length: levels }, () => 'd').join('/');

/** A logger that keeps error and warn lines for the test to read. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    error: (m) => lines.push(`error ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    info: () => {},
    debug: () => {},
    enabled: () => false,
  };
}

describe('deep topics', () => {
  it('refuses topics of more than 200 levels by default (SUBACK 0x8F, DISCONNECT 0x90)', async () => {
    const f = await startBroker();
    try {
      const c = await f.connect({ protocolVersion: 5 });
      assert.deepEqual(await c.subscribe([{ topicFilter: deepTopic(200), qos: 0 }, { topicFilter: deepTopic(201), qos: 0 }]), [0, 0x8f]);
      c.send({ type: 'publish', topic: deepTopic(201), payload: enc('x'), qos: 0, retain: false, dup: false });
      assert.equal((await c.expect('disconnect')).reasonCode, 0x90);
    } finally {
      await f.close();
    }
  });

  it('without a level limit, a 20,000-level subscription and a Will on it neither stop the broker nor lose the Will', async () => {
    const logger = recordingLogger();
    const f = await startBroker({ limits: { maxTopicLevels: 0 }, logger });
    try {
      const topic = deepTopic(20_000);
      const sub = await f.connect({ protocolVersion: 4, clientId: 'deep-sub' });
      assert.deepEqual(await sub.subscribe([{ topicFilter: topic, qos: 1 }, { topicFilter: `${topic}/#`, qos: 1 }]), [1, 1]);
      const dying = await f.connect({ protocolVersion: 4, clientId: 'deep-will', will: { topic, payload: enc('gone'), qos: 1, retain: false } });
      dying.destroy();
      const will = await sub.expect('publish');
      assert.equal(text(will.payload), 'gone');
      const pub = await f.connect({ protocolVersion: 4 });
      await pub.publish(topic, 'deep', 1);
      assert.equal(text((await sub.expect('publish')).payload), 'deep');
      assert.deepEqual(logger.lines, []);
    } finally {
      await f.close();
    }
  });
});

describe('exceptions on the close and timer paths', () => {
  let f: Fixture;
  let logger: Logger & { lines: string[] };
  before(async () => {
    logger = recordingLogger();
    f = await startBroker({ logger });
  });
  after(() => f.close());

  it('a throwing disconnected listener ends nothing but its own call: logged and counted', async () => {
    f.broker.on('disconnected', () => {
      throw new Error('listener bug');
    });
    const before = f.broker.stats.internalErrors;
    const c = await f.connect({ protocolVersion: 4 });
    c.destroy();
    await c.closedWithin();
    const other = await f.connect({ protocolVersion: 4 });
    other.send({ type: 'pingreq' });
    await other.expect('pingresp');
    assert.ok(logger.lines.some((line) => line.startsWith('error') && line.includes('listener bug')), logger.lines.join('\n'));
    assert.equal(f.broker.stats.internalErrors, before + 1);
    f.broker.removeAllListeners('disconnected');
  });

  it('a keepalive timeout whose close path throws is contained', async () => {
    f.broker.on('disconnected', () => {
      throw new Error('timer-path bug');
    });
    const c = await f.handshake({ protocolVersion: 4, keepalive: 1 });
    await c.client.closedWithin(5000);
    const other = await f.connect({ protocolVersion: 4 });
    other.send({ type: 'pingreq' });
    await other.expect('pingresp');
    assert.ok(logger.lines.some((line) => line.includes('timer-path bug')), logger.lines.join('\n'));
    f.broker.removeAllListeners('disconnected');
  });
});

describe('stuck subscribers', () => {
  it('disconnects a QoS 1 subscriber that acknowledges nothing for writeStallTimeout while messages wait for it', async () => {
    const f = await startBroker({ limits: { writeStallTimeout: 1, maxInflight: 5 } });
    try {
      const stuck = await f.connect({ protocolVersion: 5, clientId: 'never-acks' }, false);
      await stuck.subscribe('stuck/#', 1);
      const pub = await f.connect({ protocolVersion: 4 });
      for (let i = 0; i < 20; i++) await pub.publish('stuck/x', `m${i}`, 1);
      const started = Date.now();
      const disconnect = await stuck.expect('disconnect', 5000);
      assert.equal(disconnect.reasonCode, 0x80);
      assert.match(disconnect.properties?.reasonString ?? '', /acknowledg/);
      assert.ok(Date.now() - started < 4000);
      // A subscriber that acknowledges, however slowly, stays.
      const slow = await f.connect({ protocolVersion: 5, clientId: 'slow-acks' }, false);
      await slow.subscribe('slow/#', 1);
      for (let i = 0; i < 10; i++) await pub.publish('slow/x', `m${i}`, 1);
      for (let i = 0; i < 10; i++) {
        const p = await slow.expect('publish');
        await new Promise((r) => setTimeout(r, 300));
        slow.send({ type: 'puback', packetId: p.packetId!, reasonCode: 0 });
      }
      assert.deepEqual((await slow.drain(300)).filter((p) => p.type === 'disconnect'), []);
    } finally {
      await f.close();
    }
  });
});

describe('user properties', () => {
  it('closes a v5 client whose packet carries more than maxUserProperties user properties (0x83), and serves others meanwhile', async () => {
    const f = await startBroker();
    try {
      const other = await f.connect({ protocolVersion: 5 });
      const hostile = await f.connect({ protocolVersion: 5 });
      const userProperties = Array.from({ length: 200_000 }, (): [string, string] => ['', '']);
      hostile.send({ type: 'publish', topic: 'up/x', payload: enc('x'), qos: 1, packetId: 1, retain: false, dup: false, properties: { userProperties } });
      const disconnect = await hostile.expect('disconnect');
      assert.equal(disconnect.reasonCode, 0x83);
      assert.match(disconnect.properties?.reasonString ?? '', /more than 256 user properties/);
      other.send({ type: 'pingreq' });
      await other.expect('pingresp');
      const fine = await f.connect({ protocolVersion: 5 });
      await fine.publish('up/y', 'ok', 1, { properties: { userProperties: Array.from({ length: 256 }, (_, i): [string, string] => [`k${i}`, 'v']) } });
    } finally {
      await f.close();
    }
  });

  it("counts a queued message's properties, not only its payload, against maxQueuedBytes", async () => {
    const f = await startBroker({ limits: { maxQueuedBytes: 1_000_000, maxPacketSize: 4 * 1024 * 1024 } });
    try {
      const sub = await f.connect({ protocolVersion: 5, clientId: 'offline-props', clean: false, properties: { sessionExpiryInterval: 60 } });
      await sub.subscribe('props/#', 1);
      sub.disconnect();
      await sub.closedWithin();
      const pub = await f.connect({ protocolVersion: 5 });
      // 100 pairs of 4 KB values: about 400 KB of properties on a one-byte payload.
      const userProperties = Array.from({ length: 100 }, (_, i): [string, string] => [`k${i}`, 'v'.repeat(4000)]);
      const dropped = f.broker.stats.publishDropped;
      for (let i = 0; i < 5; i++) await pub.publish('props/x', String(i), 1, { properties: { userProperties } });
      assert.equal(f.broker.stats.publishDropped - dropped, 3, 'two messages of about 400 KB fit in 1 MB');
      const back = await f.connect({ protocolVersion: 5, clientId: 'offline-props', clean: false, properties: { sessionExpiryInterval: 60 } });
      const got = [text((await back.expect('publish')).payload), text((await back.expect('publish')).payload)];
      assert.deepEqual(got, ['0', '1']);
    } finally {
      await f.close();
    }
  });
});

describe('memory after hostile connections', () => {
  it('keeps nothing per closed connection: heap after 1,200 more hostile connections is where it was after the first 1,800', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // On TCP: hostile bytes (an HTTP request, a TLS ClientHello) meet the listener's checks, and what each closed
    // connection could leave behind includes its socket.
    const f = await startBroker({ limits: { connectTimeout: 1 } }, { transport: 'tcp' });
    const kinds = [
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]),
      Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]),
      Buffer.from([0x10, 0x80, 0x80, 0x40, 0x00]),
      encode({ type: 'connect', protocolVersion: 5, clientId: '', clean: true, keepalive: 0 }, 5),
      Buffer.alloc(0),
    ];
    const round = async (count: number): Promise<void> => {
      for (let batch = 0; batch < count; batch += 600) {
        await Promise.all(
          Array.from({ length: 600 }, (_, i) =>
            new Promise<void>((resolve) => {
              const bytes = kinds[(batch + i) % kinds.length]!;
              const socket = netConnect(f.port, '127.0.0.1', () => {
                if (bytes.length > 0) socket.write(bytes);
                if (i % 3 === 0) setTimeout(() => socket.destroy(), 20);
              });
              socket.on('error', () => {});
              socket.on('close', () => resolve());
              socket.resume();
              setTimeout(() => socket.destroy(), 1500).unref();
            }),
          ),
        );
      }
    };
    /**
     * The least of samples over 2 s and more: the broker's 2 s linger timer holds each closing connection until it
     * fires (measured at once, the last batch counted for about 250 KB of the 512 KB allowed), and a loaded
     * machine fires timers late, whereas what leaks stays in every sample.
     */
    const heap = async (): Promise<number> => {
      let least = Infinity;
      for (let sample = 0; sample < 5; sample++) {
        await sleep(500);
        gc();
        gc();
        least = Math.min(least, process.memoryUsage().heapUsed);
      }
      return least;
    };
    try {
      // A first round of 1,800, not 1,200: it also warms up the TCP paths (the tests before this one run in
      // memory), as code compiled and optimised during the measured round would show as heap growth.
      await round(1800);
      const settled = await heap();
      await round(1200);
      const after = await heap();
      assert.equal(f.broker.stats.clientsConnected, 0);
      assert.ok(after - settled < 512 * 1024, `heap grew by ${((after - settled) / 1024).toFixed(0)} KB over 1,200 closed connections`);
    } finally {
      await f.close();
    }
  });
});
