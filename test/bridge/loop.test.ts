// A bridge loop: two Culex brokers, each with a bridge to the other carrying `#` both ways (MQTT 5). Every message
// reaches both brokers, a bounded number of times, and the traffic stops: the culex-via path ends each echo.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { waitFor } from '../helpers/wait.js';
import { collector, startEdge, whenConnected, type Edge } from './fixture.js';

describe('bridge loop between two Culex brokers on #', () => {
  const edges: Edge[] = [];
  after(async () => {
    for (const edge of edges) await edge.close();
  });

  it('carries each message to both brokers without a storm, and counts the loops it cut', async () => {
    const a = await startEdge([]);
    edges.push(a);
    const b = await startEdge([{ name: 'to-a', addresses: [a.url], protocolVersion: 5, topics: [{ pattern: '#', direction: 'both', qos: 1 }], restartTimeout: 1, notifications: false }]);
    edges.push(b);
    a.bridges.add({ name: 'to-b', addresses: [b.url], protocolVersion: 5, topics: [{ pattern: '#', direction: 'both', qos: 1 }], restartTimeout: 1, notifications: false });
    await whenConnected(a, 'to-b');
    await whenConnected(b, 'to-a');
    const onA = await collector(a.url, ['t/#']);
    const onB = await collector(b.url, ['t/#']);
    const count = 50;
    try {
      const publisher = await collector(a.url, []);
      for (let i = 0; i < count; i++) await publisher.client.publish('t/x', String(i), { qos: 1 });
      await publisher.client.end();
      await waitFor(() => new Set(onA.received.map((m) => m.payload)).size === count && new Set(onB.received.map((m) => m.payload)).size === count, 10_000, 'every message on both brokers');
      // Quiet: nothing more arrives once the echoes were cut.
      let total = -1;
      for (let rounds = 0; total !== onA.received.length + onB.received.length; rounds++) {
        assert.ok(rounds < 20, `traffic still growing after ${rounds} seconds: ${onA.received.length} on A, ${onB.received.length} on B`);
        total = onA.received.length + onB.received.length;
        await new Promise((r) => setTimeout(r, 1000));
      }
      const copies = (received: typeof onA.received) => Math.max(...[...received.reduce((m, r) => m.set(r.payload, (m.get(r.payload) ?? 0) + 1), new Map<string, number>()).values()]);
      process.stdout.write(`# ${count} messages published on A: ${onA.received.length} deliveries on A, ${onB.received.length} on B; loops cut ${a.bridges.status('to-b').dropped.loop} + ${b.bridges.status('to-a').dropped.loop}\n`);
      // A has each message once; B once per bridge that carries it there (both do: one from each side).
      assert.equal(copies(onA.received), 1, 'no copy comes back to where it was published');
      assert.ok(copies(onB.received) <= 2, `${copies(onB.received)} copies on B`);
      assert.ok(a.bridges.status('to-b').dropped.loop + b.bridges.status('to-a').dropped.loop > 0, 'loops were cut and counted');
    } finally {
      await onA.client.end();
      await onB.client.end();
    }
  });
});

describe('one bridge both ways over MQTT 3.1.1 to a Culex broker', () => {
  it('connects with the bridge bit, and the remote does not send a message back where it came from', async () => {
    const remote = await startEdge([]);
    const edge = await startEdge([{ name: 'up', addresses: [remote.url], protocolVersion: 4, topics: [{ pattern: 's/#', direction: 'both', qos: 1 }], restartTimeout: 1, notifications: false }]);
    try {
      await whenConnected(edge, 'up');
      assert.ok(edge.logger.lines.some((l) => /connected to .* \(MQTT 3\.1\.1, as a bridge/.test(l)), 'the Culex remote took the bridge bit');
      const here = await collector(edge.url, ['s/#']);
      const there = await collector(remote.url, ['s/#']);
      await here.client.publish('s/from-edge', 'e', { qos: 1 });
      await there.client.publish('s/from-remote', 'r', { qos: 1 });
      await waitFor(() => here.received.length >= 2 && there.received.length >= 2, 5000, 'both messages on both sides');
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(here.received.map((m) => m.topic).sort(), ['s/from-edge', 's/from-remote']);
      assert.deepEqual(there.received.map((m) => m.topic).sort(), ['s/from-edge', 's/from-remote']);
      await here.client.end();
      await there.client.end();
    } finally {
      await edge.close();
      await remote.close();
    }
  });
});
