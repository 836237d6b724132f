import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHmac } from 'node:crypto';
import { type AliyunIotVerifyOptions, aliyunIotCredentials, aliyunIotSignContent, verifyAliyunIot } from '../../src/credentials/index.js';

const NOW = 1_795_299_749_080;
const device = { productKey: 'a1TestPK', deviceName: 'dev1', deviceSecret: 'secret0123456789abcdef' };
const options: AliyunIotVerifyOptions = {
  secrets: ({ productKey, deviceName }) => (productKey === 'a1TestPK' && deviceName === 'dev1' ? device.deviceSecret : undefined),
  now: NOW,
};

test('the vendor SDK capture verifies, extra client id parameters kept', async () => {
  const result = await verifyAliyunIot(
    {
      clientId: 'a1TestPK&dev1|securemode=3,signmethod=hmacsha1,timestamp=1795299749080,lan=NodeJS,_v=1.2.8|',
      username: 'dev1&a1TestPK',
      password: '6f42b7982178da43471535dba28211897b48f1fc',
    },
    options,
  );
  assert.ok(result.ok, JSON.stringify(result));
  assert.deepEqual(result.identity, {
    productKey: 'a1TestPK',
    deviceName: 'dev1',
    clientId: 'a1TestPK&dev1',
    signMethod: 'hmacsha1',
    secureMode: '3',
    timestamp: '1795299749080',
    parameters: { securemode: '3', signmethod: 'hmacsha1', timestamp: '1795299749080', lan: 'NodeJS', _v: '1.2.8' },
  });
});

test('round trips for every sign method, secure mode and endpoint, upper-case hex', async () => {
  for (const signMethod of ['hmacmd5', 'hmacsha1', 'hmacsha256'] as const) {
    const creds = aliyunIotCredentials({ ...device, signMethod, now: NOW, secureMode: 2, region: 'cn-shanghai' });
    assert.equal(creds.url, 'mqtts://a1TestPK.iot-as-mqtt.cn-shanghai.aliyuncs.com:1883');
    const result = await verifyAliyunIot({ ...creds, password: creds.password.toUpperCase() }, options);
    assert.ok(result.ok && result.identity.signMethod === signMethod, JSON.stringify(result));
  }
  const defaults = aliyunIotCredentials({ ...device, now: NOW });
  assert.equal(defaults.clientId, `a1TestPK&dev1|securemode=3,signmethod=hmacsha256,timestamp=${NOW}|`);
  assert.equal(defaults.url, undefined);
});

test('signatures that leave out the optional clientId or timestamp verify', async () => {
  const sign = (content: string) => createHmac('sha1', device.deviceSecret).update(content).digest('hex');
  const clientId = 'sn-42|securemode=3,signmethod=hmacsha1,timestamp=789|';
  for (const content of [
    aliyunIotSignContent({ deviceName: 'dev1', productKey: 'a1TestPK', timestamp: '789' }),
    aliyunIotSignContent({ clientId: 'sn-42', deviceName: 'dev1', productKey: 'a1TestPK' }),
    aliyunIotSignContent({ deviceName: 'dev1', productKey: 'a1TestPK' }),
  ]) {
    const result = await verifyAliyunIot({ clientId, username: 'dev1&a1TestPK', password: sign(content) }, options);
    assert.ok(result.ok, content);
  }
  const noTimestamp = await verifyAliyunIot(
    { clientId: 'sn-42|securemode=3,signmethod=hmacsha1|', username: 'dev1&a1TestPK', password: sign('clientIdsn-42deviceNamedev1productKeya1TestPK') },
    options,
  );
  assert.ok(noTimestamp.ok && noTimestamp.identity.timestamp === undefined, 'no timestamp');
});

test('the SDK sha1-announced-as-sha256 quirk is refused unless enabled', async () => {
  const creds = aliyunIotCredentials({ ...device, signMethod: 'hmacsha1', timestamp: 5 });
  const quirk = { ...creds, clientId: creds.clientId.replace('hmacsha1', 'hmacsha256') };
  const strict = await verifyAliyunIot(quirk, options);
  assert.ok(!strict.ok && strict.kind === 'bad-signature', 'strict by default');
  assert.ok((await verifyAliyunIot(quirk, { ...options, acceptSdkSha1Quirk: true })).ok, 'quirk accepted when enabled');
});

test('tampered, stale, wrong-key and malformed credentials are refused with a reason', async () => {
  const good = aliyunIotCredentials({ ...device, now: NOW });
  const refused = async (c: { clientId: string; username?: string; password?: string }, kind: string, opts = options) => {
    const result = await verifyAliyunIot(c, opts);
    assert.ok(!result.ok, `accepted: ${JSON.stringify(c)}`);
    assert.equal(result.kind, kind, result.reason);
  };
  await refused({ ...good, clientId: good.clientId.replace(String(NOW), String(NOW + 1)) }, 'bad-signature');
  await refused({ ...good, clientId: good.clientId.replace('a1TestPK&dev1|', 'other|') }, 'bad-signature');
  await refused(aliyunIotCredentials({ ...device, deviceSecret: 'wrong', now: NOW }), 'bad-signature');
  await refused(aliyunIotCredentials({ ...device, deviceName: 'dev2', now: NOW }), 'unknown-identity');
  await refused(aliyunIotCredentials({ ...device, now: NOW - 600_000 }), 'expired', { ...options, maxTimestampSkewMs: 300_000 });
  await refused({ ...good, clientId: 'a1TestPK&dev1' }, 'malformed');
  await refused({ ...good, clientId: 'x|securemode=3,timestamp=1|' }, 'malformed');
  await refused({ ...good, clientId: 'x|signmethod=hmacsha512|' }, 'unsupported');
  await refused({ ...good, clientId: 'x|signmethod=constructor|' }, 'unsupported');
  await refused({ ...good, clientId: 'x|junk|' }, 'malformed');
  await refused({ ...good, username: 'dev1' }, 'malformed');
  await refused({ ...good, password: 'not hex' }, 'malformed');
  await refused(good, 'unsupported', { ...options, signMethods: ['hmacsha1'] });
  assert.ok((await verifyAliyunIot(good, { ...options, maxTimestampSkewMs: 300_000 })).ok, 'fresh timestamp');
});
