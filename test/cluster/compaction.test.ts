// Journal compaction: a node writes the state of its sessions again and purges its older entries; whoever adopts
// its sessions afterwards finds them whole (subscriptions, queued messages, QoS 2 ids, Wills) in what is left, and
// the other nodes go on routing its messages.
import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import type { ConnectPacket, PublishPacket } from '../../src/packet/types.js';
import type { ClusterEngine } from '../../src/cluster/engine.js';
import { RawClient } from '../helpers/raw-client.js';
import { eventually, waitFor } from '../helpers/wait.js';
import { startCluster, type ClusterFixture } from './cluster-fixture.js';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString();
const persistent = (clientId: string, extra: Partial<ConnectPacket> = {}): Partial<ConnectPacket> => ({
  protocolVersion: 5,
  clientId,
  clean: false,
  properties: { sessionExpiryInterval: 600 },
  ...extra,
});

/** The sequences of a node's journal entries, as any node reads them. */
async function entriesOf(engine: ClusterEngine, node: string): Promise<number[]> {
  const seqs: number[] = [];
  await engine.readNode(node, (entry) => seqs.push(entry.seq));
  return seqs;
}

for (const engine of ['memory', 'nats'] as const) {
  describe(`journal compaction (${engine} engine)`, () => {
    let f: ClusterFixture | undefined;
    const clients: RawClient[] = [];
    const open = async (port: number, fields: Partial<ConnectPacket>, autoAck = true): Promise<{ client: RawClient; present: boolean }> => {
      const { client, connack } = await RawClient.connect(port, { protocolVersion: 5, ...fields }, { autoAck });
      clients.push(client);
      assert.equal(connack.reasonCode, 0);
      return { client, present: connack.sessionPresent };
    };
    afterEach(async () => {
      for (const c of clients.splice(0)) c.destroy();
      await f?.stop();
      f = undefined;
    });
    after(async () => {
      await f?.stop();
    });

    it('after a compaction the journal is shorter, and a node leaving hands over every session whole from what is left', async () => {
      // Small entries, so that the state written again spans several of them.
      f = await startCluster({ engine, nodes: 2, node: { purgeDelayMs: 0, maxEntryBytes: 2048 } });
      const [a, b] = f.nodes as [NonNullable<ClusterFixture['nodes'][0]>, NonNullable<ClusterFixture['nodes'][0]>];
      const [portA, portB] = f.ports as [number, number];
      // A persistent subscriber on node 1 goes away; messages published on node 2 queue for it on node 1.
      const { client: keeper } = await open(portA, persistent('keeper'));
      await keeper.subscribe('keep/#', 1);
      keeper.disconnect();
      await keeper.closedWithin();
      // A QoS 2 message it received and has not released stays with its session too.
      const { client: q2 } = await open(portA, persistent('q2'), false);
      q2.send({ type: 'publish', topic: 'q2/in', payload: new Uint8Array([1]), qos: 2, packetId: 41, retain: false, dup: false });
      assert.equal((await q2.expect('pubrec')).packetId, 41);
      q2.destroy();
      await q2.closedWithin();
      // Churn: a client that comes and goes fills the journal with records that compaction makes obsolete.
      for (let i = 0; i < 15; i++) {
        const { client } = await open(portA, persistent('churn'));
        await client.subscribe(`churn/${i}`, 1);
        client.disconnect();
        await client.closedWithin();
      }
      const { client: pub } = await open(portB, { clientId: 'pub' });
      for (let i = 0; i < 30; i++) await pub.publish('keep/x', `m${i}-${'x'.repeat(200)}`, 1);
      const engineA = f.engines[0]!;
      await eventually(async () => (await entriesOf(engineA, a.nodeId)).length > 0, 5000, 'node 1 wrote entries');
      // Node 1 has queued all 30 before it compacts (its follower routed them).
      await waitFor(() => a.broker.sessionInfo('keeper')?.queued === 30, 5000, 'queued on node 1');
      const before = await entriesOf(engineA, a.nodeId);

      // Until node 2's heartbeat says how far its follower has read (past node 1's entries, which it does not
      // follow: see ClusterNode.passUnfollowed), a compaction writes but does not purge them.
      let result = await a.checkpoint();
      await eventually(async () => ((result = await a.checkpoint()).purgedBelow ?? 0) > before[0]!, 10_000, 'a purge once node 2 has reported');
      assert.equal(result.reason, undefined);
      assert.ok(result.purgedBelow !== undefined && result.purgedBelow > before[0]!, `purged below ${result.purgedBelow}`);
      const afterCompaction = await entriesOf(engineA, a.nodeId);
      assert.ok(afterCompaction.every((seq) => seq >= result.purgedBelow!), 'nothing older than the purge is left');
      assert.ok(afterCompaction.length < before.length, `${afterCompaction.length} entries left of ${before.length}`);
      // The state written again took several entries (maxEntryBytes 2048): 30 messages of 200 bytes alone need 3.
      assert.ok(afterCompaction.filter((seq) => seq >= result.start).length >= 3);

      // Published after the compaction: still routed to node 1's session.
      await pub.publish('keep/x', 'after', 1);
      await waitFor(() => a.broker.sessionInfo('keeper')?.queued === 31, 5000, 'routed after the compaction');

      // Node 1 leaves; node 2 adopts its sessions from the compacted journal.
      await a.stop();
      const { client: back, present } = await open(portB, persistent('keeper'));
      assert.equal(present, true);
      const got: string[] = [];
      for (let i = 0; i < 31; i++) got.push(text(((await back.expect('publish')) as PublishPacket).payload).split('-')[0]!);
      assert.deepEqual(got, [...Array.from({ length: 30 }, (_, i) => `m${i}`), 'after']);
      // Its subscription came along: a new message reaches it on node 2.
      await pub.publish('keep/y', 'new', 1);
      assert.equal(text(((await back.expect('publish')) as PublishPacket).payload), 'new');
      // The QoS 2 id it held: a PUBREL for it is answered with PUBCOMP success.
      const { client: q2back, present: q2present } = await open(portB, persistent('q2'), false);
      assert.equal(q2present, true);
      q2back.send({ type: 'pubrel', packetId: 41, reasonCode: 0 });
      const pubcomp = await q2back.expect('pubcomp');
      assert.deepEqual([pubcomp.packetId, pubcomp.reasonCode ?? 0], [41, 0]);
      assert.ok(b.status().nodes.length >= 1);
    });
  });
}

describe('journal compaction with a Will (nats engine)', () => {
  it('the Will of a client connected to a node that dies after compacting is sent by the node that adopts it', async () => {
    const f = await startCluster({ engine: 'nats', nodes: 2, node: { purgeDelayMs: 0 } });
    const clients: RawClient[] = [];
    try {
      const [portA, portB] = f.ports as [number, number];
      const { client: watcher } = await RawClient.connect(portB, { protocolVersion: 5, clientId: 'watcher' });
      clients.push(watcher);
      await watcher.subscribe('wills/#', 1);
      const { client: willer } = await RawClient.connect(portA, {
        protocolVersion: 5,
        clientId: 'willer',
        will: { topic: 'wills/willer', payload: new TextEncoder().encode('gone'), qos: 1, retain: false, properties: {} },
      });
      clients.push(willer);
      const a = f.nodes[0]!;
      await eventually(async () => (await a.checkpoint()).purgedBelow !== undefined, 10_000, 'a purge once every node has reported');
      // Node 1 dies: its engine goes without a goodbye, its client stays connected to it but cut off.
      await f.engines[0]!.stop();
      const will = (await watcher.expect('publish', 20_000)) as PublishPacket;
      assert.deepEqual([will.topic, text(will.payload)], ['wills/willer', 'gone']);
    } finally {
      for (const c of clients) c.destroy();
      await f.stop();
    }
  });
});
