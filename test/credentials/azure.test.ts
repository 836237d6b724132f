import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHmac } from 'node:crypto';
import {
  type AzureKeySubject,
  azureCredentials,
  parseAzureConnectionString,
  parseSasToken,
  verifyAzure,
} from '../../src/credentials/index.js';

const HUB = 'myhub.azure-devices.net';
const NOW = 1_700_000_000_000;
const DEVICE_KEY = Buffer.alloc(32, 1).toString('base64');
const SECONDARY_KEY = Buffer.alloc(32, 2).toString('base64');
const MODULE_KEY = Buffer.alloc(32, 3).toString('base64');
const POLICY_KEY = Buffer.alloc(32, 4).toString('base64');

function keys(subject: AzureKeySubject): string | string[] | undefined {
  if (subject.kind === 'policy') return subject.policyName === 'iothubowner' ? POLICY_KEY : undefined;
  if (subject.deviceId !== 'dev1') return undefined;
  if (subject.moduleId === undefined) return [DEVICE_KEY, SECONDARY_KEY];
  return subject.moduleId === 'mod1' ? MODULE_KEY : undefined;
}

const verify = (c: { clientId: string; username?: string; password?: string | Uint8Array }, now = NOW) =>
  verifyAzure(c, { keys, hostName: HUB, now });

test('connection strings: fields, module, gateway, SAS, x509, errors', () => {
  const cs = parseAzureConnectionString(`HostName=${HUB};DeviceId=dev1;ModuleId=mod1;SharedAccessKey=${MODULE_KEY};GatewayHostName=localhost:18883`);
  assert.deepEqual(cs, { hostName: HUB, deviceId: 'dev1', moduleId: 'mod1', sharedAccessKey: MODULE_KEY, gatewayHostName: 'localhost:18883', x509: false });
  assert.equal(parseAzureConnectionString(`hostname=${HUB};deviceid=d;x509=true`).x509, true);
  assert.throws(() => parseAzureConnectionString(`HostName=${HUB};SharedAccessKey=${DEVICE_KEY}`), /DeviceId/);
  assert.throws(() => parseAzureConnectionString(`HostName=${HUB};DeviceId=d`), /SharedAccessKey/);
  assert.throws(() => parseAzureConnectionString(`HostName=a;HostName=b;DeviceId=d;x509=true`), /twice/);
  assert.throws(() => parseAzureConnectionString('garbage'), /Name=Value/);

  const fromCs = azureCredentials({ connectionString: `HostName=${HUB};DeviceId=dev1;ModuleId=mod1;SharedAccessKey=${MODULE_KEY};GatewayHostName=localhost:18883`, ttl: 60, now: NOW });
  assert.equal(fromCs.clientId, 'dev1/mod1');
  assert.equal(fromCs.url, 'mqtts://localhost:18883');
  assert.equal(fromCs.port, 18883);
  assert.equal(fromCs.websocketPath, '/$iothub/websocket');
  assert.equal(fromCs.expiresAt, NOW + 60_000);

  const x509 = azureCredentials({ connectionString: `HostName=${HUB};DeviceId=dev1;x509=true` });
  assert.equal(x509.password, undefined);
  assert.equal(x509.url, `mqtts://${HUB}:8883`);

  const token = azureCredentials({ hostName: HUB, deviceId: 'dev1', key: DEVICE_KEY, expiry: 1_700_000_100 }).password!;
  const withSas = azureCredentials({ connectionString: `HostName=${HUB};DeviceId=dev1;SharedAccessSignature=${token}` });
  assert.equal(withSas.password, token);
  assert.equal(withSas.expiresAt, 1_700_000_100_000);
});

test('SAS tokens parse in any field order; malformed tokens are described', () => {
  const parsed = parseSasToken('SharedAccessSignature sig=abc%3D&se=1700000000&skn=owner&sr=hub%2Fdevices%2Fd');
  assert.ok(typeof parsed !== 'string', 'token parses');
  assert.equal(parsed.resourceUri, 'hub/devices/d');
  assert.equal(parsed.rawResource, 'hub%2Fdevices%2Fd');
  assert.equal(parsed.signature, 'abc=');
  assert.equal(parsed.policyName, 'owner');
  assert.match(parseSasToken('sr=a&sig=b&se=1') as string, /SharedAccessSignature/);
  assert.match(parseSasToken('SharedAccessSignature sr=a&sig=b') as string, /needs/);
  assert.match(parseSasToken('SharedAccessSignature sr=a&sig=b&se=soon') as string, /unix seconds/);
  assert.match(parseSasToken('SharedAccessSignature sr=%E0%A4%A&sig=b&se=1') as string, /percent/);
  assert.match(parseSasToken('SharedAccessSignature sr=a&sr=a&sig=b&se=1') as string, /twice/);
});

test('device, module, secondary-key and policy tokens verify', async () => {
  const device = azureCredentials({ hostName: HUB, deviceId: 'dev1', key: DEVICE_KEY, ttl: 3600, now: NOW, modelId: 'dtmi:com:example:Thermostat;1' });
  const ok = await verify(device);
  assert.ok(ok.ok, JSON.stringify(ok));
  assert.equal(ok.expiresAt, NOW + 3_600_000);
  assert.deepEqual(ok.identity, {
    hostName: HUB,
    deviceId: 'dev1',
    apiVersion: '2021-04-12',
    modelId: 'dtmi:com:example:Thermostat;1',
    parameters: { 'api-version': '2021-04-12', 'model-id': 'dtmi:com:example:Thermostat;1' },
  });

  const secondary = azureCredentials({ hostName: HUB, deviceId: 'dev1', key: SECONDARY_KEY, now: NOW });
  assert.ok((await verify(secondary)).ok, 'secondary key');

  const module = azureCredentials({ hostName: HUB, deviceId: 'dev1', moduleId: 'mod1', key: MODULE_KEY, now: NOW });
  const moduleOk = await verify({ ...module, password: new TextEncoder().encode(module.password) });
  assert.ok(moduleOk.ok && moduleOk.identity.moduleId === 'mod1', 'module token');

  const policy = azureCredentials({ hostName: HUB, deviceId: 'dev1', key: POLICY_KEY, policyName: 'iothubowner', now: NOW });
  const policyOk = await verify(policy);
  assert.ok(policyOk.ok && policyOk.identity.policyName === 'iothubowner', 'policy token');
});

test('what the Node SDK sends verifies: agent string, token field order, hub name case', async () => {
  const se = String(NOW / 1000 + 3600);
  const sr = 'MyHub.Azure-Devices.net%2Fdevices%2Fdev1';
  const sig = createHmac('sha256', Buffer.from(DEVICE_KEY, 'base64')).update(`${sr}\n${se}`).digest('base64');
  const result = await verify({
    clientId: 'dev1',
    username: `MyHub.Azure-Devices.net/dev1/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4%20(node%20v20.20.2%3B%20Debian%2012%3B%20x64)`,
    password: `SharedAccessSignature sig=${encodeURIComponent(sig)}&se=${se}&sr=${sr}`,
  });
  assert.ok(result.ok, JSON.stringify(result));
  assert.equal(result.identity.parameters['DeviceClientType'], 'azure-iot-device/1.18.4 (node v20.20.2; Debian 12; x64)');
});

test('a token signed over the lower-case resource verifies when sent that way (HMAC over sr as received)', async () => {
  const se = String(NOW / 1000 + 60);
  const sr = 'myhub.azure-devices.net%2fdevices%2fdev1';
  const sig = createHmac('sha256', Buffer.from(DEVICE_KEY, 'base64')).update(`${sr}\n${se}`).digest('base64');
  const base = { clientId: 'dev1', username: `${HUB}/dev1/api-version=2016-11-14` };
  assert.ok((await verify({ ...base, password: `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}` })).ok, 'lower-case sr as sent');
  // The same signature presented with the upper-case escape is a different signed text.
  const swapped = await verify({ ...base, password: `SharedAccessSignature sr=${sr.replaceAll('%2f', '%2F')}&sig=${encodeURIComponent(sig)}&se=${se}` });
  assert.ok(!swapped.ok && swapped.kind === 'bad-signature', 'swapped escape case refused');
});

test('tampered, expired, wrong-key and mis-scoped credentials are refused with a reason', async () => {
  const good = azureCredentials({ hostName: HUB, deviceId: 'dev1', key: DEVICE_KEY, ttl: 60, now: NOW });
  const refused = async (c: Parameters<typeof verify>[0], kind: string, now = NOW) => {
    const result = await verify(c, now);
    assert.ok(!result.ok, `accepted: ${JSON.stringify(c)}`);
    assert.equal(result.kind, kind, result.reason);
    assert.ok(result.reason.length > 0, 'reason given');
  };
  await refused({ ...good, password: good.password!.replace(/se=\d+/, `se=${NOW / 1000 + 7200}`) }, 'bad-signature');
  await refused({ ...good, password: good.password!.replace('sig=', 'sig=A') }, 'bad-signature');
  await refused(good, 'expired', NOW + 60_000);
  await refused(azureCredentials({ hostName: HUB, deviceId: 'dev1', key: MODULE_KEY, now: NOW }), 'bad-signature');
  await refused(azureCredentials({ hostName: HUB, deviceId: 'dev2', key: DEVICE_KEY, now: NOW }), 'unknown-identity');
  await refused(azureCredentials({ hostName: HUB, deviceId: 'dev1', key: POLICY_KEY, policyName: 'nobody', now: NOW }), 'unknown-identity');
  await refused(azureCredentials({ hostName: 'other.azure-devices.net', deviceId: 'dev1', key: DEVICE_KEY, now: NOW }), 'identity-mismatch');
  // A device token does not authenticate one of its modules, nor another device.
  const deviceToken = good.password!;
  await refused({ clientId: 'dev1/mod1', username: `${HUB}/dev1/mod1/?api-version=2021-04-12`, password: deviceToken }, 'identity-mismatch');
  await refused({ clientId: 'dev10', username: `${HUB}/dev10/?api-version=2021-04-12`, password: deviceToken }, 'identity-mismatch');
  // A policy token covers resources below it by whole segments only.
  const policy = azureCredentials({ hostName: HUB, deviceId: 'dev1', key: POLICY_KEY, policyName: 'iothubowner', now: NOW });
  await refused({ clientId: 'dev10', username: `${HUB}/dev10/?api-version=2021-04-12`, password: policy.password! }, 'identity-mismatch');
  await refused({ ...good, username: `${HUB}/dev2/?api-version=2021-04-12` }, 'malformed');
  await refused({ ...good, username: `${HUB}/dev1/` }, 'malformed');
  await refused({ ...good, password: undefined }, 'malformed');
  await refused({ ...good, clientId: 'a/b/c' }, 'malformed');
});
