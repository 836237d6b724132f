// Aliyun MQ profile: Signature and Token mode round trips and refusals, P2P between two clients without
// subscriptions, and `$SYS/uploadToken` granting a Token mode connection new rights.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Broker, silentLogger } from '../../src/broker/index.js';
import { ConnectionRefusedError, type MqttClient, PublishError, connect } from '../../src/client/index.js';
import {
  type AliyunMqCredentialOptions,
  type AliyunMqTokenGrant,
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
