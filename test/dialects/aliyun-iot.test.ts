// Aliyun IoT profile: Link SDK credentials round trip and refusals with our client, per-device topic rules, and the
// vendor's own device SDK (pointed at the local broker with `brokerUrl`) connecting, publishing and receiving.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import iot, { type Device, type Grant } from 'alibabacloud-iot-device-sdk';
import { Broker, type BrokerMessage, silentLogger } from '../../src/broker/index.js';
import { ConnectionRefusedError, type MqttClient, PublishError, connect } from '../../src/client/index.js';
import { type AliyunIotCredentialOptions, aliyunIotCredentials } from '../../src/credentials/index.js';
import { aliyunIotProfile } from '../../src/dialects/index.js';
import { waitFor } from '../helpers/wait.js';

const PK = 'a1TestPK';
const SECRETS = new Map([
  ['dev1', 'secret0123456789abcdef'],
  ['dev2', 'another-secret-9876543210'],
  ['sdk1', 'sdk-device-secret-000111'],
]);
const decoder = new TextDecoder();

describe('aliyun IoT profile', () => {
  let broker: Broker;
  const clients: MqttClient[] = [];
  const devices: Device[] = [];

  /** The profile's subscription verdicts for the SDK's device, in order. */
  const sdkVerdicts: { filter: string; verdict: boolean | number }[] = [];

  before(async () => {
    const profile = aliyunIotProfile({
      secrets: ({ productKey, deviceName }) => (productKey === PK ? SECRETS.get(deviceName) : undefined),
      maxTimestampSkewMs: 600_000,
    });
    const authorizeSubscribe = profile.authorizeSubscribe!;
    broker = new Broker({
      listeners: [{ host: '127.0.0.1', port: 0 }],
      hooks: {
        ...profile,
        async authorizeSubscribe(request) {
          const verdict = await authorizeSubscribe(request);
          if (request.client.username === `sdk1&${PK}`) sdkVerdicts.push({ filter: request.subscription.topicFilter, verdict });
          return verdict;
        },
      },
      sysInterval: 0,
      logger: silentLogger,
    });
    await broker.listen();
  });

  after(async () => {
    for (const device of devices) device.end(true);
    await Promise.all(clients.map((c) => c.end({ force: true })));
    await broker.close();
  });

  function dial(options: Partial<AliyunIotCredentialOptions> & { deviceName: string }, protocolVersion: 4 | 5, tamper?: (p: string) => string): Promise<MqttClient> {
    const credentials = aliyunIotCredentials({ productKey: PK, deviceSecret: SECRETS.get(options.deviceName) ?? 'none', ...options });
    return connect(`mqtt://127.0.0.1:${broker.port}`, {
      clientId: credentials.clientId,
      username: credentials.username,
      password: tamper ? tamper(credentials.password) : credentials.password,
      protocolVersion,
      reconnect: false,
    }).then((client) => {
      clients.push(client);
      return client;
    });
  }

  async function refusedCode(options: Partial<AliyunIotCredentialOptions> & { deviceName: string }, protocolVersion: 4 | 5, tamper?: (p: string) => string): Promise<number | undefined> {
    const error = await dial(options, protocolVersion, tamper).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof ConnectionRefusedError, `expected a refusal, got ${String(error)}`);
    return error.reasonCode;
  }

  test('hmacmd5, hmacsha1 and hmacsha256 credentials connect', async () => {
    await dial({ deviceName: 'dev1', signMethod: 'hmacmd5' }, 4);
    await dial({ deviceName: 'dev1', clientId: 'sn-0001', signMethod: 'hmacsha1' }, 5);
    await dial({ deviceName: 'dev2', signMethod: 'hmacsha256' }, 5);
  });

  test('tampered, wrong-key, stale and unknown credentials are refused', async () => {
    const flip = (p: string): string => (p[0] === '0' ? '1' : '0') + p.slice(1);
    assert.equal(await refusedCode({ deviceName: 'dev1' }, 5, flip), 0x86);
    assert.equal(await refusedCode({ deviceName: 'dev1' }, 4, flip), 4);
    assert.equal(await refusedCode({ deviceName: 'dev1', deviceSecret: 'wrong' }, 5), 0x86);
    assert.equal(await refusedCode({ deviceName: 'dev1', timestamp: Date.now() - 3_600_000 }, 5), 0x86);
    assert.equal(await refusedCode({ deviceName: 'ghost', deviceSecret: 'x' }, 5), 0x87);
    assert.equal(await refusedCode({ deviceName: 'ghost', deviceSecret: 'x' }, 4), 5);
  });

  test('a device uses its own topics only', async () => {
    const dev1 = await dial({ deviceName: 'dev1', signMethod: 'hmacsha256' }, 5);
    assert.deepEqual(
      await dev1.subscribe([`/sys/${PK}/dev1/thing/service/property/set`, `/${PK}/dev1/user/get`, `/shadow/get/${PK}/dev1`, `/${PK}/dev1/#`]),
      [0, 0, 0, 0],
    );
    assert.deepEqual(await dev1.subscribe([`/sys/${PK}/dev2/thing/service/property/set`, `/${PK}/+/user/get`, '#', `/sys/${PK}/dev1`]), [0x87, 0x87, 0x87, 0x87]);
    await dev1.publish(`/${PK}/dev1/user/update`, 'mine', { qos: 1 });
    await assert.rejects(dev1.publish(`/${PK}/dev2/user/update`, 'theirs', { qos: 1 }), (e: unknown) => e instanceof PublishError && e.reasonCode === 0x87);
  });

  test("the vendor's device SDK connects, publishes and receives", async () => {
    const seen: BrokerMessage[] = [];
    broker.on('message', (message) => seen.push(message));
    const device = iot.device({ productKey: PK, deviceName: 'sdk1', deviceSecret: SECRETS.get('sdk1')!, brokerUrl: `mqtt://127.0.0.1:${broker.port}/` });
    devices.push(device);
    let connected = false;
    let errors = 0;
    device.on('connect', () => (connected = true));
    device.on('error', () => errors++);
    await waitFor(() => connected, 10_000, 'the SDK to connect');

    // The 16 topics the SDK subscribes to by itself at connect (`/sys/.../thing/...`, shadow, session, rrpc) are all
    // its own and all granted; they precede ours on the connection, so they are decided once ours is answered.
    const custom = `/${PK}/sdk1/user/get`;
    const grants = await new Promise<Grant[]>((resolve, reject) =>
      device.subscribe(custom, { qos: 1 }, (error, granted) => (error ? reject(error) : resolve(granted ?? []))),
    );
    assert.deepEqual(grants.map((g) => g.qos), [1]);
    const preset = sdkVerdicts.slice(0, -1);
    assert.equal(preset.length, 16);
    assert.deepEqual(preset.filter((v) => v.verdict !== true), []);
    assert.ok(preset.some((v) => v.filter === `/sys/${PK}/sdk1/thing/service/property/set`));

    const foreign = await new Promise<Grant[]>((resolve, reject) =>
      device.subscribe(`/sys/${PK}/dev1/thing/service/property/set`, { qos: 1 }, (error, granted) => (error ? reject(error) : resolve(granted ?? []))),
    );
    assert.deepEqual(foreign.map((g) => g.qos), [128]);

    // Publishing: a property report through the SDK's model API and a raw message on a custom topic.
    device.postProps({ temperature: 21.5 });
    await new Promise<void>((resolve, reject) => device.publish(`/${PK}/sdk1/user/update`, 'raw hello', { qos: 1 }, (e) => (e ? reject(e) : resolve())));
    await waitFor(() => seen.some((m) => m.topic === `/sys/${PK}/sdk1/thing/event/property/post`), 5000, 'the property report');
    const report = JSON.parse(decoder.decode(seen.find((m) => m.topic === `/sys/${PK}/sdk1/thing/event/property/post`)!.payload)) as {
      method: string;
      params: Record<string, unknown>;
    };
    assert.equal(report.method, 'thing.event.property.post');
    assert.deepEqual(report.params, { temperature: 21.5 });
    assert.ok(seen.some((m) => m.topic === `/${PK}/sdk1/user/update` && decoder.decode(m.payload) === 'raw hello'));

    // Receiving: a property set command through the SDK's callback (it subscribed to that topic itself) and a
    // message on the custom topic.
    const commands: Record<string, unknown>[] = [];
    const raw: string[] = [];
    device.onProps((command) => commands.push(command.params ?? {}));
    device.on('message', (topic: string, payload: Buffer) => {
      if (topic === custom) raw.push(payload.toString('utf8'));
    });
    broker.publish({
      topic: `/sys/${PK}/sdk1/thing/service/property/set`,
      payload: JSON.stringify({ id: '1', version: '1.0', method: 'thing.service.property.set', params: { led: 1 } }),
      qos: 1,
    });
    broker.publish({ topic: custom, payload: 'to the device', qos: 1 });
    await waitFor(() => commands.length === 1 && raw.length === 1, 5000, 'the SDK to receive both messages');
    assert.deepEqual(commands, [{ led: 1 }]);
    assert.deepEqual(raw, ['to the device']);
    assert.equal(errors, 0);
  });
});
