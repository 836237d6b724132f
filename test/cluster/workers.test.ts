// `culex broker --cluster ... --workers 2`: two node processes share the listener's port, and clients that land on
// different workers talk to each other.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startCulexBroker, type CulexBroker } from '../cli/culex-broker.js';
import { startNats, type NatsInstance } from '../helpers/nats.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';
import { clusterName } from './node-processes.js';

describe('culex broker --workers', () => {
  let nats: NatsInstance;
  let broker: CulexBroker | undefined;
  before(async () => {
    nats = await startNats({ cluster: 1 });
  });
  after(async () => {
    await broker?.stop();
    await nats.stop();
  });

  it('two workers share one port; clients on different workers reach each other', async () => {
    broker = await startCulexBroker(['--cluster', nats.urls[0]!, '--cluster-name', clusterName(), '--workers', '2', '-p', '0', '--sys-interval', '0'], 2);
    const [first, second] = broker.ports;
    assert.equal(first, second, 'both workers listen on one port');
    await waitFor(() => (broker!.log().match(/cluster node \S+ joined \(2 nodes/g) ?? []).length >= 1, 20_000, 'the workers see each other');
    const port = first!;
    // Connections go to the workers in turn: of four subscribers, some are on the other worker than the publisher.
    const subs: RawClient[] = [];
    for (let i = 0; i < 4; i++) {
      const { client } = await RawClient.connect(port, { protocolVersion: 5, clientId: `w-sub-${i}` });
      await client.subscribe('workers/#', 1);
      subs.push(client);
    }
    const { client: pub } = await RawClient.connect(port, { protocolVersion: 5, clientId: 'w-pub' });
    await pub.publish('workers/x', 'hello', 1);
    for (const sub of subs) assert.equal(Buffer.from((await sub.expect('publish', 10_000)).payload).toString(), 'hello');
    const nodesLogged = new Set([...broker.log().matchAll(/node=(\S+) client connected: id=w-/g)].map((m) => m[1]));
    assert.equal(nodesLogged.size, 2, `clients landed on ${nodesLogged.size} worker(s)`);
    for (const c of [...subs, pub]) c.destroy();
  });

  it('--workers without --cluster is refused with the reason', async () => {
    const refused = await startCulexBroker(['--workers', '2', '-p', '0'], 1).then(
      () => undefined,
      (err: unknown) => String(err),
    );
    assert.match(refused ?? '', /--workers needs --cluster/);
  });
});
