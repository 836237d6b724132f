import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TencentDeviceKey, tencentCredentials, tencentExpiryMs, verifyTencent } from '../../src/credentials/index.js';

const PID = 'ABCDEFGHIJ';
const SECRET = 'MTIzNDU2Nzg5MGFiY2RlZg==';
const OTHER_SECRET = Buffer.from('another-device-secret').toString('base64');
const NOW = 1_700_000_000_000;
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const privatePem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;

function keys({ productId, deviceName }: { productId: string; deviceName: string }): TencentDeviceKey | TencentDeviceKey[] | undefined {
  if (productId !== PID) return undefined;
  if (deviceName === 'dev1') return { deviceSecret: SECRET };
  if (deviceName === 'certdev') return [{ publicKey: publicPem }];
  return undefined;
}

const verify = (c: { clientId: string; username?: string; password?: string | Uint8Array }, now = NOW) => verifyTencent(c, { keys, now });
const key = { productId: PID, deviceName: 'dev1', deviceSecret: SECRET, now: NOW };

test('expiry field: seconds, milliseconds, never', () => {
  assert.equal(tencentExpiryMs('1700000000'), 1_700_000_000_000);
  assert.equal(tencentExpiryMs('2147483647'), 2_147_483_647_000);
  assert.equal(tencentExpiryMs('1700000000123'), 1_700_000_000_123);
  assert.equal(tencentExpiryMs('9223372036854775807'), undefined);
});

test('key devices round trip with hmacsha1 and hmacsha256; defaults and endpoints', async () => {
  for (const method of ['hmacsha1', 'hmacsha256'] as const) {
    const creds = tencentCredentials({ ...key, method, random: (n) => Buffer.alloc(n, 0) });
    assert.equal(creds.username, `${PID}dev1;12010126;AAAAA;${NOW / 1000 + 3600}`);
    const result = await verify(creds);
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(result.identity, { productId: PID, deviceName: 'dev1', sdkappid: '12010126', connid: 'AAAAA', method, expiry: NOW + 3_600_000 });
  }
  const creds = tencentCredentials(key);
  assert.match(creds.username, /^ABCDEFGHIJdev1;12010126;[A-Za-z0-9]{5};1700003600$/);
  assert.match(creds.password, /^[0-9a-f]{64};hmacsha256$/);
  assert.equal(creds.url, `mqtt://${PID}.iotcloud.tencentdevices.com:1883`);
  assert.equal(creds.websocketPath, '/mqtt');
  assert.equal(tencentCredentials({ ...key, transport: 'ws' }).url, `ws://${PID}.ap-guangzhou.iothub.tencentdevices.com:80/mqtt`);
  assert.equal(tencentCredentials({ ...key, transport: 'tls' }).port, 8883);
});

test('SDK variants verify: Python ms expiry, C SDK LONG_MAX, upper-case hex and method', async () => {
  const python = tencentCredentials({ ...key, method: 'hmacsha1', sdkappid: 21010406, expiry: NOW - 2000 });
  assert.ok((await verify(python)).ok, 'Python SDK sends its own clock in ms as the expiry');
  const cSdk = tencentCredentials({ ...key, method: 'hmacsha1', sdkappid: 21010406, expiry: '9223372036854775807' });
  const cResult = await verify(cSdk, Date.UTC(2100, 0));
  assert.ok(cResult.ok && cResult.identity.expiry === undefined, 'C SDK never-expiring credential');
  const upper = tencentCredentials(key);
  const [hex, method] = upper.password.split(';') as [string, string];
  assert.ok((await verify({ ...upper, password: `${hex.toUpperCase()};${method.toUpperCase()}` })).ok, 'upper-case hex');
  assert.ok((await verify({ ...upper, password: new TextEncoder().encode(upper.password) })).ok, 'password bytes');
});

test('certificate devices: RSA-SHA256 equals openssl and verifies against the public key', async () => {
  const creds = tencentCredentials({ productId: PID, deviceName: 'certdev', privateKey: privatePem, connid: 'AbC12', expiry: 1700000000 });
  assert.equal(creds.url, `wss://${PID}.ap-guangzhou.iothub.tencentdevices.com:443/mqtt`);
  const [hex, method] = creds.password.split(';') as [string, string];
  assert.equal(method, 'rsa-sha256');
  assert.equal(hex.length, 512);
  const dir = mkdtempSync(join(tmpdir(), 'culex-tencent-'));
  try {
    writeFileSync(join(dir, 'key.pem'), privatePem);
    writeFileSync(join(dir, 'username'), creds.username);
    const openssl = execFileSync('openssl', ['dgst', '-sha256', '-sign', join(dir, 'key.pem'), join(dir, 'username')]);
    assert.equal(openssl.toString('hex'), hex);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const result = await verify(creds, NOW - 1000);
  assert.ok(result.ok && result.identity.method === 'rsa-sha256', JSON.stringify(result));
  // An HMAC password for a device that only has a certificate is refused, and vice versa.
  const hmacForCert = tencentCredentials({ productId: PID, deviceName: 'certdev', deviceSecret: SECRET, now: NOW });
  assert.equal(((await verify(hmacForCert)) as { kind: string }).kind, 'bad-signature');
  const rsaForKey = tencentCredentials({ productId: PID, deviceName: 'dev1', privateKey: privatePem, now: NOW });
  assert.equal(((await verify(rsaForKey)) as { kind: string }).kind, 'bad-signature');
});

test('tampered, expired, wrong-key and malformed credentials are refused with a reason', async () => {
  const good = tencentCredentials(key);
  const refused = async (c: Parameters<typeof verify>[0], kind: string, now = NOW) => {
    const result = await verify(c, now);
    assert.ok(!result.ok, `accepted: ${JSON.stringify(c)}`);
    assert.equal(result.kind, kind, result.reason);
  };
  await refused({ ...good, username: good.username.replace(/\d+$/, String(NOW / 1000 + 99999)) }, 'bad-signature');
  // The first hex digit changed, whatever it was (the signature varies with the random connection id).
  const flipped = (Number.parseInt(good.password[0]!, 16) ^ 1).toString(16);
  await refused({ ...good, password: `${flipped}${good.password.slice(1)}` }, 'bad-signature');
  await refused(tencentCredentials({ ...key, deviceSecret: OTHER_SECRET }), 'bad-signature');
  await refused(tencentCredentials({ ...key, expiry: NOW / 1000 - 3600 }), 'expired');
  await refused(tencentCredentials({ ...key, expiry: NOW - 3_600_000 }), 'expired');
  await refused(good, 'expired', NOW + 3_600_000 + 300_001);
  await refused(tencentCredentials({ ...key, deviceName: 'nobody' }), 'unknown-identity');
  await refused({ ...good, clientId: `${PID}dev2` }, 'identity-mismatch');
  await refused({ ...good, username: `${good.username};x` }, 'malformed');
  await refused({ ...good, username: good.username.replace(/;\d+$/, ';soon') }, 'malformed');
  await refused({ ...good, password: good.password.replace(';', '') }, 'malformed');
  await refused({ ...good, password: good.password.replace('hmacsha256', 'hmacmd5') }, 'unsupported');
  await refused({ ...good, password: 'zz;hmacsha256' }, 'malformed');
  await refused({ ...good, password: undefined }, 'malformed');
  await refused({ clientId: 'short', username: 'short;1;a;1', password: 'aa;hmacsha1' }, 'malformed');
  const sha1Only = await verifyTencent(good, { keys, now: NOW, methods: ['hmacsha1'] });
  assert.ok(!sha1Only.ok && sha1Only.kind === 'unsupported', 'method not enabled');
});
