import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHmac } from 'node:crypto';
import {
  aliyunIotCredentials,
  aliyunMqCredentials,
  azureCredentials,
  createSasToken,
  tencentCredentials,
} from '../../src/credentials/index.js';

// The worked vectors of the cloud dialect notes, each cross-checked there against a vendor SDK or document.

const HUB = 'myhub.azure-devices.net';
const AZURE_KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString('base64');
const TENCENT_SECRET = 'MTIzNDU2Nzg5MGFiY2RlZg==';

test('azure-sas-device', () => {
  assert.equal(AZURE_KEY, 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=');
  const creds = azureCredentials({ hostName: HUB, deviceId: 'dev1', key: AZURE_KEY, expiry: 1700000000 });
  assert.equal(
    creds.password,
    'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=i%2BYmMcSSZc4KzBi6ejz3l0iL%2B2sN0CE3q6vSm837h2g%3D&se=1700000000',
  );
  assert.equal(creds.clientId, 'dev1');
  assert.equal(creds.username, 'myhub.azure-devices.net/dev1/?api-version=2021-04-12');
});

test('azure-sas-module', () => {
  const creds = azureCredentials({ hostName: HUB, deviceId: 'dev1', moduleId: 'mod1', key: AZURE_KEY, expiry: 1700000000 });
  assert.equal(
    creds.password,
    'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1%2Fmodules%2Fmod1&sig=kA6xjFLkZvk4Cdh0nD8uWAzassq6PB47f7BepMMtmlY%3D&se=1700000000',
  );
  assert.equal(creds.clientId, 'dev1/mod1');
  assert.equal(creds.username, 'myhub.azure-devices.net/dev1/mod1/?api-version=2021-04-12');
});

test('azure-sas-sig-over-lowercase-sr differs from the SDK form', () => {
  const sig = createHmac('sha256', Buffer.from(AZURE_KEY, 'base64'))
    .update('myhub.azure-devices.net%2fdevices%2fdev1\n1700000000')
    .digest('base64');
  assert.equal(sig, 'dUk3ecSsggNPeQNG98fO6Pv16mCcXEgP6lT2QfotQ4s=');
  const token = createSasToken({ resourceUri: `${HUB}/devices/dev1`, key: AZURE_KEY, expiry: 1700000000 });
  assert.ok(!token.includes(encodeURIComponent(sig)), 'signatures differ');
});

test('tencent-hmacsha1-python-sdk-shape', () => {
  const creds = tencentCredentials({
    productId: 'ABCDEFGHIJ',
    deviceName: 'dev1',
    deviceSecret: TENCENT_SECRET,
    method: 'hmacsha1',
    sdkappid: 21010406,
    connid: 'AbC12',
    expiry: '1700000000000',
  });
  assert.equal(creds.clientId, 'ABCDEFGHIJdev1');
  assert.equal(creds.username, 'ABCDEFGHIJdev1;21010406;AbC12;1700000000000');
  assert.equal(creds.password, '1bcd88a5eee4fcc087b950fbed8d9733d2b8a790;hmacsha1');
});

test('tencent-hmacsha1-doc-shape and tencent-hmacsha256-doc-shape', () => {
  const base = { productId: 'ABCDEFGHIJ', deviceName: 'dev1', deviceSecret: TENCENT_SECRET, sdkappid: '12010126', connid: 'AbC12', expiry: 1700000000 };
  const sha1 = tencentCredentials({ ...base, method: 'hmacsha1' });
  assert.equal(sha1.username, 'ABCDEFGHIJdev1;12010126;AbC12;1700000000');
  assert.equal(sha1.password, '14308c9848c2a79212c00fd237cc766b56138ddc;hmacsha1');
  const sha256 = tencentCredentials({ ...base, method: 'hmacsha256' });
  assert.equal(sha256.password, 'f6441223b5a8ce94293fa2539d44a835b390be704c1af7c602b884d04c8bb6db;hmacsha256');
});

test('aliyun-mq-signature-mode', () => {
  const creds = aliyunMqCredentials({ groupId: 'GID_Test', deviceId: '0001', accessKeyId: 'YYYYY', secretKey: 'XXXXX', instanceId: 'mqtt-xxxxx' });
  assert.deepEqual(creds, { clientId: 'GID_Test@@@0001', username: 'Signature|YYYYY|mqtt-xxxxx', password: 'vI009IZJZVGRwBwZvnbwjfuXxVM=' });
});

test('aliyun-mq-token-mode', () => {
  const creds = aliyunMqCredentials({
    groupId: 'GID_Test',
    deviceId: '0001',
    accessKeyId: 'YYYYY',
    instanceId: 'mqtt-xxxxx',
    tokens: [
      { type: 'R', token: '123' },
      { type: 'W', token: 'abcd' },
    ],
  });
  assert.deepEqual(creds, { clientId: 'GID_Test@@@0001', username: 'Token|YYYYY|mqtt-xxxxx', password: 'R|123|W|abcd' });
});

test('aliyun-iot-platform-doc-example, hmacsha256 and hmacmd5', () => {
  const base = { productKey: 'pk', deviceName: 'device', deviceSecret: 'secret', clientId: '12345', timestamp: 789 };
  const sha1 = aliyunIotCredentials({ ...base, signMethod: 'hmacsha1' });
  assert.equal(sha1.password.toUpperCase(), 'FAFD82A3D602B37FB0FA8B7892F24A477F851A14');
  assert.equal(sha1.clientId, '12345|securemode=3,signmethod=hmacsha1,timestamp=789|');
  assert.equal(sha1.username, 'device&pk');
  assert.equal(aliyunIotCredentials({ ...base, signMethod: 'hmacsha256' }).password, '6074a46a91b1ebb2cc4ea42790ad0e80202c9843859fc292e57c4eb19fad9e57');
  assert.equal(aliyunIotCredentials({ ...base, signMethod: 'hmacmd5' }).password, '14b198324fe55e1d3c88f2e705e201ee');
});

test('aliyun-iot-platform-sdk-capture', () => {
  const creds = aliyunIotCredentials({
    productKey: 'a1TestPK',
    deviceName: 'dev1',
    deviceSecret: 'secret0123456789abcdef',
    timestamp: 1795299749080,
    signMethod: 'hmacsha1',
  });
  assert.equal(creds.password, '6f42b7982178da43471535dba28211897b48f1fc');
  assert.equal(creds.username, 'dev1&a1TestPK');
  assert.equal(creds.clientId, 'a1TestPK&dev1|securemode=3,signmethod=hmacsha1,timestamp=1795299749080|');
});
