// The acceptance list with Microsoft's own device SDK, over MQTT/TLS and over MQTT/WSS.
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import common from 'azure-iot-common';
import device, { type Twin } from 'azure-iot-device';
import deviceMqtt from 'azure-iot-device-mqtt';
import { waitFor } from '../helpers/wait.js';
import { HUB_NAME, primaryKey, startHub, type HubFixture } from './hub-fixture.js';

// CommonJS packages: their named exports come through the default import.
const { NoRetry } = common;
const { Client, Message, SharedAccessKeyAuthenticationProvider } = device;
type Client = InstanceType<typeof Client>;
type Message = InstanceType<typeof Message>;
const { Mqtt, MqttWs } = deviceMqtt;

type Transport = 'mqtts' | 'wss';

/** A device client; `tokenLifetime` makes the SDK sign short-lived tokens and renew them by reconnecting. */
async function makeClient(
  fixture: HubFixture,
  transport: Transport,
  deviceId: string,
  key: string,
  tokenLifetime?: { valid: number; renewalMargin: number },
): Promise<Client> {
  // The SDK fixes port 443 for WSS: an agent dials the test port instead, still verifying the certificate.
  const gateway = transport === 'mqtts' ? `localhost:${fixture.mqttPort}` : 'localhost';
  const connectionString = `HostName=${HUB_NAME};DeviceId=${deviceId};SharedAccessKey=${key};GatewayHostName=${gateway}`;
  const ctor = transport === 'mqtts' ? Mqtt : MqttWs;
  const client =
    tokenLifetime === undefined
      ? Client.fromConnectionString(connectionString, ctor)
      : Client.fromAuthenticationProvider(
          SharedAccessKeyAuthenticationProvider.fromConnectionString(connectionString, tokenLifetime.valid, tokenLifetime.renewalMargin),
          ctor,
        );
  const options: Record<string, unknown> = { ca: fixture.certs.ca.toString() };
  if (transport === 'wss') {
    const agent = new Agent({ keepAlive: false });
    const port = fixture.wssPort;
    (agent as unknown as { createConnection: (o: object) => unknown }).createConnection = (o: object) => tlsConnect({ ...o, port });
    options['mqtt'] = { webSocketAgent: agent };
  }
  await client.setOptions(options as never);
  client.setRetryPolicy(new NoRetry());
  return client;
}

async function addDevice(fixture: HubFixture, deviceId: string): Promise<string> {
  const created = await fixture.api('PUT', `/devices/${deviceId}?api-version=2021-04-12`, {});
  assert.equal(created.status, 200);
  return primaryKey(created.body);
}

for (const transport of ['mqtts', 'wss'] as const) {
  describe(`Azure IoT device SDK over ${transport}`, () => {
    let fixture: HubFixture;
    const clients: Client[] = [];
    const open = async (deviceId: string, key: string, tokenLifetime?: { valid: number; renewalMargin: number }): Promise<Client> => {
      const client = await makeClient(fixture, transport, deviceId, key, tokenLifetime);
      clients.push(client);
      await client.open();
      return client;
    };

    before(async () => {
      fixture = await startHub();
    });
    after(async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await fixture.stop();
    });

    test('connects with its key; a wrong key is refused', async () => {
      const key = await addDevice(fixture, 'dev-connect');
      await open('dev-connect', key);
      await waitFor(() => fixture.hub.isConnected('dev-connect'), 5000, 'connected');
      const wrong = await makeClient(fixture, transport, 'dev-connect', Buffer.alloc(32, 7).toString('base64'));
      await assert.rejects(wrong.open(), /Not authorized|Unauthorized/i);
      await wrong.close().catch(() => undefined);
    });

    test('telemetry with properties reaches the service API', async () => {
      const key = await addDevice(fixture, 'dev-telemetry');
      const client = await open('dev-telemetry', key);
      const message = new Message(JSON.stringify({ temperature: 21.5 }));
      message.messageId = `mid-${transport}`;
      message.correlationId = 'cid-456';
      message.contentType = 'application/json';
      message.contentEncoding = 'utf-8';
      message.properties.add('alert', 'high temp');
      message.properties.add('weird/key&=', 'a=b&c/d ü');
      await client.sendEvent(message);
      const found = await fixture.api('GET', `/messages/events?deviceId=dev-telemetry&messageId=mid-${transport}`);
      assert.equal(found.status, 200);
      assert.equal(found.body.length, 1);
      const event = found.body[0];
      assert.equal(event.type, 'telemetry');
      assert.equal(event.body, '{"temperature":21.5}');
      assert.deepEqual(event.systemProperties, { messageId: `mid-${transport}`, correlationId: 'cid-456', contentType: 'application/json', contentEncoding: 'utf-8' });
      assert.deepEqual(event.properties, { alert: 'high temp', 'weird/key&=': 'a=b&c/d ü' });
    });

    test('twin: get, reported patch, desired update', async () => {
      const key = await addDevice(fixture, 'dev-twin');
      const client = await open('dev-twin', key);
      const twin: Twin = await client.getTwin();
      assert.equal(twin.properties.desired.$version, 1);
      await new Promise<void>((resolve, reject) => twin.properties.reported.update({ firmware: '1.2.3', battery: 88 }, (err?: Error) => (err ? reject(err) : resolve())));
      const serviceTwin = await fixture.api('GET', '/twins/dev-twin');
      assert.equal(serviceTwin.body.properties.reported.firmware, '1.2.3');
      assert.equal(serviceTwin.body.properties.reported.$version, 2);
      const desired: Array<Record<string, unknown>> = [];
      twin.on('properties.desired', (patch: Record<string, unknown>) => desired.push(patch));
      // The SDK first reports the desired properties it already has.
      await waitFor(() => desired.length >= 1, 5000, 'initial desired');
      const patched = await fixture.api('PATCH', '/twins/dev-twin', { properties: { desired: { fanSpeed: 3 } } }, { 'if-match': serviceTwin.headers.get('etag')! });
      assert.equal(patched.status, 200);
      await waitFor(() => desired.some((d) => d['fanSpeed'] === 3), 5000, 'desired patch');
      assert.equal(desired.find((d) => d['fanSpeed'] === 3)!['$version'], 2);
    });

    test('direct method round trip through the service API', async () => {
      const key = await addDevice(fixture, 'dev-method');
      const client = await open('dev-method', key);
      client.onDeviceMethod('reboot', (request, response) => {
        response.send(200, { rebooted: true, delay: (request.payload as { delay: number }).delay }, () => undefined);
      });
      let result: Awaited<ReturnType<HubFixture['api']>> | undefined;
      // The SDK subscribes to methods asynchronously after onDeviceMethod returns.
      for (let attempt = 0; attempt < 50; attempt++) {
        result = await fixture.api('POST', '/twins/dev-method/methods', { methodName: 'reboot', payload: { delay: 1 }, responseTimeoutInSeconds: 5 });
        if (result.status !== 404) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(result!.status, 200);
      assert.deepEqual(result!.body, { status: 200, payload: { rebooted: true, delay: 1 } });
    });

    test('cloud-to-device message with its properties', async () => {
      const key = await addDevice(fixture, 'dev-c2d');
      const client = await open('dev-c2d', key);
      const received: Message[] = [];
      client.on('message', (msg: Message) => received.push(msg));
      const sent = await fixture.api('POST', '/devices/dev-c2d/messages/devicebound', {
        body: 'hello device',
        messageId: 'c2d-1',
        correlationId: 'corr-1',
        properties: { color: 'blue', 'a b/c': 'x&y=z' },
      });
      assert.equal(sent.status, 201);
      await waitFor(() => received.length === 1, 5000, 'c2d message');
      const msg = received[0]!;
      assert.equal(msg.data.toString(), 'hello device');
      assert.equal(msg.messageId, 'c2d-1');
      assert.equal(msg.correlationId, 'corr-1');
      assert.equal(msg.properties.getValue('color'), 'blue');
      assert.equal(msg.properties.getValue('a b/c'), 'x&y=z');
      // Success once the device's PUBACK is in.
      let feedback = await fixture.api('GET', '/messages/feedback?messageId=c2d-1');
      for (let i = 0; i < 50 && (feedback.body as unknown as unknown[]).length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        feedback = await fixture.api('GET', '/messages/feedback?messageId=c2d-1');
      }
      assert.equal(feedback.body[0].statusCode, 'Success');
    });

    test('a second connection with the same device id drops the first', async () => {
      const key = await addDevice(fixture, 'dev-twice');
      const first = await open('dev-twice', key);
      let dropped = false;
      first.on('disconnect', () => (dropped = true));
      first.on('error', () => (dropped = true));
      await open('dev-twice', key);
      await waitFor(() => dropped, 5000, 'first connection dropped');
      assert.ok(fixture.hub.isConnected('dev-twice'));
    });

    test('the SDK renews its token by reconnecting before the hub closes the connection', async () => {
      const key = await addDevice(fixture, 'dev-renew');
      const client = await open('dev-renew', key, { valid: 4, renewalMargin: 2 });
      const connects = (): number => fixture.hub.events.query({ deviceId: 'dev-renew' }).filter((e) => e.type === 'deviceConnected').length;
      await waitFor(() => connects() >= 2, 10_000, 'a renewal reconnect');
      const message = new Message('after renewal');
      message.messageId = `renewed-${transport}`;
      await client.sendEvent(message);
      assert.equal(fixture.hub.events.query({ messageId: `renewed-${transport}` }).length, 1);
    });

    test('twenty devices connected at once', async () => {
      const keys = await Promise.all(Array.from({ length: 20 }, (_, i) => addDevice(fixture, `fleet-${i}`)));
      const fleet = await Promise.all(keys.map((key, i) => open(`fleet-${i}`, key)));
      await Promise.all(fleet.map((client, i) => client.sendEvent(new Message(`from ${i}`))));
      await waitFor(() => keys.every((_, i) => fixture.hub.isConnected(`fleet-${i}`)), 5000, 'all connected');
      const events = fixture.hub.events.query({ limit: 100000 }).filter((e) => e.type === 'telemetry' && e.deviceId.startsWith('fleet-'));
      assert.equal(events.length, 20);
    });
  });
}
