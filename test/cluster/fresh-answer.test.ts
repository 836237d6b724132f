// A changing answer shared by the callers of one burst (src/cluster/fresh-answer.ts).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { FreshAnswer } from '../../src/cluster/fresh-answer.js';

/** A question answered by hand: `answer(value)` settles the oldest one asked. */
function manual(): { asked: number; answer(value: number | Error): void; ask(): Promise<number> } {
  const open: Array<{ resolve(value: number): void; reject(err: Error): void }> = [];
  const q = {
    asked: 0,
    ask: () =>
      new Promise<number>((resolve, reject) => {
        q.asked++;
        open.push({ resolve, reject });
      }),
    answer(value: number | Error) {
      const first = open.shift()!;
      if (value instanceof Error) first.reject(value);
      else first.resolve(value);
    },
  };
  return q;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

it('callers during a question share the next one, asked after it; a burst asks twice', async () => {
  const q = manual();
  const answer = new FreshAnswer(() => q.ask());
  const first = answer.get();
  const burst = Array.from({ length: 100 }, () => answer.get());
  assert.equal(q.asked, 1);
  q.answer(1);
  assert.equal(await first, 1);
  await turn();
  // The burst came while the first was asked: its answer must come from a question asked after it.
  assert.equal(q.asked, 2);
  q.answer(2);
  assert.deepEqual(new Set(await Promise.all(burst)), new Set([2]));
  // Nothing in flight: the next caller asks at once.
  const later = answer.get();
  assert.equal(q.asked, 3);
  q.answer(3);
  assert.equal(await later, 3);
});

it('a failed question fails its own callers only; the ones waiting behind it are asked for', async () => {
  const q = manual();
  const answer = new FreshAnswer(() => q.ask());
  const first = answer.get();
  const second = answer.get();
  q.answer(new Error('unreachable'));
  await assert.rejects(first, /unreachable/);
  await turn();
  q.answer(7);
  assert.equal(await second, 7);
});
