// Hub rules the Azure SDK never exercises: QoS 2, RETAIN, wills, token expiry, foreign topics, per-connection
// answers, method 404/504, X.509 identities, modules, and service API errors.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHash } from 'node:crypto';
import { X509Certificate } from 'node:crypto';
import { azureCredentials } from '../../src/credentials/index.js';
import { createServiceToken } from '../../src/iothub/index.js';
import { waitFor } from '../helpers/wait.js';
import { connectDevice, type RawDevice } from './device-client.js';
import { HUB_NAME, primaryKey, startHub, type HubFixture } from './hub-fixture.js';

describe('IoT hub rules', () => {
  let fixture: HubFixture;
  const devices: RawDevice[] = [];
  const keys = new Map<string, string>();
  const connect = async (...args: Parameters<typeof connectDevice> extends [unknown, ...infer R] ? R : never): Promise<RawDevice> => {
    const device = await connectDevice(fixture, ...args);
    devices.push(device);
    return device;
  };
  const add = async (deviceId: string, path = `/devices/${deviceId}`): Promise<string> => {
    const { status, body } = await fixture.api('PUT', path, {});
    assert.equal(status, 200);
    keys.set(deviceId, primaryKey(body));
    return primaryKey(body);
  };

  before(async () => {
    fixture = await startHub();
  });
  after(async () => {
    for (const device of devices) device.client.end(true);
    await fixture.stop();
  });

  /** The acknowledgements a device receives, to show that a refused publish is never acknowledged. */
  const acknowledgements = (device: RawDevice): string[] => {
    const seen: string[] = [];
    device.client.on('packetreceive', (packet) => {
      if (packet.cmd === 'puback' || packet.cmd === 'pubrec') seen.push(packet.cmd);
    });
    return seen;
  };

  test('a QoS 2 publish closes the connection without a PUBREC', async () => {
    const device = await connect('q2', await add('q2'));
    const acks = acknowledgements(device);
    device.client.publish('devices/q2/messages/events/', 'x', { qos: 2 });
    await waitFor(device.closed, 5000, 'connection closed');
    assert.deepEqual(acks, []);
    assert.equal(fixture.hub.events.query({ deviceId: 'q2' }).filter((e) => e.type === 'telemetry').length, 0);
  });

  test('RETAIN is forwarded as a property and not stored', async () => {
    const routed: string[] = [];
    fixture.hub.broker.on('message', (message) => routed.push(message.topic));
    const device = await connect('ret', await add('ret'));
    await device.client.publishAsync('devices/ret/messages/events/%24.mid=r1', 'kept?', { qos: 1, retain: true });
    const [event] = fixture.hub.events.query({ messageId: 'r1' });
    assert.equal(event?.properties['mqtt-retain'], 'true');
    assert.deepEqual(routed, []);
  });

  test("a device's will becomes telemetry; connects and disconnects are logged", async () => {
    const device = await connect('willy', await add('willy'), {
      will: { topic: 'devices/willy/messages/events/%24.mid=w1&reason=gone', payload: Buffer.from('bye'), qos: 1, retain: false },
    });
    (device.client as unknown as { stream: { destroy(): void } }).stream.destroy();
    await waitFor(() => fixture.hub.events.query({ messageId: 'w1' }).length === 1, 5000, 'will event');
    const [will] = fixture.hub.events.query({ messageId: 'w1' });
    assert.equal(will!.properties['iothub-MessageType'], 'Will');
    assert.equal(will!.properties['reason'], 'gone');
    assert.equal(will!.body, 'bye');
    await waitFor(() => fixture.hub.events.query({ deviceId: 'willy' }).some((e) => e.type === 'deviceDisconnected'), 5000, 'disconnect event');
    assert.ok(fixture.hub.events.query({ deviceId: 'willy' }).some((e) => e.type === 'deviceConnected'));
  });

  test('an expired token is refused; a connection is closed when its token expires', async () => {
    const key = await add('exp');
    await assert.rejects(connectDevice(fixture, 'exp', key, { expiry: Math.floor(Date.now() / 1000) - 1 }), /Not authorized/i);
    const device = await connect('exp', key, { expiry: Math.floor(Date.now() / 1000) + 2 });
    await waitFor(device.closed, 5000, 'closed at token expiry');
  });

  test('foreign topics are refused, and a publish to one closes the connection unacknowledged', async () => {
    await add('other');
    const device = await connect('foreign', await add('foreign'));
    // MQTT.js turns a refused filter into an error: read the SUBACK itself.
    const suback = new Promise<number[]>((resolve) =>
      device.client.on('packetreceive', (packet) => {
        if (packet.cmd === 'suback') resolve(packet.granted as number[]);
      }),
    );
    device.client.subscribe({ 'devices/other/messages/devicebound/#': { qos: 1 }, 'devices/foreign/messages/devicebound/#': { qos: 1 }, '#': { qos: 0 } }, () => undefined);
    assert.deepEqual(await suback, [128, 1, 128]);
    const acks = acknowledgements(device);
    device.client.publish('devices/other/messages/events/', 'spoof', { qos: 1 });
    await waitFor(device.closed, 5000, 'closed after a foreign publish');
    assert.deepEqual(acks, [], 'a refused publish is not acknowledged');
    const second = await connect('foreign', keys.get('foreign')!);
    second.client.publish('some/topic', 'x', { qos: 0 });
    await waitFor(second.closed, 5000, 'closed after a non-hub topic');
    assert.equal(fixture.hub.events.query({ deviceId: 'other' }).length, 0);
  });

  test('twin and method answers reach only the asking connection', async () => {
    const a = await connect('ask-a', await add('ask-a'));
    const b = await connect('ask-b', await add('ask-b'));
    await a.client.subscribeAsync('$iothub/twin/res/#');
    await b.client.subscribeAsync(['$iothub/twin/res/#', '$iothub/methods/POST/#']);
    a.client.publish('$iothub/twin/GET/?$rid=r-a', ' ');
    await waitFor(() => a.received.length === 1, 5000, 'twin answer');
    assert.equal(a.received[0]!.topic, '$iothub/twin/res/200/?$rid=r-a');
    assert.deepEqual(JSON.parse(a.received[0]!.payload.toString()), { desired: { $version: 1 }, reported: { $version: 1 } });
    a.client.publish('$iothub/twin/PATCH/properties/reported/?$rid=r-bad', '{not json');
    await waitFor(() => a.received.length === 2, 5000, 'error answer');
    assert.equal(a.received[1]!.topic, '$iothub/twin/res/400/?$rid=r-bad');
    assert.equal(JSON.parse(a.received[1]!.payload.toString()).errorCode, 400004);
    // A method call to b; a answering with b's request id does not count.
    const call = fixture.api('POST', '/twins/ask-b/methods', { methodName: 'ping', payload: { n: 1 }, responseTimeoutInSeconds: 5 });
    await waitFor(() => b.received.length === 1, 5000, 'method request');
    const request = b.received[0]!;
    const rid = /\$rid=([^&]+)/.exec(request.topic)![1]!;
    assert.equal(request.topic, `$iothub/methods/POST/ping/?$rid=${rid}`);
    a.client.publish(`$iothub/methods/res/500/?$rid=${rid}`, '{"from":"a"}');
    // A connection's packets are handled in order: once a's next request is answered, its false answer was seen.
    a.client.publish('$iothub/twin/GET/?$rid=r-sync', ' ');
    await waitFor(() => a.received.length === 3, 5000, 'sync answer');
    b.client.publish(`$iothub/methods/res/201/?$rid=${rid}`, '{"from":"b"}');
    const answer = await call;
    assert.deepEqual(answer.body, { status: 201, payload: { from: 'b' } });
    assert.equal(b.received.length, 1);
  });

  test('direct methods: 404 when offline, 504 on timeout', async () => {
    await add('mute');
    const offline = await fixture.api('POST', '/twins/mute/methods', { methodName: 'x', responseTimeoutInSeconds: 1 });
    assert.equal(offline.status, 404);
    assert.equal(offline.body.errorCode, 404103);
    const device = await connect('mute', keys.get('mute')!);
    await device.client.subscribeAsync('$iothub/methods/POST/#');
    const late = await fixture.api('POST', '/twins/mute/methods', { methodName: 'x', responseTimeoutInSeconds: 0.2 });
    assert.equal(late.status, 504);
    assert.equal(late.body.errorCode, 504101);
  });

  test('cloud-to-device: queued while offline, bounded, expiring', async () => {
    await add('c2d');
    for (let i = 0; i < 3; i++) {
      const sent = await fixture.api('POST', '/devices/c2d/messages/devicebound', { body: `m${i}`, messageId: `q${i}`, properties: { n: String(i), flag: null } });
      assert.equal(sent.status, 201);
    }
    await fixture.api('POST', '/devices/c2d/messages/devicebound', { body: 'late', messageId: 'gone', expiryTimeUtc: new Date(Date.now() + 200).toISOString() });
    assert.equal((await fixture.api('GET', '/devices/c2d/messages/devicebound')).body.length, 4);
    await waitFor(() => fixture.hub.cloudToDevice.feedback({ messageId: 'gone' }).length === 1, 5000, 'expiry');
    assert.equal(fixture.hub.cloudToDevice.feedback({ messageId: 'gone' })[0]!.statusCode, 'Expired');
    const device = await connect('c2d', keys.get('c2d')!);
    await device.client.subscribeAsync('devices/c2d/messages/devicebound/#', { qos: 1 });
    await waitFor(() => device.received.length === 3, 5000, 'queued messages');
    assert.deepEqual(device.received.map((p) => p.payload.toString()), ['m0', 'm1', 'm2']);
    assert.equal(device.received[0]!.qos, 1);
    assert.equal(device.received[0]!.topic, 'devices/c2d/messages/devicebound/%24.mid=q0&%24.to=%2Fdevices%2Fc2d%2Fmessages%2Fdevicebound&n=0&flag');
    // Acknowledged messages leave the queue with a Success outcome.
    const succeeded = (): number => fixture.hub.cloudToDevice.feedback({ deviceId: 'c2d' }).filter((f) => f.statusCode === 'Success').length;
    await waitFor(() => succeeded() === 3, 5000, 'Success outcomes');
    device.client.end(true);
    await waitFor(() => !fixture.hub.isConnected('c2d'), 5000, 'offline');
    const results = [];
    for (let i = 0; i < 51; i++) results.push(await fixture.api('POST', '/devices/c2d/messages/devicebound', { body: i }));
    assert.equal(results.filter((r) => r.status === 201).length, 50);
    assert.equal(results[50]!.status, 403);
    assert.equal(results[50]!.body.errorCode, 403004);
  });

  test('cloud-to-device: Success only when the device acknowledges; a dropped message is handed over again', async () => {
    await add('c2d-ack');
    const outcome = (): string | undefined => fixture.hub.cloudToDevice.feedback({ messageId: 'ack-1' })[0]?.statusCode;
    // A clean session that never acknowledges: the message stays queued, and returns when the session ends.
    const silent = await connect('c2d-ack', keys.get('c2d-ack')!, { clean: true });
    // MQTT.js sends PUBACK when handleMessage calls back: this one never does.
    silent.client.handleMessage = () => undefined;
    await silent.client.subscribeAsync('devices/c2d-ack/messages/devicebound/#', { qos: 1 });
    await fixture.api('POST', '/devices/c2d-ack/messages/devicebound', { body: 'once', messageId: 'ack-1' });
    await waitFor(() => silent.received.length === 1, 5000, 'delivery to the silent device');
    assert.equal(outcome(), undefined);
    assert.equal(fixture.hub.cloudToDevice.queued('c2d-ack').length, 1);
    silent.client.end(true);
    await waitFor(() => !fixture.hub.isConnected('c2d-ack'), 5000, 'offline');

    const device = await connect('c2d-ack', keys.get('c2d-ack')!, { clean: true });
    await device.client.subscribeAsync('devices/c2d-ack/messages/devicebound/#', { qos: 1 });
    await waitFor(() => outcome() === 'Success', 5000, 'Success after the acknowledgement');
    assert.deepEqual(device.received.map((p) => p.payload.toString()), ['once']);
    assert.equal(fixture.hub.cloudToDevice.queued('c2d-ack').length, 0);

    // Unsubscribed: new messages wait in the queue instead of going to the connection.
    await device.client.unsubscribeAsync('devices/c2d-ack/messages/devicebound/#');
    await fixture.api('POST', '/devices/c2d-ack/messages/devicebound', { body: 'later', messageId: 'ack-2' });
    await fixture.hub.cloudToDevice.idle();
    assert.equal(fixture.hub.cloudToDevice.queued('c2d-ack').length, 1);
    await device.client.subscribeAsync('devices/c2d-ack/messages/devicebound/#', { qos: 1 });
    await waitFor(() => device.received.length === 2, 5000, 'queued message after subscribing again');
  });

  test('X.509 identities: by thumbprint and by CA-signed common name', async () => {
    const der = new X509Certificate(fixture.certs.clientCert).raw;
    const thumbprint = createHash('sha1').update(der).digest('hex').toUpperCase();
    const created = await fixture.api('PUT', '/devices/culex-client', { authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: thumbprint } } });
    assert.equal(created.status, 200);
    const tls = { cert: fixture.certs.clientCert, key: fixture.certs.clientKey };
    const byPrint = await connect('culex-client', undefined, tls);
    await byPrint.client.publishAsync('devices/culex-client/messages/events/%24.mid=x1', 'cert', { qos: 1 });
    assert.equal(fixture.hub.events.query({ messageId: 'x1' }).length, 1);
    byPrint.client.end(true);
    await fixture.api('PUT', '/devices/culex-client', { authentication: { type: 'certificateAuthority' } });
    await waitFor(() => !fixture.hub.isConnected('culex-client'), 5000, 'old connection gone');
    const byCa = await connect('culex-client', undefined, tls);
    assert.ok(!byCa.closed());
    byCa.client.end(true);
    await waitFor(() => !fixture.hub.isConnected('culex-client'), 5000, 'old connection gone');
    const transports: string[] = [];
    fixture.hub.broker.on('connected', (info) => transports.push(info.peer.transport));
    const overWss = await connect('culex-client', undefined, { ...tls, protocol: 'wss', port: fixture.wssPort, path: '/$iothub/websocket' });
    assert.ok(!overWss.closed());
    assert.deepEqual(transports, ['wss']);
    await fixture.api('PUT', '/devices/nocert', { authentication: { type: 'certificateAuthority' } });
    await assert.rejects(connectDevice(fixture, 'nocert', undefined, tls), /Not authorized/i);
  });

  test('modules connect, send telemetry and use their own twin', async () => {
    await add('host');
    const key = await add('host', '/devices/host/modules/mod1');
    const module = await connect('host/mod1', key);
    await module.client.subscribeAsync('$iothub/twin/res/#');
    await module.client.publishAsync('devices/host/modules/mod1/messages/events/%24.on=out1&%24.mid=m1/', '{}', { qos: 1 });
    const [event] = fixture.hub.events.query({ messageId: 'm1' });
    assert.equal(event?.moduleId, 'mod1');
    assert.equal(event?.systemProperties['outputName'], 'out1');
    module.client.publish('$iothub/twin/PATCH/properties/reported/?$rid=1', '{"mood":"fine"}');
    await waitFor(() => module.received.length === 1, 5000, 'patch answer');
    assert.equal(module.received[0]!.topic, '$iothub/twin/res/204/?$rid=1&$version=2');
    assert.equal((await fixture.api('GET', '/twins/host/modules/mod1')).body.properties.reported.mood, 'fine');
    assert.equal((await fixture.api('GET', '/twins/host')).body.properties.reported.mood, undefined);
    const removed = await fixture.api('DELETE', '/devices/host');
    assert.equal(removed.status, 204);
    await waitFor(module.closed, 5000, 'module disconnected with its device');
  });

  test('service API: authorisation, JSON errors, If-Match, event stream', async () => {
    const base = `http://127.0.0.1:${fixture.servicePort}`;
    const anonymous = await fetch(`${base}/devices`);
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as { errorCode: number }).errorCode, 401002);
    const registryOnly = createServiceToken(HUB_NAME, fixture.hub.policies.find((p) => p.keyName === 'registryRead')!);
    assert.equal((await fetch(`${base}/devices`, { headers: { authorization: registryOnly } })).status, 200);
    assert.equal((await fetch(`${base}/twins/x`, { headers: { authorization: registryOnly } })).status, 401);
    const expired = createServiceToken(HUB_NAME, fixture.hub.policies[0]!, -10);
    assert.equal((await fetch(`${base}/devices`, { headers: { authorization: expired } })).status, 401);
    const missing = await fixture.api('GET', '/devices/nope');
    assert.equal(missing.status, 404);
    assert.deepEqual(Object.keys(missing.body).sort(), ['code', 'errorCode', 'message']);
    assert.equal((await fixture.api('GET', '/no/such/route')).status, 404);
    assert.equal((await fixture.api('PUT', '/devices/bad%20id', {})).status, 400);

    await add('etag');
    const twin = await fixture.api('GET', '/twins/etag');
    const etag = twin.headers.get('etag')!;
    assert.equal((await fixture.api('PATCH', '/twins/etag', { tags: { site: 'a' } }, { 'if-match': etag })).status, 200);
    const stale = await fixture.api('PATCH', '/twins/etag', { tags: { site: 'b' } }, { 'if-match': etag });
    assert.equal(stale.status, 412);
    assert.equal(stale.body.errorCode, 412002);

    const owner = createServiceToken(HUB_NAME, fixture.hub.policies[0]!);
    const controller = new AbortController();
    const stream = await fetch(`${base}/messages/events/stream?deviceId=streamer`, { headers: { authorization: owner }, signal: controller.signal });
    assert.equal(stream.headers.get('content-type'), 'text/event-stream');
    const reader = stream.body!.getReader();
    const device = await connect('streamer', await add('streamer'));
    await device.client.publishAsync('devices/streamer/messages/events/%24.mid=s1', 'live', { qos: 1 });
    let text = '';
    const deadline = Date.now() + 5000;
    while (!text.includes('"messageId":"s1"') && Date.now() < deadline) text += new TextDecoder().decode((await reader.read()).value);
    assert.match(text, /event: telemetry\ndata: .*"body":"live"/);
    controller.abort();

    const [live] = fixture.hub.events.query({ messageId: 's1' });
    const afterIt = await fixture.api('GET', `/messages/events?since=${live!.sequenceNumber - 1}&limit=1`);
    assert.equal(afterIt.body[0]!['sequenceNumber'], live!.sequenceNumber);
    assert.equal((await fixture.api('GET', `/messages/events?since=${new Date(Date.now() + 60_000).toISOString()}`)).body.length, 0);
    assert.equal((await fixture.api('GET', '/messages/events?since=yesterday')).status, 400);
  });

  test('device tokens signed by a policy with DeviceConnect are accepted', async () => {
    await add('bypolicy');
    const policy = fixture.hub.policies.find((p) => p.keyName === 'device')!;
    const credentials = azureCredentials({ hostName: HUB_NAME, deviceId: 'bypolicy', key: policy.primaryKey, policyName: 'device' });
    const device = await connect('bypolicy', undefined, { password: credentials.password! });
    assert.ok(!device.closed());
  });
});
