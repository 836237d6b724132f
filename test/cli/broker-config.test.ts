/**
 * `culex broker -c`: one mosquitto.conf with a password file and an ACL file, served by Mosquitto and then by
 * culex broker, probed with the Mosquitto tools: the same CONNECT answers (bar the documented bad-password code)
 * and the same deliveries. Also SIGHUP reloads and configuration errors.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { describe, it, before } from 'node:test';
import { issueCertificate, makeCerts, type TestCerts } from '../helpers/certs.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { startCulexBroker } from './culex-broker.js';
import { culex, mosquitto, run, type RunResult } from './run.js';

interface Ports {
  plain: number;
  tls: number;
  cert: number;
}

interface Probe {
  name: string;
  tool: 'pub' | 'sub';
  args: string[];
  /** Mosquitto refuses a wrong password with "not authorised"; culex's FileAuth with "bad user name or password". */
  culexCode?: number;
}

function conf(dir: string, ports: Ports, certs: TestCerts): string {
  const path = join(dir, 'mosquitto.conf');
  writeFileSync(path, [
    '# the same file for Mosquitto and culex broker',
    'user root',
    'per_listener_settings false',
    `password_file ${join(dir, 'passwd')}`,
    `acl_file ${join(dir, 'acl')}`,
    'max_keepalive 300',
    'sys_interval 0',
    `listener ${ports.plain} 127.0.0.1`,
    `listener ${ports.tls} 127.0.0.1`,
    `cafile ${certs.caFile}`,
    `certfile ${certs.serverCertFile}`,
    `keyfile ${certs.serverKeyFile}`,
    `listener ${ports.cert} 127.0.0.1`,
    `cafile ${certs.caFile}`,
    `certfile ${certs.serverCertFile}`,
    `keyfile ${certs.serverKeyFile}`,
    'require_certificate true',
    'use_identity_as_username true',
    '',
  ].join('\n'));
  return path;
}

const acl = [
  'user alice',
  'topic readwrite alice/#',
  'topic read public/#',
  '',
  'user bob',
  'topic write public/#',
  'topic read bob/#',
  '',
  'user culex-client',
  'topic readwrite cert/#',
  '',
  'pattern readwrite clients/%c/#',
  '',
].join('\n');

/** Answers and deliveries of one broker, in a fixed order. */
async function probe(ports: Ports, certs: TestCerts): Promise<Array<{ probe: Probe; result: RunResult }>> {
  const p = ['-p', String(ports.plain)];
  const tls = ['-h', 'localhost', '-p', String(ports.tls), '--cafile', certs.caFile];
  const cert = ['-h', 'localhost', '-p', String(ports.cert), '--cafile', certs.caFile];
  const alice = ['-u', 'alice', '-P', 'alice-pw'];
  const bob = ['-u', 'bob', '-P', 'bob-pw'];
  const connects: Probe[] = [
    { name: 'anonymous 3.1.1', tool: 'pub', args: [...p, '-t', 'public/x', '-m', 'x'] },
    { name: 'anonymous 5', tool: 'pub', args: [...p, '-V', '5', '-t', 'public/x', '-m', 'x'] },
    { name: 'alice 3.1.1', tool: 'pub', args: [...p, ...alice, '-t', 'alice/1', '-m', 'a1', '-r'] },
    { name: 'alice 5', tool: 'pub', args: [...p, ...alice, '-V', '5', '-t', 'alice/2', '-m', 'a2', '-r', '-q', '1'] },
    { name: 'alice wrong password 3.1.1', tool: 'pub', args: [...p, '-u', 'alice', '-P', 'nope', '-t', 'alice/x', '-m', 'x'], culexCode: 4 },
    { name: 'alice wrong password 5', tool: 'pub', args: [...p, '-u', 'alice', '-P', 'nope', '-V', '5', '-t', 'alice/x', '-m', 'x'], culexCode: 0x86 },
    { name: 'bob over TLS', tool: 'pub', args: [...tls, ...bob, '-t', 'public/news', '-m', 'from bob', '-r', '-q', '1'] },
    { name: 'alice may not write public/', tool: 'pub', args: [...p, ...alice, '-t', 'public/alice', '-m', 'no', '-r'] },
    { name: 'bob may not write alice/', tool: 'pub', args: [...tls, ...bob, '-t', 'alice/3', '-m', 'no', '-r'] },
    { name: 'pattern %c', tool: 'pub', args: [...p, ...bob, '-i', 'c7', '-t', 'clients/c7/state', '-m', 'up', '-r'] },
    { name: 'pattern %c, other id', tool: 'pub', args: [...p, ...bob, '-i', 'c8', '-t', 'clients/c7/state', '-m', 'spoof', '-r'] },
    { name: 'client certificate as user name', tool: 'pub', args: [...cert, '--cert', certs.clientCertFile, '--key', certs.clientKeyFile, '-u', 'ignored', '-t', 'cert/1', '-m', 'by cert', '-r'] },
  ];
  const results: Array<{ probe: Probe; result: RunResult }> = [];
  for (const c of connects) results.push({ probe: c, result: await mosquitto(c.tool, c.args) });
  const reads: Probe[] = [
    { name: 'alice reads alice/# and public/#', tool: 'sub', args: [...p, ...alice, '-t', 'alice/#', '-t', 'public/#', '-W', '1', '-F', '%t %p'] },
    { name: 'bob reads clients/c7/# as c7', tool: 'sub', args: [...p, ...bob, '-i', 'c7', '-t', 'clients/c7/#', '-C', '1', '-v'] },
    { name: 'the certificate user reads cert/#', tool: 'sub', args: [...cert, '--cert', certs.clientCertFile, '--key', certs.clientKeyFile, '-t', 'cert/#', '-C', '1', '-v'] },
    { name: 'bob reads nothing of alice/#', tool: 'sub', args: [...tls, ...bob, '-t', 'alice/#', '-t', 'bob/#', '-W', '1', '-v'] },
  ];
  const read = await Promise.all(reads.map((r) => mosquitto(r.tool, r.args)));
  reads.forEach((r, i) => results.push({ probe: r, result: read[i]! }));
  return results;
}

describe('culex broker -c', () => {
  let certs: TestCerts;
  let dir: string;

  before(async () => {
    certs = await makeCerts();
    dir = mkdtempSync(join(tmpdir(), 'culex-broker-config-'));
    writeFileSync(join(dir, 'acl'), acl);
    writeFileSync(join(dir, 'passwd'), '');
    for (const [user, pw] of [['alice', 'alice-pw'], ['bob', 'bob-pw']]) {
      const r = await run('mosquitto_passwd', ['-b', join(dir, 'passwd'), user!, pw!]);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  it('serves a mosquitto.conf, password and ACL files as Mosquitto does', async () => {
    const ports: Ports = { plain: await freePort(), tls: await freePort(), cert: await freePort() };
    const file = conf(dir, ports, certs);
    const m = spawn('/usr/sbin/mosquitto', ['-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let mosquittoLog = '';
    m.stderr.on('data', (d: Buffer) => (mosquittoLog += d));
    let fromMosquitto: Awaited<ReturnType<typeof probe>>;
    try {
      await waitFor(() => mosquittoLog.includes('running'), 10_000, 'mosquitto to start');
      fromMosquitto = await probe(ports, certs);
    } finally {
      m.kill('SIGTERM');
      await once(m, 'exit');
    }
    const broker = await startCulexBroker(['-c', file], 3);
    let fromCulex: Awaited<ReturnType<typeof probe>>;
    try {
      assert.match(broker.log(), /mosquitto\.conf:2: user has no effect in culex/);
      fromCulex = await probe(ports, certs);
    } finally {
      assert.equal(await broker.stop(), 0);
    }
    for (let i = 0; i < fromMosquitto.length; i++) {
      const { probe: c, result: want } = fromMosquitto[i]!;
      const got = fromCulex[i]!.result;
      assert.equal(got.stdout.toString(), want.stdout.toString(), `${c.name}: delivered`);
      if (c.tool === 'pub') assert.equal(got.code, c.culexCode ?? want.code, `${c.name}: CONNACK (culex: ${got.stderr})`);
    }
    // The answers that matter, spelled out.
    const codes = Object.fromEntries(fromCulex.map(({ probe: c, result }) => [c.name, result.code]));
    assert.equal(codes['anonymous 3.1.1'], 5);
    assert.equal(codes['anonymous 5'], 0x87);
    assert.equal(codes['alice 5'], 0);
    assert.equal(fromCulex.find((r) => r.probe.name.startsWith('alice reads'))!.result.stdout.toString(), 'alice/1 a1\nalice/2 a2\npublic/news from bob\n');
  });

  it('re-reads the password file and the TLS certificate on SIGHUP', async () => {
    const local = mkdtempSync(join(tmpdir(), 'culex-sighup-'));
    const passwd = join(local, 'passwd');
    copyFileSync(join(dir, 'passwd'), passwd);
    const certFile = join(local, 'server.crt');
    const keyFile = join(local, 'server.key');
    copyFileSync(certs.serverCertFile, certFile);
    copyFileSync(certs.serverKeyFile, keyFile);
    const config = join(local, 'broker.json');
    writeFileSync(config, JSON.stringify({
      listeners: [{ port: 0 }, { port: 0, tls: { cert: 'server.crt', key: 'server.key' } }],
      auth: { passwordFile: 'passwd' },
      allowAnonymous: false,
      sysInterval: 0,
    }, null, 2));
    const broker = await startCulexBroker(['-c', config], 2);
    const serial = (): Promise<string> => new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: broker.ports[1]!, rejectUnauthorized: false }, () => {
        resolve(socket.getPeerCertificate().serialNumber);
        socket.destroy();
      });
      socket.on('error', reject);
    });
    try {
      const asAlice = (pw: string) => culex(['pub', '-p', String(broker.ports[0]), '-u', 'alice', '-P', pw, '-t', 'alice/x', '-m', 'x']);
      assert.equal((await asAlice('alice-pw')).code, 0);
      const before = await serial();
      const r = await run('mosquitto_passwd', ['-b', passwd, 'alice', 'changed']);
      assert.equal(r.code, 0, r.stderr);
      const renewed = await issueCertificate(certs, 'renewed', '/CN=localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
      copyFileSync(renewed.certFile, certFile);
      copyFileSync(renewed.keyFile, keyFile);
      broker.signal('SIGHUP');
      await waitFor(() => broker.log().includes('SIGHUP: password, ACL and TLS files re-read'), 10_000, 'the reload');
      assert.equal((await asAlice('alice-pw')).code, 4, 'bad user name or password');
      assert.equal((await asAlice('changed')).code, 0);
      assert.notEqual(await serial(), before);
      writeFileSync(passwd, 'broken line without a colon\n');
      broker.signal('SIGHUP');
      await waitFor(() => broker.log().includes('SIGHUP: reload failed'), 10_000, 'the failed reload');
      assert.equal((await asAlice('changed')).code, 0, 'the previous password file stays in force');
    } finally {
      await broker.stop();
    }
  });

  it('persistence true keeps state in persistence_location across restarts; --memory overrides it', async () => {
    const local = mkdtempSync(join(tmpdir(), 'culex-persistence-'));
    const file = join(local, 'mosquitto.conf');
    writeFileSync(file, `listener 0 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location ${join(local, 'data')}\nsys_interval 0\n`);
    const first = await startCulexBroker(['-c', file], 1);
    try {
      assert.match(first.log(), new RegExp(`state kept in ${join(local, 'data')}`));
      const pub = await culex(['pub', '-p', String(first.ports[0]), '-t', 'kept/1', '-m', 'survives', '-r', '-q', '1']);
      assert.equal(pub.code, 0, pub.stderr);
    } finally {
      assert.equal(await first.stop(), 0);
    }
    const second = await startCulexBroker(['-c', file], 1);
    try {
      const sub = await culex(['sub', '-p', String(second.ports[0]), '-t', 'kept/#', '-C', '1', '-v']);
      assert.equal(sub.stdout.toString(), 'kept/1 survives\n', sub.stderr);
    } finally {
      assert.equal(await second.stop(), 0);
    }
    const memory = await startCulexBroker(['-c', file, '--memory'], 1);
    try {
      const sub = await culex(['sub', '-p', String(memory.ports[0]), '-t', 'kept/#', '-W', '1', '-v']);
      assert.equal(sub.code, 27);
      assert.equal(sub.stdout.toString(), '');
    } finally {
      await memory.stop();
    }
  });

  it('flags override the file', async () => {
    const config = join(dir, 'override.json');
    writeFileSync(config, JSON.stringify({ listeners: [{ port: 1, host: '127.0.0.1' }], limits: { maxKeepalive: 100 }, sysInterval: 0 }));
    const broker = await startCulexBroker(['-c', config, '--port', '0', '--max-keepalive', '20'], 1);
    try {
      const r = await culex(['sub', '-p', String(broker.ports[0]), '-V', '5', '-k', '60', '-t', 'x', '-E', '-d']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(broker.log(), /keepalive=20/);
    } finally {
      await broker.stop();
    }
  });

  it('culex pub and sub exit with the code of a refused publish or subscription', async () => {
    const config = join(dir, 'acl-only.json');
    writeFileSync(config, JSON.stringify({ listeners: [{ port: 0 }], auth: { aclFile: join(dir, 'acl') }, sysInterval: 0 }));
    const broker = await startCulexBroker(['-c', config], 1);
    try {
      const v5 = await culex(['pub', '-p', String(broker.ports[0]), '-V', '5', '-q', '1', '-t', 'public/anon', '-m', 'x']);
      assert.equal(v5.code, 0x87);
      assert.equal(v5.stderr, "culex pub: publish to 'public/anon' refused: not authorized (0x87)\n");
      // MQTT 3.1.1 has no way to say no: the message is dropped, as with Mosquitto.
      const v311 = await culex(['pub', '-p', String(broker.ports[0]), '-q', '1', '-t', 'public/anon', '-m', 'x']);
      assert.equal(v311.code, 0, v311.stderr);
      const sub5 = await culex(['sub', '-p', String(broker.ports[0]), '-V', '5', '-t', 'public/#']);
      assert.equal(sub5.code, 0x87);
      assert.equal(sub5.stderr, 'culex sub: the broker refused every subscription: not authorized (SUBACK 0x87)\n');
      const sub311 = await culex(['sub', '-p', String(broker.ports[0]), '-t', 'public/#']);
      assert.equal(sub311.code, 0x80, sub311.stderr);
    } finally {
      await broker.stop();
    }
  });

  it('reports configuration mistakes with file, line and key, and exits 2', async () => {
    const bad = join(dir, 'bad.conf');
    writeFileSync(bad, 'listener 1883\nautosave_interval 60\npsk_hint x\nmax_keepalive never\n');
    const r1 = await culex(['broker', '-c', bad]);
    assert.equal(r1.code, 2);
    assert.equal(r1.stderr, `culex broker: ${bad}:3: unsupported directive 'psk_hint'\n${bad}:4: max_keepalive: expected an integer from 1 to 65535, not 'never'\n`);
    const json = join(dir, 'bad.json');
    writeFileSync(json, '{\n  "listeners": [\n    { "port": 1883, "tls": { "cert": "a.pem" } }\n  ]\n}\n');
    const r2 = await culex(['broker', '-c', json]);
    assert.equal(r2.code, 2);
    assert.equal(r2.stderr, `culex broker: ${json}:3: listeners[0].tls: 'key' is required\n`);
    const r3 = await culex(['broker', '--help']);
    assert.equal(r3.code, 0);
    for (const word of ['--config', '--data-dir', '--memory', '--fsync', 'maxInflight', 'passwordFile', 'per_listener_settings']) {
      assert.ok(r3.stdout.toString().includes(word), `help lacks ${word}`);
    }
  });
});
