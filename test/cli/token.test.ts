import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyAzure, verifyTencent } from '../../src/credentials/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const AZURE_KEY = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';
const HUB = 'myhub.azure-devices.net';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function culex(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'token', ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function json(...args: string[]): Promise<Record<string, unknown>> {
  const run = await culex(...args);
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'one JSON object on one line');
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

test('azure: the worked vectors, modules and a fresh token the verifier accepts', async () => {
  const cs = `HostName=${HUB};DeviceId=dev1;SharedAccessKey=${AZURE_KEY}`;
  const [device, module, fresh] = await Promise.all([
    json('azure', '--connection-string', cs, '--expiry', '1700000000'),
    json('azure', '--connection-string', cs, '--module', 'mod1', '--expiry', '1700000000'),
    json('azure', '--connection-string', cs, '--ttl', '600'),
  ]);
  assert.deepEqual(device, {
    clientId: 'dev1',
    username: `${HUB}/dev1/?api-version=2021-04-12`,
    password:
      'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=i%2BYmMcSSZc4KzBi6ejz3l0iL%2B2sN0CE3q6vSm837h2g%3D&se=1700000000',
    url: `mqtts://${HUB}:8883`,
    port: 8883,
    websocketPath: '/$iothub/websocket',
    expiresAt: 1_700_000_000_000,
  });
  assert.equal(module['clientId'], 'dev1/mod1');
  assert.match(String(module['password']), /sig=kA6xjFLkZvk4Cdh0nD8uWAzassq6PB47f7BepMMtmlY%3D&se=1700000000$/);
  const verified = await verifyAzure(fresh as { clientId: string; username: string; password: string }, { keys: () => AZURE_KEY, hostName: HUB });
  assert.ok(verified.ok, JSON.stringify(verified));
});

test('tencent: key devices reproduce the vectors; certificate devices sign with the key file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'culex-token-'));
  try {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyFile = join(dir, 'device.key');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const common = ['--product-id', 'ABCDEFGHIJ', '--device-name', 'dev1', '--connid', 'AbC12'];
    const [python, doc, cert] = await Promise.all([
      json('tencent', ...common, '--device-secret', 'MTIzNDU2Nzg5MGFiY2RlZg==', '--method', 'hmacsha1', '--sdkappid', '21010406', '--expiry', '1700000000000'),
      json('tencent', ...common, '--device-secret', 'MTIzNDU2Nzg5MGFiY2RlZg==', '--method', 'hmacsha256', '--expiry', '1700000000'),
      json('tencent', ...common, '--private-key', keyFile, '--expiry', '4000000000'),
    ]);
    assert.equal(python['username'], 'ABCDEFGHIJdev1;21010406;AbC12;1700000000000');
    assert.equal(python['password'], '1bcd88a5eee4fcc087b950fbed8d9733d2b8a790;hmacsha1');
    assert.equal(python['url'], 'mqtt://ABCDEFGHIJ.iotcloud.tencentdevices.com:1883');
    assert.equal(python['websocketPath'], '/mqtt');
    assert.equal(doc['username'], 'ABCDEFGHIJdev1;12010126;AbC12;1700000000');
    assert.equal(doc['password'], 'f6441223b5a8ce94293fa2539d44a835b390be704c1af7c602b884d04c8bb6db;hmacsha256');
    assert.match(String(cert['password']), /^[0-9a-f]{512};rsa-sha256$/);
    const verified = await verifyTencent(cert as { clientId: string; username: string; password: string }, { keys: () => ({ publicKey }) });
    assert.ok(verified.ok, JSON.stringify(verified));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('aliyun-mq and aliyun-iot reproduce the vectors', async () => {
  const mq = ['--group-id', 'GID_Test', '--device-id', '0001', '--access-key', 'YYYYY', '--instance-id', 'mqtt-xxxxx'];
  const iot = ['--product-key', 'pk', '--device-name', 'device', '--device-secret', 'secret', '--client-id', '12345', '--timestamp', '789'];
  const [signature, token, tokenRepeated, iotSha1, iotMd5, capture] = await Promise.all([
    json('aliyun-mq', ...mq, '--secret-key', 'XXXXX'),
    json('aliyun-mq', ...mq, '--token', 'R=123,W=abcd'),
    json('aliyun-mq', ...mq, '--token', 'RW=a=b', '--token', 'R=x'),
    json('aliyun-iot', ...iot, '--sign-method', 'hmacsha1'),
    json('aliyun-iot', ...iot, '--sign-method', 'hmacmd5', '--secure-mode', '2'),
    json('aliyun-iot', '--product-key', 'a1TestPK', '--device-name', 'dev1', '--device-secret', 'secret0123456789abcdef', '--timestamp', '1795299749080', '--sign-method', 'hmacsha1'),
  ]);
  assert.deepEqual(signature, { clientId: 'GID_Test@@@0001', username: 'Signature|YYYYY|mqtt-xxxxx', password: 'vI009IZJZVGRwBwZvnbwjfuXxVM=' });
  assert.deepEqual(token, { clientId: 'GID_Test@@@0001', username: 'Token|YYYYY|mqtt-xxxxx', password: 'R|123|W|abcd' });
  assert.equal(tokenRepeated['password'], 'RW|a=b|R|x');
  assert.deepEqual(iotSha1, {
    clientId: '12345|securemode=3,signmethod=hmacsha1,timestamp=789|',
    username: 'device&pk',
    password: 'fafd82a3d602b37fb0fa8b7892f24a477f851a14',
  });
  assert.equal(iotMd5['password'], '14b198324fe55e1d3c88f2e705e201ee');
  assert.equal(iotMd5['clientId'], '12345|securemode=2,signmethod=hmacmd5,timestamp=789|');
  assert.equal(capture['password'], '6f42b7982178da43471535dba28211897b48f1fc');
  assert.equal(capture['clientId'], 'a1TestPK&dev1|securemode=3,signmethod=hmacsha1,timestamp=1795299749080|');
});

test('help, and errors in one line and where help is, with exit status 2, for missing or bad flags', async () => {
  const cs = `HostName=${HUB};DeviceId=dev1;SharedAccessKey=${AZURE_KEY}`;
  const iot = ['--product-key', 'pk', '--device-name', 'd', '--device-secret', 's'];
  const cases: [string[], RegExp][] = [
    [['azure'], /--connection-string is required/],
    [['azure', '--connection-string', cs, '--expiry', '1', '--ttl', '2'], /not both/],
    [['azure', '--connection-string', cs, '--ttl', 'soon'], /whole number/],
    [['azure', '--connection-string', 'HostName=h'], /DeviceId/],
    [['azure', '--connection-string', cs, '--bogus'], /bogus/],
    [['azure', '--connection-string'], /--connection-string needs a value/],
    [['tencent', '--product-id', 'P', '--device-name', 'D'], /--device-secret or --private-key/],
    [['tencent', '--product-id', 'P', '--device-name', 'D', '--device-secret', 'MTIz', '--method', 'md5'], /--method must be one of/],
    [['tencent', '--product-id', 'P', '--device-name', 'D', '--private-key', '/nonexistent/key.pem'], /cannot read --private-key/],
    [['aliyun-mq', '--group-id', 'G', '--device-id', 'D', '--access-key', 'A', '--instance-id', 'I'], /--secret-key .* or --token/],
    [['aliyun-mq', '--group-id', 'G', '--device-id', 'D', '--access-key', 'A', '--instance-id', 'I', '--token', 'X=1'], /--token wants/],
    [['aliyun-iot', ...iot, '--secure-mode', '1'], /--secure-mode must be one of 2, 3/],
    [['aliyun-iot', ...iot, '--timestamp', 'now'], /whole number/],
    [['gcp'], /unknown cloud 'gcp'/],
  ];
  const runs = await Promise.all([...cases.map(([args]) => culex(...args)), culex('--help'), culex('aliyun-iot', '--help'), culex()]);
  cases.forEach(([args, pattern], i) => {
    const run = runs[i]!;
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.equal(run.stdout, '');
    const [line, hint, ...more] = run.stderr.trim().split('\n');
    assert.deepEqual(more, [], run.stderr);
    assert.match(line!, pattern);
    assert.equal(hint, args[0] === 'gcp' ? "run 'culex token --help' for usage" : `run 'culex token ${args[0]} --help' for usage`);
  });
  const [help, cloudHelp, bare] = runs.slice(cases.length) as [Run, Run, Run];
  assert.equal(help.code, 0);
  for (const cloud of ['azure', 'tencent', 'aliyun-mq', 'aliyun-iot']) assert.match(help.stdout, new RegExp(`culex token ${cloud} `));
  assert.equal(cloudHelp.code, 0);
  assert.match(cloudHelp.stdout, /--sign-method hmacsha1\|hmacsha256\|hmacmd5/);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /usage: culex token/);
});
