// Promises waiting for a growing number to reach a level (src/cluster/level-waiters.ts).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { LevelWaiters } from '../../src/cluster/level-waiters.js';

it('a waiter resolves once its level is reached, not before; one at or below the reached level at once', async () => {
  const waiters = new LevelWaiters();
  const done: number[] = [];
  void waiters.until(3).then(() => done.push(3));
  void waiters.until(5).then(() => done.push(5));
  waiters.reach(2);
  await Promise.resolve();
  assert.deepEqual(done, []);
  waiters.reach(4);
  await Promise.resolve();
  assert.deepEqual(done, [3]);
  assert.equal(waiters.size, 1);
  await waiters.until(4);
  waiters.releaseAll();
  await Promise.resolve();
  assert.deepEqual(done, [3, 5]);
  assert.equal(waiters.size, 0);
});

it('a bounded waiter stops waiting after its bound', async () => {
  const waiters = new LevelWaiters();
  // The bound's timer does not keep a process alive: this one does, meanwhile.
  const keepAlive = setTimeout(() => undefined, 5000);
  await waiters.until(10, 20);
  clearTimeout(keepAlive);
  assert.equal(waiters.size, 0);
});
