// `culex broker` serving cloud devices from its configuration: the vendor's Aliyun IoT device SDK, a Tencent-shaped
// device (MQTT 3.1 over WebSocket /mqtt) and Aliyun MQ clients against a child process, each dialect on its own
// listener next to a plain one for applications; SIGHUP re-reading the device secrets; the --dialect shortcut and
// one-line errors.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import iot, { type Device } from 'alibabacloud-iot-device-sdk';
import { ConnectionRefusedError, type MqttClient, PublishError, connect } from '../../src/client/index.js';
import {
  type DeviceCredentials,
  aliyunIotCredentials,
  aliyunMqClientId,
  aliyunMqCredentials,
  aliyunMqP2pTopic,
  tencentCredentials,
} from '../../src/credentials/index.js';
import { waitFor } from '../helpers/wait.js';
import { type CulexBroker, startCulexBroker } from './culex-broker.js';
import { culex } from './run.js';

const PRODUCT = 'ABCDEFGHIJ';
const TENCENT_SECRET = 'MTIzNDU2Nzg5MGFiY2RlZg==';
const PK = 'a1TestPK';
const decoder = new TextDecoder();

/** What goes into CONNECT (the helpers also give the vendor's endpoint). */
function mqttFields({ clientId, username, password }: DeviceCredentials): Pick<DeviceCredentials, 'clientId' | 'username' | 'password'> {
  return { clientId, username, password };
}

const secrets = {
  tencent: [{ productId: PRODUCT, deviceName: 'dev1', deviceSecret: TENCENT_SECRET }],
  aliyunIot: [
    { productKey: PK, deviceName: 'sdk1', deviceSecret: 'sdk-device-secret-000111' },
    { productKey: PK, deviceName: 'dev1', deviceSecret: 'dev1-secret' },
  ],
  aliyunMq: { accessKeys: [{ accessKeyId: 'AK', accessKeySecret: 'SK', instanceId: 'mqtt-test' }] },
};

describe('culex broker with cloud dialects', () => {
  const dir = mkdtempSync(join(tmpdir(), 'culex-dialects-'));
  const secretsFile = join(dir, 'devices.json');
  let broker: CulexBroker;
  const clients: MqttClient[] = [];
  const devices: Device[] = [];
  /** Listener ports: applications, Aliyun IoT, Tencent over WebSocket, Aliyun MQ. */
  let app: number, aliyunIot: number, tencentWs: number, aliyunMq: number;

  before(async () => {
    writeFileSync(secretsFile, JSON.stringify(secrets, null, 2));
    // The applications' ACL (anonymous clients' rules) is broker-wide; the dialect listeners replace it.
    writeFileSync(join(dir, 'acl'), `topic readwrite ${PRODUCT}/#\ntopic readwrite /sys/${PK}/#\ntopic readwrite /${PK}/#\n`);
    const config = join(dir, 'broker.json');
    writeFileSync(config, JSON.stringify({
      auth: { aclFile: 'acl' },
      listeners: [
        { port: 0 },
        { port: 0, dialect: { type: 'aliyun-iot', secretsFile: 'devices.json' } },
        { port: 0, protocol: 'websockets', path: '/mqtt', dialect: { type: 'tencent', secretsFile: 'devices.json', methods: ['hmacsha1', 'hmacsha256'] } },
        { port: 0, dialect: { type: 'aliyun-mq', secretsFile: 'devices.json', instanceId: 'mqtt-test' } },
      ],
      sysInterval: 0,
      // Refusals are part of what is tested here: none of them may lock the loopback address out.
      security: { exemptLoopback: true },
    }, null, 2));
    broker = await startCulexBroker(['-c', config], 4);
    [app, aliyunIot, tencentWs, aliyunMq] = broker.ports as [number, number, number, number];
  });

  after(async () => {
    for (const device of devices) device.end(true);
    await Promise.all(clients.map((c) => c.end({ force: true })));
    assert.equal(await broker.stop(), 0, broker.log());
  });

  async function open(url: string, options: Parameters<typeof connect>[1]): Promise<MqttClient> {
    const client = await connect(url, { reconnect: false, ...options });
    clients.push(client);
    return client;
  }

  async function refusal(url: string, options: Parameters<typeof connect>[1]): Promise<number | undefined> {
    const error = await open(url, options).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof ConnectionRefusedError, `expected a refusal, got ${String(error)}`);
    return error.reasonCode;
  }

  const iotDevice = (deviceName: string, deviceSecret: string, protocolVersion: 4 | 5 = 5): Parameters<typeof connect>[1] => ({
    ...mqttFields(aliyunIotCredentials({ productKey: PK, deviceName, deviceSecret })),
    protocolVersion,
  });

  it('says which listeners take anonymous clients: the dialect listeners do not, and refuse one', async () => {
    const lines = broker.log().split('\n').filter((line) => line.includes('listening on'));
    assert.deepEqual(lines.map((line) => /\((anonymous clients \w+)\)$/.exec(line)?.[1]), [
      'anonymous clients allowed', 'anonymous clients refused', 'anonymous clients refused', 'anonymous clients refused',
    ]);
    // Refused by the dialect's check (Bad User Name or Password) before the anonymous rule (Not Authorized) applies.
    for (const port of [aliyunIot, aliyunMq]) assert.equal(await refusal(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5 }), 0x86);
  });

  it("serves the vendor's Aliyun IoT device SDK: it connects, publishes and receives; a wrong secret is refused", async () => {
    const application = await open(`mqtt://127.0.0.1:${app}`, { protocolVersion: 5 });
    const seen: Array<{ topic: string; text: string }> = [];
    application.on('message', (topic, payload) => seen.push({ topic, text: decoder.decode(payload) }));
    await application.subscribe([`/sys/${PK}/sdk1/thing/event/property/post`, `/${PK}/sdk1/user/update`], { qos: 1 });

    const device = iot.device({ productKey: PK, deviceName: 'sdk1', deviceSecret: secrets.aliyunIot[0]!.deviceSecret, brokerUrl: `mqtt://127.0.0.1:${aliyunIot}/` });
    devices.push(device);
    let connected = false;
    device.on('connect', () => (connected = true));
    await waitFor(() => connected, 10_000, 'the SDK to connect');
    const custom = `/${PK}/sdk1/user/get`;
    await new Promise<void>((resolve, reject) => device.subscribe(custom, { qos: 1 }, (error) => (error ? reject(error) : resolve())));
    const commands: Array<Record<string, unknown>> = [];
    const raw: string[] = [];
    device.onProps((command) => commands.push(command.params ?? {}));
    device.on('message', (topic: string, payload: Buffer) => {
      if (topic === custom) raw.push(payload.toString('utf8'));
    });

    device.postProps({ temperature: 21.5 });
    await new Promise<void>((resolve, reject) => device.publish(`/${PK}/sdk1/user/update`, 'raw hello', { qos: 1 }, (e) => (e ? reject(e) : resolve())));
    await waitFor(() => seen.length === 2, 5000, 'the property report and the raw message');
    const report = JSON.parse(seen.find((m) => m.topic.startsWith('/sys/'))!.text) as { method: string; params: unknown };
    assert.equal(report.method, 'thing.event.property.post');
    assert.deepEqual(report.params, { temperature: 21.5 });
    assert.ok(seen.some((m) => m.topic === `/${PK}/sdk1/user/update` && m.text === 'raw hello'));

    const set = { id: '1', version: '1.0', method: 'thing.service.property.set', params: { led: 1 } };
    await application.publish(`/sys/${PK}/sdk1/thing/service/property/set`, JSON.stringify(set), { qos: 1 });
    await application.publish(custom, 'to the device', { qos: 1 });
    await waitFor(() => commands.length === 1 && raw.length === 1, 5000, 'the SDK to receive both messages');
    assert.deepEqual(commands, [{ led: 1 }]);
    assert.deepEqual(raw, ['to the device']);

    // The same device with a wrong secret: the SDK hears the refusal.
    const impostor = iot.device({ productKey: PK, deviceName: 'sdk1', deviceSecret: 'wrong', brokerUrl: `mqtt://127.0.0.1:${aliyunIot}/` });
    devices.push(impostor);
    const errors: string[] = [];
    // The SDK re-emits mqtt.js's events with their arguments as one array.
    impostor.on('error', (args: unknown[]) => errors.push(String(args[0])));
    await waitFor(() => errors.length > 0, 10_000, 'the refusal');
    impostor.end(true);
    assert.match(errors[0]!, /bad user ?name or password/i);
    assert.equal(await refusal(`mqtt://127.0.0.1:${aliyunIot}`, iotDevice('sdk1', 'wrong')), 0x86);
    assert.equal(await refusal(`mqtt://127.0.0.1:${aliyunIot}`, iotDevice('ghost', 'x', 4)), 5);
  });

  it('serves a Tencent device over WebSocket /mqtt with MQTT 3.1: time sync and messages', async () => {
    const { clientId, username, password } = tencentCredentials({ productId: PRODUCT, deviceName: 'dev1', deviceSecret: TENCENT_SECRET, sdkappid: 21010406, expiry: Date.now() });
    const device = await open(`ws://127.0.0.1:${tencentWs}/mqtt`, { clientId, username, password, protocolVersion: 3 });
    const application = await open(`mqtt://127.0.0.1:${app}`, { protocolVersion: 4 });
    const received: Array<{ topic: string; text: string }> = [];
    device.on('message', (topic, payload) => received.push({ topic, text: decoder.decode(payload) }));
    await device.subscribe([`${PRODUCT}/dev1/control`, `$sys/operation/result/${PRODUCT}/dev1`], { qos: 1 });

    await device.publish(`$sys/operation/${PRODUCT}/dev1`, '{"type":"get","resource":["time"]}', { qos: 1 });
    await waitFor(() => received.some((m) => m.topic === `$sys/operation/result/${PRODUCT}/dev1`), 5000, 'the time answer');
    const time = JSON.parse(received.find((m) => m.topic.startsWith('$sys/'))!.text) as { type: string; time: number; ntptime1: number; ntptime2: number };
    assert.equal(time.type, 'get');
    assert.ok(time.ntptime2 >= time.ntptime1);
    assert.equal(time.time, Math.floor(time.ntptime1 / 1000));

    const events: string[] = [];
    application.on('message', (_topic, payload) => events.push(decoder.decode(payload)));
    await application.subscribe(`${PRODUCT}/dev1/event`, { qos: 1 });
    await device.publish(`${PRODUCT}/dev1/event`, 'temperature=21', { qos: 1 });
    await application.publish(`${PRODUCT}/dev1/control`, 'led=on', { qos: 1 });
    await waitFor(() => events.includes('temperature=21') && received.some((m) => m.text === 'led=on'), 5000, 'both messages');

    const wrong = tencentCredentials({ productId: PRODUCT, deviceName: 'dev1', deviceSecret: 'b3RoZXJzZWNyZXQwMTIzNA==' });
    assert.equal(await refusal(`ws://127.0.0.1:${tencentWs}/mqtt`, { ...mqttFields(wrong), protocolVersion: 3 }), 4);
  });

  it('serves Aliyun MQ clients in Signature mode: a P2P message reaches its target', async () => {
    const dial = (deviceId: string): Promise<MqttClient> =>
      open(`mqtt://127.0.0.1:${aliyunMq}`, {
        ...mqttFields(aliyunMqCredentials({ groupId: 'GID_test', deviceId, accessKeyId: 'AK', secretKey: 'SK', instanceId: 'mqtt-test' })),
        protocolVersion: 4,
      });
    const alice = await dial('alice');
    const bob = await dial('bob');
    const got: Array<{ topic: string; text: string }> = [];
    bob.on('message', (topic, payload) => got.push({ topic, text: decoder.decode(payload) }));
    const toBob = aliyunMqP2pTopic('chat', aliyunMqClientId('GID_test', 'bob'));
    await alice.publish(toBob, 'hello bob', { qos: 1 });
    await waitFor(() => got.length === 1, 5000, 'the P2P message');
    assert.deepEqual(got, [{ topic: toBob, text: 'hello bob' }]);
    // Aliyun MQ clients are not held to the applications' ACL, and applications are.
    await alice.publish('chat/news', 'not in the ACL', { qos: 1 });
    const application = await open(`mqtt://127.0.0.1:${app}`, { protocolVersion: 5 });
    await assert.rejects(application.publish('chat/news', 'x', { qos: 1 }), (e: unknown) => e instanceof PublishError && e.reasonCode === 0x87);
    const other = mqttFields(aliyunMqCredentials({ groupId: 'GID_test', deviceId: 'carol', accessKeyId: 'AK', secretKey: 'SK', instanceId: 'mqtt-other' }));
    assert.equal(await refusal(`mqtt://127.0.0.1:${aliyunMq}`, { ...other, protocolVersion: 5 }), 0x87);
  });

  it('re-reads the device secrets on SIGHUP; a failed re-read keeps them', async () => {
    const url = `mqtt://127.0.0.1:${aliyunIot}`;
    const reloads = (): number => broker.log().split(`device secrets ${secretsFile} re-read`).length - 1;
    assert.equal(await refusal(url, iotDevice('dev2', 'dev2-secret')), 0x87);
    await open(url, iotDevice('dev1', 'dev1-secret'));
    writeFileSync(secretsFile, JSON.stringify({ ...secrets, aliyunIot: [{ productKey: PK, deviceName: 'dev2', deviceSecret: 'dev2-secret' }] }));
    broker.signal('SIGHUP');
    await waitFor(() => reloads() === 1, 10_000, 'the reload');
    await open(url, iotDevice('dev2', 'dev2-secret'));
    assert.equal(await refusal(url, iotDevice('dev1', 'dev1-secret')), 0x87);

    writeFileSync(secretsFile, '{ "aliyunIot": [ { "productKey": "a1TestPK", "deviceName": "dev3" } ] }');
    broker.signal('SIGHUP');
    await waitFor(() => broker.log().includes('SIGHUP: reload failed'), 10_000, 'the failed reload');
    const line = broker.log().split('\n').find((l) => l.includes('SIGHUP: reload failed'))!;
    assert.match(line, new RegExp(`previous files stay in force: ${secretsFile}:1: aliyunIot\\[0\\]: 'deviceSecret' is required$`));
    await open(url, iotDevice('dev2', 'dev2-secret'));
  });
});

describe('culex broker --dialect', () => {
  const dir = mkdtempSync(join(tmpdir(), 'culex-dialect-flag-'));

  it('serves the default listener with a dialect and a secrets file', async () => {
    const secretsFile = join(dir, 'devices.json');
    writeFileSync(secretsFile, JSON.stringify({ tencent: [{ productId: PRODUCT, deviceName: 'dev1', deviceSecret: TENCENT_SECRET }] }));
    const broker = await startCulexBroker(['--memory', '-p', '0', '--sys-interval', '0', '--dialect', 'tencent', '--secrets', secretsFile], 1);
    try {
      assert.match(broker.log(), /device secrets .*devices\.json: tencent 1, aliyunIot 0/);
      const credentials = mqttFields(tencentCredentials({ productId: PRODUCT, deviceName: 'dev1', deviceSecret: TENCENT_SECRET }));
      const client = await connect(`mqtt://127.0.0.1:${broker.ports[0]}`, { ...credentials, protocolVersion: 4, reconnect: false });
      await client.end();
      const anonymous = await connect(`mqtt://127.0.0.1:${broker.ports[0]}`, { protocolVersion: 5, reconnect: false }).then(
        async (c) => {
          await c.end({ force: true });
          return undefined;
        },
        (e: unknown) => e,
      );
      assert.ok(anonymous instanceof ConnectionRefusedError && anonymous.reasonCode === 0x86, String(anonymous));
    } finally {
      assert.equal(await broker.stop(), 0);
    }
  });

  it('reports an unknown dialect, a lone flag, an unreadable or bad secrets file in one line and exits 2', async () => {
    const unknown = await culex(['broker', '--memory', '--dialect', 'azure', '--secrets', 'x.json']);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr, "culex broker: unknown dialect 'azure' (known: tencent, aliyun-mq, aliyun-iot)\n");
    const lone = await culex(['broker', '--memory', '--dialect', 'tencent']);
    assert.equal(lone.code, 2);
    assert.equal(lone.stderr, 'culex broker: --dialect and --secrets go together\n');
    const missing = join(dir, 'missing.json');
    const unreadable = await culex(['broker', '--memory', '-p', '0', '--dialect', 'aliyun-iot', '--secrets', missing]);
    assert.equal(unreadable.code, 2);
    assert.equal(unreadable.stderr, `culex broker: ${missing}: cannot read: ENOENT\n`);

    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{\n  "tencent": [\n    { "productId": "ABCDEFGHIJ", "deviceName": "dev1", "publicKeyFile": "dev1.pem" }\n  ]\n}\n');
    const config = join(dir, 'broker.json');
    writeFileSync(config, JSON.stringify({ listeners: [{ port: 0, dialect: { type: 'tencent', secretsFile: 'bad.json' } }] }));
    const r = await culex(['broker', '-c', config]);
    assert.equal(r.code, 2);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('culex broker:'));
    assert.deepEqual(errors, [`culex broker: ${bad}:3: tencent[0].publicKeyFile: cannot read ${join(dir, 'dev1.pem')}: ENOENT`]);
  });
});
