// Tencent profile: signed credentials round trip, refusals, and a Tencent-shaped device (MQTT 3.1 over WebSocket
// `/mqtt`) that syncs its clock on `$sys/operation/...` and exchanges messages.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Broker, silentLogger } from '../../src/broker/index.js';
import { ConnectionRefusedError, type MqttClient, connect } from '../../src/client/index.js';
import { type TencentCredentialOptions, tencentCredentials } from '../../src/credentials/index.js';
import { tencentProfile } from '../../src/dialects/index.js';
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
    const profile = tencentProfile({
      secrets: ({ productId, deviceName }) => {
        if (productId !== PRODUCT) return undefined;
        if (deviceName === 'rsa1') return { publicKey: rsa.publicKey };
        return deviceName.startsWith('dev') ? { deviceSecret: SECRET } : undefined;
      },
    });
    broker = new Broker({
      listeners: [{ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: 0, protocol: 'websockets', path: '/mqtt' }],
      hooks: profile,
      sysInterval: 0,
      logger: silentLogger,
    });
    profile.attach(broker);
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
    const app = await open({ deviceName: 'dev5', deviceSecret: SECRET }, 4);
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
});
