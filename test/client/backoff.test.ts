import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reconnectDelay, resolveReconnect } from '../../src/client/backoff.js';

describe('reconnect back-off', () => {
  it('grows exponentially up to the maximum, with jitter below the nominal delay', () => {
    const options = resolveReconnect({ initialDelay: 100, maxDelay: 1000, multiplier: 2, jitter: 0.5 })!;
    for (let attempt = 0; attempt < 10; attempt++) {
      const nominal = Math.min(1000, 100 * 2 ** attempt);
      for (let i = 0; i < 50; i++) {
        const delay = reconnectDelay(options, attempt);
        assert.ok(delay <= nominal && delay >= nominal / 2, `attempt ${attempt}: ${delay}`);
      }
    }
  });

  it('has defaults, and is off with false', () => {
    assert.deepEqual(resolveReconnect(undefined), { initialDelay: 1000, maxDelay: 30_000, multiplier: 2, jitter: 0.5, maxAttempts: Infinity, resetAfter: 60_000 });
    // The back-off starts over after a connection that lasted a keepalive period, at least 10 s.
    assert.equal(resolveReconnect({}, 5)!.resetAfter, 10_000);
    assert.equal(resolveReconnect({ resetAfter: 0 }, 5)!.resetAfter, 0);
    assert.equal(resolveReconnect(false), undefined);
    assert.equal(reconnectDelay(resolveReconnect({ jitter: 0 })!, 3), 8000);
  });
});
