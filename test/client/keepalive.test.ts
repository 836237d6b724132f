import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, ConnectionLostError, type MqttClient } from '../../src/client/index.js';
import { startBroker, type BrokerUnderTest } from '../broker/target.js';
import { waitFor } from '../helpers/wait.js';
import { FakeBroker } from './fake-broker.js';
import { CuttingProxy } from './proxy.js';

describe('keepalive is timed from what arrives', () => {
  let broker: BrokerUnderTest;
  before(async () => {
    broker = await startBroker('culex');
  });
  after(async () => broker.stop());

  for (const protocolVersion of [4, 5] as const) {
    it(`notices a black-holed connection while the application publishes every 200 ms (MQTT level ${protocolVersion})`, async () => {
      const proxy = await new CuttingProxy(broker.port).start();
      let client: MqttClient | undefined;
      let ticker: ReturnType<typeof setInterval> | undefined;
      try {
        client = await connect(`mqtt://127.0.0.1:${proxy.port}`, {
          protocolVersion,
          keepalive: 3,
          reconnect: { initialDelay: 100, maxDelay: 500, jitter: 0 },
          connectTimeout: 2000,
        });
        const c = client;
        const closes: Array<{ at: number; error: Error | undefined }> = [];
        c.on('close', (error) => closes.push({ at: Date.now(), error }));
        c.on('error', () => undefined);
        let published = 0;
        ticker = setInterval(() => {
          c.publish('keepalive/load', String(published++)).catch(() => undefined);
        }, 200);
        await new Promise((r) => setTimeout(r, 500));
        const blackholedAt = Date.now();
        proxy.blackholed = true;
        // Nothing arrives from 0 s on: PINGREQ after 3 s, dead after about 4.5 s. The bound leaves room for a slow machine.
        await waitFor(() => closes.length > 0, 12_000, 'the client to notice the dead connection');
        const noticed = closes[0]!.at - blackholedAt;
        assert.ok(noticed >= 3000 && noticed < 9000, `noticed after ${noticed} ms`);
        const error = closes[0]!.error;
        assert.ok(error instanceof ConnectionLostError, String(error));
        assert.equal(error.reasonCode, 0x8d);
        assert.match(error.message, /nothing received from the broker for \d+(\.\d+)? s \(keepalive 3 s\)/);
        proxy.blackholed = false;
        await waitFor(() => c.connected, 10_000, 'a new connection once the path works again');
        assert.ok(published > 20, `the application kept publishing (${published})`);
      } finally {
        clearInterval(ticker);
        await client?.end({ force: true });
        await proxy.stop();
      }
    });
  }
});

describe('keepalive while only receiving (scripted broker)', () => {
  let broker: FakeBroker;
  before(async () => {
    broker = await new FakeBroker().start();
  });
  after(async () => broker.stop());

  it('sends PINGREQ within the keepalive period even while messages keep arriving (MQTT-3.1.2-23)', async () => {
    const { c } = await broker.open({ protocolVersion: 4, keepalive: 1 });
    const feeder = setInterval(() => {
      c.send({ type: 'publish', topic: 'feed', payload: new Uint8Array([1]), qos: 0, retain: false, dup: false });
    }, 100);
    try {
      const ping = await c.next('pingreq', 3000);
      assert.equal(ping.type, 'pingreq');
      c.send({ type: 'pingresp' });
    } finally {
      clearInterval(feeder);
    }
  });
});
