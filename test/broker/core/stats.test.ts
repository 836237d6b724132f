import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BrokerStats } from '../../../src/broker/stats.js';

describe('BrokerStats delivery-latency stamps', () => {
  it('stamps one message in 16 with a small non-zero integer while meters are set, and times it on departure', () => {
    const stats = new BrokerStats();
    assert.equal(stats.arrival(), 0, 'no meters: nothing stamped');
    const delays: number[] = [];
    stats.meters = { storeBatch() {}, delivered: (seconds) => void delays.push(seconds) };
    const stamps = Array.from({ length: 32 }, () => stats.arrival()).filter((stamp) => stamp !== 0);
    assert.equal(stamps.length, 2);
    for (const stamp of stamps) {
      assert.ok(Number.isInteger(stamp) && stamp > 0 && stamp < 2 ** 30, `stamp ${stamp} fits a small integer`);
    }
    const until = performance.now() + 5;
    while (performance.now() < until);
    stats.departed(stamps[0]!);
    assert.equal(delays.length, 1);
    assert.ok(delays[0]! >= 0.004 && delays[0]! < 1, `delay ${delays[0]} s`);
  });
});
