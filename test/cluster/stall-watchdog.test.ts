// The engine readers' watchdog (src/cluster/stall-watchdog.ts): a reader that made no progress while the engine
// holds more for it is made again; one that moves, or is held back on purpose, is left alone; away from an alert the
// engine is asked at one look in five.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { watchForStall, type Stallable } from '../../src/cluster/stall-watchdog.js';

const LOOK_MS = 2000;

/** A reader whose position, hold and engine answer the test sets; counts questions and restarts. */
function reader(): Stallable & { at: number; isHeld: boolean; more: boolean; asked: number; restarts: number } {
  const r = {
    at: 1,
    isHeld: false,
    more: true,
    asked: 0,
    restarts: 0,
    position: () => r.at,
    held: () => r.isHeld,
    behind: async (at: number) => {
      r.asked++;
      return r.more && at === r.at;
    },
    restart: () => void r.restarts++,
  };
  return r;
}

/** One look, and the answer to its question settled. */
async function look(): Promise<void> {
  mock.timers.tick(LOOK_MS);
  for (let i = 0; i < 3; i++) await Promise.resolve();
}

describe('stall watchdog', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setInterval'] }));
  afterEach(() => mock.timers.reset());

  it('remakes a reader that made no progress while the engine holds more for it', async () => {
    const r = reader();
    const stop = watchForStall(r, () => true);
    await look();
    assert.equal(r.restarts, 1);
    // Caught up: the engine holds nothing more, nothing is remade.
    r.more = false;
    await look();
    assert.equal(r.restarts, 1);
    stop();
    r.more = true;
    await look();
    assert.equal(r.restarts, 1, 'stopped');
  });

  it('leaves a reader that moves, or is held back on purpose, alone and asks nothing', async () => {
    const r = reader();
    const stop = watchForStall(r, () => true);
    for (let i = 0; i < 3; i++) {
      r.at++;
      await look();
    }
    r.isHeld = true;
    await look();
    await look();
    assert.equal(r.asked, 0);
    assert.equal(r.restarts, 0);
    stop();
  });

  it('away from an alert, asks at one look in five', async () => {
    const r = reader();
    r.more = false;
    const stop = watchForStall(r, () => false);
    for (let i = 0; i < 10; i++) await look();
    assert.equal(r.asked, 2);
    stop();
  });
});
