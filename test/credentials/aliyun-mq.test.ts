import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AliyunMqTokenGrant,
  type AliyunMqVerifyOptions,
  aliyunMqClientId,
  aliyunMqCredentials,
  aliyunMqP2pTopic,
  parseAliyunMqP2pTopic,
  verifyAliyunMq,
} from '../../src/credentials/index.js';

const NOW = 1_700_000_000_000;
const base = { groupId: 'GID_Test', deviceId: '0001', accessKeyId: 'YYYYY', instanceId: 'mqtt-xxxxx' };
const grants: Record<string, AliyunMqTokenGrant> = {
  '123': { type: 'R', expiresAt: NOW + 60_000 },
  abcd: { type: 'W', expiresAt: NOW + 30_000 },
  both: {},
  old: { type: 'RW', expiresAt: NOW - 1 },
};
const options: AliyunMqVerifyOptions = {
  secretKeys: ({ accessKeyId }) => (accessKeyId === 'YYYYY' ? ['rotated', 'XXXXX'] : undefined),
  tokens: (token) => grants[token],
  instanceId: 'mqtt-xxxxx',
  now: NOW,
};

test('client ids and P2P topics', () => {
  assert.equal(aliyunMqClientId('GID_a', 'dev'), 'GID_a@@@dev');
  assert.throws(() => aliyunMqClientId('', 'dev'));
  assert.equal(aliyunMqP2pTopic('parent', 'GID_a@@@dev'), 'parent/p2p/GID_a@@@dev');
  assert.throws(() => aliyunMqP2pTopic('a/b', 'GID_a@@@dev'), /one level/);
  assert.throws(() => aliyunMqP2pTopic('parent', 'x/#'));
  assert.deepEqual(parseAliyunMqP2pTopic('parent/p2p/GID_a@@@dev'), { parentTopic: 'parent', targetClientId: 'GID_a@@@dev' });
  assert.equal(parseAliyunMqP2pTopic('parent/x/GID_a@@@dev'), undefined);
  assert.equal(parseAliyunMqP2pTopic('parent/p2p/a/b'), undefined);
});

test('Signature mode round trip, with a rotated secret list', async () => {
  const result = await verifyAliyunMq(aliyunMqCredentials({ ...base, secretKey: 'XXXXX' }), options);
  assert.ok(result.ok, JSON.stringify(result));
  assert.deepEqual(result.identity, { mode: 'Signature', groupId: 'GID_Test', deviceId: '0001', accessKeyId: 'YYYYY', instanceId: 'mqtt-xxxxx' });
  assert.equal(result.expiresAt, undefined);
});

test("Token mode: every token checked, permissions, each token's expiry and the earliest reported", async () => {
  const tokens = [
    { type: 'R', token: '123' },
    { type: 'W', token: 'abcd' },
  ] as const;
  const result = await verifyAliyunMq(aliyunMqCredentials({ ...base, tokens }), options);
  assert.ok(result.ok, JSON.stringify(result));
  assert.equal(result.identity.mode, 'Token');
  assert.equal(result.identity.canRead, true);
  assert.equal(result.identity.canWrite, true);
  assert.equal(result.expiresAt, NOW + 30_000);
  assert.deepEqual(result.identity.tokens, [
    { type: 'R', expiresAt: NOW + 60_000 },
    { type: 'W', expiresAt: NOW + 30_000 },
  ]);
  const readOnly = await verifyAliyunMq(aliyunMqCredentials({ ...base, tokens: [{ type: 'R', token: '123' }] }), options);
  assert.ok(readOnly.ok && readOnly.identity.canWrite === false, 'read-only token');
});

test('tampered, expired, wrong-key and malformed credentials are refused with a reason', async () => {
  const good = aliyunMqCredentials({ ...base, secretKey: 'XXXXX' });
  const refused = async (c: { clientId: string; username?: string; password?: string }, kind: string, opts = options) => {
    const result = await verifyAliyunMq(c, opts);
    assert.ok(!result.ok, `accepted: ${JSON.stringify(c)}`);
    assert.equal(result.kind, kind, result.reason);
  };
  await refused({ ...good, clientId: 'GID_Test@@@0002' }, 'bad-signature');
  await refused(aliyunMqCredentials({ ...base, secretKey: 'wrong' }), 'bad-signature');
  await refused(aliyunMqCredentials({ ...base, accessKeyId: 'ZZZZZ', secretKey: 'XXXXX' }), 'unknown-identity');
  await refused(aliyunMqCredentials({ ...base, instanceId: 'mqtt-other', secretKey: 'XXXXX' }), 'identity-mismatch');
  await refused({ ...good, clientId: 'nogroup' }, 'malformed');
  await refused({ ...good, username: 'Signature|YYYYY' }, 'malformed');
  await refused({ ...good, username: 'Magic|YYYYY|mqtt-xxxxx' }, 'unsupported');
  await refused({ ...good, password: undefined }, 'malformed');
  await refused(good, 'unsupported', { ...options, secretKeys: undefined });
  const token = (password: string) => ({ clientId: good.clientId, username: 'Token|YYYYY|mqtt-xxxxx', password });
  await refused(token('RW|old'), 'expired');
  await refused(token('R|123|W|forged'), 'bad-signature');
  await refused(token('W|123'), 'identity-mismatch');
  await refused(token('R|123|W'), 'malformed');
  await refused(token('X|123'), 'malformed');
  await refused(token('RW|both'), 'unsupported', { ...options, tokens: undefined });
  assert.ok((await verifyAliyunMq(token('RW|both'), options)).ok, 'RW token without expiry');
});
