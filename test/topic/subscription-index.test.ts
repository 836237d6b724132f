import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SubscriptionIndex, matches } from '../../src/topic/index.js';

const SEED = 0x5eed;

// Few distinct levels, so random filters and names collide often.
const topicLevel = fc.constantFrom('a', 'b', 'c', '', '$s');
const topicName = fc.array(topicLevel, { minLength: 1, maxLength: 5 }).map((levels) => levels.join('/'));
const topicFilter = fc
  .tuple(fc.array(fc.constantFrom('a', 'b', '', '+', '$s'), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
  .filter((filter) => filter.length > 0)
  .chain((filter) => fc.constantFrom(filter, '#', '+'));
const clientKey = fc.constantFrom('k1', 'k2', 'k3');

type Op = { kind: 'add'; filter: string; key: string; value: number } | { kind: 'remove'; filter: string; key: string };
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), filter: topicFilter, key: clientKey, value: fc.nat(1000) }),
  fc.record({ kind: fc.constant('remove' as const), filter: topicFilter, key: clientKey }),
);

/** Subscriptions as a flat map, matched one by one with matches(). */
class Model {
  readonly entries = new Map<string, { filter: string; key: string; value: number }>();
  matchAll(topic: string): string[] {
    const out: string[] = [];
    for (const e of this.entries.values()) if (matches(e.filter, topic)) out.push(`${e.filter} ${e.key} ${e.value}`);
    return out.sort();
  }
  filters(): number {
    return new Set([...this.entries.values()].map((e) => e.filter)).size;
  }
}

function indexMatches(index: SubscriptionIndex<{ key: string; value: number }>, topic: string): string[] {
  const out: string[] = [];
  index.match(topic, (v, filter) => out.push(`${filter} ${v.key} ${v.value}`));
  return out.sort();
}

/** Counts trie nodes through the private root, to show removal frees them. */
function nodeCount(index: SubscriptionIndex<unknown>): number {
  type N = { children?: Map<string, N>; plus?: N; hash?: N };
  const count = (n: N | undefined): number => {
    if (n === undefined) return 0;
    let c = 1 + count(n.plus) + count(n.hash);
    for (const child of n.children?.values() ?? []) c += count(child);
    return c;
  };
  return count(Reflect.get(index, 'root') as N);
}

test('matches like the filter-by-filter matcher on random subscriptions', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(topicFilter, clientKey), { maxLength: 40 }), fc.array(topicName, { minLength: 1, maxLength: 20 }), (subs, topics) => {
      const index = new SubscriptionIndex<{ key: string; value: number }>();
      const model = new Model();
      subs.forEach(([filter, key], value) => {
        index.add(filter, key, { key, value });
        model.entries.set(`${filter}\u0000${key}`, { filter, key, value });
      });
      for (const topic of topics) assert.deepEqual(indexMatches(index, topic), model.matchAll(topic), topic);
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

test('add and remove sequences keep size, filters, get and match in step with a model', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), fc.array(topicName, { minLength: 1, maxLength: 8 }), (ops, topics) => {
      const index = new SubscriptionIndex<{ key: string; value: number }>();
      const model = new Model();
      for (const o of ops) {
        const id = `${o.filter}\u0000${o.key}`;
        if (o.kind === 'add') {
          assert.equal(index.add(o.filter, o.key, { key: o.key, value: o.value }), !model.entries.has(id));
          model.entries.set(id, { filter: o.filter, key: o.key, value: o.value });
        } else {
          assert.equal(index.remove(o.filter, o.key), model.entries.delete(id));
        }
        assert.equal(index.size, model.entries.size);
        assert.equal(index.filters, model.filters());
        assert.equal(index.get(o.filter, o.key)?.value, model.entries.get(id)?.value);
      }
      for (const topic of topics) assert.deepEqual(indexMatches(index, topic), model.matchAll(topic), topic);
      for (const e of [...model.entries.values()]) assert.equal(index.remove(e.filter, e.key), true);
      assert.equal(index.size, 0);
      assert.equal(index.filters, 0);
      assert.equal(nodeCount(index), 1);
    }),
    { seed: SEED, numRuns: 1500 },
  );
});

test('MQTT-4.7.2-1: wildcard-first subscriptions do not receive $ topics', () => {
  const index = new SubscriptionIndex<string>();
  for (const f of ['#', '+/monitor/Clients', '+', '$SYS/#', '$SYS/monitor/+', '+/#']) index.add(f, 'c', f);
  assert.deepEqual(index.matchAll('$SYS/monitor/Clients').sort(), ['$SYS/#', '$SYS/monitor/+']);
  assert.deepEqual(index.matchAll('$SYS').sort(), ['$SYS/#']);
  assert.deepEqual(index.matchAll('x/monitor/Clients').sort(), ['#', '+/#', '+/monitor/Clients']);
});

test('remove compares filters literally', () => {
  const index = new SubscriptionIndex<number>();
  index.add('a/+', 'c', 1);
  index.add('a/b', 'c', 2);
  assert.equal(index.remove('a/#', 'c'), false);
  assert.equal(index.remove('a/b/', 'c'), false);
  assert.equal(index.remove('a/b', 'other'), false);
  assert.equal(index.remove('a/b', 'c'), true);
  assert.deepEqual(index.matchAll('a/b'), [1]);
  assert.equal(index.remove('a/+', 'c'), true);
  assert.deepEqual(index.matchAll('a/b'), []);
});

test('adding the same filter and key replaces the value', () => {
  const index = new SubscriptionIndex<{ qos: number }>();
  assert.equal(index.add('a/#', 'c', { qos: 0 }), true);
  assert.equal(index.add('a/#', 'c', { qos: 2 }), false);
  assert.equal(index.size, 1);
  assert.equal(index.filters, 1);
  assert.deepEqual(index.matchAll('a/x'), [{ qos: 2 }]);
  assert.deepEqual(index.get('a/#', 'c'), { qos: 2 });
});

test('match visits once per matching filter and passes the filter', () => {
  const index = new SubscriptionIndex<string>();
  index.add('sport/#', 'c1', 'c1');
  index.add('sport/tennis/+', 'c1', 'c1');
  index.add('sport/tennis/player1', 'c2', 'c2');
  index.add('$share/g/sport/#'.slice('$share/g/'.length), '$share/g', 'group g');
  const seen: string[] = [];
  index.match('sport/tennis/player1', (value, filter) => seen.push(`${value}@${filter}`));
  assert.deepEqual(seen.sort(), ['c1@sport/#', 'c1@sport/tennis/+', 'c2@sport/tennis/player1', 'group g@sport/#']);
});

test('add refuses invalid filters', () => {
  const index = new SubscriptionIndex<number>();
  assert.throws(() => index.add('a/#/b', 'c', 1), RangeError);
  assert.throws(() => index.add('', 'c', 1), RangeError);
  assert.equal(index.size, 0);
});

test('clear empties the index', () => {
  const index = new SubscriptionIndex<number>();
  index.add('a/b', 'c', 1);
  index.add('#', 'c', 2);
  index.clear();
  assert.equal(index.size, 0);
  assert.equal(index.filters, 0);
  assert.deepEqual(index.matchAll('a/b'), []);
  assert.equal(nodeCount(index), 1);
});

test('matches topics and filters of 30,000 levels without running out of stack', () => {
  const levels = 30_000;
  const deep = Array.from({ length: levels }, () => 'a').join('/');
  const wild = Array.from({ length: levels }, (_, i) => (i % 2 === 0 ? '+' : 'a')).join('/');
  const index = new SubscriptionIndex<string>();
  index.add(deep, 'exact', 'exact');
  index.add(wild, 'plus', 'plus');
  index.add(`${deep}/#`, 'hash', 'hash');
  assert.deepEqual(index.matchAll(deep).sort(), ['exact', 'hash', 'plus']);
  assert.equal(index.remove(deep, 'exact'), true);
  assert.deepEqual(index.matchAll(deep).sort(), ['hash', 'plus']);
});

test('a visitor may match the same index again (re-entrant walks)', () => {
  const index = new SubscriptionIndex<number>();
  index.add('a/+', 'k1', 1);
  index.add('a/b', 'k2', 2);
  index.add('#', 'k3', 3);
  const outer: number[] = [];
  const inner: number[] = [];
  index.match('a/b', (value) => {
    outer.push(value);
    index.match('x', (v) => inner.push(v));
  });
  assert.deepEqual(outer.sort(), [1, 2, 3]);
  assert.deepEqual(inner, [3, 3, 3]);
});
