/**
 * culex pub → Mosquitto → mosquitto_sub and mosquitto_pub → culex broker → culex sub, over TCP and TLS with
 * MQTT 3.1.1 and 5; culex pub/sub over WebSocket to Mosquitto's websockets listener and over WSS to culex broker.
 * Messages are retained, so each reader finds its message whatever the start-up order.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { startMosquitto, type MosquittoInstance } from '../helpers/mosquitto.js';
import { startCulexBroker, type CulexBroker } from './culex-broker.js';
import { culex, mosquitto, pool } from './run.js';

describe('culex pub/sub with Mosquitto and culex broker', () => {
  let certs: TestCerts;
  let mosq: MosquittoInstance;
  let broker: CulexBroker;

  before(async () => {
    certs = await makeCerts();
    const config = join(certs.dir, 'interop-broker.json');
    const tls = { cert: certs.serverCertFile, key: certs.serverKeyFile, ca: certs.caFile };
    writeFileSync(config, JSON.stringify({
      listeners: [{ port: 0 }, { port: 0, tls }, { protocol: 'websockets', port: 0, tls }],
      sysInterval: 0,
    }));
    [mosq, broker] = await Promise.all([startMosquitto({ websockets: true, tls: certs }), startCulexBroker(['-c', config], 3)]);
  });

  after(async () => {
    await Promise.all([mosq?.stop(), broker?.stop()]);
  });

  const transports = ['tcp', 'tls'] as const;
  const versions = ['311', '5'] as const;

  it('culex pub to Mosquitto, read by mosquitto_sub (TCP, TLS; 3.1.1, 5)', async () => {
    await pool(4, transports.flatMap((transport) => versions.map((version) => async () => {
      const topic = `interop/to-mosquitto/${transport}/${version}`;
      const connection = transport === 'tcp' ? ['-p', String(mosq.port)] : ['-h', 'localhost', '-p', String(mosq.tlsPort), '--cafile', certs.caFile];
      const pub = await culex(['pub', ...connection, '-V', version, '-t', topic, '-m', `via ${transport} ${version}`, '-q', '1', '-r']);
      assert.equal(pub.code, 0, pub.stderr);
      const sub = await mosquitto('sub', [...connection, '-V', version, '-t', topic, '-C', '1', '-q', '1', '-F', '%t %q %r %p']);
      assert.equal(sub.code, 0, sub.stderr);
      assert.equal(sub.stdout.toString(), `${topic} 1 1 via ${transport} ${version}\n`);
    })));
  });

  it('mosquitto_pub to culex broker, read by culex sub (TCP, TLS; 3.1.1, 5)', async () => {
    await pool(4, transports.flatMap((transport) => versions.map((version) => async () => {
      const topic = `interop/to-culex/${transport}/${version}`;
      const connection = transport === 'tcp' ? ['-p', String(broker.ports[0])] : ['-h', 'localhost', '-p', String(broker.ports[1]), '--cafile', certs.caFile];
      const pub = await mosquitto('pub', [...connection, '-V', version, '-t', topic, '-m', `via ${transport} ${version}`, '-q', '2', '-r']);
      assert.equal(pub.code, 0, pub.stderr);
      const sub = await culex(['sub', ...connection, '-V', version, '-t', topic, '-C', '1', '-q', '2', '-F', '%t %q %r %p']);
      assert.equal(sub.code, 0, sub.stderr);
      assert.equal(sub.stdout.toString(), `${topic} 2 1 via ${transport} ${version}\n`);
    })));
  });

  it("culex pub and sub over WebSocket to Mosquitto's websockets listener", async () => {
    const url = `ws://127.0.0.1:${mosq.wsPort}/mqtt`;
    const pub = await culex(['pub', '-L', url, '-t', 'interop/ws/in', '-m', 'over ws', '-r']);
    assert.equal(pub.code, 0, pub.stderr);
    const viaTcp = await mosquitto('sub', ['-p', String(mosq.port), '-t', 'interop/ws/in', '-C', '1', '-v']);
    assert.equal(viaTcp.stdout.toString(), 'interop/ws/in over ws\n');
    const seed = await mosquitto('pub', ['-p', String(mosq.port), '-t', 'interop/ws/out', '-m', 'to ws', '-r', '-V', '5']);
    assert.equal(seed.code, 0, seed.stderr);
    const sub = await culex(['sub', '-L', url, '-V', '5', '-t', 'interop/ws/out', '-C', '1', '-v']);
    assert.equal(sub.code, 0, sub.stderr);
    assert.equal(sub.stdout.toString(), 'interop/ws/out to ws\n');
  });

  it('culex pub and sub over secure WebSocket to culex broker', async () => {
    const url = `wss://localhost:${broker.ports[2]}`;
    const pub = await culex(['pub', '-L', url, '--cafile', certs.caFile, '-t', 'interop/wss', '-m', 'over wss', '-r', '-q', '1']);
    assert.equal(pub.code, 0, pub.stderr);
    const sub = await culex(['sub', '-L', url, '--cafile', certs.caFile, '-t', 'interop/wss', '-C', '1', '-v']);
    assert.equal(sub.code, 0, sub.stderr);
    assert.equal(sub.stdout.toString(), 'interop/wss over wss\n');
  });
});
