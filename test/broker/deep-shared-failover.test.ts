// A shared-subscription member is killed mid-flow holding unacknowledged QoS 1 messages: they, and everything
// published after, reach the other member.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PublishPacket } from '../../src/packet/types.js';
import { RawClient } from '../helpers/raw-client.js';
import { brokerKinds, startBroker, type BrokerUnderTest } from './target.js';

const TOTAL = 2000;
const KILL_AFTER = 1000;
const GROUP = '$share/workers/deep/shared';
const TOPIC = 'deep/shared';

for (const kind of brokerKinds()) {
  describe(`shared subscription failover against ${kind}`, () => {
    let broker: BrokerUnderTest;
    const clients: RawClient[] = [];

    before(async () => {
      broker = await startBroker(kind);
    });
    after(async () => {
      for (const c of clients) c.destroy();
      await broker?.stop();
    });

    test('the QoS 1 messages of a killed member go to the surviving member', async () => {
      const member = async (id: string, autoAck: boolean): Promise<RawClient> => {
        const { client } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: id }, { autoAck });
        clients.push(client);
        assert.deepEqual(await client.subscribe(GROUP, 1), [1]);
        return client;
      };
      const doomed = await member('deep-shared-doomed', false);
      const survivor = await member('deep-shared-survivor', true);
      const { client: publisher } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: 'deep-shared-pub' });
      clients.push(publisher);

      const send = async (from: number, to: number): Promise<void> => {
        for (let i = from; i < to; i++) await publisher.publish(TOPIC, `m${i}`, 1);
      };
      await send(0, KILL_AFTER);
      // The doomed member never acknowledges: what it holds is exactly what the broker must hand over.
      const held: PublishPacket[] = [];
      for (;;) {
        const p = await doomed.expect('publish', 300).catch(() => undefined);
        if (!p) break;
        held.push(p);
      }
      assert.ok(held.length > 0, 'the doomed member got no messages: nothing to fail over');
      doomed.destroy();
      await doomed.closedWithin();
      await send(KILL_AFTER, TOTAL);

      const seen = new Set<string>();
      const deadline = Date.now() + 20_000;
      while (seen.size < TOTAL && Date.now() < deadline) {
        const p = await survivor.expect('publish', 5000).catch(() => undefined);
        if (!p) break;
        seen.add(Buffer.from(p.payload).toString());
      }
      const lost = held.map((p) => Buffer.from(p.payload).toString()).filter((m) => !seen.has(m));
      assert.deepEqual(lost.slice(0, 10), [], `${lost.length} of the ${held.length} messages the killed member held never reached the survivor`);
      assert.equal(seen.size, TOTAL, `the survivor got ${seen.size} of ${TOTAL} distinct messages`);
    });
  });
}
