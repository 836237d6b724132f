// Who is alive (src/cluster/membership.ts) when the engine misbehaves the way a NATS server that dies makes it: a
// heartbeat write that is never answered does not silence a node, and a watch that stops delivering makes a node
// watch again instead of counting everyone dead.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Logger } from '../../src/broker/index.js';
import type { ClusterEngine, KvBucket } from '../../src/cluster/engine.js';
import { MemoryCluster } from '../../src/cluster/memory-engine.js';
import { Membership, type MembershipHost } from '../../src/cluster/membership.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const HEARTBEAT_MS = 50;
const DEAD_AFTER_MS = 300;

interface Started {
  membership: Membership;
  gone: string[];
  warnings: string[];
}

const running: Membership[] = [];

function start(nodeId: string, bucket: KvBucket): Started {
  const gone: string[] = [];
  const warnings: string[] = [];
  const logger = { info: () => undefined, warn: (line: string) => warnings.push(line), error: () => undefined, debug: () => undefined } as unknown as Logger;
  const engine = { nodeId, bucket: () => bucket } as unknown as ClusterEngine;
  const host: MembershipHost = {
    engine,
    logger,
    heartbeatMs: HEARTBEAT_MS,
    deadAfterMs: DEAD_AFTER_MS,
    figures: () => ({ clients: 0, sessions: 0, consumed: 1 }),
    reachable: () => true,
    stopping: () => false,
    gone: (node) => gone.push(node),
    maybeCountedDead: () => undefined,
  };
  const membership = new Membership(host);
  running.push(membership);
  return { membership, gone, warnings };
}

/** The same bucket, with some behaviour replaced. */
function wrap(bucket: KvBucket, changes: Partial<KvBucket>): KvBucket {
  return Object.assign(Object.create(bucket) as KvBucket, changes);
}

describe('cluster membership', () => {
  afterEach(() => {
    for (const m of running.splice(0)) m.stop();
  });

  it('a heartbeat write that is never answered does not hold the next one back', async () => {
    const hub = new MemoryCluster();
    const nodes = hub.bucket('nodes');
    let puts = 0;
    // The second write of node a is lost (sent just before its connection failed over): it never settles.
    const lossy = wrap(nodes, { put: (key, value) => (++puts === 2 ? new Promise<number>(() => undefined) : nodes.put(key, value)) });
    const a = start('a', lossy);
    const b = start('b', nodes);
    await a.membership.start();
    await b.membership.start();
    await sleep(DEAD_AFTER_MS * 2);
    assert.ok(puts > 3, `a went on writing heartbeats (${puts})`);
    assert.deepEqual(b.gone, [], 'b never counted a dead');
    assert.ok(b.membership.isAlive('a'));
  });

  it('a watch that stops delivering is made again; meanwhile nobody is counted dead', async () => {
    const hub = new MemoryCluster();
    const nodes = hub.bucket('nodes');
    let watches = 0;
    let stuck = false;
    // b's first watch goes quiet once stuck is set (its consumer was on a server that died); later watches work.
    const quiet = wrap(nodes, {
      watch: (onChange, onCurrent) => {
        const first = ++watches === 1;
        return nodes.watch((change) => {
          if (!(first && stuck)) onChange(change);
        }, onCurrent);
      },
    });
    const a = start('a', nodes);
    const b = start('b', quiet);
    await a.membership.start();
    await b.membership.start();
    await sleep(HEARTBEAT_MS * 3);
    assert.ok(b.membership.isAlive('a'));
    stuck = true;
    await sleep(DEAD_AFTER_MS * 3);
    assert.deepEqual(b.gone, [], 'b never counted a dead');
    assert.ok(watches >= 2, 'b watched again');
    assert.ok(b.warnings.some((line) => line.includes('no longer hears its own heartbeats')), b.warnings.join('\n'));
    assert.ok(b.membership.isAlive('a'));
  });
});
