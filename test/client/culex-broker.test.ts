import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type ClientOptions } from '../../src/client/index.js';
import { startBroker, type BrokerUnderTest } from '../broker/target.js';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { waitFor } from '../helpers/wait.js';
import { cutAtEveryOffset, offsets, streamThroughCuts } from './cut-exchange.js';

async function roundTrip(url: string, options: ClientOptions): Promise<void> {
  const client = await connect(url, options);
  const got: string[] = [];
  client.on('message', (topic, payload, packet) => got.push(`${topic} ${new TextDecoder().decode(payload)} ${packet.qos}`));
  await client.subscribe('culex/#', { qos: 2 });
  for (const qos of [0, 1, 2] as const) await client.publish(`culex/${qos}`, `hello ${qos}`, { qos });
  await waitFor(() => got.length === 3, 5000, 'three messages');
  assert.deepEqual(got.sort(), ['culex/0 hello 0 0', 'culex/1 hello 1 1', 'culex/2 hello 2 2']);
  await client.end();
}

describe('client against the Culex broker', () => {
  let broker: BrokerUnderTest;
  let certs: TestCerts;
  before(async () => {
    certs = await makeCerts();
    broker = await startBroker('culex', { tls: certs, websockets: true });
  });
  after(async () => broker.stop());

  for (const protocolVersion of [3, 4, 5] as const) {
    it(`exchanges QoS 0/1/2 over TCP, TLS, WebSocket and WSS at MQTT level ${protocolVersion}`, async () => {
      await roundTrip(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion });
      await roundTrip(`mqtts://localhost:${broker.tlsPort}`, { protocolVersion, ca: certs.ca });
      await roundTrip(`ws://127.0.0.1:${broker.wsPort}`, { protocolVersion });
      await roundTrip(`wss://localhost:${broker.wssPort}`, { protocolVersion, ca: certs.ca });
    });
  }

  it('request/response and messages() over MQTT 5', async () => {
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const responder = await connect(url);
    responder.on('message', (_t, payload, packet) => {
      const { responseTopic, correlationData } = packet.properties ?? {};
      if (responseTopic) responder.publish(responseTopic, `re ${new TextDecoder().decode(payload)}`, { properties: { correlationData } }).catch(() => undefined);
    });
    await responder.subscribe('svc', { qos: 1 });
    const client = await connect(url);
    const answer = await client.request('svc', 'x', { timeout: 5000 });
    assert.equal(new TextDecoder().decode(answer.payload), 're x');
    await client.subscribe('it/#', { qos: 1 });
    const reading = (async () => {
      const seen: string[] = [];
      for await (const m of client.messages('it/#')) if (seen.push(m.topic) === 5) break;
      return seen;
    })();
    for (let i = 0; i < 5; i++) await client.publish(`it/${i}`, 'v', { qos: 1 });
    assert.deepEqual(await reading, ['it/0', 'it/1', 'it/2', 'it/3', 'it/4']);
    await client.end();
    await responder.end();
  });

  // A sparser set of offsets than against Mosquitto keeps the file fast.
  it('survives cuts at byte offsets: QoS 1 loses nothing acknowledged', async () => {
    const list = offsets(100, 29);
    assert.equal(await cutAtEveryOffset(broker.port, 1, 4, list), list.length);
  });

  it('survives cuts at byte offsets: QoS 2 delivers exactly once', async () => {
    const list = offsets(100, 29);
    assert.equal(await cutAtEveryOffset(broker.port, 2, 5, list), list.length);
  });

  it('delivers a stream of QoS 2 messages exactly once through repeated cuts, MQTT 3.1.1 and 5', async () => {
    await streamThroughCuts(broker.port, 4);
    await streamThroughCuts(broker.port, 5);
  });
});
