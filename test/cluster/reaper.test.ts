// What a takeover leaves of the dead node's journal: the purge goes no further than what it read and what every
// other live node has routed, so a node counted dead while only cut off (it writes on) and a node whose follower
// lags behind lose nothing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/broker/logger.js';
import { MemoryCluster } from '../../src/cluster/memory-engine.js';
import { Reaper, type ReaperHost } from '../../src/cluster/reaper.js';
import { encodeBatch } from '../../src/cluster/journal-codec.js';
import type { BrokerMessage } from '../../src/broker/index.js';

const message = (payload: string): BrokerMessage => ({
  topic: 't',
  payload: Buffer.from(payload),
  qos: 1,
  retain: false,
  properties: undefined,
  expiresAt: undefined,
  origin: undefined,
});
const published = (payload: string): Buffer => encodeBatch([{ op: 'publish', message: message(payload) }]);

async function seqsOf(cluster: MemoryCluster, node: string): Promise<number[]> {
  const seqs: number[] = [];
  await cluster.engine('reader').readNode(node, (entry) => seqs.push(entry.seq));
  return seqs;
}

function reaperOn(cluster: MemoryCluster, routedBelow: () => number | undefined, onClaim?: () => Promise<void>): Reaper {
  const host: ReaperHost = {
    engine: cluster.engine('reaper'),
    logger: silentLogger,
    consumedSeq: () => 1,
    routedBelow,
    claimFrom: async () => {
      await onClaim?.();
      return true;
    },
    adopt: () => undefined,
    handOn: () => undefined,
    sendWill: () => undefined,
    maxQueuedMessages: 100,
  };
  return new Reaper(host);
}

describe('a takeover purges the dead node\'s journal only as far as is safe', () => {
  it('entries another live node has not routed yet stay', async () => {
    const cluster = new MemoryCluster();
    const dead = cluster.engine('dead');
    for (let i = 0; i < 6; i++) await dead.append(published(`m${i}`), `e${i}`);
    const before = await seqsOf(cluster, 'dead');
    assert.equal(before.length, 6);
    // Another node has routed the first three entries only.
    await reaperOn(cluster, () => before[3]).reap('dead');
    assert.deepEqual(await seqsOf(cluster, 'dead'), before.slice(3));
  });

  it('nothing is purged while a live node has not said how far it has routed', async () => {
    const cluster = new MemoryCluster();
    const dead = cluster.engine('dead');
    for (let i = 0; i < 3; i++) await dead.append(published(`m${i}`), `e${i}`);
    const before = await seqsOf(cluster, 'dead');
    await reaperOn(cluster, () => undefined).reap('dead');
    assert.deepEqual(await seqsOf(cluster, 'dead'), before);
  });

  it('a node counted dead while it was only cut off keeps what it wrote after its journal was read', async () => {
    const cluster = new MemoryCluster();
    const dead = cluster.engine('dead');
    // A session of its own, so that the takeover claims it (after reading the journal).
    await dead.append(encodeBatch([{ op: 'putSession', session: { clientId: 'c', username: undefined, protocolVersion: 5, expiryInterval: 600, disconnectedAt: undefined, will: undefined } }]), 's', false);
    await dead.append(published('m0'), 'e0');
    const read = await seqsOf(cluster, 'dead');
    // It writes on meanwhile: a message its publisher has had acknowledged, for nodes that have yet to route it.
    let late = 0;
    await reaperOn(
      cluster,
      () => Number.MAX_SAFE_INTEGER,
      async () => {
        late = await dead.append(published('m1'), 'e1');
      },
    ).reap('dead');
    assert.ok(late > read[read.length - 1]!);
    assert.deepEqual(await seqsOf(cluster, 'dead'), [late]);
  });
});
