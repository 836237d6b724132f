// The requests a CONNECT's session claim costs (src/cluster/session-directory.ts), counted on the in-process engine:
// each one is a JetStream round trip on NATS.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { silentLogger } from '../../src/broker/logger.js';
import type { BucketName, ClusterEngine, KvBucket } from '../../src/cluster/engine.js';
import { MemoryCluster } from '../../src/cluster/memory-engine.js';
import { ClusterSessions } from '../../src/cluster/session-directory.js';

/** One node's session directory whose `sessions` bucket counts the calls made to it. */
function directory(hub: MemoryCluster, node: string): { sessions: ClusterSessions; calls: string[] } {
  const engine = hub.engine(node);
  const calls: string[] = [];
  const counted = (bucket: KvBucket): KvBucket =>
    new Proxy(bucket, {
      get(target, name: keyof KvBucket) {
        const value = target[name];
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.push(name);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  const view: ClusterEngine = Object.create(engine, { bucket: { value: (name: BucketName) => (name === 'sessions' ? counted(engine.bucket(name)) : engine.bucket(name)) } });
  const sessions = new ClusterSessions(view, { handOver: () => undefined }, () => true, () => undefined, () => undefined, silentLogger);
  return { sessions, calls };
}

it('a clean start with no session anywhere claims with one write, no read', async () => {
  const { sessions, calls } = directory(new MemoryCluster(), 'a');
  assert.equal(await sessions.claim('fresh', true), undefined);
  assert.deepEqual(calls, ['create']);
  sessions.settled('fresh');
});

it('a clean start for a client id whose session exists reads it and claims it; a persistent one reads first', async () => {
  const hub = new MemoryCluster();
  const a = directory(hub, 'a');
  assert.equal(await a.sessions.claim('kept', false), undefined);
  assert.deepEqual(a.calls, ['get', 'create']);
  a.sessions.settled('kept');
  await new Promise((resolve) => setImmediate(resolve));
  // The same client id again with a clean start on this node: the create fails, the key is read and updated.
  a.calls.length = 0;
  assert.equal(await a.sessions.claim('kept', true), undefined);
  assert.deepEqual(a.calls, ['create', 'get', 'update']);
});
