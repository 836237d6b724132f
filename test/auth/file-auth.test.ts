/**
 * The password, ACL and SCRAM files as broker hooks: the same files served by Culex and by Mosquitto give the
 * same CONNECT accept/refuse answers and let the same publications through; SCRAM-SHA-256 over MQTT 5 AUTH.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt, { type IConnackPacket, type MqttClient } from 'mqtt';
import type { IAuthPacket } from 'mqtt-packet';
import { Broker, silentLogger } from '../../src/broker/index.js';
import type { AuthenticateContext } from '../../src/broker/hooks.js';
import { FileAuth } from '../../src/auth/file-auth.js';
import { formatHash, hashPassword } from '../../src/auth/password-file.js';
import { deriveScramCredential, ScramClient } from '../../src/auth/scram.js';
import { formatScramCredential } from '../../src/auth/scram-credentials.js';
import { startMosquitto, type MosquittoInstance } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';

const ACL = `
topic read public/#
topic read sync

user admin
topic readwrite #

user alice
topic readwrite alice/#
topic deny alice/secret
topic write public/#

pattern readwrite devices/%c/#
`;

const dir = mkdtempSync(join(tmpdir(), 'culex-file-auth-'));
const paths = { passwordFile: join(dir, 'passwd'), aclFile: join(dir, 'acl'), scramFile: join(dir, 'scram') };
let auth: FileAuth;
let broker: Broker;
let mosquitto: MosquittoInstance;

before(async () => {
  writeFileSync(
    paths.passwordFile,
    ['admin', 'alice', 'bob'].map((u) => `${u}:${formatHash(hashPassword(`pw-${u}`, { algorithm: u === 'bob' ? 'sha512' : 'sha512-pbkdf2' }))}\n`).join(''),
  );
  writeFileSync(paths.aclFile, ACL);
  writeFileSync(paths.scramFile, `${formatScramCredential('alice', await deriveScramCredential('scram-alice'))}\n`);
  auth = await FileAuth.load(paths);
  broker = new Broker({ listeners: [{ port: 0 }], allowAnonymous: true, sysInterval: 0, logger: silentLogger, hooks: auth.hooks });
  await broker.listen();
  mosquitto = await startMosquitto({ extraConfig: `password_file ${paths.passwordFile}\nacl_file ${paths.aclFile}` });
});

after(async () => {
  await broker?.close();
  await mosquitto?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Login {
  clientId: string;
  username?: string;
  password?: string;
}

/** Connects and returns the client, or the refusal code. */
async function connect(port: number, login: Login, protocolVersion: 4 | 5): Promise<MqttClient | number> {
  const options: mqtt.IClientOptions = { clientId: login.clientId, protocolVersion, reconnectPeriod: 0, connectTimeout: 5000 };
  if (login.username !== undefined) options.username = login.username;
  if (login.password !== undefined) options.password = login.password;
  try {
    return await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, options);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    assert.equal(typeof code, 'number', `refusal without a code: ${String(err)}`);
    return code as number;
  }
}

describe('CONNECT answers match Mosquitto', () => {
  const logins: Login[] = [
    { clientId: 'a1', username: 'alice', password: 'pw-alice' },
    { clientId: 'a2', username: 'alice', password: 'wrong' },
    { clientId: 'a3', username: 'alice' },
    { clientId: 'b1', username: 'bob', password: 'pw-bob' },
    { clientId: 'b2', username: 'bob', password: 'pw-alice' },
    { clientId: 'n1', username: 'nobody', password: 'pw-nobody' },
    { clientId: 'n2' },
  ];
  for (const version of [4, 5] as const) {
    for (const login of logins) {
      test(`v${version} ${login.username ?? 'anonymous'} / ${login.password ?? 'no password'}`, async () => {
        const answers: Array<'accepted' | 'refused'> = [];
        for (const port of [mosquitto.port, broker.port]) {
          const outcome = await connect(port, login, version);
          if (typeof outcome === 'number') {
            // Mosquitto says Not authorized (5 / 0x87); Culex says Bad user name or password (4 / 0x86).
            assert.ok(version === 4 ? outcome === 4 || outcome === 5 : outcome === 0x86 || outcome === 0x87, `code ${outcome}`);
            answers.push('refused');
          } else {
            answers.push('accepted');
            await outcome.endAsync();
          }
        }
        assert.equal(answers[1], answers[0], `Culex ${answers[1]}, Mosquitto ${answers[0]}`);
      });
    }
  }
});

test('the same publications get through both brokers', async () => {
  const publishers: Login[] = [
    { clientId: 'p-anon' },
    { clientId: 'p-alice', username: 'alice', password: 'pw-alice' },
    { clientId: 'dev7', username: 'bob', password: 'pw-bob' },
  ];
  const topics = ['public/news', 'alice/x', 'alice/secret', 'devices/dev7/t', 'devices/other/t', 'else'];
  const seen: string[][] = [];
  for (const port of [mosquitto.port, broker.port]) {
    const observer = await connect(port, { clientId: 'observer', username: 'admin', password: 'pw-admin' }, 4);
    assert.ok(typeof observer !== 'number');
    const received: string[] = [];
    let synced = false;
    observer.on('message', (topic, payload) => {
      if (topic === 'sync') synced = true;
      else received.push(`${topic} ${payload.toString()}`);
    });
    await observer.subscribeAsync(['#'], { qos: 0 });
    for (const login of publishers) {
      const client = await connect(port, login, 4);
      assert.ok(typeof client !== 'number', login.clientId);
      for (const topic of topics) await client.publishAsync(topic, login.clientId, { qos: 1 });
      await client.endAsync();
    }
    await observer.publishAsync('sync', '', { qos: 1 });
    await waitFor(() => synced, 10_000, 'sync');
    await observer.endAsync();
    seen.push(received.sort());
  }
  assert.deepEqual(seen[1], seen[0]);
  assert.ok(seen[0]!.includes('alice/x p-alice') && !seen[0]!.includes('alice/secret p-alice'));
});

test('a denied topic under a readable subscription is held back, live and retained, as by Mosquitto', async () => {
  const seen: string[][] = [];
  for (const port of [mosquitto.port, broker.port]) {
    const admin = await connect(port, { clientId: 'deny-admin', username: 'admin', password: 'pw-admin' }, 4);
    assert.ok(typeof admin !== 'number');
    await admin.publishAsync('alice/secret', 'retained', { qos: 1, retain: true });
    await admin.publishAsync('alice/open', 'retained', { qos: 1, retain: true });
    const alice = await connect(port, { clientId: 'deny-alice', username: 'alice', password: 'pw-alice' }, 5);
    assert.ok(typeof alice !== 'number');
    const received: string[] = [];
    let done = false;
    alice.on('message', (topic, payload) => {
      if (topic === 'alice/done') done = true;
      else received.push(`${topic} ${payload.toString()}`);
    });
    await alice.subscribeAsync('alice/#', { qos: 1 });
    await admin.publishAsync('alice/secret', 'live', { qos: 1 });
    await admin.publishAsync('alice/x', 'live', { qos: 1 });
    await alice.publishAsync('alice/done', '', { qos: 1 });
    await waitFor(() => done, 10_000, 'alice/done');
    await alice.endAsync();
    for (const topic of ['alice/secret', 'alice/open']) await admin.publishAsync(topic, '', { qos: 1, retain: true });
    await admin.endAsync();
    seen.push(received.sort());
  }
  assert.deepEqual(seen[0], ['alice/open retained', 'alice/x live']);
  assert.deepEqual(seen[1], seen[0]);
});

test('a subscription with nothing readable under it is refused in SUBACK', async () => {
  const client = await connect(broker.port, { clientId: 's1', username: 'alice', password: 'pw-alice' }, 5);
  assert.ok(typeof client !== 'number');
  try {
    assert.equal((await client.subscribeAsync('alice/#', { qos: 1 }))[0]!.qos, 1);
    assert.equal((await client.subscribeAsync('devices/s1/#', { qos: 0 }))[0]!.qos, 0);
    // MQTT.js turns a refusal code into an error carrying the SUBACK.
    await assert.rejects(client.subscribeAsync('alice/secret', { qos: 1 }), (err: { packet?: { granted?: number[] } }) => {
      assert.deepEqual(err.packet?.granted, [0x87]);
      return true;
    });
  } finally {
    await client.endAsync();
  }
});

/** Connects with SCRAM-SHA-256, answering the server-first in AUTH; resolves with the CONNACK or rejects. */
async function scramConnect(username: string, password: string): Promise<{ client: MqttClient; connack: IConnackPacket; scram: ScramClient }> {
  const scram = new ScramClient({ username, password });
  const client = mqtt.connect(`mqtt://127.0.0.1:${broker.port}`, {
    clientId: `scram-${username}`,
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: Buffer.from(scram.clientFirst()) },
  });
  client.handleAuth = (packet: IAuthPacket, callback) => {
    scram.clientFinal(packet.properties!.authenticationData!).then(
      (final) => callback(undefined, { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: Buffer.from(final) } }),
      (err: Error) => callback(err),
    );
  };
  return new Promise((resolve, reject) => {
    client.once('connect', (connack) => resolve({ client, connack, scram }));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}

test('SCRAM-SHA-256 over MQTT 5 AUTH: right and wrong passwords', async () => {
  const { client, connack, scram } = await scramConnect('alice', 'scram-alice');
  try {
    assert.equal(connack.properties?.authenticationMethod, 'SCRAM-SHA-256');
    scram.verifyServerFinal(connack.properties!.authenticationData!);
    assert.equal(scram.authenticated, true);
    // The SCRAM user is the connection's user for the ACL.
    const granted = await client.subscribeAsync({ 'alice/#': { qos: 0 } });
    assert.equal(granted[0]!.qos, 0);
  } finally {
    await client.endAsync();
  }
  await assert.rejects(scramConnect('alice', 'wrong'), (err: { code?: number }) => err.code === 0x86);
  await assert.rejects(scramConnect('mallory', 'scram-alice'), (err: { code?: number }) => err.code === 0x86);
});

test('reload picks up changed files and keeps the old rules when a file is broken', async () => {
  const extra = await FileAuth.load({ aclFile: paths.aclFile });
  const info = { clientId: 'r1', username: 'alice', protocolVersion: 5, keepalive: 60, peer: { remoteAddress: '127.0.0.1', remotePort: 1, transport: 'tcp' }, listener: 'l' } as const;
  assert.equal(extra.canRead(info, 'alice/x'), true);
  writeFileSync(join(dir, 'acl2'), 'user alice\ntopic deny alice/#\n');
  const reloading = await FileAuth.load({ aclFile: join(dir, 'acl2') });
  assert.equal(reloading.canRead(info, 'alice/x'), false);
  writeFileSync(join(dir, 'acl2'), 'user alice\ntopic read alice/#\n');
  await reloading.reload();
  assert.equal(reloading.canRead(info, 'alice/x'), true);
  writeFileSync(join(dir, 'acl2'), 'bogus line\n');
  await assert.rejects(reloading.reload(), /acl2:1: unknown directive 'bogus'/);
  assert.equal(reloading.canRead(info, 'alice/x'), true);
});

test('with only SCRAM credentials a plain user name login is refused, anonymous is left to the listener', async () => {
  const scramOnly = await FileAuth.load({ scramFile: paths.scramFile });
  const authenticate = scramOnly.hooks.authenticate!;
  const context = (username: string | undefined): AuthenticateContext => ({
    clientId: 'c',
    username,
    password: username === undefined ? undefined : Buffer.from('scram-alice'),
    peer: { remoteAddress: '127.0.0.1', remotePort: 1, transport: 'tcp' },
    listener: 'l',
    protocolVersion: 5,
    connect: { type: 'connect', protocolVersion: 5, clientId: 'c', clean: true, keepalive: 60 },
    method: undefined,
    data: undefined,
    step: 0,
    reauthenticate: false,
    state: undefined,
  });
  assert.deepEqual(await authenticate(context('alice')), { result: 'fail', reasonCode: 0x86, reasonString: 'this listener needs SCRAM-SHA-256' });
  assert.deepEqual(await authenticate(context(undefined)), { result: 'success' });
  assert.equal(scramOnly.hooks.authorizePublish, undefined);
});
