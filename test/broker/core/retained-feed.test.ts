import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from '../../../src/client/index.js';
import { startBroker } from './fixture.js';

describe('retained messages for a new subscription', () => {
  it('delivers all of many at QoS 1, in slices through the window, with a newer message after them', async () => {
    const fixture = await startBroker();
    const count = 6000;
    for (let i = 0; i < count; i++) fixture.broker.publish({ topic: `feed/${i}`, payload: String(i), qos: 1, retain: true });
    const client = await connect(`mqtt://127.0.0.1:${fixture.port}`, { clientId: 'feed-sub', protocolVersion: 5 });
    try {
      const topics: string[] = [];
      const done = new Promise<void>((resolve) => {
        client.on('message', (topic) => {
          topics.push(topic);
          if (topics.length === count + 1) resolve();
        });
      });
      await client.subscribe('feed/#', { qos: 1 });
      // Published after the SUBSCRIBE, while the retained messages are still being sent (window 100, queue 1,000).
      fixture.broker.publish({ topic: 'feed/0', payload: 'newer', qos: 1, retain: true });
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${topics.length} of ${count + 1} messages within 15 s`)), 15_000);
      });
      await Promise.race([done, late]).finally(() => clearTimeout(timer));
      assert.equal(new Set(topics.slice(0, count)).size, count, 'every retained message once');
      assert.equal(topics[count], 'feed/0', 'the newer message last');
      assert.equal(fixture.broker.stats.publishDropped, 0);
    } finally {
      await client.end();
      await fixture.close();
    }
  });
});
