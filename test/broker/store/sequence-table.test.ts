import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SequenceTable } from '../../../src/broker/store/sequence-table.js';

/** The table and a Map given the same operations must hold the same entries. */
function same(table: SequenceTable<number>, model: Map<number, number>, step: string): void {
  assert.equal(table.size, model.size, `size after ${step}`);
  assert.deepEqual([...table.keys()].sort((a, b) => a - b), [...model.keys()].sort((a, b) => a - b), `keys after ${step}`);
  assert.deepEqual([...table.values()].sort((a, b) => a - b), [...model.values()].sort((a, b) => a - b), `values after ${step}`);
}

/** A small deterministic generator (the same operations on every run). */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('SequenceTable', () => {
  it('holds keys that grow and leave in order, as deliveries acknowledged in turn', () => {
    const table = new SequenceTable<number>();
    const model = new Map<number, number>();
    let next = 0;
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 100; i++, next++) {
        table.set(next, next * 2);
        model.set(next, next * 2);
      }
      for (let key = next - 100; key < next - 50; key++) {
        assert.equal(table.delete(key), model.delete(key));
      }
    }
    same(table, model, 'the rounds');
    assert.equal(table.get(next - 1), (next - 1) * 2);
    assert.equal(table.get(next - 10_000), undefined, 'a deleted key');
    assert.equal(table.delete(next - 10_000), false);
  });

  it('agrees with a Map over random operations: out of order, far apart, below the lowest key, updates', () => {
    for (const seed of [1, 7, 42, 1234]) {
      const next = random(seed);
      const table = new SequenceTable<number>();
      const model = new Map<number, number>();
      let top = 1000;
      for (let step = 0; step < 20_000; step++) {
        const r = next();
        let key: number;
        if (r < 0.45) key = top++;
        else if (r < 0.55) key = top + Math.floor(next() * 100_000);
        else if (r < 0.6) key = Math.floor(next() * 1000) - 500;
        else key = top - 1 - Math.floor(next() * 300);
        const action = next();
        if (action < 0.55) {
          table.set(key, step);
          model.set(key, step);
        } else {
          assert.equal(table.delete(key), model.delete(key), `delete ${key} at step ${step} (seed ${seed})`);
        }
        assert.equal(table.get(key), model.get(key), `get ${key} at step ${step} (seed ${seed})`);
        if (step % 997 === 0) same(table, model, `step ${step} (seed ${seed})`);
      }
      same(table, model, `the end (seed ${seed})`);
    }
  });

  it('finds nothing for keys between or beside the ones held, and none for a fraction', () => {
    const table = new SequenceTable<string>();
    table.set(10, 'a');
    table.set(12, 'c');
    assert.equal(table.get(11), undefined);
    assert.equal(table.get(10.5), undefined);
    assert.equal(table.delete(10.5), false);
    assert.equal(table.get(12), 'c');
    assert.equal(table.delete(10), true);
    assert.deepEqual([...table.keys()], [12]);
    table.set(5, 'below');
    assert.deepEqual([...table.keys()].sort((a, b) => a - b), [5, 12]);
    assert.equal(table.get(5), 'below');
    assert.equal(table.size, 2);
  });
});
