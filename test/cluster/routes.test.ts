// Which filters each node routes (src/cluster/routes.ts): a node learns the others' filters, a new filter is known
// everywhere when `add` resolves, a filter no longer used lingers before it goes, and a node cut off for long
// enough to have its filters forgotten writes them again.
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { MemoryCluster } from '../../src/cluster/memory-engine.js';
import { ClusterRoutes, ROUTE_LINGER_MS } from '../../src/cluster/routes.js';
import type { Logger } from '../../src/broker/index.js';
import type { KvBucket } from '../../src/cluster/engine.js';

const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as unknown as Logger;

/** A routes bucket whose watch can be held up (a watch stuck on a dead server): changes wait until `release`. */
function stallable(bucket: KvBucket): { bucket: KvBucket; stall(): void; release(): void } {
  let stalled = false;
  const held: Array<() => void> = [];
  const wrapped: KvBucket = Object.create(bucket) as KvBucket;
  wrapped.watch = (onChange, onCurrent) =>
    bucket.watch((change) => {
      if (stalled) held.push(() => onChange(change));
      else onChange(change);
    }, onCurrent);
  return {
    bucket: wrapped,
    stall: () => (stalled = true),
    release: () => {
      stalled = false;
      for (const deliver of held.splice(0)) deliver();
    },
  };
}

function nodes(names: string[], buckets: Map<string, KvBucket> = new Map(), hub = new MemoryCluster()): { hub: MemoryCluster; routes: Map<string, ClusterRoutes>; asked: string[] } {
  const routes = new Map<string, ClusterRoutes>();
  const asked: string[] = [];
  for (const name of names) {
    routes.set(
      name,
      new ClusterRoutes({
        bucket: buckets.get(name) ?? hub.bucket('routes'),
        nodeId: name,
        logger: quiet,
        others: () => names.filter((n) => n !== name),
        askSeen: async (node, revision) => {
          asked.push(`${name}->${node}@${revision}`);
          await routes.get(node)!.answerSync(revision);
        },
      }),
    );
  }
  return { hub, routes, asked };
}

describe('cluster routes', () => {
  it('a node sees the filters of the others, not its own, and asks every other node to have seen a new one', async () => {
    const { routes, asked } = nodes(['a', 'b', 'c']);
    for (const r of routes.values()) await r.start();
    const [a, b] = [routes.get('a')!, routes.get('b')!];
    assert.equal(a.elsewhere('s/1/t'), false);
    await a.add('s/+/t');
    assert.deepEqual(asked.sort(), ['a->b@1', 'a->c@1']);
    assert.equal(b.elsewhere('s/1/t'), true);
    assert.equal(b.elsewhere('s/1/u'), false);
    assert.equal(a.elsewhere('s/1/t'), false, 'its own filter is no reason to journal for the others');
    // A second use writes nothing; while the first write is under way, it waits for that one.
    assert.equal(a.add('s/+/t'), undefined);
    const first = a.add('s/new');
    const second = a.add('s/new');
    assert.ok(first !== undefined && second === first);
    await second;
    assert.equal(b.elsewhere('s/new'), true);
  });

  it('a burst of new filters asks each other node a question or two, not one per filter', async () => {
    const { routes, asked } = nodes(['a', 'b']);
    for (const r of routes.values()) await r.start();
    const a = routes.get('a')!;
    await Promise.all(Array.from({ length: 20 }, (_, i) => a.add(`burst/${i}`)));
    assert.ok(asked.length <= 2, asked.join(' '));
    assert.equal(routes.get('b')!.elsewhere('burst/19'), true);
  });

  it('a filter no subscription uses lingers before it goes; taken up again meanwhile, it stays', async () => {
    const timers = mock.timers;
    timers.enable({ apis: ['setTimeout'] });
    try {
      const { routes } = nodes(['a', 'b']);
      for (const r of routes.values()) await r.start();
      const [a, b] = [routes.get('a')!, routes.get('b')!];
      await a.add('x/#');
      await a.add('y/#');
      a.remove('x/#');
      a.remove('y/#');
      assert.equal(a.add('y/#'), undefined, 'still routed: nothing to write');
      timers.tick(ROUTE_LINGER_MS - 1);
      await Promise.resolve();
      assert.equal(b.elsewhere('x/1'), true, 'still routed while it lingers');
      timers.tick(1);
      await new Promise((r) => setImmediate(r));
      assert.equal(b.elsewhere('x/1'), false);
      assert.equal(b.elsewhere('y/1'), true);
    } finally {
      timers.reset();
    }
  });

  it('a dead node\'s filters go after its sessions are adopted (and the linger); a live node deleted that way writes its own again', async () => {
    const timers = mock.timers;
    timers.enable({ apis: ['setTimeout'] });
    try {
      const { routes } = nodes(['a', 'b', 'c']);
      for (const r of routes.values()) await r.start();
      const [a, b, c] = [routes.get('a')!, routes.get('b')!, routes.get('c')!];
      await a.add('dead/#');
      await c.add('alive/#');
      b.forgetNode('a');
      timers.tick(ROUTE_LINGER_MS);
      await new Promise((r) => setImmediate(r));
      assert.equal(b.elsewhere('dead/1'), false);
      // b forgets c, which is alive and still uses its filter: c writes it again.
      assert.equal(b.elsewhere('alive/1'), true);
      b.forgetNode('c');
      timers.tick(ROUTE_LINGER_MS);
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      assert.equal(b.elsewhere('alive/1'), true);
      assert.equal(a.elsewhere('alive/1'), true);
    } finally {
      timers.reset();
    }
  });

  it('until the bucket has been read, every topic counts as routed elsewhere', () => {
    const { routes } = nodes(['a']);
    assert.equal(routes.get('a')!.elsewhere('any/topic'), true);
  });

  it('a node asked about a route it has not heard of in time sends every message to the others until it has', async () => {
    const hub = new MemoryCluster();
    const b = stallable(hub.bucket('routes'));
    const { routes } = nodes(['a', 'b'], new Map([['b', b.bucket]]), hub);
    for (const r of routes.values()) await r.start();
    const [a, nodeB] = [routes.get('a')!, routes.get('b')!];
    b.stall();
    const timers = mock.timers;
    timers.enable({ apis: ['setTimeout'] });
    try {
      // a's SUBACK waits for b at most the bounded wait, then goes out: b must not keep a's messages to itself.
      let done = false;
      const added = a.add('late/#')!.then(() => (done = true));
      await new Promise((r) => setImmediate(r));
      assert.equal(done, false, 'a waits for b');
      timers.tick(2000);
      await added;
    } finally {
      timers.reset();
    }
    assert.equal(nodeB.elsewhere('late/1'), true);
    assert.equal(nodeB.elsewhere('other/1'), true, 'while behind, every topic counts as routed elsewhere');
    b.release();
    assert.equal(nodeB.elsewhere('late/1'), true);
    assert.equal(nodeB.elsewhere('other/1'), false, 'caught up: only matching topics');
  });
});
