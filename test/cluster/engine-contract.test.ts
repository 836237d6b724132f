// What the cluster needs of its engine (src/cluster/engine.ts), checked against both implementations: the
// in-process one the cluster's unit tests use, and NATS JetStream.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { NodeUnreachableError, type ClusterEngine, type KvChange } from '../../src/cluster/engine.js';
import { MemoryCluster } from '../../src/cluster/memory-engine.js';
import { NatsEngine } from '../../src/cluster/nats-engine.js';
import { startNats, type NatsInstance } from '../helpers/nats.js';
import { waitFor } from '../helpers/wait.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

interface Engines {
  make(node: string): ClusterEngine;
  prefix: string;
  close(): Promise<void>;
}

let counter = 0;

const implementations: Array<[string, () => Promise<Engines>]> = [
  [
    'in-process',
    async () => {
      const hub = new MemoryCluster();
      return { make: (node) => hub.engine(node), prefix: 'cx.mem', close: async () => undefined };
    },
  ],
  [
    'NATS',
    async () => {
      const nats: NatsInstance = await startNats({ cluster: 1 });
      const cluster = `contract${process.pid}x${++counter}`;
      const make = (node: string): ClusterEngine => new NatsEngine({ servers: nats.urls, cluster, nodeId: node });
      return { make, prefix: new NatsEngine({ servers: nats.urls, cluster, nodeId: 'x' }).subjects.live, close: () => nats.stop() };
    },
  ],
];

for (const [name, setUp] of implementations) {
  describe(`cluster engine contract: ${name}`, () => {
    let engines: Engines;
    let a: ClusterEngine;
    let b: ClusterEngine;
    before(async () => {
      engines = await setUp();
      a = engines.make('node-a');
      b = engines.make('node-b');
      await a.start();
      await b.start();
    });
    after(async () => {
      await a.stop();
      await b.stop();
      await engines.close();
    });

    it('appends in order, one subject per node; a retry with the same id is not stored twice', async () => {
      const start = (await a.lastSeq()) + 1;
      const s1 = await a.append(bytes('a1'), 'a:1');
      const s2 = await b.append(bytes('b1'), 'b:1');
      const again = await a.append(bytes('a1'), 'a:1');
      const s3 = await a.append(bytes('a2'), 'a:2');
      assert.ok(s1 < s2 && s2 < s3);
      assert.equal(again, s1);
      const seen: string[] = [];
      await a.readRange(start, s3 + 1, (e) => seen.push(`${e.node}:${text(e.data)}`));
      assert.deepEqual(seen, ['node-a:a1', 'node-b:b1', 'node-a:a2']);
      const mine: string[] = [];
      await b.readNode('node-a', (e) => mine.push(text(e.data)));
      assert.deepEqual(mine, ['a1', 'a2']);
      assert.equal(await b.lastSeq(), s3);
    });

    it('follow delivers from a sequence on, then live, in order', async () => {
      const from = (await a.lastSeq()) + 1;
      await a.append(bytes('f1'), 'f:1');
      const seen: string[] = [];
      const stop = await b.follow(from, (e) => void seen.push(text(e.data)));
      await b.append(bytes('f2'), 'f:2');
      await a.append(bytes('f3'), 'f:3');
      await waitFor(() => seen.length >= 3, 10_000, 'three entries');
      stop();
      assert.deepEqual(seen, ['f1', 'f2', 'f3']);
    });

    it('a promise returned for an entry holds the later ones back until it settles', async () => {
      const from = (await a.lastSeq()) + 1;
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const seen: string[] = [];
      const stop = await b.follow(from, (e) => {
        seen.push(text(e.data));
        return seen.length === 1 ? gate : undefined;
      });
      for (const name of ['h1', 'h2', 'h3']) await a.append(bytes(name), `h:${name}`);
      await waitFor(() => seen.length >= 1, 10_000, 'the first entry');
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(seen, ['h1'], 'nothing after the held entry');
      open();
      await waitFor(() => seen.length >= 3, 10_000, 'the held entries');
      stop();
      assert.deepEqual(seen, ['h1', 'h2', 'h3']);
    });

    it('an entry that is not followed reaches no follower and no range read, but its node\'s reader and the purge', async () => {
      const from = (await a.lastSeq()) + 1;
      const seen: string[] = [];
      const stop = await b.follow(from, (e) => void seen.push(text(e.data)));
      const own = await a.append(bytes('u-own'), 'u:own', false);
      const shared = await a.append(bytes('u-shared'), 'u:shared');
      const ownAgain = await a.append(bytes('u-own2'), 'u:own2', false);
      await waitFor(() => seen.includes('u-shared'), 10_000, 'the followed entry');
      await new Promise((r) => setTimeout(r, 200));
      stop();
      assert.deepEqual(seen, ['u-shared']);
      const ranged: string[] = [];
      await b.readRange(from, ownAgain + 1, (e) => ranged.push(text(e.data)));
      assert.deepEqual(ranged, ['u-shared']);
      const mine: string[] = [];
      await b.readNode('node-a', (e) => mine.push(text(e.data)));
      assert.deepEqual(mine.filter((t) => t.startsWith('u-')), ['u-own', 'u-shared', 'u-own2']);
      assert.equal(await b.lastSeq(), ownAgain);
      assert.equal(await b.lastSeq(true), shared);
      assert.ok(own < shared && shared < ownAgain);
      await a.purgeNode('node-a', ownAgain);
      const left: string[] = [];
      await b.readNode('node-a', (e) => left.push(text(e.data)));
      assert.deepEqual(left, ['u-own2']);
    });

    it('a watch says when it has delivered what the bucket held', async () => {
      const bucket = a.bucket('routes');
      await bucket.put('w.one', bytes('1'));
      await bucket.put('w.two', bytes('2'));
      const keys: string[] = [];
      let keysWhenCurrent: string[] | undefined;
      const stop = await b.bucket('routes').watch(
        (change) => keys.push(change.key),
        () => (keysWhenCurrent = [...keys]),
      );
      await waitFor(() => keysWhenCurrent !== undefined, 10_000, 'the watch current');
      stop();
      assert.ok(keysWhenCurrent!.includes('w.one') && keysWhenCurrent!.includes('w.two'), keysWhenCurrent!.join());
      await bucket.delete('w.one');
      await bucket.delete('w.two');
    });

    it('purgeNode removes only that node\'s entries', async () => {
      await a.append(bytes('p-a'), 'p:a');
      await b.append(bytes('p-b'), 'p:b');
      await a.purgeNode('node-a');
      const left: string[] = [];
      await b.readNode('node-a', (e) => left.push(text(e.data)));
      assert.deepEqual(left, []);
      const others: string[] = [];
      await a.readNode('node-b', (e) => others.push(text(e.data)));
      assert.ok(others.includes('p-b'));
    });

    it('purgeNode with a sequence removes only that node\'s entries below it (0 and 1 remove nothing)', async () => {
      const first = await a.append(bytes('q-1'), 'q:1');
      await b.append(bytes('q-b'), 'q:b');
      const second = await a.append(bytes('q-2'), 'q:2');
      const third = await a.append(bytes('q-3'), 'q:3');
      const mine = async (): Promise<string[]> => {
        const left: string[] = [];
        await b.readNode('node-a', (e) => left.push(text(e.data)));
        return left.filter((t) => t.startsWith('q-'));
      };
      await a.purgeNode('node-a', 0);
      await a.purgeNode('node-a', 1);
      assert.deepEqual(await mine(), ['q-1', 'q-2', 'q-3']);
      assert.ok(first < second && second < third);
      await a.purgeNode('node-a', third);
      assert.deepEqual(await mine(), ['q-3']);
      const others: string[] = [];
      await a.readNode('node-b', (e) => others.push(text(e.data)));
      assert.ok(others.includes('q-b'));
    });

    it('live messages reach other nodes with interest (wildcards), not the sender', async () => {
      const got: string[] = [];
      const own: string[] = [];
      const stop = b.subscribeLive(`${engines.prefix}.t.*`, (subject, data) => got.push(`${subject.slice(engines.prefix.length + 1)}=${text(data)}`));
      const stopOwn = a.subscribeLive(`${engines.prefix}.t.>`, (_s, data) => own.push(text(data)));
      await b.flush();
      await a.flush();
      a.publishLive(`${engines.prefix}.t.x`, bytes('1'));
      a.publishLive(`${engines.prefix}.u.x`, bytes('2'));
      await waitFor(() => got.length === 1, 5000, 'one live message');
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(got, ['t.x=1']);
      assert.deepEqual(own, [], 'a node does not hear its own');
      stop();
      stopOwn();
    });

    it('keeps the last retained message per subject; delete removes it', async () => {
      const r = (s: string): string => `${engines.prefix.replace(/m$/, 'r')}.${s}`;
      await a.putRetained(r('one'), bytes('old'));
      await a.putRetained(r('one'), bytes('new'));
      await b.putRetained(r('two'), bytes('2'));
      await b.putRetained(r('gone'), bytes('x'));
      await a.deleteRetained(r('gone'));
      const all = new Map<string, string>();
      await a.loadRetained((subject, data) => all.set(subject, text(data)));
      assert.equal(all.get(r('one')), 'new');
      assert.equal(all.get(r('two')), '2');
      assert.equal(all.has(r('gone')), false);
    });

    it('key-value: create once, update only from the revision read, delete fenced by revision, watch sees it all', async () => {
      const kv = a.bucket('sessions');
      const changes: string[] = [];
      const stop = await b.bucket('sessions').watch((c: KvChange) => {
        if (c.key.startsWith('k.')) changes.push('deleted' in c ? `-${c.key}` : `${c.key}=${text(c.value)}`);
      });
      const r1 = await kv.create('k.one', bytes('1'));
      assert.ok(r1 !== undefined);
      assert.equal(await kv.create('k.one', bytes('again')), undefined);
      const r2 = await kv.update('k.one', bytes('2'), r1);
      assert.ok(r2 !== undefined && r2 > r1);
      assert.equal(await kv.update('k.one', bytes('stale'), r1), undefined);
      assert.equal(text((await b.bucket('sessions').get('k.one'))!.value), '2');
      assert.equal(await kv.delete('k.one', r1), false, 'a stale revision deletes nothing');
      assert.equal(await kv.delete('k.one', r2), true);
      assert.equal(await kv.get('k.one'), undefined);
      assert.ok((await kv.create('k.one', bytes('3'))) !== undefined, 'create after delete');
      await waitFor(() => changes.length >= 4, 5000, 'watched changes');
      stop();
      assert.deepEqual(changes.slice(0, 4), ['k.one=1', 'k.one=2', '-k.one', 'k.one=3']);
    });

    it('requests reach the node that serves them; a node that does not is unreachable', async () => {
      await b.serve(async (data) => bytes(`b got ${text(data)}`));
      assert.equal(text(await a.request('node-b', bytes('hi'), 2000)), 'b got hi');
      await assert.rejects(a.request('node-nobody', bytes('hi'), 500), NodeUnreachableError);
    });
  });
}

describe('NATS engine: the end of the journal', () => {
  it('is 0 before any followed entry, and an error (not 0) when the journal stream is gone', async () => {
    const nats = await startNats({ cluster: 1 });
    const engine = new NatsEngine({ servers: nats.urls, cluster: `end${process.pid}`, nodeId: 'a' });
    try {
      await engine.start();
      assert.equal(await engine.lastSeq(true), 0);
      await engine.append(bytes('own'), 'end:1', false);
      assert.equal(await engine.lastSeq(true), 0, 'an entry nobody follows');
      // A restarted server still loading its streams answers "stream not found": never an empty journal.
      const nc = await connect({ servers: nats.urls });
      const jsm = await jetstreamManager(nc);
      for await (const name of jsm.streams.names()) if (name.endsWith('_JOURNAL')) await jsm.streams.delete(name);
      await nc.close();
      await assert.rejects(engine.lastSeq(true));
    } finally {
      await engine.stop();
      await nats.stop();
    }
  });
});
