// A subscriber that stops reading (socket paused) while 100,000 QoS 0 and then 10,000 QoS 1 messages of 1 KB are
// published: the other subscribers get every message, the broker's memory stays bounded, and the messages the
// frozen one cannot take are dropped and counted in $SYS.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';
import { brokerKinds, startBroker, type BrokerUnderTest } from './target.js';

const QOS0_COUNT = 100_000;
const QOS1_COUNT = 10_000;
const PAYLOAD_SIZE = 1024;
/** QoS 0 messages published before waiting for the healthy subscribers to catch up. */
const BATCH = 1000;
const PUBLISH_WINDOW = 50;
/** QoS 1 messages the healthy subscribers may lag behind, well under the broker's queue limit (1000). */
const QOS1_LAG = 250;
/**
 * Cap on the test process's V8 heap plus array buffers while the embedded broker runs. Everything published is
 * 110 MB; a broker that kept what the frozen subscriber cannot take would pass this cap.
 */
const MEMORY_CAP = 96 * 1024 * 1024;

/** Reads one healthy subscriber's stream in the background, checking order per topic. */
class Reader {
  qos0 = 0;
  qos1 = 0;
  error: Error | undefined;
  private stopped = false;

  constructor(private readonly client: RawClient) {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
  }

  private async run(): Promise<void> {
    try {
      while (!this.stopped && this.qos0 + this.qos1 < QOS0_COUNT + QOS1_COUNT) {
        const p = await this.client.expect('publish', 30_000);
        const seq = new DataView(p.payload.buffer, p.payload.byteOffset, 4).getUint32(0);
        if (p.topic === 'deep/frozen/q0') {
          if (seq !== this.qos0) throw new Error(`QoS 0 message ${seq} arrived where ${this.qos0} was due`);
          this.qos0++;
        } else {
          if (seq !== this.qos1) throw new Error(`QoS 1 message ${seq} arrived where ${this.qos1} was due`);
          this.qos1++;
        }
      }
    } catch (err) {
      if (!this.stopped) this.error = err as Error;
    }
  }
}

for (const kind of brokerKinds()) {
  describe(`frozen subscriber against ${kind}`, () => {
    let broker: BrokerUnderTest;
    const clients: RawClient[] = [];
    const readers: Reader[] = [];

    before(async () => {
      broker = await startBroker(kind, {
        // Long enough that the frozen subscriber stays connected for the whole run.
        limits: { writeStallTimeout: 300 },
        culex: { sysInterval: 1 },
        mosquittoConfig: ['sys_interval 1'],
      });
    });
    after(async () => {
      for (const r of readers) r.stop();
      for (const c of clients) c.destroy();
      await broker?.stop();
    });

    test('others get everything, memory stays bounded, drops are counted', async () => {
      const open = async (id: string): Promise<RawClient> => {
        const { client } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: id });
        clients.push(client);
        return client;
      };
      const frozen = await open('deep-frozen');
      await frozen.subscribe('deep/frozen/#', 1);
      frozen.socket.pause();
      const healthy = [await open('deep-healthy-1'), await open('deep-healthy-2')];
      for (const h of healthy) await h.subscribe('deep/frozen/#', 1);
      readers.push(...healthy.map((h) => new Reader(h)));
      const publisher = await open('deep-frozen-pub');

      let peak = 0;
      const sample = (): void => {
        const m = process.memoryUsage();
        peak = Math.max(peak, m.heapUsed + m.arrayBuffers);
      };
      const caughtUp = (field: 'qos0' | 'qos1', n: number): Promise<void> =>
        waitFor(() => readers.every((r) => r.error !== undefined || r[field] >= n), 30_000, `healthy subscribers at ${n} ${field}`);
      const failed = (): void => {
        for (const r of readers) if (r.error) throw r.error;
      };

      const payload = new Uint8Array(PAYLOAD_SIZE);
      const view = new DataView(payload.buffer);
      for (let seq = 0; seq < QOS0_COUNT; seq++) {
        view.setUint32(0, seq);
        publisher.send({ type: 'publish', topic: 'deep/frozen/q0', payload, qos: 0, retain: false, dup: false });
        if ((seq + 1) % BATCH === 0) {
          await caughtUp('qos0', seq + 1);
          failed();
          sample();
        }
      }

      let acked = 0;
      for (let seq = 0; seq < QOS1_COUNT; seq++) {
        if (seq - acked >= PUBLISH_WINDOW) {
          await publisher.expect('puback', 10_000);
          acked++;
        }
        view.setUint32(0, seq);
        publisher.send({ type: 'publish', topic: 'deep/frozen/q1', payload, qos: 1, retain: false, dup: false, packetId: (seq % 60000) + 1 });
        // PUBACK only says the message is queued: keep the healthy subscribers' queues well below their limit.
        if ((seq + 1) % QOS1_LAG === 0) {
          await caughtUp('qos1', seq + 1 - QOS1_LAG);
          failed();
          sample();
        }
      }
      while (acked < QOS1_COUNT) {
        await publisher.expect('puback', 10_000);
        acked++;
      }
      await caughtUp('qos1', QOS1_COUNT);
      failed();
      sample();
      for (const r of readers) assert.deepEqual([r.qos0, r.qos1], [QOS0_COUNT, QOS1_COUNT]);

      console.log(`${kind}: peak heap + array buffers of the test process ${(peak / 1048576).toFixed(1)} MiB (cap ${MEMORY_CAP / 1048576} MiB)`);
      if (kind === 'culex') assert.ok(peak < MEMORY_CAP, `memory peaked at ${(peak / 1048576).toFixed(1)} MiB`);

      const { client: watcher } = await RawClient.connect(broker.port, { protocolVersion: 5 });
      clients.push(watcher);
      await watcher.subscribe('$SYS/broker/publish/messages/dropped', 0);
      let dropped = 0;
      const deadline = Date.now() + 10_000;
      while (dropped === 0 && Date.now() < deadline) {
        const p = await watcher.expect('publish', 5000).catch(() => undefined);
        if (p) dropped = Number(Buffer.from(p.payload).toString());
      }
      console.log(`${kind}: $SYS/broker/publish/messages/dropped = ${dropped}`);
      assert.ok(dropped > 0, 'no dropped messages counted in $SYS/broker/publish/messages/dropped');
      if (broker.broker) assert.ok(broker.broker.stats.publishDropped > 0);

      // Thawed, the frozen subscriber is still connected and gets the QoS 1 messages the broker kept for it.
      frozen.socket.resume();
      const first = await frozen.expect('publish', 10_000);
      assert.ok(first.topic.startsWith('deep/frozen/'));
    });
  });
}
