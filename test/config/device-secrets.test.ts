// Cloud dialects in the native configuration file and the device secrets file: what is accepted, the lookups the
// profiles get, and one-line errors naming the file, the line and the entry.
import assert from 'node:assert/strict';
import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/broker/index.js';
import { loadBrokerConfig } from '../../src/config/broker-config.js';
import { setUpBroker } from '../../src/config/broker-setup.js';
import { ConfigError } from '../../src/config/config-error.js';
import { DeviceSecrets } from '../../src/config/device-secrets.js';

const dir = mkdtempSync(join(tmpdir(), 'culex-secrets-'));
const publicPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' });
writeFileSync(join(dir, 'dev2-public.pem'), publicPem);
writeFileSync(join(dir, 'not-a-key.pem'), 'hello\n');
let counter = 0;

function file(content: unknown, name = `f${counter++}.json`): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

async function refusal(load: () => Promise<unknown>): Promise<string> {
  const error = await load().then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
  assert.ok(!error.message.includes('\n'), 'one line');
  return error.message;
}

const secrets = {
  tencent: [
    { productId: 'ABCDEFGHIJ', deviceName: 'dev1', deviceSecret: 'MTIzNDU2Nzg5MGFiY2RlZg==' },
    { productId: 'ABCDEFGHIJ', deviceName: 'dev1', deviceSecret: 'b3RoZXJzZWNyZXQwMTIzNA==' },
    { productId: 'ABCDEFGHIJ', deviceName: 'dev2', publicKeyFile: 'dev2-public.pem' },
  ],
  aliyunIot: [{ productKey: 'a1TestPK', deviceName: 'dev1', deviceSecret: 'iot-secret' }],
  aliyunMq: {
    accessKeys: [
      { accessKeyId: 'AK', accessKeySecret: 'SK', instanceId: 'mqtt-a' },
      { accessKeyId: 'AK', accessKeySecret: 'SK-any' },
    ],
    tokens: [
      { token: 't1', type: 'R', accessKeyId: 'AK', instanceId: 'mqtt-a', expiresAt: '2030-01-02T03:04:05Z' },
      { token: 't2', type: 'RW', accessKeyId: 'AK', expiresAt: 1_900_000_000_000 },
    ],
  },
};

describe('device secrets file', () => {
  it('maps each platform onto lookups; an identity listed twice has both secrets', async () => {
    const loaded = await DeviceSecrets.load(file(secrets));
    assert.deepEqual(loaded.tencentKeys({ productId: 'ABCDEFGHIJ', deviceName: 'dev1' }), [
      { deviceSecret: 'MTIzNDU2Nzg5MGFiY2RlZg==' },
      { deviceSecret: 'b3RoZXJzZWNyZXQwMTIzNA==' },
    ]);
    const rsa = loaded.tencentKeys({ productId: 'ABCDEFGHIJ', deviceName: 'dev2' });
    assert.ok(rsa?.length === 1 && 'publicKey' in rsa[0]! && rsa[0].publicKey instanceof KeyObject);
    assert.equal(loaded.tencentKeys({ productId: 'ABCDEFGHI', deviceName: 'Jdev1' }), undefined);
    assert.deepEqual(loaded.aliyunIotSecrets({ productKey: 'a1TestPK', deviceName: 'dev1' }), ['iot-secret']);
    assert.equal(loaded.aliyunIotSecrets({ productKey: 'a1TestPK', deviceName: 'dev2' }), undefined);
    assert.deepEqual(loaded.aliyunMqSecrets({ accessKeyId: 'AK', instanceId: 'mqtt-a' }), ['SK', 'SK-any']);
    assert.deepEqual(loaded.aliyunMqSecrets({ accessKeyId: 'AK', instanceId: 'mqtt-b' }), ['SK-any']);
    assert.deepEqual(loaded.aliyunMqSecrets({ accessKeyId: 'other', instanceId: 'mqtt-a' }), []);
    assert.deepEqual(loaded.aliyunMqTokens('t1', { accessKeyId: 'AK', instanceId: 'mqtt-a' }), { type: 'R', expiresAt: Date.UTC(2030, 0, 2, 3, 4, 5) });
    assert.equal(loaded.aliyunMqTokens('t1', { accessKeyId: 'AK', instanceId: 'mqtt-b' }), undefined);
    assert.equal(loaded.aliyunMqTokens('t1', { accessKeyId: 'AK2', instanceId: 'mqtt-a' }), undefined);
    assert.deepEqual(loaded.aliyunMqTokens('t2', { accessKeyId: 'AK', instanceId: 'mqtt-z' }), { type: 'RW', expiresAt: 1_900_000_000_000 });
    assert.match(loaded.summary, /^tencent 2, aliyunIot 1, aliyunMq\.accessKeys 2, aliyunMq\.tokens 2$/);
  });

  it('a failed re-read keeps the previous secrets', async () => {
    const path = file(secrets);
    const loaded = await DeviceSecrets.load(path);
    writeFileSync(path, JSON.stringify({ aliyunIot: [{ productKey: 'a1TestPK', deviceName: 'dev9', deviceSecret: 's9' }] }));
    await loaded.reload();
    assert.equal(loaded.aliyunIotSecrets({ productKey: 'a1TestPK', deviceName: 'dev1' }), undefined);
    assert.deepEqual(loaded.aliyunIotSecrets({ productKey: 'a1TestPK', deviceName: 'dev9' }), ['s9']);
    writeFileSync(path, '{ "aliyunIot": [ { "productKey": "a1TestPK" } ] }');
    await assert.rejects(loaded.reload(), ConfigError);
    assert.deepEqual(loaded.aliyunIotSecrets({ productKey: 'a1TestPK', deviceName: 'dev9' }), ['s9']);
  });

  it('names the file, the line and the entry of every mistake', async () => {
    const cases: Array<[string, RegExp]> = [
      ['{\n  "tencent": [\n    { "productId": "P", "deviceName": "d" }\n  ]\n}', /:3: tencent\[0\]: 'deviceSecret' or 'publicKeyFile' is required$/],
      ['{\n  "aliyunIot": [\n    {}, { "productKey": "p", "deviceSecret": "s" }\n  ]\n}', /:3: aliyunIot\[0\]: 'productKey' is required$/],
      ['{ "aliyunIot": [ { "productKey": "p", "deviceName": 7, "deviceSecret": "s" } ] }', /:1: aliyunIot\[0\]\.deviceName: expected a string, not 7$/],
      ['{\n"azure": []\n}', /:2: unknown key 'azure' \(known here: tencent, aliyunIot, aliyunMq\)$/],
      ['{\n"tencent": [\n{ "productId": "P", "deviceName": "d",\n"deviceSecret": "not base64!" } ] }', /:4: tencent\[0\]\.deviceSecret: not base64$/],
      ['{ "tencent": [ { "productId": "P", "deviceName": "d", "publicKeyFile": "missing.pem" } ] }', /:1: tencent\[0\]\.publicKeyFile: cannot read .*missing\.pem: ENOENT$/],
      ['{ "tencent": [ { "productId": "P", "deviceName": "d", "publicKeyFile": "not-a-key.pem" } ] }', /tencent\[0\]\.publicKeyFile: .*not-a-key\.pem holds no PEM public key or certificate$/],
      ['{ "aliyunMq": { "tokens": [ { "token": "t", "type": "X", "accessKeyId": "AK" } ] } }', /aliyunMq\.tokens\[0\]\.type: expected one of "R", "W", "RW", not "X"$/],
      ['{ "aliyunMq": { "tokens": [ { "token": "t", "type": "R", "accessKeyId": "AK", "expiresAt": "tomorrow" } ] } }', /aliyunMq\.tokens\[0\]\.expiresAt: expected an ISO 8601 date/],
      ['{ "tencent": [ ', /:1: unexpected the end of the file$/],
    ];
    for (const [content, expected] of cases) {
      const path = file(content);
      const message = await refusal(() => DeviceSecrets.load(path));
      assert.ok(message.startsWith(`${path}:`), message);
      assert.match(message, expected);
    }
    const missing = join(dir, 'nowhere.json');
    assert.equal(await refusal(() => DeviceSecrets.load(missing)), `${missing}: cannot read: ENOENT`);
  });
});

describe('dialects in the native configuration file', () => {
  it('per listener and broker-wide, with their own settings; secrets files relative to the configuration', async () => {
    const config = await loadBrokerConfig(file({
      listeners: [
        { port: 0, dialect: { type: 'tencent', secretsFile: 'devices.json', methods: ['hmacsha1'], expiryGraceMs: 1000, confineTopics: false } },
        { port: 0, dialect: { type: 'aliyun-mq', secretsFile: '/etc/culex/mq.json', instanceId: 'mqtt-a', expiryNoticeMs: 60_000 } },
        { port: 0 },
      ],
      dialect: { type: 'aliyun-iot', secretsFile: 'devices.json', signMethods: ['hmacsha256'], acceptSdkSha1Quirk: true },
    }));
    assert.deepEqual(config.listeners[0]!.dialect, {
      type: 'tencent',
      secretsFile: join(dir, 'devices.json'),
      methods: ['hmacsha1'],
      expiryGraceMs: 1000,
      confineTopics: false,
    });
    assert.deepEqual(config.listeners[1]!.dialect, { type: 'aliyun-mq', secretsFile: '/etc/culex/mq.json', instanceId: 'mqtt-a', expiryNoticeMs: 60_000 });
    assert.equal(config.listeners[2]!.dialect, undefined);
    assert.deepEqual(config.dialect, { type: 'aliyun-iot', secretsFile: join(dir, 'devices.json'), signMethods: ['hmacsha256'], acceptSdkSha1Quirk: true });
  });

  it('sets up dialect hooks behind the connection guard, with nothing of the broker-wide ACL on their listener', async () => {
    const acl = file('topic read public/#\n', 'acl');
    const config = await loadBrokerConfig(file({
      auth: { aclFile: acl },
      listeners: [{ port: 0 }, { port: 0, dialect: { type: 'aliyun-iot', secretsFile: file(secrets) } }],
    }));
    const setup = await setUpBroker(config, silentLogger);
    const [plain, devices] = setup.options.listeners!;
    assert.equal(plain!.hooks, undefined, 'the broker-wide hooks apply');
    assert.equal(typeof setup.options.hooks?.authorizeRead, 'function');
    const hooks = devices!.hooks!;
    assert.equal(typeof hooks.acceptConnection, 'function');
    assert.equal(typeof hooks.onAuthFailure, 'function');
    assert.equal(typeof hooks.authenticate, 'function');
    assert.equal(typeof hooks.authorizeSubscribe, 'function');
    assert.ok(Object.hasOwn(hooks, 'authorizeRead') && hooks.authorizeRead === undefined, 'the ACL read check is lifted');
  });

  it('refuses an unknown dialect, settings of another dialect, and a dialect next to auth', async () => {
    const cases: Array<[string, string]> = [
      ['{\n"dialect": {\n"type": "azure", "secretsFile": "x" } }', ":3: dialect.type: expected one of \"tencent\", \"aliyun-mq\", \"aliyun-iot\", not \"azure\""],
      ['{\n"dialect": { "secretsFile": "x" } }', ":2: dialect: 'type' is required (one of \"tencent\", \"aliyun-mq\", \"aliyun-iot\")"],
      ['{ "dialect": { "type": "tencent" } }', ":1: dialect: 'secretsFile' is required"],
      [
        '{ "listeners": [ { "port": 1,\n"dialect": { "type": "aliyun-iot", "secretsFile": "x",\n"instanceId": "i" } } ] }',
        ":3: unknown key 'listeners[0].dialect.instanceId' (known here: type, secretsFile, signMethods, acceptSdkSha1Quirk, maxTimestampSkewMs)",
      ],
      ['{ "auth": { "passwordFile": "p" }, "dialect": { "type": "tencent", "secretsFile": "x" } }', ":1: the document: 'auth' and 'dialect' exclude each other"],
      [
        '{ "listeners": [\n{ "port": 1, "useIdentityAsUsername": true, "dialect": { "type": "tencent", "secretsFile": "x" } } ] }',
        ":2: listeners[0]: 'useIdentityAsUsername' and 'dialect' exclude each other",
      ],
    ];
    for (const [content, expected] of cases) {
      const path = file(content);
      assert.equal(await refusal(() => loadBrokerConfig(path)), `${path}${expected}`);
    }
  });
});

describe('README', () => {
  it('gives a dialect configuration and a device secrets file that culex broker accepts', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.split('### Serving these devices with `culex broker`')[1]?.split('\n#')[0] ?? '';
    const [config, devices] = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!);
    assert.ok(config && devices, 'no configuration and secrets file in the README section');
    const sub = mkdtempSync(join(dir, 'readme-'));
    writeFileSync(join(sub, 'devices.json'), devices);
    writeFileSync(join(sub, 'culex.json'), config);
    const loaded = await loadBrokerConfig(join(sub, 'culex.json'));
    assert.deepEqual(loaded.listeners.map((l) => l.dialect?.type), ['aliyun-iot', 'tencent', 'aliyun-mq']);
    const secretsFile = loaded.listeners[0]!.dialect!.secretsFile;
    assert.equal(secretsFile, join(sub, 'devices.json'));
    assert.match((await DeviceSecrets.load(secretsFile)).summary, /^tencent 1, aliyunIot 1, aliyunMq\.accessKeys 1, aliyunMq\.tokens 1$/);
  });
});
