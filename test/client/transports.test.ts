import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type ClientOptions } from '../../src/client/index.js';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { startMosquitto, type MosquittoInstance } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

async function roundTrip(url: string, options: ClientOptions): Promise<void> {
  const client = await connect(url, options);
  const got: string[] = [];
  client.on('message', (topic, payload, packet) => got.push(`${topic} ${new TextDecoder().decode(payload)} ${packet.qos}`));
  await client.subscribe('transport/#', { qos: 2 });
  for (const qos of [0, 1, 2] as const) await client.publish(`transport/${qos}`, `hello ${qos}`, { qos });
  await waitFor(() => got.length === 3, 5000, 'three messages');
  assert.deepEqual(got.sort(), ['transport/0 hello 0 0', 'transport/1 hello 1 1', 'transport/2 hello 2 2']);
  await client.end();
}

describe('transports against Mosquitto', () => {
  let broker: MosquittoInstance;
  let certs: TestCerts;
  let wssPort: number;
  let mtlsPort: number;
  before(async () => {
    certs = await makeCerts();
    wssPort = await freePort();
    mtlsPort = await freePort();
    broker = await startMosquitto({
      websockets: true,
      tls: certs,
      extraConfig: [
        `listener ${wssPort} 127.0.0.1`, 'protocol websockets', `cafile ${certs.caFile}`,
        `certfile ${certs.serverCertFile}`, `keyfile ${certs.serverKeyFile}`,
        `listener ${mtlsPort} 127.0.0.1`, `cafile ${certs.caFile}`, `certfile ${certs.serverCertFile}`,
        `keyfile ${certs.serverKeyFile}`, 'require_certificate true',
      ].join('\n'),
    });
  });
  after(async () => broker.stop());

  for (const scheme of ['mqtt', 'tcp'] as const) {
    it(`${scheme}://`, async () => roundTrip(`${scheme}://127.0.0.1:${broker.port}`, {}));
  }

  for (const scheme of ['mqtts', 'ssl', 'tls'] as const) {
    it(`${scheme}:// with the CA`, async () => roundTrip(`${scheme}://localhost:${broker.tlsPort}`, { ca: certs.ca }));
  }

  it('mqtts:// refuses an unknown server certificate, accepts it with rejectUnauthorized: false', async () => {
    await assert.rejects(connect(`mqtts://127.0.0.1:${broker.tlsPort}`, { reconnect: false }), /certificate/);
    await roundTrip(`mqtts://127.0.0.1:${broker.tlsPort}`, { rejectUnauthorized: false });
  });

  it('mqtts:// with a client certificate', async () => {
    await roundTrip(`mqtts://localhost:${mtlsPort}`, { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });
  });

  for (const protocolVersion of [3, 4, 5] as const) {
    it(`ws:// at MQTT level ${protocolVersion}`, async () => {
      await roundTrip(`ws://127.0.0.1:${broker.wsPort}`, { protocolVersion });
    });
  }

  it('ws:// with a path and headers', async () => {
    await roundTrip(`ws://127.0.0.1:${broker.wsPort}/mqtt`, { websocket: { headers: { 'x-test': '1' } } });
  });

  it('wss:// with the CA', async () => {
    await roundTrip(`wss://localhost:${wssPort}`, { ca: certs.ca });
  });

  it('refuses unknown schemes', async () => {
    await assert.rejects(connect(`http://127.0.0.1:${broker.port}`), /unsupported URL scheme/);
  });
});
