// Aliyun MQ profile: Signature and Token mode round trips and refusals, P2P between two clients without
// subscriptions, `$SYS/uploadToken` granting a Token mode connection new rights, and Token mode expiry: the notices,
// the disconnect, a fresh token keeping the connection, and no timer outliving its connection.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Broker, silentLogger } from '../../src/broker/index.js';
import { ConnectionRefusedError, MqttClient, PublishError, connect } from '../../src/client/index.js';
import { nodeDialer } from '../../src/client/node-dialer.js';
import {
  type AliyunMqCredentialOptions,
  type AliyunMqTokenGrant,
  type AliyunMqTokenType,
  aliyunMqClientId,
  aliyunMqCredentials,
  aliyunMqP2pTopic,
} from '../../src/credentials/index.js';
import { aliyunMqProfile } from '../../src/dialects/index.js';
import { waitFor } from '../helpers/wait.js';

const ACCESS_KEY = 'LTAItest';
const SECRET = 'XXXXX';
const INSTANCE = 'mqtt-xxxxx';
const decoder = new TextDecoder();

/** Issued tokens; `old` expired an hour ago. */
const tokens = new Map<string, AliyunMqTokenGrant>([
  ['read-token', { type: 'R' }],
  ['write-token', { type: 'W', expiresAt: Date.now() + 3_600_000 }],
  ['old', { type: 'RW', expiresAt: Date.now() - 3_600_000 }],
]);

describe('aliyun MQ profile', () => {
  let broker: Broker;
  const clients: MqttClient[] = [];

  before(async () => {
    const profile = aliyunMqProfile({
      secrets: ({ accessKeyId }) => (accessKeyId === ACCESS_KEY ? SECRET : undefined),
      tokens: (token, { accessKeyId }) => (accessKeyId === ACCESS_KEY ? tokens.get(token) : undefined),
      instanceId: INSTANCE,
    });
    broker = new Broker({ listeners: [{ host: '127.0.0.1', port: 0 }], hooks: profile, sysInterval: 0, logger: silentLogger });
    profile.attach(broker);
    await broker.listen();
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.end({ force: true })));
    await broker.close();
  });

  type Credentials = Omit<AliyunMqCredentialOptions, 'groupId' | 'accessKeyId' | 'instanceId'> & Partial<AliyunMqCredentialOptions>;

  function dial(options: Credentials, protocolVersion: 4 | 5, password?: string): Promise<MqttClient> {
    const credentials = aliyunMqCredentials({ groupId: 'GID_test', accessKeyId: ACCESS_KEY, instanceId: INSTANCE, ...options });
    return connect(`mqtt://127.0.0.1:${broker.port}`, {
      clientId: credentials.clientId,
      username: credentials.username,
      password: password ?? credentials.password,
      protocolVersion,
      reconnect: false,
    }).then((client) => {
      clients.push(client);
      return client;
    });
  }

  async function refusedCode(options: Credentials, protocolVersion: 4 | 5, password?: string): Promise<number | undefined> {
    const error = await dial(options, protocolVersion, password).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof ConnectionRefusedError, `expected a refusal, got ${String(error)}`);
    return error.reasonCode;
  }

  test('Signature and Token mode credentials connect', async () => {
    await dial({ deviceId: 'sig1', secretKey: SECRET }, 5);
    await dial({ deviceId: 'tok1', tokens: [{ type: 'R', token: 'read-token' }, { type: 'W', token: 'write-token' }] }, 4);
  });

  test('tampered, wrong-key, expired and unknown credentials are refused', async () => {
    const good = aliyunMqCredentials({ groupId: 'GID_test', deviceId: 'sig2', accessKeyId: ACCESS_KEY, instanceId: INSTANCE, secretKey: SECRET });
    const tampered = (good.password[0] === 'A' ? 'B' : 'A') + good.password.slice(1);
    assert.equal(await refusedCode({ deviceId: 'sig2', secretKey: SECRET }, 5, tampered), 0x86);
    assert.equal(await refusedCode({ deviceId: 'sig2', secretKey: 'wrong' }, 5), 0x86);
    assert.equal(await refusedCode({ deviceId: 'sig2', secretKey: 'wrong' }, 4), 4);
    assert.equal(await refusedCode({ deviceId: 'tok2', tokens: [{ type: 'RW', token: 'old' }] }, 5), 0x86);
    assert.equal(await refusedCode({ deviceId: 'tok2', tokens: [{ type: 'R', token: 'forged' }] }, 5), 0x86);
    assert.equal(await refusedCode({ deviceId: 'sig2', secretKey: SECRET, accessKeyId: 'LTAIother' }, 5), 0x87);
    assert.equal(await refusedCode({ deviceId: 'sig2', secretKey: SECRET, instanceId: 'mqtt-other' }, 4), 5);
  });

  test('P2P messages reach their target without a subscription', async () => {
    const alice = await dial({ deviceId: 'alice', secretKey: SECRET }, 5);
    const bob = await dial({ deviceId: 'bob', secretKey: SECRET }, 4);
    const bobGot: { topic: string; text: string }[] = [];
    const aliceGot: string[] = [];
    bob.on('message', (topic, payload) => bobGot.push({ topic, text: decoder.decode(payload) }));
    alice.on('message', (_topic, payload) => aliceGot.push(decoder.decode(payload)));
    const toBob = aliyunMqP2pTopic('chat', aliyunMqClientId('GID_test', 'bob'));
    assert.equal((await alice.publish(toBob, 'hello bob', { qos: 1 }))?.reasonCode ?? 0, 0);
    await bob.publish(aliyunMqP2pTopic('chat', aliyunMqClientId('GID_test', 'alice')), 'hello alice', { qos: 1 });
    await waitFor(() => bobGot.length === 1 && aliceGot.length === 1, 5000, 'both P2P messages');
    assert.deepEqual(bobGot, [{ topic: toBob, text: 'hello bob' }]);
    assert.deepEqual(aliceGot, ['hello alice']);
    // An offline target: accepted, delivered to nobody (v5: No matching subscribers).
    const ack = await alice.publish(aliyunMqP2pTopic('chat', 'GID_test@@@nobody'), 'lost', { qos: 1 });
    assert.equal(ack?.reasonCode, 0x10);
  });

  test('a read-only Token mode client gains write rights by $SYS/uploadToken', async () => {
    const reader = await dial({ deviceId: 'tok3', tokens: [{ type: 'R', token: 'read-token' }] }, 5);
    await assert.rejects(reader.publish('chat/news', 'early', { qos: 1 }), (e: unknown) => e instanceof PublishError && e.reasonCode === 0x87);
    await assert.rejects(
      reader.publish('$SYS/uploadToken', JSON.stringify({ token: 'forged', type: 'W' }), { qos: 1 }),
      (e: unknown) => e instanceof PublishError && e.reasonCode === 0x87,
    );
    await reader.publish('$SYS/uploadToken', JSON.stringify({ token: 'write-token', type: 'W' }), { qos: 1 });
    await reader.subscribe('chat/news', { qos: 1 });
    const got: string[] = [];
    reader.on('message', (_topic, payload) => got.push(decoder.decode(payload)));
    await reader.publish('chat/news', 'now allowed', { qos: 1 });
    await waitFor(() => got.includes('now allowed'), 5000, 'the message published with the uploaded token');

    const writer = await dial({ deviceId: 'tok4', tokens: [{ type: 'W', token: 'write-token' }] }, 5);
    assert.deepEqual(await writer.subscribe('chat/news', { qos: 1 }), [0x87]);
  });
});

describe('aliyun MQ profile: Token mode expiry', () => {
  /** Tokens valid for this long after they are looked up; a fresh one for an hour. */
  const LIFETIMES = new Map<string, { type: AliyunMqTokenType; ms: number }>([
    ['short-rw', { type: 'RW', ms: 1500 }],
    ['short-r', { type: 'R', ms: 1500 }],
    ['medium-rw', { type: 'RW', ms: 3000 }],
    ['cycle-rw', { type: 'RW', ms: 2000 }],
    ['fresh-rw', { type: 'RW', ms: 3_600_000 }],
    ['fresh-w', { type: 'W', ms: 3_600_000 }],
  ]);
  /** The latest expiry handed out for each token, to wait past it. */
  const lastExpiry = new Map<string, number>();
  let broker: Broker;
  const clients: MqttClient[] = [];
  const open = new Set<string>();
  /** Notices and disconnects the profile asked for, and whether their client was connected then. */
  const actions: { clientId: string; action: string; open: boolean }[] = [];

  before(async () => {
    const profile = aliyunMqProfile({
      secrets: ({ accessKeyId }) => (accessKeyId === ACCESS_KEY ? SECRET : undefined),
      tokens: (token) => {
        const lifetime = LIFETIMES.get(token);
        if (lifetime === undefined) return undefined;
        const expiresAt = Date.now() + lifetime.ms;
        lastExpiry.set(token, expiresAt);
        return { type: lifetime.type, expiresAt };
      },
      // Short and cycle tokens are announced at once, the medium one half a second in, leaving time to upload.
      expiryNoticeMs: 2500,
    });
    broker = new Broker({ listeners: [{ host: '127.0.0.1', port: 0 }], hooks: profile, sysInterval: 0, logger: silentLogger });
    // Registered before the profile's own listeners: `open` is current when the profile acts.
    broker.on('connected', (client) => open.add(client.clientId));
    broker.on('disconnected', (client) => open.delete(client.clientId));
    profile.attach({
      deliverTo(clientId, message, onSettled) {
        actions.push({ clientId, action: message.topic, open: open.has(clientId) });
        return broker.deliverTo(clientId, message, onSettled);
      },
      disconnectClient(clientId, reasonCode, reason) {
        actions.push({ clientId, action: 'disconnect', open: open.has(clientId) });
        return broker.disconnectClient(clientId, reasonCode, reason);
      },
      on: (event, listener) => broker.on(event, listener),
    });
    await broker.listen();
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.end({ force: true })));
    await broker.close();
  });

  type Notice = { topic: string; body: Record<string, unknown> };

  /**
   * A client (Token mode with `tokens`, else Signature mode) and the `$SYS/...` messages it receives (payloads
   * parsed), listened to from before CONNACK.
   */
  async function dial(
    deviceId: string,
    tokens: AliyunMqCredentialOptions['tokens'],
    protocolVersion: 4 | 5,
  ): Promise<{ client: MqttClient; notices: Notice[] }> {
    const secret = tokens ? { tokens } : { secretKey: SECRET };
    const credentials = aliyunMqCredentials({ groupId: 'GID_test', deviceId, accessKeyId: ACCESS_KEY, instanceId: INSTANCE, ...secret });
    const client = new MqttClient(`mqtt://127.0.0.1:${broker.port}`, { ...credentials, protocolVersion, reconnect: false }, nodeDialer);
    const notices: Notice[] = [];
    client.on('message', (topic, payload) => {
      if (topic.startsWith('$SYS/')) notices.push({ topic, body: JSON.parse(decoder.decode(payload)) as Record<string, unknown> });
    });
    clients.push(client);
    await client.start();
    return { client, notices };
  }

  function closed(client: MqttClient): Promise<void> {
    return new Promise((resolve) => client.once('close', () => resolve()));
  }

  test('an expiring token is announced, then its expiry ends the connection; Signature mode is unaffected', async () => {
    const { client: signed, notices: signedNotices } = await dial('sig-x', undefined, 5);
    const { client: v5, notices: v5Notices } = await dial('tok-x5', [{ type: 'RW', token: 'short-rw' }], 5);
    const v5Disconnect = new Promise<{ reasonCode?: number; properties?: { reasonString?: string } }>((resolve) => v5.once('disconnect', resolve));
    const { client: v4, notices: v4Notices } = await dial('tok-x4', [{ type: 'W', token: 'fresh-w' }, { type: 'R', token: 'short-r' }], 4);
    await Promise.all([closed(v5), closed(v4)]);

    assert.equal(v5Notices.length, 2);
    assert.equal(v5Notices[0]!.topic, '$SYS/tokenExpireNotice');
    assert.equal(v5Notices[0]!.body.type, 'RW');
    assert.equal(typeof v5Notices[0]!.body.expireTime, 'number');
    assert.deepEqual(v5Notices[1], { topic: '$SYS/tokenInvalidNotice', body: { code: 2, type: 'RW' } });
    const disconnect = await v5Disconnect;
    assert.equal(disconnect.reasonCode, 0x87);
    assert.equal(disconnect.properties?.reasonString, 'RW token expired');
    // The read token ran out; the write token it held besides does not keep the connection.
    assert.deepEqual(v4Notices.map((n) => [n.topic, n.body.type]), [
      ['$SYS/tokenExpireNotice', 'R'],
      ['$SYS/tokenInvalidNotice', 'R'],
    ]);

    await signed.subscribe('chat/alive', { qos: 1 });
    const got: string[] = [];
    signed.on('message', (topic) => got.push(topic));
    await signed.publish('chat/alive', 'yes', { qos: 1 });
    await waitFor(() => got.includes('chat/alive'), 5000, 'the Signature mode round trip');
    assert.deepEqual(signedNotices, []);
  });

  test('a fresh token uploaded after the notice keeps the connection past the old expiry', async () => {
    const { client, notices: got } = await dial('tok-up', [{ type: 'RW', token: 'medium-rw' }], 5);
    await waitFor(() => got.length > 0, 5000, 'the expiry notice');
    assert.equal(got[0]!.topic, '$SYS/tokenExpireNotice');
    const oldExpiry = got[0]!.body.expireTime as number;
    await client.publish('$SYS/uploadToken', JSON.stringify({ token: 'fresh-rw', type: 'RW' }), { qos: 1 });
    await waitFor(() => Date.now() > oldExpiry + 500, 10_000, 'the old expiry to pass');
    await client.subscribe('chat/kept', { qos: 1 });
    const messages: string[] = [];
    client.on('message', (topic) => messages.push(topic));
    await client.publish('chat/kept', 'still here', { qos: 1 });
    await waitFor(() => messages.includes('chat/kept'), 5000, 'the round trip after the old expiry');
    assert.ok(client.connected);
    assert.deepEqual(got.map((n) => n.topic), ['$SYS/tokenExpireNotice']);
  });

  test('connections that end leave no timer behind', async () => {
    const cycles = 40;
    for (let i = 0; i < cycles; i++) {
      const { client } = await dial(`cycle${i}`, [{ type: 'RW', token: 'cycle-rw' }], i % 2 === 0 ? 5 : 4);
      await client.end();
    }
    // Past the last of their expiries: a timer left behind would have acted on a closed connection by now.
    const last = lastExpiry.get('cycle-rw')!;
    await waitFor(() => Date.now() > last + 300, 10_000, 'the last expiry to pass');
    const cycleActions = actions.filter((a) => a.clientId.includes('@@@cycle'));
    assert.deepEqual(cycleActions.filter((a) => !a.open), []);
    assert.ok(cycleActions.every((a) => a.action === '$SYS/tokenExpireNotice'), JSON.stringify(cycleActions));
  });
});
