// MQTT.js (MQTT 3.1, 3.1.1 and 5 over TCP, TLS, WebSocket and secure WebSocket) publishes to and receives from the
// broker under test.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { waitFor } from '../helpers/wait.js';
import { brokerKinds, startBroker, type BrokerUnderTest } from './target.js';

type Transport = 'mqtt' | 'mqtts' | 'ws' | 'wss';

async function connect(url: string, options: IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...options });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return client;
}

function collect(client: MqttClient): IPublishPacket[] {
  const got: IPublishPacket[] = [];
  client.on('message', (_topic, _payload, packet) => got.push(packet));
  return got;
}

for (const kind of brokerKinds(['culex', 'culex-cli'])) {
  describe(`MQTT.js against ${kind}`, () => {
    let broker: BrokerUnderTest;
    let certs: TestCerts;
    const clients: MqttClient[] = [];

    before(async () => {
      certs = await makeCerts();
      broker = await startBroker(kind, { tls: certs, websockets: true });
    });
    after(async () => {
      await Promise.all(clients.map((c) => c.endAsync(true)));
      await broker?.stop();
    });

    const portOf = (transport: Transport): number | undefined =>
      ({ mqtt: broker.port, mqtts: broker.tlsPort, ws: broker.wsPort, wss: broker.wssPort })[transport];

    function url(transport: Transport): string {
      const port = portOf(transport);
      return transport.startsWith('ws') ? `${transport}://localhost:${port}/mqtt` : `${transport}://localhost:${port}`;
    }

    async function open(transport: Transport, version: 3 | 4 | 5, extra: IClientOptions = {}): Promise<MqttClient> {
      const secure = transport === 'mqtts' || transport === 'wss';
      const client = await connect(url(transport), {
        protocolVersion: version,
        ...(version === 3 && { protocolId: 'MQIsdp' as const }),
        ...(secure && { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey }),
        ...extra,
      });
      clients.push(client);
      return client;
    }

    for (const transport of ['mqtt', 'mqtts', 'ws', 'wss'] as const) {
      for (const version of [3, 4, 5] as const) {
        const name = `${transport} v${{ 3: '3.1', 4: '3.1.1', 5: '5' }[version]}`;
        const base = `interop/mqttjs/${transport}-${version}`;

        test(`${name}: QoS 0, 1 and 2 publishes arrive, and a retained one reaches a later subscriber`, async (t) => {
          if (portOf(transport) === undefined) return t.skip(`no ${transport} listener`);
          const sub = await open(transport, version);
          const pub = await open(transport, version);
          const got = collect(sub);
          await sub.subscribeAsync(`${base}/qos`, { qos: 2 });
          for (const qos of [0, 1, 2] as const) await pub.publishAsync(`${base}/qos`, `qos ${qos}`, { qos });
          await waitFor(() => got.length >= 3, 10_000, 'three messages');
          assert.deepEqual(
            got.map((p) => [p.payload.toString(), p.qos, p.retain]),
            [
              ['qos 0', 0, false],
              ['qos 1', 1, false],
              ['qos 2', 2, false],
            ],
          );

          await pub.publishAsync(`${base}/retained`, 'kept', { qos: 1, retain: true });
          const late = await open(transport, version);
          const lateGot = collect(late);
          await late.subscribeAsync(`${base}/retained`, { qos: 1 });
          await waitFor(() => lateGot.length >= 1, 10_000, 'the retained message');
          assert.deepEqual(
            lateGot.map((p) => [p.payload.toString(), p.retain]),
            [['kept', true]],
          );
          await pub.publishAsync(`${base}/retained`, '', { qos: 1, retain: true });
          await Promise.all([sub, pub, late].map((c) => c.endAsync()));
        });

        if (version === 5) {
          test(`${name}: MQTT 5 properties pass through unchanged`, async (t) => {
            if (portOf(transport) === undefined) return t.skip(`no ${transport} listener`);
            const sub = await open(transport, 5);
            const pub = await open(transport, 5);
            const got = collect(sub);
            await sub.subscribeAsync(`${base}/props`, { qos: 1 });
            await pub.publishAsync(`${base}/props`, 'request', {
              qos: 1,
              properties: {
                userProperties: { colour: ['red', 'blue'], size: 'xl' },
                contentType: 'text/plain; charset=utf-8',
                responseTopic: `${base}/reply`,
                correlationData: Buffer.from([0, 1, 2, 0xff]),
                payloadFormatIndicator: true,
              },
            });
            await waitFor(() => got.length >= 1, 10_000, 'the message');
            const props = got[0]?.properties;
            assert.deepEqual({ ...props?.userProperties }, { colour: ['red', 'blue'], size: 'xl' });
            assert.equal(props?.contentType, 'text/plain; charset=utf-8');
            assert.equal(props?.responseTopic, `${base}/reply`);
            assert.deepEqual(props?.correlationData, Buffer.from([0, 1, 2, 0xff]));
            assert.equal(props?.payloadFormatIndicator, true);
            await Promise.all([sub, pub].map((c) => c.endAsync()));
          });
        }
      }
    }
  });
}
