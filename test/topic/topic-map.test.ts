import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { TopicMap, matches } from '../../src/topic/index.js';

const SEED = 0x70b1c;

const topicName = fc
  .array(fc.constantFrom('a', 'b', 'c', '', '$s'), { minLength: 1, maxLength: 5 })
  .map((levels) => levels.join('/'))
  .filter((topic) => topic.length > 0);
const topicFilter = fc
  .tuple(fc.array(fc.constantFrom('a', 'b', '', '+', '$s'), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
  .filter((filter) => filter.length > 0)
  .chain((filter) => fc.constantFrom(filter, '#', '+', '+/#'));

type Op = { kind: 'set'; topic: string; value: number } | { kind: 'delete'; topic: string };
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), topic: topicName, value: fc.nat(1000) }),
  fc.record({ kind: fc.constant('delete' as const), topic: topicName }),
);

function found(map: TopicMap<number>, filter: string): string[] {
  const out: string[] = [];
  map.match(filter, (value, topic) => out.push(`${topic} ${value}`));
  return out.sort();
}

function expected(model: Map<string, number>, filter: string): string[] {
  return [...model].filter(([topic]) => matches(filter, topic)).map(([topic, value]) => `${topic} ${value}`).sort();
}

function nodeCount(map: TopicMap<number>): number {
  type N = { children?: Map<string, N> };
  const count = (n: N): number => 1 + [...(n.children?.values() ?? [])].reduce((sum, c) => sum + count(c), 0);
  return count(Reflect.get(map, 'root') as N);
}

test('set, delete and match agree with a plain map filtered by matches()', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), fc.array(topicFilter, { minLength: 1, maxLength: 10 }), (ops, filters) => {
      const map = new TopicMap<number>();
      const model = new Map<string, number>();
      for (const o of ops) {
        if (o.kind === 'set') {
          assert.equal(map.set(o.topic, o.value), !model.has(o.topic));
          model.set(o.topic, o.value);
        } else {
          assert.equal(map.delete(o.topic), model.delete(o.topic));
        }
        assert.equal(map.size, model.size);
        assert.equal(map.get(o.topic), model.get(o.topic));
      }
      for (const filter of filters) assert.deepEqual(found(map, filter), expected(model, filter), filter);
      const all: string[] = [];
      map.forEach((value, topic) => all.push(`${topic} ${value}`));
      assert.deepEqual(all.sort(), [...model].map(([t, v]) => `${t} ${v}`).sort());
      for (const topic of [...model.keys()]) assert.equal(map.delete(topic), true);
      assert.equal(map.size, 0);
      assert.equal(nodeCount(map), 1);
    }),
    { seed: SEED, numRuns: 1500 },
  );
});

test('retained-style lookups: # includes the parent level, $ topics need a literal first level', () => {
  const map = new TopicMap<string>();
  for (const t of ['sport', 'sport/tennis', 'sport/tennis/player1', '$SYS/uptime', 'sports']) map.set(t, t);
  const of = (filter: string) => {
    const out: string[] = [];
    map.match(filter, (v) => out.push(v));
    return out.sort();
  };
  assert.deepEqual(of('sport/#'), ['sport', 'sport/tennis', 'sport/tennis/player1']);
  assert.deepEqual(of('#'), ['sport', 'sport/tennis', 'sport/tennis/player1', 'sports']);
  assert.deepEqual(of('+'), ['sport', 'sports']);
  assert.deepEqual(of('$SYS/#'), ['$SYS/uptime']);
  assert.deepEqual(of('+/uptime'), []);
  assert.deepEqual(of('sport/+'), ['sport/tennis']);
});

test('set refuses invalid topic names', () => {
  const map = new TopicMap<number>();
  assert.throws(() => map.set('a/+', 1), RangeError);
  assert.throws(() => map.set('', 1), RangeError);
  assert.equal(map.size, 0);
  map.set('a', 1);
  map.clear();
  assert.equal(map.size, 0);
  assert.equal(map.get('a'), undefined);
});

test('walks topics and filters of 30,000 levels without running out of stack', () => {
  const levels = 30_000;
  const deep = Array.from({ length: levels }, () => 'a').join('/');
  const map = new TopicMap<string>();
  map.set(deep, 'deep');
  map.set('a', 'shallow');
  const found = (filter: string): string[] => {
    const out: string[] = [];
    map.match(filter, (value) => out.push(value));
    return out.sort();
  };
  assert.deepEqual(found('#'), ['deep', 'shallow']);
  assert.deepEqual(found(Array.from({ length: levels }, () => '+').join('/')), ['deep']);
  assert.deepEqual(found(`${deep}/#`), ['deep']);
  const all: string[] = [];
  map.forEach((value) => all.push(value));
  assert.deepEqual(all.sort(), ['deep', 'shallow']);
  assert.equal(map.delete(deep), true);
  assert.deepEqual(found('#'), ['shallow']);
});
