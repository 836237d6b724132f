/**
 * Alarms (connections near the limit, store failing, memory, stuck subscribers) raised and cleared on
 * `$SYS/broker/alarms/{name}`, in the API and in /metrics; presence events on `$SYS/broker/clients/...`, off by
 * default; `culex broker --presence`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { PublishPacket } from '../../src/packet/types.js';
import { Presence } from '../../src/ops/index.js';
import { FailingStore } from '../helpers/failing-store.js';
import { RawClient } from '../helpers/raw-client.js';
import { startCulexBroker } from '../cli/culex-broker.js';
import { culex } from '../cli/run.js';
import { sample } from './exposition.js';
import { startOps, type OpsFixture } from './ops-fixture.js';

interface AlarmJson {
  node?: string;
  name: string;
  active: boolean;
  raisedAt: string;
  clearedAt: string | null;
  message: string;
  details: Record<string, unknown>;
}

const json = <T>(packet: PublishPacket): T => JSON.parse(Buffer.from(packet.payload).toString('utf8')) as T;

/** Waits for the next PUBLISH on `topic` whose JSON payload satisfies `match`. */
async function alarmMessage(client: RawClient, topic: string, match: (alarm: AlarmJson) => boolean): Promise<AlarmJson> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const packet = await client.expectPublish(topic, Math.max(1, deadline - Date.now()));
    const alarm = json<AlarmJson>(packet);
    if (match(alarm)) return alarm;
  }
}

describe('alarms', () => {
  const fixtures: OpsFixture[] = [];
  const clients: RawClient[] = [];
  const connect = async (...args: Parameters<typeof RawClient.connect>): Promise<RawClient> => {
    const { client } = await RawClient.connect(...args);
    clients.push(client);
    return client;
  };
  after(async () => {
    for (const client of clients) client.destroy();
    for (const f of fixtures) await f.close();
  });

  it('raises connections near the limit and clears it below 90% of the threshold: $SYS, API, metrics', async () => {
    const f = await startOps({ limits: { maxConnections: 4 } }, { alarms: { intervalSeconds: 1, connectionsRatio: 0.5 } });
    fixtures.push(f);
    const watcher = await connect(f.broker.port, { protocolVersion: 5, clientId: 'alarm-watch' });
    await watcher.subscribe('$SYS/broker/alarms/#', 0);
    const second = await connect(f.broker.port, { protocolVersion: 4, clientId: 'alarm-2' });
    const raised = await alarmMessage(watcher, '$SYS/broker/alarms/connections', (a) => a.active);
    assert.equal(raised.name, 'connections');
    assert.match(raised.message, /2 clients connected of at most 4 \(alarm at 2\)/);
    assert.deepEqual(raised.details, { connected: 2, maxConnections: 4 });
    const api = await f.request<{ items: AlarmJson[]; history: AlarmJson[] }>('GET', '/api/v1/alarms');
    assert.deepEqual(api.json.items.map((a) => [a.node, a.name, a.active]), [['node-a', 'connections', true]]);
    const metrics = await f.request('GET', '/metrics');
    assert.equal(sample(metrics.text, 'culex_alarm_active', { alarm: 'connections' }), 1);
    assert.equal(sample(metrics.text, 'culex_alarm_active', { alarm: 'store' }), 0);
    // A late subscriber sees the state: the message is retained.
    const late = await connect(f.broker.port, { protocolVersion: 4, clientId: 'alarm-late' });
    await late.subscribe('$SYS/broker/alarms/connections', 0);
    assert.equal(json<AlarmJson>(await late.expectPublish('$SYS/broker/alarms/connections')).active, true);
    late.destroy();
    second.destroy();
    const cleared = await alarmMessage(watcher, '$SYS/broker/alarms/connections', (a) => !a.active);
    assert.ok(cleared.clearedAt !== null);
    const after = await f.request<{ items: AlarmJson[]; history: AlarmJson[] }>('GET', '/api/v1/alarms');
    assert.deepEqual(after.json.items, []);
    assert.deepEqual(after.json.history.map((a) => [a.name, a.active]), [['connections', false]]);
  });

  it('raises store while writes fail and clears it when they succeed again', async () => {
    const store = new FailingStore();
    const f = await startOps({ store }, { alarms: { intervalSeconds: 1 } });
    fixtures.push(f);
    const watcher = await connect(f.broker.port, { protocolVersion: 5, clientId: 'store-watch' });
    await watcher.subscribe('$SYS/broker/alarms/store', 0);
    const sub = await connect(f.broker.port, { protocolVersion: 5, clientId: 'store-sub', clean: false, properties: { sessionExpiryInterval: 60 } });
    await sub.subscribe('s/#', 1);
    store.failing = true;
    const pub = await connect(f.broker.port, { protocolVersion: 5, clientId: 'store-pub' });
    pub.send({ type: 'publish', topic: 's/1', payload: new Uint8Array([1]), qos: 1, retain: false, dup: false, packetId: 1 });
    const raised = await alarmMessage(watcher, '$SYS/broker/alarms/store', (a) => a.active);
    assert.match(raised.message, /store writes fail/);
    store.failing = false;
    await alarmMessage(watcher, '$SYS/broker/alarms/store', (a) => !a.active);
  });

  it('takes the default for a threshold given as undefined, and raises nothing on an idle broker', async () => {
    const f = await startOps({ limits: { maxConnections: 100 } }, {
      alarms: { intervalSeconds: undefined, memoryRatio: undefined, connectionsRatio: undefined, stuckSubscribers: undefined },
    });
    fixtures.push(f);
    const api = await f.request<{ items: AlarmJson[]; history: AlarmJson[] }>('GET', '/api/v1/alarms');
    assert.deepEqual(api.json, { items: [], history: [] });
  });

  it('raises memory above its threshold', async () => {
    const f = await startOps({}, { alarms: { intervalSeconds: 60, memoryRatio: 0.0001 } });
    fixtures.push(f);
    const api = await f.request<{ items: AlarmJson[] }>('GET', '/api/v1/alarms');
    const memory = api.json.items.find((a) => a.name === 'memory');
    assert.ok(memory);
    assert.match(memory.message, /^heap \d+\.\d% of its limit \(alarm at 0\.0%\)$/);
    assert.ok(Number(memory.details['heapUsedBytes']) > 0);
  });

  it('raises stuck-subscribers for a subscriber whose queue is full while it takes nothing', async () => {
    const f = await startOps({ limits: { maxQueuedMessages: 5, maxInflight: 1 } }, { alarms: { intervalSeconds: 1 } });
    fixtures.push(f);
    const watcher = await connect(f.broker.port, { protocolVersion: 5, clientId: 'stuck-watch' });
    await watcher.subscribe('$SYS/broker/alarms/stuck-subscribers', 0);
    const frozen = await connect(f.broker.port, { protocolVersion: 4, clientId: 'frozen' }, { autoAck: false });
    await frozen.subscribe('stuck/#', 1);
    const pub = await connect(f.broker.port, { protocolVersion: 4, clientId: 'stuck-pub' });
    // One in flight, five queued, the seventh holds the publisher; 2 s without progress make the subscriber stuck.
    for (let i = 1; i <= 7; i++) pub.send({ type: 'publish', topic: 'stuck/x', payload: new Uint8Array([i]), qos: 1, retain: false, dup: false, packetId: i });
    const raised = await alarmMessage(watcher, '$SYS/broker/alarms/stuck-subscribers', (a) => a.active);
    assert.deepEqual(raised.details, { count: 1, clientIds: ['frozen'] });
    assert.equal(f.broker.client('frozen')?.stuck, true);
    frozen.destroy();
    await alarmMessage(watcher, '$SYS/broker/alarms/stuck-subscribers', (a) => !a.active);
  });
});

describe('presence', () => {
  it('publishes connect and disconnect events with v5 user properties, client ids escaped as one level', async () => {
    const f = await startOps();
    const clients: RawClient[] = [];
    try {
      const watcher = (await RawClient.connect(f.broker.port, { protocolVersion: 5, clientId: 'presence-watch' })).client;
      clients.push(watcher);
      await watcher.subscribe('$SYS/broker/clients/#', 0);
      const quiet = (await RawClient.connect(f.broker.port, { protocolVersion: 4, clientId: 'before' })).client;
      clients.push(quiet);
      assert.deepEqual((await watcher.drain(200)).filter((p) => p.type === 'publish' && /clients\/before/.test(p.topic)), [], 'off by default');
      const presence = new Presence(f.broker);
      presence.start();
      const odd = (await RawClient.connect(f.broker.port, { protocolVersion: 4, clientId: 'dev/1+#%', username: 'erin' })).client;
      clients.push(odd);
      const connected = await watcher.expectPublish('$SYS/broker/clients/dev%2F1%2B%23%25/connected');
      const body = json<Record<string, unknown>>(connected);
      assert.equal(body['clientId'], 'dev/1+#%');
      assert.equal(body['username'], 'erin');
      assert.equal(body['address'], '127.0.0.1');
      assert.equal(body['protocol'], '3.1.1');
      assert.equal(connected.retain, false);
      assert.deepEqual(connected.properties?.userProperties, [['event', 'connected'], ['clientId', 'dev/1+#%']]);
      assert.equal(connected.properties?.contentType, 'application/json');
      odd.destroy();
      const disconnected = await watcher.expectPublish('$SYS/broker/clients/dev%2F1%2B%23%25/disconnected');
      assert.equal(json<Record<string, unknown>>(disconnected)['reason'], 'connection closed');
      assert.deepEqual(disconnected.properties?.userProperties?.[2], ['reason', 'connection closed']);
      presence.stop();
    } finally {
      for (const client of clients) client.destroy();
      await f.close();
    }
  });

  it('is turned on by culex broker --presence', async () => {
    const broker = await startCulexBroker(['--port', '0', '--memory', '--presence'], 1);
    const clients: RawClient[] = [];
    try {
      const watcher = (await RawClient.connect(broker.ports[0]!, { protocolVersion: 4, clientId: 'w' })).client;
      clients.push(watcher);
      await watcher.subscribe('$SYS/broker/clients/+/connected', 0);
      clients.push((await RawClient.connect(broker.ports[0]!, { protocolVersion: 4, clientId: 'someone' })).client);
      await watcher.expectPublish('$SYS/broker/clients/someone/connected');
      assert.doesNotMatch(broker.log(), /alarm/, 'no alarm on an idle broker with the default thresholds');
    } finally {
      for (const client of clients) client.destroy();
      await broker.stop();
    }
  });

  it('is turned on by the configuration file, with the alarm thresholds beside it (checked)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'culex-ops-'));
    const config = join(dir, 'culex.json');
    const clients: RawClient[] = [];
    try {
      writeFileSync(config, JSON.stringify({ alarms: { memoryPercent: 0 } }));
      const bad = await culex(['broker', '--memory', '-c', config]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /memoryPercent/);
      writeFileSync(config, JSON.stringify({
        listeners: [{ port: 0 }],
        limits: { maxConnections: 4 },
        alarms: { intervalSeconds: 1, connectionsPercent: 50 },
        presence: true,
      }));
      const broker = await startCulexBroker(['--memory', '-c', config], 1);
      try {
        const watcher = (await RawClient.connect(broker.ports[0]!, { protocolVersion: 4, clientId: 'w' })).client;
        clients.push(watcher);
        await watcher.subscribe('$SYS/broker/clients/+/connected', 0);
        clients.push((await RawClient.connect(broker.ports[0]!, { protocolVersion: 4, clientId: 'someone' })).client);
        await watcher.expectPublish('$SYS/broker/clients/someone/connected');
        // Two of four connected: at 50% the alarm is raised.
        await watcher.subscribe('$SYS/broker/alarms/connections', 0);
        const raised = await alarmMessage(watcher, '$SYS/broker/alarms/connections', (a) => a.active);
        assert.deepEqual(raised.details, { connected: 2, maxConnections: 4 });
      } finally {
        await broker.stop();
      }
    } finally {
      for (const client of clients) client.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
