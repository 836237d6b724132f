// Sessions across nodes: a persistent client resumes on another node with what was queued for it and what was in
// flight, a second connection with the same client id on another node takes over, and a connect storm of one
// client id against every node ends with one owner.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ConnectPacket, PublishPacket } from '../../src/packet/types.js';
import { RawClient } from '../helpers/raw-client.js';
import { startCluster, type ClusterFixture } from './cluster-fixture.js';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString();
const persistent = (clientId: string, extra: Partial<ConnectPacket> = {}): Partial<ConnectPacket> => ({
  protocolVersion: 5,
  clientId,
  clean: false,
  properties: { sessionExpiryInterval: 300 },
  ...extra,
});

for (const engine of ['memory', 'nats'] as const) {
  describe(`cluster sessions (${engine} engine)`, () => {
    let f: ClusterFixture;
    const clients: RawClient[] = [];
    const open = async (node: number, fields: Partial<ConnectPacket>, autoAck = true): Promise<{ client: RawClient; present: boolean }> => {
      const { client, connack } = await RawClient.connect(f.ports[node]!, { protocolVersion: 5, ...fields }, { autoAck });
      clients.push(client);
      assert.equal(connack.reasonCode, 0, `CONNACK on node ${node + 1}`);
      return { client, present: connack.sessionPresent };
    };
    before(async () => {
      f = await startCluster({ engine, nodes: 3 });
    });
    after(async () => {
      for (const c of clients) c.destroy();
      await f.stop();
    });

    it('a persistent client that comes back on another node gets what was queued while it was away', async () => {
      const { client: first } = await open(0, persistent('mover'));
      await first.subscribe('move/#', 1);
      first.disconnect();
      await first.closedWithin();
      const { client: pub } = await open(2, { clientId: 'mover-pub' });
      for (let i = 0; i < 5; i++) await pub.publish('move/x', `m${i}`, 1);
      const { client: back, present } = await open(1, persistent('mover'));
      assert.equal(present, true);
      const got: string[] = [];
      for (let i = 0; i < 5; i++) got.push(text((await back.expect('publish')).payload));
      assert.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4']);
      // Its subscription moved with it: new messages reach it on node 2.
      await pub.publish('move/y', 'after', 1);
      assert.equal(text((await back.expect('publish')).payload), 'after');
    });

    it('a second connection with the same client id on another node takes over (0x8E) with the session', async () => {
      const { client: first } = await open(0, persistent('taken'));
      await first.subscribe('taken/#', 1);
      const { client: second, present } = await open(2, persistent('taken'));
      assert.equal(present, true);
      assert.equal((await first.expect('disconnect')).reasonCode, 0x8e);
      await first.closedWithin();
      const { client: pub } = await open(1, { clientId: 'taken-pub' });
      await pub.publish('taken/x', 'to the new one', 1);
      assert.equal(text((await second.expect('publish')).payload), 'to the new one');
    });

    it('QoS 1/2 in flight and QoS 2 packet ids move with the session', async () => {
      const { client: first } = await open(0, persistent('flight'), false);
      await first.subscribe('flight/#', 2);
      const { client: pub } = await open(2, { clientId: 'flight-pub' });
      await pub.publish('flight/q2', 'two', 2);
      const sent = (await first.expect('publish')) as PublishPacket;
      // The client takes a QoS 2 message of its own (PUBREC), and leaves before releasing it.
      first.send({ type: 'publish', topic: 'flight/in', payload: new Uint8Array([1]), qos: 2, packetId: 77, retain: false, dup: false });
      assert.equal((await first.expect('pubrec')).packetId, 77);
      first.destroy();
      await first.closedWithin();
      const { client: back, present } = await open(1, persistent('flight'), false);
      assert.equal(present, true);
      const again = (await back.expect('publish')) as PublishPacket;
      assert.deepEqual([again.packetId, again.dup, text(again.payload)], [sent.packetId, true, 'two']);
      // Its own message 77 is known here: the resent PUBLISH is not delivered twice, PUBREL completes it.
      back.send({ type: 'publish', topic: 'flight/in', payload: new Uint8Array([1]), qos: 2, packetId: 77, retain: false, dup: true });
      assert.equal((await back.expect('pubrec')).packetId, 77);
      back.send({ type: 'pubrel', packetId: 77 });
      const pubcomp = await back.expect('pubcomp');
      assert.deepEqual([pubcomp.packetId, pubcomp.reasonCode ?? 0], [77, 0]);
      const copies = (await back.drain(400)).filter((p) => p.type === 'publish' && p.topic === 'flight/in');
      assert.equal(copies.length, 1, 'delivered once (to its own flight/# subscription)');
    });

    it('Clean Start on another node ends the old session', async () => {
      const { client: first } = await open(0, persistent('fresh'));
      await first.subscribe('fresh/#', 1);
      first.disconnect();
      await first.closedWithin();
      const { present } = await open(1, { clientId: 'fresh', clean: true, properties: { sessionExpiryInterval: 300 } });
      assert.equal(present, false);
    });

    it('a connect storm of one client id on every node ends with exactly one connection', async () => {
      const attempts: Array<Promise<RawClient | undefined>> = [];
      for (let round = 0; round < 4; round++) {
        for (let node = 0; node < 3; node++) {
          attempts.push(
            RawClient.connect(f.ports[node]!, persistent('storm')).then(
              ({ client, connack }) => {
                clients.push(client);
                return connack.reasonCode === 0 ? client : undefined;
              },
              () => undefined,
            ),
          );
        }
      }
      const accepted = (await Promise.all(attempts)).filter((c): c is RawClient => c !== undefined);
      assert.ok(accepted.length >= 1);
      await new Promise((r) => setTimeout(r, 1500));
      const open = accepted.filter((c) => c.socket.readyState === 'open' && !c.socket.destroyed && c.pending().every((p) => p.type !== 'disconnect'));
      assert.equal(open.length, 1, `${open.length} connections of one client id still open`);
    });
  });
}

// NATS only: a node of the in-process engine cannot die without a goodbye (its heartbeats go on).
it('a node that dies while taking over another leaves no orphaned election: a survivor adopts the sessions (nats engine)', async () => {
  const f = await startCluster({ engine: 'nats', nodes: 3 });
  try {
    const { client } = await RawClient.connect(f.ports[0]!, persistent('orphan'));
    await client.subscribe('orphan/#', 1);
    client.disconnect();
    await client.closedWithin();
    // A message queued for the offline session on node1.
    const { client: pub } = await RawClient.connect(f.ports[0]!, { protocolVersion: 5 });
    await pub.publish('orphan/x', 'queued', 1);
    pub.destroy();
    // As a node that won the election for node1's takeover and died before finishing would leave it.
    const key = `r.${Buffer.from('node1').toString('base64url')}`;
    assert.notEqual(await f.engines[1]!.bucket('sessions').create(key, new TextEncoder().encode('ghost')), undefined);
    // node1 dies without a goodbye.
    await f.engines[0]!.stop();
    const until = Date.now() + 20_000;
    let back: RawClient | undefined;
    let present = false;
    while (back === undefined && Date.now() < until) {
      const attempt = await RawClient.open(f.ports[2]!, { version: 5 });
      // A CONNECT for a session whose takeover is under way waits for it (or is refused with 0x88).
      const connack = await attempt.connect(persistent('orphan'), 15_000).catch(() => undefined);
      if (connack?.reasonCode === 0) {
        back = attempt;
        present = connack.sessionPresent;
      } else {
        attempt.destroy();
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    assert.ok(back !== undefined && present, 'the session was adopted by a survivor');
    assert.equal(text((await back.expect('publish', 5000)).payload), 'queued');
    back.destroy();
  } finally {
    await f.stop();
  }
});

describe('cluster session expiry and hostile engine input (in-process engine)', () => {
  it('a session that expires on the node it was left on is gone on every node', async () => {
    const f = await startCluster({ engine: 'memory', nodes: 2 });
    try {
      const { client } = await RawClient.connect(f.ports[0]!, persistent('short', { properties: { sessionExpiryInterval: 1 } }));
      await client.subscribe('short/#', 1);
      client.disconnect();
      await client.closedWithin();
      await new Promise((r) => setTimeout(r, 1500));
      const { client: back, connack } = await RawClient.connect(f.ports[1]!, persistent('short', { properties: { sessionExpiryInterval: 1 } }));
      assert.equal(connack.sessionPresent, false);
      back.destroy();
    } finally {
      await f.stop();
    }
  });

  it('garbage on the journal and live subjects is counted and dropped; the nodes go on', async () => {
    const f = await startCluster({ engine: 'memory', nodes: 2 });
    try {
      const intruder = f.memory!.engine('intruder');
      await intruder.start();
      await intruder.append(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), 'junk:1');
      await intruder.append(Buffer.from('CXJ\x01\xff\xff\xff\xff'), 'junk:2');
      const { client: sub } = await RawClient.connect(f.ports[1]!, { protocolVersion: 5, clientId: 'after-junk' });
      await sub.subscribe('j/#', 0);
      intruder.publishLive(`cx.${'x'}.m.j.x`, new Uint8Array([0xff]));
      const { client: pub } = await RawClient.connect(f.ports[0]!, { protocolVersion: 5, clientId: 'after-junk-pub' });
      await pub.publish('j/x', 'still works', 1);
      assert.equal(Buffer.from((await sub.expect('publish')).payload).toString(), 'still works');
      assert.ok(f.nodes[1]!.status().badEntries >= 2);
      for (const c of [sub, pub]) c.destroy();
      await intruder.stop();
    } finally {
      await f.stop();
    }
  });
});
