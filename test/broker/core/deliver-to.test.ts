// broker.deliverTo with its settle callback, and the `unsubscribed` event.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeliveryOutcome } from '../../../src/broker/outbox.js';
import { waitFor } from '../../helpers/wait.js';
import { startBroker, text } from './fixture.js';

describe('deliverTo settle callback', () => {
  it('acknowledged at PUBACK and PUBCOMP, rejected on a v5 failure code, dropped when the session ends first', async () => {
    const f = await startBroker();
    try {
      const outcomes: Array<[string, DeliveryOutcome]> = [];
      const note = (name: string) => (outcome: DeliveryOutcome) => outcomes.push([name, outcome]);
      const client = await f.connect({ protocolVersion: 5, clientId: 'target' }, false);
      assert.equal(f.broker.deliverTo('target', { topic: 'd/1', payload: 'one', qos: 1 }, note('q1')), true);
      const p1 = await client.expectPublish('d/1');
      assert.deepEqual(outcomes, []);
      client.send({ type: 'puback', packetId: p1.packetId! });
      await waitFor(() => outcomes.length === 1, 2000, 'q1 settled');

      assert.equal(f.broker.deliverTo('target', { topic: 'd/2', payload: 'two', qos: 2 }, note('q2')), true);
      const p2 = await client.expectPublish('d/2');
      client.send({ type: 'pubrec', packetId: p2.packetId! });
      assert.equal((await client.expect('pubrel')).packetId, p2.packetId);
      assert.equal(outcomes.length, 1);
      client.send({ type: 'pubcomp', packetId: p2.packetId! });
      await waitFor(() => outcomes.length === 2, 2000, 'q2 settled');

      assert.equal(f.broker.deliverTo('target', { topic: 'd/3', payload: 'three', qos: 1 }, note('refused')), true);
      const p3 = await client.expectPublish('d/3');
      client.send({ type: 'puback', packetId: p3.packetId!, reasonCode: 0x83 });
      await waitFor(() => outcomes.length === 3, 2000, 'refused settled');

      assert.equal(f.broker.deliverTo('target', { topic: 'd/0', payload: 'zero', qos: 0 }, note('q0')), true);
      assert.equal(text((await client.expectPublish('d/0')).payload), 'zero');

      assert.equal(f.broker.deliverTo('target', { topic: 'd/4', payload: 'four', qos: 1 }, note('unanswered')), true);
      await client.expectPublish('d/4');
      client.destroy(); // session expiry 0: the session ends with the message unacknowledged
      await waitFor(() => outcomes.length === 5, 2000, 'dropped at session end');
      assert.deepEqual(outcomes, [
        ['q1', 'acknowledged'],
        ['q2', 'acknowledged'],
        ['refused', 'rejected'],
        ['q0', 'acknowledged'],
        ['unanswered', 'dropped'],
      ]);
      assert.equal(f.broker.deliverTo('target', { topic: 'd/5', payload: 'five', qos: 1 }, note('nobody')), false);
      assert.equal(outcomes.length, 5);
    } finally {
      await f.close();
    }
  });

  it('a queued message of a persistent session settles after the client returns and acknowledges', async () => {
    const f = await startBroker();
    try {
      const fields = { protocolVersion: 5 as const, clientId: 'later', clean: false, properties: { sessionExpiryInterval: 60 } };
      const first = await f.connect(fields);
      first.disconnect();
      await first.closedWithin();
      const outcomes: DeliveryOutcome[] = [];
      assert.equal(f.broker.deliverTo('later', { topic: 'q/1', payload: 'x', qos: 1 }, (o) => outcomes.push(o)), true);
      const second = await f.connect({ ...fields, clean: false });
      assert.equal(text((await second.expectPublish('q/1')).payload), 'x');
      await waitFor(() => outcomes.length === 1, 2000, 'settled');
      assert.deepEqual(outcomes, ['acknowledged']);
    } finally {
      await f.close();
    }
  });
});

describe('unsubscribed event', () => {
  it('names the filters an UNSUBSCRIBE removed, not the unknown ones', async () => {
    const f = await startBroker();
    try {
      const events: Array<[string, string[]]> = [];
      f.broker.on('unsubscribed', (client, filters) => events.push([client.clientId, filters]));
      const client = await f.connect({ protocolVersion: 5, clientId: 'unsub' });
      await client.subscribe([{ topicFilter: 'a/#', qos: 0 }, { topicFilter: '$share/g/b', qos: 1 }]);
      assert.deepEqual(await client.unsubscribe(['a/#', 'never', '$share/g/b']), [0, 0x11, 0]);
      assert.deepEqual(await client.unsubscribe(['never']), [0x11]);
      assert.deepEqual(events, [['unsub', ['a/#', '$share/g/b']]]);
    } finally {
      await f.close();
    }
  });
});
