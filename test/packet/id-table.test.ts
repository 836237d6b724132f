import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdTable } from '../../src/packet/index.js';

describe('IdTable', () => {
  it('agrees with a Map over 200,000 random sets, deletes and lookups, growing and emptying', () => {
    const table = new IdTable<string>();
    const map = new Map<number, string>();
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let step = 0; step < 200_000; step++) {
      // Phases of few and of many entries, so the table grows, shrinks back and wraps its probes around.
      const span = Math.floor(step / 20_000) % 2 === 0 ? 64 : 4096;
      const id = 1 + random(span);
      const action = random(10);
      if (action < 4) {
        table.set(id, `v${step}`);
        map.set(id, `v${step}`);
      } else if (action < 8) assert.equal(table.delete(id), map.delete(id));
      else assert.equal(table.get(id), map.get(id));
      if (step % 997 === 0) {
        assert.equal(table.size, map.size);
        assert.deepEqual(table.values().sort(), [...map.values()].sort());
        assert.deepEqual(table.keys().sort((a, b) => a - b), [...map.keys()].sort((a, b) => a - b));
        for (const [key, value] of map) assert.equal(table.get(key), value);
      }
      if (step % 50_000 === 49_999) {
        for (const key of [...map.keys()]) table.delete(key);
        map.clear();
        assert.equal(table.size, 0);
      }
    }
  });

  it('takes ids past 2^32 (a client\'s message ids only grow)', () => {
    const table = new IdTable<string>();
    const big = 2 ** 32 + 8;
    table.set(big, 'big');
    table.set(8, 'small');
    table.set(2 ** 40, 'bigger');
    assert.equal(table.get(big), 'big');
    assert.equal(table.get(8), 'small');
    assert.equal(table.get(2 ** 40), 'bigger');
    table.delete(big);
    assert.equal(table.get(8), 'small');
    assert.equal(table.get(big), undefined);
  });

  it('handles the highest packet id and ids that share a home slot', () => {
    const table = new IdTable<number>();
    for (const id of [8, 16, 24, 65535, 1]) table.set(id, id);
    assert.equal(table.get(65535), 65535);
    table.delete(8);
    assert.equal(table.get(16), 16);
    assert.equal(table.get(24), 24);
    assert.equal(table.has(8), false);
    table.clear();
    assert.equal(table.size, 0);
    assert.equal(table.get(16), undefined);
  });
});
