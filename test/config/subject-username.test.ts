import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Broker, silentLogger } from '../../src/broker/index.js';
import { connect, type MqttClient } from '../../src/client/index.js';
import { loadBrokerConfig } from '../../src/config/broker-config.js';
import { setUpBroker } from '../../src/config/broker-setup.js';
import { issueCertificate, makeCerts, type TestCerts } from '../helpers/certs.js';
import { startMosquitto, type MosquittoInstance } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

// A comma inside a value shows the RFC 2253 escaping; the order is reversed from the certificate's.
const subject = 'CN=sensor-1,O=Culex\\,Tests,C=GB';

/** Topics the certificate's client receives after publishing to an allowed and a denied topic. */
async function received(port: number, certs: TestCerts, cert: { certFile: string; keyFile: string }): Promise<string[]> {
  const client: MqttClient = await connect(`mqtts://127.0.0.1:${port}`, {
    ca: certs.ca,
    cert: readFileSync(cert.certFile),
    key: readFileSync(cert.keyFile),
    clientId: 'subject-test',
    reconnect: false,
  });
  try {
    const topics: string[] = [];
    client.on('message', (topic) => topics.push(topic));
    await client.subscribe(['sensors/#', 'other/#'], { qos: 1 });
    await client.publish('other/x', 'denied', { qos: 1 }).catch(() => undefined);
    await client.publish('sensors/x', 'allowed', { qos: 1 });
    await waitFor(() => topics.includes('sensors/x'), 5000, 'the allowed message');
    // A round trip after the denied message: had it been routed, it would have arrived by now.
    await client.publish('sensors/y', 'marker', { qos: 1 });
    await waitFor(() => topics.includes('sensors/y'), 5000, 'the marker');
    return topics.sort();
  } finally {
    await client.end();
  }
}

describe('use_subject_as_username', () => {
  let certs: TestCerts;
  let cert: { certFile: string; keyFile: string };
  let aclFile: string;
  before(async () => {
    certs = await makeCerts();
    cert = await issueCertificate(certs, 'subject-client', '/C=GB/O=Culex,Tests/CN=sensor-1', 'extendedKeyUsage=clientAuth\n');
    const dir = mkdtempSync(join(tmpdir(), 'culex-subject-'));
    aclFile = join(dir, 'acl');
    writeFileSync(aclFile, `user ${subject}\ntopic readwrite sensors/#\n`);
  });

  describe('culex', () => {
    let broker: Broker;
    let port: number;
    before(async () => {
      port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'culex-subject-conf-'));
      const file = join(dir, 'mosquitto.conf');
      writeFileSync(file, [
        'per_listener_settings false',
        `acl_file ${aclFile}`,
        `listener ${port} 127.0.0.1`,
        `cafile ${certs.caFile}`,
        `certfile ${certs.serverCertFile}`,
        `keyfile ${certs.serverKeyFile}`,
        'require_certificate true',
        'use_subject_as_username true',
      ].join('\n'));
      const config = await loadBrokerConfig(file);
      assert.equal(config.listeners[0]!.useSubjectAsUsername, true);
      broker = new Broker((await setUpBroker(config, silentLogger)).options);
      await broker.listen();
    });
    after(() => broker.close());

    it('names the user by the whole subject, and the ACL applies to it', async () => {
      const usernames: Array<string | undefined> = [];
      broker.on('connected', (client) => usernames.push(client.username));
      assert.deepEqual(await received(port, certs, cert), ['sensors/x', 'sensors/y']);
      assert.deepEqual(usernames, [subject]);
    });

    it('the native key does the same', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'culex-subject-json-'));
      const file = join(dir, 'culex.json');
      writeFileSync(file, JSON.stringify({
        listeners: [{ port: 0, useSubjectAsUsername: true, tls: { cert: 'a', key: 'b', requireCertificate: true } }],
      }));
      assert.equal((await loadBrokerConfig(file)).listeners[0]!.useSubjectAsUsername, true);
    });

    it('use_subject_as_username without require_certificate is an error', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'culex-subject-bad-'));
      const file = join(dir, 'mosquitto.conf');
      writeFileSync(file, `listener 1883\ncertfile a\nkeyfile b\nuse_subject_as_username true\n`);
      await assert.rejects(loadBrokerConfig(file), /use_subject_as_username needs require_certificate/);
    });
  });

  describe('Mosquitto, same certificate and ACL', () => {
    let mosquitto: MosquittoInstance;
    before(async () => {
      mosquitto = await startMosquitto({
        tls: certs,
        extraConfig: `require_certificate true\nuse_subject_as_username true\nacl_file ${aclFile}\n`,
      });
    });
    after(() => mosquitto.stop());

    it('delivers the same messages', async () => {
      assert.deepEqual(await received(mosquitto.tlsPort!, certs, cert), ['sensors/x', 'sensors/y']);
    });
  });
});
