// Our client keeps an Azure device connected across token expiries: it signs a new token and reconnects before the
// hub would drop it, and no publish is lost or failed on the way.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from '../../src/client/index.js';
import { renewalDelay } from '../../src/client/renewal.js';
import { azureConnectOptions, parseSasToken } from '../../src/credentials/index.js';
import { HUB_NAME, primaryKey, startHub, type HubFixture } from './hub-fixture.js';

describe('renewal timing', () => {
  it('renews a quarter of the lifetime early, at most 15 minutes early, and never credentials about to expire', () => {
    assert.equal(renewalDelay(4000, 0), 3000);
    assert.equal(renewalDelay(3_600_000, 0), 2_700_000);
    assert.equal(renewalDelay(86_400_000, 0), 86_400_000 - 900_000);
    assert.equal(renewalDelay(10_000, 0, 2000), 8000);
    assert.equal(renewalDelay(10_000, 0, 20_000), 0);
    assert.equal(renewalDelay(500, 0), undefined);
    assert.equal(renewalDelay(undefined, 0), undefined);
  });

  it('signs a fresh token at each call when it has a key, and a fixed one otherwise', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const renewing = azureConnectOptions({ hostName: HUB_NAME, deviceId: 'd1', key, ttl: 60 });
    assert.equal(typeof renewing.password, 'function');
    const token = (renewing.password as () => string)();
    const expiry = (parseSasToken(token) as { expiry: number }).expiry * 1000;
    assert.equal(renewing.credentialsExpireAt?.(), expiry);
    assert.equal(renewing.websocket.path, '/$iothub/websocket');
    const fixed = azureConnectOptions({ connectionString: `HostName=${HUB_NAME};DeviceId=d1;SharedAccessSignature=${token}` });
    assert.equal(fixed.password, token);
    assert.equal(fixed.credentialsExpireAt, undefined);
  });
});

describe('Azure token renewal against the hub', () => {
  let fixture: HubFixture;
  before(async () => {
    fixture = await startHub({ websocketPort: null });
  });
  after(async () => fixture.stop());

  for (const clean of [true, false]) {
    it(`reconnects with a new token before each expiry, losing no QoS 1 telemetry (clean ${clean})`, async () => {
      const deviceId = `renew-${clean}`;
      const created = await fixture.api('PUT', `/devices/${deviceId}?api-version=2021-04-12`, {});
      const azure = azureConnectOptions({ connectionString: fixture.connectionString(deviceId, primaryKey(created.body)), ttl: 3 });
      const passwords: string[] = [];
      const password = azure.password as () => string;
      const client = await connect(`mqtts://localhost:${fixture.mqttPort}`, {
        ...azure,
        password: () => {
          passwords.push(password());
          return passwords.at(-1)!;
        },
        protocolVersion: 4,
        clean,
        ca: fixture.certs.ca,
        reconnect: { initialDelay: 50, maxDelay: 200 },
      });
      let errors = 0;
      client.on('error', () => errors++);
      const closes: string[] = [];
      client.on('close', (error) => closes.push(error?.message ?? ''));
      try {
        const topic = `devices/${deviceId}/messages/events/`;
        const sent: Array<Promise<unknown>> = [];
        // About 7 s of telemetry: two renewals (at 2.25 s and 4.5 s), three tokens of 3 s.
        const until = Date.now() + 7000;
        for (let i = 0; Date.now() < until && i < 10_000; i++) {
          sent.push(client.publish(topic, `m${i}`, { qos: 1 }));
          await new Promise((r) => setTimeout(r, 10));
        }
        const outcomes = await Promise.allSettled(sent);
        assert.deepEqual(outcomes.filter((o) => o.status === 'rejected'), []);
        assert.ok(passwords.length >= 3, `${passwords.length} connects`);
        assert.equal(new Set(passwords).size, passwords.length, 'every connect signed its own token');
        assert.equal(errors, 0, 'no connect was refused');
        // Every connection ended by the client's own renewal, never by the hub dropping an expired token.
        assert.ok(closes.length >= 2 && closes.every((m) => /renew/.test(m)), closes.join('; '));
        assert.ok(client.connected);
      } finally {
        await client.end({ force: true });
      }
    });
  }
});
