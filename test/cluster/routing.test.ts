// Messages cross nodes: a publisher on one node reaches subscribers on the others at every QoS, once each, in
// order, with their properties; retained messages are seen from every node.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PublishPacket } from '../../src/packet/types.js';
import { RawClient } from '../helpers/raw-client.js';
import { startCluster, type ClusterFixture } from './cluster-fixture.js';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString();

async function connect(port: number, fields: Parameters<typeof RawClient.connect>[1] = {}): Promise<RawClient> {
  const { client, connack } = await RawClient.connect(port, { protocolVersion: 5, ...fields });
  if (connack.reasonCode !== 0) throw new Error(`CONNACK 0x${connack.reasonCode.toString(16)}`);
  return client;
}

async function publishes(client: RawClient, count: number, timeoutMs = 10_000): Promise<PublishPacket[]> {
  const got: PublishPacket[] = [];
  for (let i = 0; i < count; i++) got.push(await client.expect('publish', timeoutMs));
  return got;
}

for (const engine of ['memory', 'nats'] as const) {
  describe(`cluster routing (${engine} engine)`, () => {
    let f: ClusterFixture;
    const clients: RawClient[] = [];
    const open = async (node: number, fields: Parameters<typeof RawClient.connect>[1] = {}): Promise<RawClient> => {
      const client = await connect(f.ports[node]!, fields);
      clients.push(client);
      return client;
    };
    before(async () => {
      f = await startCluster({ engine, nodes: 3 });
    });
    after(async () => {
      for (const c of clients) c.destroy();
      await f.stop();
    });

    it('a message published on node 1 reaches subscribers on nodes 2 and 3 at QoS 0, 1 and 2, once each and in order', async () => {
      const subs = [await open(1), await open(2)];
      for (const sub of subs) await sub.subscribe([{ topicFilter: 'x/+', qos: 2 }, { topicFilter: 'x/#', qos: 2 }]);
      const pub = await open(0);
      const sent: string[] = [];
      for (let i = 0; i < 30; i++) {
        const qos = (i % 3) as 0 | 1 | 2;
        sent.push(`${qos}:${i}`);
        await pub.publish(`x/${qos}`, `${qos}:${i}`, qos);
      }
      for (const sub of subs) {
        const got = await publishes(sub, 30);
        // Order holds per QoS (QoS 0 travels live, QoS 1 and 2 through the journal).
        for (const qos of [0, 1, 2]) {
          assert.deepEqual(got.filter((p) => p.qos === qos).map((p) => text(p.payload)), sent.filter((s) => s.startsWith(`${qos}:`)));
        }
        assert.deepEqual((await sub.drain(300)).filter((p) => p.type === 'publish'), [], 'no duplicates');
      }
    });

    it('QoS 1 messages no other node subscribes to stay out of what the other nodes read; a subscription made elsewhere takes them from its SUBACK on', async () => {
      const local = await open(0);
      await local.subscribe('only/here', 1);
      const pub = await open(0);
      const before = f.nodes.map((node) => node.router.stats.remoteMessages);
      const from = (await f.engines[0]!.lastSeq()) + 1;
      for (let i = 0; i < 5; i++) await pub.publish('only/here', `h${i}`, 1);
      assert.deepEqual((await publishes(local, 5)).map((p) => text(p.payload)), ['h0', 'h1', 'h2', 'h3', 'h4']);
      let followed = 0;
      await f.engines[1]!.readRange(from, Number.MAX_SAFE_INTEGER, (entry) => {
        if (entry.node === f.nodes[0]!.nodeId) followed++;
      });
      assert.equal(followed, 0, 'no entry of node 1 for the others to follow');
      assert.deepEqual(
        f.nodes.map((node) => node.router.stats.remoteMessages),
        before,
      );
      // Node 3 subscribes: from its SUBACK on, node 1 journals the topic's messages for the others.
      const far = await open(2);
      await far.subscribe('only/+', 1);
      await pub.publish('only/here', 'now', 1);
      assert.equal(text((await publishes(far, 1))[0]!.payload), 'now');
      assert.equal(text((await publishes(local, 1))[0]!.payload), 'now');
      assert.deepEqual((await far.drain(300)).filter((p) => p.type === 'publish'), [], 'once');
    });

    it('v5 properties and No Local hold across nodes', async () => {
      const sub = await open(2);
      await sub.subscribe([{ topicFilter: 'props/#', qos: 1 }], 0, { subscriptionIdentifiers: [7] });
      const pub = await open(0);
      await pub.publish('props/a', 'p', 1, { properties: { userProperties: [['k', 'v'], ['é', 'ü']], contentType: 'text/plain', correlationData: new Uint8Array([1, 2]), messageExpiryInterval: 60 } });
      const [got] = await publishes(sub, 1);
      assert.deepEqual(got!.properties?.userProperties, [['k', 'v'], ['é', 'ü']]);
      assert.equal(got!.properties?.contentType, 'text/plain');
      assert.deepEqual([...got!.properties!.correlationData!], [1, 2]);
      assert.deepEqual(got!.properties?.subscriptionIdentifiers, [7]);
      assert.ok((got!.properties?.messageExpiryInterval ?? 0) > 50);
    });

    it('a retained message stored through node 1 is sent to a new subscriber on node 3', async () => {
      const pub = await open(0);
      await pub.publish('ret/a', 'kept', 1, { retain: true });
      // The PUBACK came: node 3 may not have read the journal yet, and must still answer with it.
      const sub = await open(2);
      await sub.subscribe('ret/#', 1);
      const [got] = await publishes(sub, 1);
      assert.equal(text(got!.payload), 'kept');
      assert.equal(got!.retain, true);
      await pub.publish('ret/a', '', 1, { retain: true });
      const later = await open(1);
      await later.subscribe('ret/#', 1);
      assert.deepEqual((await later.drain(300)).filter((p) => p.type === 'publish'), []);
    });

    it('a node that joins later gets the retained messages', async () => {
      const pub = await open(0);
      await pub.publish('late/x', 'before', 1, { retain: true });
      const node = await f.addNode();
      const sub = await connect(node.broker.port);
      clients.push(sub);
      await sub.subscribe('late/#', 0);
      assert.equal(text((await publishes(sub, 1))[0]!.payload), 'before');
    });

    it('a node restarted under the same name: what it journals after the restart reaches the other nodes', async () => {
      const sub = await open(1);
      await sub.subscribe('again/#', 1);
      for (const round of ['first', 'second']) {
        const node = await f.addNode('again');
        const pub = await connect(node.broker.port);
        await pub.publish('again/x', round, 1);
        assert.equal(text((await publishes(sub, 1))[0]!.payload), round);
        pub.destroy();
        await node.stop();
      }
    });
  });
}

for (const engine of ['memory', 'nats'] as const) {
  describe(`cluster shared subscriptions (${engine} engine)`, () => {
    let f: ClusterFixture;
    const clients: RawClient[] = [];
    before(async () => {
      f = await startCluster({ engine, nodes: 3 });
    });
    after(async () => {
      for (const c of clients) c.destroy();
      await f.stop();
    });

    for (const qos of [0, 1] as const) {
      it(`QoS ${qos}: each message goes to one member of $share/g cluster-wide, members on two nodes both served`, async () => {
        const members: RawClient[] = [];
        for (const node of [1, 1, 2, 2]) {
          const member = await connect(f.ports[node]!, { clientId: `share${qos}-${members.length}` });
          clients.push(member);
          await member.subscribe(`$share/g${qos}/work/#`, 1);
          members.push(member);
        }
        // The members' registrations reach every node through the engine.
        await new Promise((r) => setTimeout(r, 500));
        const pub = await connect(f.ports[0]!, { clientId: `share${qos}-pub` });
        clients.push(pub);
        for (let i = 0; i < 40; i++) await pub.publish('work/x', `w${i}`, qos);
        const got = new Map<string, number>();
        const perMember: number[] = [];
        for (const member of members) {
          const packets = (await member.drain(1500)).filter((p) => p.type === 'publish') as PublishPacket[];
          perMember.push(packets.length);
          for (const p of packets) got.set(text(p.payload), (got.get(text(p.payload)) ?? 0) + 1);
        }
        assert.equal([...got.values()].filter((n) => n > 1).length, 0, 'a message went to two members');
        assert.equal(got.size, 40, `messages delivered: ${got.size} (per member ${perMember.join(', ')})`);
        assert.ok(perMember[0]! + perMember[1]! > 0 && perMember[2]! + perMember[3]! > 0, `both nodes' members served: ${perMember.join(', ')}`);
      });
    }
  });
}
