// Culex bridged to a Culex IoT hub as a device, logging in with an Azure SAS token that lives 3 s: the bridge signs
// a new one and reconnects before each expires, and no QoS 1 message is lost on the way.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from '../../src/client/index.js';
import { waitFor } from '../helpers/wait.js';
import { primaryKey, startHub, type HubFixture } from '../iothub/hub-fixture.js';
import { startEdge, whenConnected, type Edge } from './fixture.js';

describe('bridge to a Culex IoT hub as an Azure device', () => {
  let fixture: HubFixture;
  let edge: Edge | undefined;
  before(async () => {
    fixture = await startHub({ websocketPort: null });
  });
  after(async () => {
    await edge?.close();
    await fixture.stop();
  });

  it('renews its SAS token before each expiry, losing no telemetry', async () => {
    const created = await fixture.api('PUT', '/devices/edge1?api-version=2021-04-12', {});
    edge = await startEdge([{
      name: 'hub', addresses: [`localhost:${fixture.mqttPort}`], tls: { ca: fixture.certs.ca }, protocolVersion: 4,
      credentials: { type: 'azure', connectionString: fixture.connectionString('edge1', primaryKey(created.body)), ttl: 3 },
      // The hub takes a device's own topics only: no state message, no bridge bit.
      notifications: false, tryPrivate: false, restartTimeout: 0.2,
      topics: [{ pattern: '', direction: 'out', qos: 1, localPrefix: 'telemetry', remotePrefix: 'devices/edge1/messages/events/' }],
    }]);
    await whenConnected(edge, 'hub');
    const publisher = await connect(edge.url, { reconnect: false });
    let sent = 0;
    try {
      // About 7 s of telemetry: three tokens of 3 s at least.
      const until = Date.now() + 7000;
      for (; Date.now() < until && sent < 10_000; sent++) {
        await publisher.publish('telemetry', `m${sent}`, { qos: 1 });
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await publisher.end();
    }
    const arrived = (): string[] => fixture.hub.events.query({ deviceId: 'edge1' }).filter((e) => e.type === 'telemetry').map((e) => e.body);
    await waitFor(() => new Set(arrived()).size === sent, 10_000, `${sent} messages on the hub`).catch((error: Error) => {
      throw new Error(`${error.message}: have ${new Set(arrived()).size}; ${JSON.stringify(edge!.bridges.status('hub'))}`);
    });
    const firsts = [...new Set(arrived())];
    assert.deepEqual(firsts, Array.from({ length: sent }, (_, i) => `m${i}`), 'every message, in order');
    const status = edge.bridges.status('hub');
    assert.ok(status.connections >= 3, `${status.connections} connections: renewed before each expiry`);
    assert.equal(status.lastError, undefined, 'no connection was refused or dropped');
    assert.ok(edge.logger.lines.filter((l) => l.includes('renewing its credentials')).length >= 2);
  });
});
