// Durable hub state in a data directory: registry, twins (with rising versions), cloud-to-device queues and the
// event log survive a restart.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { waitFor } from '../helpers/wait.js';
import { connectDevice } from './device-client.js';
import { primaryKey, startHub } from './hub-fixture.js';

const dataDir = mkdtempSync(join(tmpdir(), 'culex-hub-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

test('twins, queues, registry and events survive a restart', async () => {
  const policies = (await import('../../src/iothub/index.js')).defaultPolicies();
  const first = await startHub({ dataDir, policies });
  let key: string;
  try {
    key = primaryKey((await first.api('PUT', '/devices/keeper', {})).body);
    const device = await connectDevice(first, 'keeper', key);
    await device.client.subscribeAsync('$iothub/twin/res/#');
    device.client.publish('$iothub/twin/PATCH/properties/reported/?$rid=1', '{"boots":1}');
    await waitFor(() => device.received.length === 1, 5000, 'reported answer');
    assert.equal(device.received[0]!.topic, '$iothub/twin/res/204/?$rid=1&$version=2');
    await device.client.publishAsync('devices/keeper/messages/events/%24.mid=before', 'old', { qos: 1 });
    await first.api('PATCH', '/twins/keeper', { properties: { desired: { mode: 'eco' } } });
    await device.client.endAsync();
    await waitFor(() => !first.hub.isConnected('keeper'), 5000, 'offline');
    for (const n of [1, 2]) {
      assert.equal((await first.api('POST', '/devices/keeper/messages/devicebound', { body: `while offline ${n}`, messageId: `off-${n}` })).status, 201);
    }
  } finally {
    await first.stop();
  }

  const second = await startHub({ dataDir, policies });
  try {
    assert.equal((await second.api('GET', '/devices/keeper')).status, 200);
    assert.equal(second.hub.events.query({ messageId: 'before' }).length, 1);
    const twin = (await second.api('GET', '/twins/keeper')).body;
    assert.equal(twin.properties.reported.$version, 2);
    assert.equal(twin.properties.desired.$version, 2);
    assert.equal(twin.properties.desired.mode, 'eco');
    const device = await connectDevice(second, 'keeper', key);
    try {
      await device.client.subscribeAsync({ '$iothub/twin/res/#': { qos: 0 }, 'devices/keeper/messages/devicebound/#': { qos: 1 } });
      await waitFor(() => device.received.length === 2, 5000, 'queued messages after restart');
      assert.deepEqual(device.received.map((p) => p.payload.toString()).sort(), ['while offline 1', 'while offline 2']);
      device.client.publish('$iothub/twin/PATCH/properties/reported/?$rid=2', '{"boots":2}');
      await waitFor(() => device.received.length === 3, 5000, 'reported answer');
      assert.equal(device.received[2]!.topic, '$iothub/twin/res/204/?$rid=2&$version=3');
      await device.client.publishAsync('devices/keeper/messages/events/%24.mid=after', 'new', { qos: 1 });
      const [before, afterRestart] = [second.hub.events.query({ messageId: 'before' })[0]!, second.hub.events.query({ messageId: 'after' })[0]!];
      assert.ok(afterRestart.sequenceNumber > before.sequenceNumber);
    } finally {
      device.client.end(true);
    }
  } finally {
    await second.stop();
  }
});
