/**
 * `culex/mqtt` next to MQTT.js: the same programs (scenarios.ts) run with both against one Culex broker and must
 * observe the same things.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqttjs from 'mqtt';
import { Broker, silentLogger } from '../../src/broker/index.js';
import culexMqtt, { type ErrorWithReasonCode } from '../../src/mqttjs/index.js';
import { CuttingProxy } from '../client/proxy.js';
import { freePort } from '../helpers/ports.js';
import { scenarios, type Log, type Mqtt, type Target } from './scenarios.js';

describe('culex/mqtt runs MQTT.js programs as MQTT.js does', () => {
  let broker: Broker;
  let proxy: CuttingProxy;
  let target: Target;
  before(async () => {
    broker = new Broker({
      listeners: [{ port: 0 }],
      logger: silentLogger,
      sysInterval: 0,
      hooks: {
        authenticate: ({ username }) => (username === 'refuse-me' ? { result: 'fail', reasonCode: 0x86 } : { result: 'success' }),
        authorizeSubscribe: ({ subscription }) => !subscription.topicFilter.startsWith('forbidden/'),
        onPublish: (_client, message) => (message.topic.startsWith('refused/') ? { action: 'reject', reasonCode: 0x87 } : undefined),
      },
    });
    await broker.listen();
    proxy = await new CuttingProxy(broker.port).start();
    target = {
      url: `mqtt://127.0.0.1:${broker.port}`,
      proxyUrl: `mqtt://127.0.0.1:${proxy.port}`,
      dropAll: () => proxy.dropAll(),
      closedPort: await freePort(),
    };
  });
  after(async () => {
    await proxy.stop();
    await broker.close();
  });

  async function transcript(mqtt: Mqtt, run: (mqtt: Mqtt, target: Target, log: Log, tag: string) => Promise<void>, tag: string): Promise<unknown[]> {
    const entries: unknown[] = [];
    await run(mqtt, target, (...entry) => entries.push(entry), tag);
    return JSON.parse(JSON.stringify(entries)) as unknown[];
  }

  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      const expected = await transcript(mqttjs as unknown as Mqtt, scenario.run, 'mqttjs');
      const actual = await transcript(culexMqtt, scenario.run, 'culex');
      assert.deepEqual(actual, expected);
    });
  }

  describe('where culex/mqtt says more than MQTT.js', () => {
    it('connects with MQTT 3.1.1 unless asked for another level', async () => {
      const levels: number[] = [];
      const seen = (client: { protocolVersion: number }): void => void levels.push(client.protocolVersion);
      broker.on('connected', seen);
      try {
        for (const options of [{}, { protocolVersion: 5 as const }, { protocolVersion: 3 as const }]) {
          const client = await culexMqtt.connectAsync(target.url, options);
          await client.endAsync();
        }
      } finally {
        broker.off('connected', seen);
      }
      assert.deepEqual(levels, [4, 5, 3]);
    });

    it('gives a refused filter its refusal code as qos and as the error code', async () => {
      for (const [protocolVersion, code] of [[4, 0x80], [5, 0x87]] as const) {
        const client = await culexMqtt.connectAsync(target.url, { protocolVersion });
        const result = await new Promise<[Error | null, unknown]>((resolve) => {
          client.subscribe({ 'allowed/y': { qos: 1 }, 'forbidden/y': { qos: 1 } }, (error, granted) => resolve([error, granted]));
        });
        assert.equal((result[0] as ErrorWithReasonCode).code, code);
        assert.deepEqual(result[1], [{ topic: 'allowed/y', qos: 1 }, { topic: 'forbidden/y', qos: code }]);
        await assert.rejects(client.subscribeAsync('forbidden/z'), (error: ErrorWithReasonCode) => error.code === code);
        await client.endAsync();
      }
    });

    it('waits for connect() with manualConnect, and sends what was published meanwhile', async () => {
      const client = culexMqtt.connect(target.url, { manualConnect: true });
      const published = client.publishAsync('manual/x', 'queued', { qos: 1 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(client.connected, false);
      client.connect();
      const sent = await published;
      assert.equal(sent?.topic, 'manual/x');
      assert.equal(client.connected, true);
      await client.endAsync();
    });

    it('starts again with reconnect() after end(), and after a lost connection without reconnectPeriod', async () => {
      const client = await culexMqtt.connectAsync(target.proxyUrl, { reconnectPeriod: 0 });
      const events: string[] = [];
      for (const event of ['connect', 'close', 'offline', 'reconnect', 'end'] as const) client.on(event, () => events.push(event));
      proxy.dropAll();
      await new Promise<void>((resolve) => client.once('close', () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(events, ['close']);
      client.reconnect();
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
      await client.endAsync();
      client.reconnect();
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
      await client.publishAsync('again/x', 'works', { qos: 1 });
      await client.endAsync();
      assert.deepEqual(events, ['close', 'connect', 'close', 'end', 'connect', 'close', 'end']);
    });
  });
});
