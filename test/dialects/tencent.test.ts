// Tencent profile: signed credentials round trip, refusals, a Tencent-shaped device (MQTT 3.1 over WebSocket
// `/mqtt`) that syncs its clock on `$sys/operation/...` and exchanges messages, and topic confinement at MQTT 5,
// 3.1.1 and 3.1 (an application on a listener without the profile watches what gets through).
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Broker, silentLogger } from '../../src/broker/index.js';
import { ConnectionRefusedError, MqttClient, PublishError, connect } from '../../src/client/index.js';
import { nodeDialer } from '../../src/client/node-dialer.js';
import { type TencentCredentialOptions, type TencentDeviceKey, tencentCredentials } from '../../src/credentials/index.js';
import { tencentProfile } from '../../src/dialects/index.js';
import { issueCertificate, makeCerts, type TestCerts } from '../helpers/certs.js';
import { waitFor } from '../helpers/wait.js';

const PRODUCT = 'ABCDEFGHIJ';
const SECRET = 'MTIzNDU2Nzg5MGFiY2RlZg==';
const OTHER_SECRET = 'b3RoZXJzZWNyZXQwMTIzNA==';
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const decoder = new TextDecoder();

describe('tencent profile', () => {
  let broker: Broker;
  let wsPort: number;
  const clients: MqttClient[] = [];

  before(async () => {
    const secrets = ({ productId, deviceName }: { productId: string; deviceName: string }): TencentDeviceKey | undefined => {
      if (productId !== PRODUCT) return undefined;
      if (deviceName === 'rsa1') return { publicKey: rsa.publicKey };
      return deviceName.startsWith('dev') ? { deviceSecret: SECRET } : undefined;
    };
    const profile = tencentProfile({ secrets });
    const unconfined = tencentProfile({ secrets, confineTopics: false });
    broker = new Broker({
      listeners: [
        { host: '127.0.0.1', port: 0, hooks: profile },
        { host: '127.0.0.1', port: 0, protocol: 'websockets', path: '/mqtt', hooks: profile },
        // Applications, outside the profile: they see what devices get through.
        { host: '127.0.0.1', port: 0 },
        { host: '127.0.0.1', port: 0, hooks: unconfined },
      ],
      sysInterval: 0,
      logger: silentLogger,
    });
    profile.attach(broker);
    unconfined.attach(broker);
    await broker.listen();
    wsPort = broker.ports[1]!;
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.end({ force: true })));
    await broker.close();
  });

  async function open(options: Omit<TencentCredentialOptions, 'productId'>, protocolVersion: 3 | 4 | 5 = 4, ws = false): Promise<MqttClient> {
    const { clientId, username, password } = tencentCredentials({ productId: PRODUCT, ...options });
    const url = ws ? `ws://127.0.0.1:${wsPort}/mqtt` : `mqtt://127.0.0.1:${broker.port}`;
    const client = await connect(url, { clientId, username, password, protocolVersion, reconnect: false });
    clients.push(client);
    return client;
  }

  /** An application on the listener without the profile. */
  async function openApp(clientId: string): Promise<MqttClient> {
    const client = await connect(`mqtt://127.0.0.1:${broker.ports[2]!}`, { clientId, protocolVersion: 5, reconnect: false });
    clients.push(client);
    return client;
  }

  async function refusedCode(options: Omit<TencentCredentialOptions, 'productId'>, protocolVersion: 4 | 5, tamper?: (password: string) => string): Promise<number | undefined> {
    const { clientId, username, password } = tencentCredentials({ productId: PRODUCT, ...options });
    const error = await connect(`mqtt://127.0.0.1:${broker.port}`, {
      clientId,
      username,
      password: tamper ? tamper(password) : password,
      protocolVersion,
      reconnect: false,
    }).then(
      (client) => {
        clients.push(client);
        return undefined;
      },
      (e: unknown) => e,
    );
    assert.ok(error instanceof ConnectionRefusedError, `expected a refusal, got ${String(error)}`);
    return error.reasonCode;
  }

  test('HMAC-SHA1, HMAC-SHA256 and RSA-SHA256 credentials connect', async () => {
    await open({ deviceName: 'dev1', deviceSecret: SECRET, method: 'hmacsha1' });
    await open({ deviceName: 'dev2', deviceSecret: SECRET, method: 'hmacsha256' }, 5);
    await open({ deviceName: 'rsa1', privateKey: rsa.privateKey });
    // The vendor's Python SDK puts its clock in milliseconds where the expiry goes.
    await open({ deviceName: 'dev3', deviceSecret: SECRET, method: 'hmacsha1', sdkappid: 21010406, expiry: Date.now() }, 3);
  });

  test('tampered, wrong-key, expired and unknown credentials are refused', async () => {
    const flip = (password: string): string => (password[0] === '0' ? '1' : '0') + password.slice(1);
    assert.equal(await refusedCode({ deviceName: 'dev1', deviceSecret: SECRET }, 5, flip), 0x86);
    assert.equal(await refusedCode({ deviceName: 'dev1', deviceSecret: SECRET }, 4, flip), 4);
    assert.equal(await refusedCode({ deviceName: 'dev1', deviceSecret: OTHER_SECRET }, 5), 0x86);
    const past = Math.floor(Date.now() / 1000) - 3600;
    assert.equal(await refusedCode({ deviceName: 'dev1', deviceSecret: SECRET, expiry: past }, 5), 0x86);
    assert.equal(await refusedCode({ deviceName: 'nobody', deviceSecret: SECRET }, 5), 0x87);
    assert.equal(await refusedCode({ deviceName: 'nobody', deviceSecret: SECRET }, 4), 5);
  });

  test('an MQTT 3.1 device over WebSocket /mqtt syncs time and exchanges messages', async () => {
    const device = await open({ deviceName: 'dev4', deviceSecret: SECRET, method: 'hmacsha1', sdkappid: 21010406 }, 3, true);
    const app = await openApp('app4');
    const received: { topic: string; text: string }[] = [];
    device.on('message', (topic, payload) => received.push({ topic, text: decoder.decode(payload) }));
    await device.subscribe(`${PRODUCT}/dev4/control`, { qos: 1 });
    await device.subscribe(`$sys/operation/result/${PRODUCT}/dev4`, { qos: 0 });

    const sentAt = Date.now();
    await device.publish(`$sys/operation/${PRODUCT}/dev4`, '{"type":"get","resource":["time"]}', { qos: 1 });
    await waitFor(() => received.some((m) => m.topic.startsWith('$sys/')), 5000, 'the time answer');
    const answer = received.find((m) => m.topic === `$sys/operation/result/${PRODUCT}/dev4`);
    assert.ok(answer, 'answered on the result topic');
    const time = JSON.parse(answer.text) as { type: string; time: number; ntptime1: number; ntptime2: number };
    assert.equal(time.type, 'get');
    assert.ok(time.ntptime1 >= sentAt && time.ntptime2 >= time.ntptime1);
    assert.equal(time.time, Math.floor(time.ntptime1 / 1000));

    await app.subscribe(`${PRODUCT}/dev4/event`, { qos: 1 });
    await device.publish(`${PRODUCT}/dev4/event`, 'temperature=21');
    await app.publish(`${PRODUCT}/dev4/control`, 'led=on', { qos: 1 });
    const appReceived: string[] = [];
    app.on('message', (_topic, payload) => appReceived.push(decoder.decode(payload)));
    await waitFor(() => received.some((m) => m.text === 'led=on'), 5000, 'the control message');
    await device.publish(`${PRODUCT}/dev4/event`, 'temperature=22', { qos: 1 });
    await waitFor(() => appReceived.includes('temperature=22'), 5000, 'the event');
  });

  test("a device cannot ask time for another device's topic", async () => {
    const device = await open({ deviceName: 'dev6', deviceSecret: SECRET }, 5);
    await assert.rejects(device.publish(`$sys/operation/${PRODUCT}/dev1`, '{"type":"get","resource":["time"]}', { qos: 1 }), /not this device|0x87|135/i);
  });

  /** Topic filters a device `dev` may and may not subscribe to. */
  function filters(dev: string): { granted: string[]; refused: string[] } {
    const own = `${PRODUCT}/${dev}`;
    return {
      granted: [
        `${own}/control`,
        `${own}/#`,
        `$sys/operation/result/${own}`,
        `$shadow/operation/result/${own}`,
        `$ota/update/${own}`,
        `$thing/down/property/${own}`,
        `$rrpc/rxd/${own}/+`,
        `$broadcast/rxd/${own}`,
        `$config/operation/result/${own}`,
        `$resource/down/service/${own}`,
      ],
      refused: [
        '#',
        `+/${dev}/data`,
        `${PRODUCT}/+/data`,
        `${PRODUCT}/#`,
        `${PRODUCT}/dev1/data`,
        own,
        `$thing/down/property/${PRODUCT}/dev1`,
        `$thing/+/property/${own}`,
        `$share/group/${own}/data`,
        `$unknown/family/${own}`,
      ],
    };
  }

  for (const protocolVersion of [5, 4, 3] as const) {
    test(`a device subscribes and publishes to its own topics only (protocol level ${protocolVersion})`, async () => {
      const dev = `devc${protocolVersion}`;
      const device = await open({ deviceName: dev, deviceSecret: SECRET }, protocolVersion);
      const { granted, refused } = filters(dev);
      assert.deepEqual(await device.subscribe(granted, { qos: 1 }), granted.map(() => 1));
      const refusedCode = protocolVersion === 5 ? 0x87 : 0x80;
      assert.deepEqual(await device.subscribe(refused, { qos: 1 }), refused.map(() => refusedCode));

      const app = await openApp(`watch${protocolVersion}`);
      const seen: string[] = [];
      app.on('message', (topic) => seen.push(topic));
      await app.subscribe([`${PRODUCT}/#`, `$thing/up/property/${PRODUCT}/#`], { qos: 1 });
      const elsewhere = [`${PRODUCT}/dev1/data`, `$thing/up/property/${PRODUCT}/dev1`, `${PRODUCT}/${dev}`];
      for (const topic of elsewhere) {
        if (protocolVersion === 5) {
          await assert.rejects(device.publish(topic, 'x', { qos: 1 }), (e: unknown) => e instanceof PublishError && e.reasonCode === 0x87);
        } else await device.publish(topic, 'x', { qos: 1 }); // 3.x: acknowledged, not routed
      }
      await device.publish(`$thing/up/property/${PRODUCT}/${dev}`, '{}', { qos: 1 });
      await device.publish(`${PRODUCT}/${dev}/data`, 'last', { qos: 1 });
      // One publisher, one subscriber: messages arrive in order, so the last one seen closes the window.
      await waitFor(() => seen.includes(`${PRODUCT}/${dev}/data`), 5000, 'the allowed messages');
      assert.deepEqual(seen, [`$thing/up/property/${PRODUCT}/${dev}`, `${PRODUCT}/${dev}/data`]);
    });
  }

  test("a Will on another device's topic is refused at CONNECT", async () => {
    const { clientId, username, password } = tencentCredentials({ productId: PRODUCT, deviceName: 'devw', deviceSecret: SECRET });
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const will = { topic: `${PRODUCT}/dev1/status`, payload: 'gone' };
    const refused = await connect(url, { clientId, username, password, protocolVersion: 4, reconnect: false, will }).then(
      (client) => clients.push(client),
      (e: unknown) => e,
    );
    assert.ok(refused instanceof ConnectionRefusedError && refused.reasonCode === 5, `expected a refusal, got ${String(refused)}`);
    const own = { topic: `${PRODUCT}/devw/status`, payload: 'gone' };
    clients.push(await connect(url, { clientId, username, password, protocolVersion: 4, reconnect: false, will: own }));
  });

  test('a device name holding a topic separator is refused while topics are confined', async () => {
    assert.equal(await refusedCode({ deviceName: 'dev/x', deviceSecret: SECRET }, 5), 0x87);
  });

  test('with confineTopics: false devices reach other devices, and time is still told only about oneself', async () => {
    const { clientId, username, password } = tencentCredentials({ productId: PRODUCT, deviceName: 'devg', deviceSecret: SECRET });
    const gateway = await connect(`mqtt://127.0.0.1:${broker.ports[3]!}`, { clientId, username, password, protocolVersion: 5, reconnect: false });
    clients.push(gateway);
    const got: string[] = [];
    gateway.on('message', (topic) => got.push(topic));
    assert.deepEqual(await gateway.subscribe(`${PRODUCT}/+/data`, { qos: 1 }), [1]);
    await gateway.publish(`${PRODUCT}/dev1/data`, 'for dev1', { qos: 1 });
    await waitFor(() => got.includes(`${PRODUCT}/dev1/data`), 5000, 'the message through the unconfined listener');
    await assert.rejects(
      gateway.publish(`$sys/operation/${PRODUCT}/dev1`, '{"type":"get","resource":["time"]}', { qos: 1 }),
      (e: unknown) => e instanceof PublishError && e.reasonCode === 0x87,
    );
  });

  test('a device resumes its session with fresh credentials (clean session 0)', async () => {
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const credentials = () => tencentCredentials({ productId: PRODUCT, deviceName: 'devs', deviceSecret: SECRET });
    const first = await connect(url, { ...credentials(), protocolVersion: 4, clean: false, reconnect: false });
    await first.subscribe(`${PRODUCT}/devs/control`, { qos: 1 });
    await first.end();
    const app = await openApp('apps');
    await app.publish(`${PRODUCT}/devs/control`, 'while away', { qos: 1 });
    // Listening from before CONNACK: the queued message follows it at once.
    const second = new MqttClient(url, { ...credentials(), protocolVersion: 4, clean: false, reconnect: false }, nodeDialer);
    clients.push(second);
    let resumed = false;
    const got: string[] = [];
    second.on('connect', (connack) => (resumed = connack.sessionPresent));
    second.on('message', (_topic, payload) => got.push(decoder.decode(payload)));
    await second.start();
    assert.ok(resumed, 'session present');
    await waitFor(() => got.includes('while away'), 5000, 'the message queued while away');
  });
});

describe('tencent profile: certificate devices on MQTT/TLS', () => {
  let broker: Broker;
  let certs: TestCerts;
  let other: { certFile: string; keyFile: string };

  before(async () => {
    certs = await makeCerts();
    other = await issueCertificate(certs, 'tencent-other', '/CN=other-device', 'extendedKeyUsage=clientAuth\n');
    const secrets = ({ productId, deviceName }: { productId: string; deviceName: string }): TencentDeviceKey | undefined =>
      productId === PRODUCT && deviceName === 'cert1' ? { publicKey: certs.clientCert } : undefined;
    broker = new Broker({
      listeners: [{
        host: '127.0.0.1',
        port: 0,
        tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, requestCertificate: true, requireCertificate: true },
        hooks: tencentProfile({ secrets }),
      }],
      sysInterval: 0,
      logger: silentLogger,
    });
    await broker.listen();
  });
  after(() => broker.close());

  const device = (cert: Buffer, key: Buffer) => {
    const { clientId, username } = tencentCredentials({ productId: PRODUCT, deviceName: 'cert1', deviceSecret: SECRET });
    // The vendor's docs: with a device certificate the password may be any value.
    return connect(`mqtts://localhost:${broker.port}`, {
      clientId, username, password: 'any value', protocolVersion: 4, reconnect: false, ca: certs.ca, cert, key,
    });
  };

  test("a device whose certificate carries its registered public key connects and stays within its topics", async () => {
    const client = await device(certs.clientCert, certs.clientKey);
    try {
      assert.deepEqual(await client.subscribe(`${PRODUCT}/cert1/control`, { qos: 1 }), [1]);
      assert.deepEqual(await client.subscribe(`${PRODUCT}/dev1/control`, { qos: 1 }), [0x80]);
    } finally {
      await client.end({ force: true });
    }
  });

  test("another device's certificate, valid for the CA, is refused", async () => {
    await assert.rejects(device(readFileSync(other.certFile), readFileSync(other.keyFile)),
      (error: unknown) => error instanceof ConnectionRefusedError && error.reasonCode === 4);
  });
});
