// What a bridge shows of itself: the Mosquitto-compatible state message (1/0, retained) on both brokers as the
// remote comes and goes, its `$SYS` figures, the queue bound and its stated drop policy, and the programmatic
// control the admin API uses (pause, resume, change, remove).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connect } from '../../src/client/index.js';
import { BridgeError } from '../../src/bridge/index.js';
import { waitFor } from '../helpers/wait.js';
import { collector, startEdge, whenConnected, type Edge } from './fixture.js';
import { restartableMosquitto, type RestartableMosquitto } from './mosquitto-process.js';

const peers: Array<{ stop(): Promise<unknown> }> = [];
after(async () => {
  for (const peer of peers.reverse()) await peer.stop();
});

async function remote(): Promise<RestartableMosquitto> {
  const mosquitto = await restartableMosquitto();
  peers.push(mosquitto);
  await mosquitto.start();
  return mosquitto;
}

async function edge(...args: Parameters<typeof startEdge>): Promise<Edge> {
  const started = await startEdge(...args);
  peers.push({ stop: () => started.close() });
  return started;
}

const STATE = '$SYS/broker/connection/cloud-edge/state';

describe('bridge state', () => {
  it('publishes 1 and 0 as the remote comes and goes, retained, here and on the remote', async () => {
    const mosquitto = await remote();
    const local = await edge([{ name: 'cloud', remoteClientId: 'cloud-edge', addresses: [`127.0.0.1:${mosquitto.port}`], topics: [{ pattern: 'x/#' }], restartTimeout: 0.2 }]);
    const here = await collector(local.url, [STATE]);
    try {
      await whenConnected(local, 'cloud');
      await waitFor(() => here.received.at(-1)?.payload === '1', 5000, 'state 1 here');
      await mosquitto.stop();
      await waitFor(() => here.received.at(-1)?.payload === '0', 5000, 'state 0 here once the remote is gone');
      assert.match(local.bridges.status('cloud').lastError!, /closed the connection|refused/);
      assert.ok(local.logger.lines.some((l) => /^warn bridge cloud: connection to 127\.0\.0\.1:\d+ lost/.test(l)), 'a log line with the cause');
      await mosquitto.start();
      await waitFor(() => here.received.at(-1)?.payload === '1', 5000, 'state 1 again');
      // On the remote: 1 while connected; 0 when the bridge leaves (said by the bridge itself on a clean leave).
      const there = await collector(`mqtt://127.0.0.1:${mosquitto.port}`, [STATE], { protocolVersion: 4 });
      await waitFor(() => there.received.at(-1)?.payload === '1', 5000, 'state 1 on the remote');
      assert.equal(there.received.at(-1)!.retain, true);
      await local.bridges.pause('cloud');
      await waitFor(() => there.received.at(-1)?.payload === '0', 5000, 'state 0 on the remote');
      await there.client.end();
    } finally {
      await here.client.end();
    }
  });

  it('the queue is bounded: past its count newer messages are dropped and counted, publishers are not held back', async () => {
    const mosquitto = await remote();
    const local = await edge([{
      name: 'cloud', addresses: [`127.0.0.1:${mosquitto.port}`], topics: [{ pattern: 'q/#', qos: 1 }], restartTimeout: 0.2, queue: { maxMessages: 5 },
    }], { sysInterval: 1 });
    await whenConnected(local, 'cloud');
    await local.bridges.pause('cloud');
    assert.equal(local.bridges.status('cloud').state, 'paused');
    const publisher = await connect(local.url, { reconnect: false });
    const sys = await collector(local.url, ['$SYS/broker/bridges/cloud/#'], { qos: 0 });
    const there = await collector(`mqtt://127.0.0.1:${mosquitto.port}`, ['q/#'], { protocolVersion: 4 });
    try {
      // Every publish is acknowledged (stored, or dropped by the stated policy): none waits for the remote.
      for (let i = 0; i < 8; i++) await publisher.publish('q/x', String(i), { qos: 1 });
      const status = local.bridges.status('cloud');
      assert.equal(status.queued, 5);
      assert.equal(status.dropped.queueFull, 3);
      const figure = (name: string) => sys.received.filter((m) => m.topic === `$SYS/broker/bridges/cloud/${name}`).at(-1)?.payload;
      await waitFor(() => figure('queued') === '5' && figure('dropped/queueFull') === '3', 5000, 'the $SYS figures');
      assert.equal(figure('state'), 'paused');
      local.bridges.resume('cloud');
      await waitFor(() => there.received.length === 5, 10_000, 'the queued messages on the remote');
      assert.deepEqual(there.received.map((m) => m.payload), ['0', '1', '2', '3', '4'], 'the oldest kept, in order');
      await waitFor(() => figure('state') === 'connected' && figure('queued') === '0', 5000, 'the $SYS figures after the return');
    } finally {
      await publisher.end();
      await sys.client.end();
      await there.client.end();
    }
  });

  for (const away of ['paused', 'down'] as const) {
    it(`retained messages and deletions made while the remote is away (${away}, at QoS 0) reach it on return`, async () => {
      const mosquitto = await remote();
      const local = await edge([{ name: 'cloud', addresses: [`127.0.0.1:${mosquitto.port}`], topics: [{ pattern: 'r/#', qos: 1 }], restartTimeout: 0.2 }]);
      await whenConnected(local, 'cloud');
      const publisher = await connect(local.url, { reconnect: false });
      try {
        await publisher.publish('r/old', 'stale', { qos: 0, retain: true });
        const seen = await collector(`mqtt://127.0.0.1:${mosquitto.port}`, ['r/#'], { protocolVersion: 4 });
        await waitFor(() => seen.received.length === 1, 5000, 'the first retained message on the remote');
        await seen.client.end();
        if (away === 'paused') await local.bridges.pause('cloud');
        else {
          await mosquitto.stop();
          await waitFor(() => local.bridges.status('cloud').state !== 'connected', 5000, 'the bridge to notice');
        }
        await publisher.publish('r/old', '', { qos: 0, retain: true });
        await publisher.publish('r/new', 'fresh', { qos: 0, retain: true });
        // QoS 0 resolves once sent: a QoS 1 round trip on the same connection makes sure the broker took both.
        await publisher.publish('sync', '', { qos: 1 });
        assert.equal(local.bridges.status('cloud').queued, 2, 'both queued for the remote, at QoS 1');
        if (away === 'paused') local.bridges.resume('cloud');
        else await mosquitto.start();
        await whenConnected(local, 'cloud');
        await waitFor(() => local.bridges.status('cloud').queued === 0 && local.bridges.status('cloud').inflight === 0, 5000, 'the queue sent');
        const after = await collector(`mqtt://127.0.0.1:${mosquitto.port}`, ['r/#'], { protocolVersion: 4 });
        await waitFor(() => after.received.length >= 1, 5000, 'the retained state of the remote');
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(after.received.map((m) => [m.topic, m.payload, m.retain]), [['r/new', 'fresh', true]], 'the deletion and the new message both arrived');
        await after.client.end();
      } finally {
        await publisher.end();
      }
    });
  }

  it('change and remove: a changed bridge keeps what was queued; a removed one ends its session; mistakes are named', async () => {
    const mosquitto = await remote();
    const local = await edge([{ name: 'cloud', remoteClientId: 'cloud-edge', addresses: [`127.0.0.1:${mosquitto.port}`], topics: [{ pattern: 'c/#', qos: 1 }], restartTimeout: 0.2 }]);
    await whenConnected(local, 'cloud');
    await local.bridges.pause('cloud');
    const publisher = await connect(local.url, { reconnect: false });
    const there = await collector(`mqtt://127.0.0.1:${mosquitto.port}`, ['renamed/#'], { protocolVersion: 4 });
    try {
      await publisher.publish('c/1', 'kept', { qos: 1 });
      // Changed while paused: it stays paused, with the message still queued, and takes the new topic rule.
      const changed = await local.bridges.change({ name: 'cloud', remoteClientId: 'cloud-edge', addresses: [`127.0.0.1:${mosquitto.port}`], topics: [{ pattern: 'c/#', qos: 1, remotePrefix: 'renamed/' }], restartTimeout: 0.2 });
      assert.equal(changed.state, 'paused');
      assert.equal(changed.queued, 1);
      local.bridges.resume('cloud');
      await waitFor(() => there.received.length === 1, 10_000, 'the queued message under its new name');
      assert.equal(there.received[0]!.topic, 'renamed/c/1');
      assert.notEqual(local.broker.sessionInfo('local.cloud-edge'), undefined, 'the session was there');
      await local.bridges.remove('cloud');
      assert.equal(local.broker.sessionInfo('local.cloud-edge'), undefined, 'and is gone');
      assert.deepEqual(local.bridges.status(), []);
      assert.throws(() => local.bridges.status('cloud'), (e: unknown) => e instanceof BridgeError && e.kind === 'unknown');
      assert.throws(() => local.bridges.add({ name: 'bad name', addresses: [], topics: [] }), (e: unknown) => e instanceof BridgeError && e.kind === 'invalid' && e.problems.length === 3);
    } finally {
      await publisher.end();
      await there.client.end();
    }
  });
});
