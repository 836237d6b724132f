import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { FlushScheduler, TurnPacer, type Flushable } from '../../src/broker/flush-scheduler.js';

/** Records when each of its flushes ran, by name. */
function recorder(log: string[], name: string, fail = false): Flushable {
  return {
    flush() {
      log.push(name);
      if (fail) throw new Error(`${name} failed`);
    },
  };
}

const turnEnd = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('flush scheduler: at the end of the tick, or once the turn of the event loop is done; each once per schedule', async () => {
  const log: string[] = [];
  const scheduler = new FlushScheduler<Flushable>(() => assert.fail('no flush fails here'));
  scheduler.schedule(recorder(log, 'tick-a'), false);
  scheduler.schedule(recorder(log, 'turn-a'), true);
  scheduler.schedule(recorder(log, 'tick-b'), false);
  scheduler.schedule(recorder(log, 'turn-b'), true);
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(log, ['tick-a', 'tick-b'], 'the tick queue runs in this tick; the turn queue waits');
  // A later I/O callback of the same turn adds to the turn queue, written with the rest.
  scheduler.schedule(recorder(log, 'turn-c'), true);
  await turnEnd();
  assert.deepEqual(log, ['tick-a', 'tick-b', 'turn-a', 'turn-b', 'turn-c']);
  await turnEnd();
  assert.equal(log.length, 5, 'nothing runs twice');
});

test('flush scheduler: soon() brings the turn queue forward to the end of this tick', async () => {
  const log: string[] = [];
  const scheduler = new FlushScheduler<Flushable>(() => assert.fail('no flush fails here'));
  scheduler.schedule(recorder(log, 'turn-a'), true);
  scheduler.schedule(recorder(log, 'tick-a'), false);
  scheduler.soon();
  // Scheduled after soon(): waits for the end of the turn again.
  scheduler.schedule(recorder(log, 'turn-b'), true);
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(log, ['tick-a', 'turn-a']);
  await turnEnd();
  assert.deepEqual(log, ['tick-a', 'turn-a', 'turn-b']);
});

test('flush scheduler: a flush that throws is reported, and the others still run', async () => {
  const log: string[] = [];
  const failures: string[] = [];
  const bad = recorder(log, 'bad', true);
  const scheduler = new FlushScheduler<Flushable>((flushable, err) => {
    assert.equal(flushable, bad);
    failures.push((err as Error).message);
  });
  scheduler.schedule(bad, false);
  scheduler.schedule(recorder(log, 'good'), false);
  scheduler.schedule(recorder(log, 'later'), true);
  await turnEnd();
  assert.deepEqual(log, ['bad', 'good', 'later']);
  assert.deepEqual(failures, ['bad failed']);
});

test('turn pacer: waits for the end of the turn in the second after one of 100 writes or more, and only then', () => {
  mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  try {
    const pacer = new TurnPacer();
    for (let i = 0; i < 99; i++) pacer.wrote();
    mock.timers.tick(1000);
    pacer.wrote();
    assert.equal(pacer.perTurn, false, '99 writes in the previous second');
    for (let i = 0; i < 99; i++) pacer.wrote();
    assert.equal(pacer.perTurn, false, 'decided once per second');
    mock.timers.tick(1000);
    pacer.wrote();
    assert.equal(pacer.perTurn, true, '100 writes in the previous second');
    mock.timers.tick(1000);
    pacer.wrote();
    assert.equal(pacer.perTurn, false, 'one write in the previous second');
    for (let i = 0; i < 200; i++) pacer.wrote();
    mock.timers.tick(5000);
    pacer.wrote();
    assert.equal(pacer.perTurn, false, 'a busy second long ago does not count');
  } finally {
    mock.timers.reset();
  }
});
