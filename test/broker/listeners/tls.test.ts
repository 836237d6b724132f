import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { createListener, type ListenerTlsOptions } from '../../../src/broker/listeners/index.js';
import { issueCertificate, makeCerts, type TestCerts } from '../../helpers/certs.js';
import { waitFor } from '../../helpers/wait.js';
import { Receiver, startListener } from './harness.js';

const run = promisify(execFile);
let certs: TestCerts;
/** A client certificate from a CA the listener does not trust. */
let stranger: { cert: Buffer; key: Buffer };
/** A client certificate from the test CA, revoked in `crl`. */
let revoked: { cert: Buffer; key: Buffer; crl: Buffer };

before(async () => {
  certs = await makeCerts();
  const { dir } = certs;
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-subj', '/CN=stranger', '-days', '2', '-keyout', join(dir, 'stranger.key'), '-out', join(dir, 'stranger.crt')]);
  stranger = { cert: readFileSync(join(dir, 'stranger.crt')), key: readFileSync(join(dir, 'stranger.key')) };
  const issued = await issueCertificate(certs, 'revoked', '/CN=revoked-client', 'extendedKeyUsage=clientAuth\n');
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'crlnumber'), '01\n');
  writeFileSync(join(dir, 'ca.cnf'),
    '[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n');
  const ca = ['-config', 'ca.cnf', '-cert', certs.caFile, '-keyfile', certs.caKeyFile];
  await run('openssl', ['ca', ...ca, '-revoke', issued.certFile], { cwd: dir });
  await run('openssl', ['ca', ...ca, '-gencrl', '-out', 'crl.pem'], { cwd: dir });
  revoked = { cert: readFileSync(issued.certFile), key: readFileSync(issued.keyFile), crl: readFileSync(join(dir, 'crl.pem')) };
});

function serverTls(extra: Partial<ListenerTlsOptions> = {}): ListenerTlsOptions {
  return { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, ...extra };
}

/** Connects and waits for the handshake; resolves with the socket, or with the error that ended it. */
function connectTls(port: number, options: ConnectionOptions = {}): Promise<TLSSocket | Error> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.ca, ...options });
    socket.once('secureConnect', () => {
      // With TLS 1.3 the server judges the client certificate after the client has finished: give it a round
      // trip to refuse.
      const receiver = new Receiver(socket);
      socket.write('ping');
      void receiver.read(4).then(() => resolve(socket), (error: Error) => resolve(receiver.error ?? error));
    });
    socket.once('error', (error) => resolve(error));
  });
}

test('TLS: echo, transport tls, no certificate asked', async () => {
  const running = await startListener({ port: 0, tls: serverTls() });
  try {
    assert.equal(running.listener.name, `mqtts://127.0.0.1:${running.listener.port}`);
    const socket = await connectTls(running.listener.port, { cert: certs.clientCert, key: certs.clientKey });
    assert.ok(!(socket instanceof Error), String(socket));
    assert.equal(socket.getProtocol(), 'TLSv1.3');
    const { stream } = await running.session(0);
    assert.equal(stream.peer.transport, 'tls');
    assert.equal(stream.peer.remoteAddress, '127.0.0.1');
    assert.equal(stream.peer.peerCertificate, undefined);
    socket.destroy();
  } finally {
    await running.close();
  }
});

test('TLS: version floor', async () => {
  const running = await startListener({ port: 0, tls: serverTls({ minVersion: 'TLSv1.3' }) });
  const floor12 = await startListener({ port: 0, tls: serverTls() });
  try {
    const tls12 = await connectTls(floor12.listener.port, { maxVersion: 'TLSv1.2' });
    assert.ok(!(tls12 instanceof Error), String(tls12));
    assert.equal(tls12.getProtocol(), 'TLSv1.2');
    tls12.destroy();
    const refused = await connectTls(running.listener.port, { maxVersion: 'TLSv1.2' });
    assert.ok(refused instanceof Error);
    await waitFor(() => running.refused.length === 1, 5000, 'the refusal');
    assert.match(running.refused[0]!.reason.message, /protocol/i);
  } finally {
    await running.close();
    await floor12.close();
  }
});

test('TLS: required client certificate', async () => {
  const running = await startListener({ port: 0, tls: serverTls({ requireCertificate: true }) });
  try {
    const port = running.listener.port;
    const good = await connectTls(port, { cert: certs.clientCert, key: certs.clientKey });
    assert.ok(!(good instanceof Error), String(good));
    const { stream } = await running.session(0);
    const certificate = stream.peer.peerCertificate;
    assert.ok(certificate);
    assert.equal(certificate.subject.CN, 'culex-client');
    assert.equal(certificate.subject.O, 'Culex Tests');
    assert.ok(certificate.raw && certificate.raw.length > 100);
    assert.match(certificate.fingerprint256 ?? '', /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    good.destroy();

    for (const options of [{}, { cert: stranger.cert, key: stranger.key }]) {
      const refused = await connectTls(port, options);
      assert.ok(refused instanceof Error, 'a client without a valid certificate must not get through');
    }
    await waitFor(() => running.refused.length === 2, 5000, 'two refusals');
    assert.equal(running.sessions.length, 1, 'no stream for refused clients');
    assert.equal(running.refused[0]!.address, '127.0.0.1');
    assert.match(running.refused[0]!.reason.message, /certificate/i);
    assert.match(running.refused[1]!.reason.message, /client certificate refused/);
  } finally {
    await running.close();
  }
});

test('TLS: optional client certificate', async () => {
  const running = await startListener({ port: 0, tls: serverTls({ requestCertificate: true }) });
  try {
    const port = running.listener.port;
    const cases: Array<[ConnectionOptions, string | undefined]> = [
      [{}, undefined],
      [{ cert: certs.clientCert, key: certs.clientKey }, 'culex-client'],
      [{ cert: stranger.cert, key: stranger.key }, undefined],
    ];
    for (const [index, [options, commonName]] of cases.entries()) {
      const socket = await connectTls(port, options);
      assert.ok(!(socket instanceof Error), String(socket));
      const { stream } = await running.session(index);
      assert.equal(stream.peer.peerCertificate?.subject.CN, commonName);
      socket.destroy();
    }
  } finally {
    await running.close();
  }
});

test('TLS: a revoked client certificate is refused when a CRL is set', async () => {
  const running = await startListener({ port: 0, tls: serverTls({ requireCertificate: true, crl: revoked.crl }) });
  try {
    const port = running.listener.port;
    const refused = await connectTls(port, { cert: revoked.cert, key: revoked.key });
    assert.ok(refused instanceof Error);
    await waitFor(() => running.refused.length === 1, 5000, 'the refusal');
    assert.match(running.refused[0]!.reason.message, /client certificate refused: CERT_REVOKED/);
    const good = await connectTls(port, { cert: certs.clientCert, key: certs.clientKey });
    assert.ok(!(good instanceof Error), String(good));
    assert.equal(running.sessions.length, 1);
    good.destroy();
  } finally {
    await running.close();
  }
});

test('TLS: reloadTls serves the new certificate to new connections only', async () => {
  const running = await startListener({ port: 0, tls: serverTls() });
  try {
    const port = running.listener.port;
    const before = await connectTls(port);
    assert.ok(!(before instanceof Error));
    assert.equal(before.getPeerCertificate().subject.CN, 'localhost');
    const next = await issueCertificate(certs, 'reloaded', '/CN=reloaded', 'subjectAltName=DNS:localhost\n');
    running.listener.reloadTls!(serverTls({ cert: readFileSync(next.certFile), key: readFileSync(next.keyFile) }));
    const after = await connectTls(port);
    assert.ok(!(after instanceof Error));
    assert.equal(after.getPeerCertificate().subject.CN, 'reloaded');
    // The connection made before the reload carries on.
    const receiver = new Receiver(before);
    before.write('still');
    assert.equal((await receiver.read(5)).toString(), 'still');
    // Bad material is refused and the current certificate stays.
    assert.throws(() => running.listener.reloadTls!(serverTls({ key: certs.clientKey })), /does not match/);
    const third = await connectTls(port);
    assert.ok(!(third instanceof Error));
    assert.equal(third.getPeerCertificate().subject.CN, 'reloaded');
    // Closing the listener leaves established streams to their owners.
    await running.listener.close();
    after.write('after close');
    const afterReceiver = new Receiver(after);
    assert.equal((await afterReceiver.read(11)).toString(), 'after close');
    for (const socket of [before, after, third]) socket.destroy();
  } finally {
    await running.close();
  }
});

test('TLS: bad material rejects start with what is wrong', async () => {
  const cases: Array<[Partial<ListenerTlsOptions>, RegExp]> = [
    [{ cert: 'not a certificate' }, /TLS certificate \(cert\) is not a PEM certificate/],
    [{ key: 'not a key' }, /TLS private key \(key\) is not a PEM private key/],
    [{ key: certs.clientKey }, /TLS private key \(key\) does not match the certificate \(cert\)/],
    [{ ca: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }, /TLS CA bundle \(ca\)/],
    [{ crl: '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n' }, /TLS CRL \(crl\)/],
  ];
  for (const [extra, message] of cases) {
    for (const protocol of ['mqtt', 'websockets'] as const) {
      const listener = createListener({ port: 0, protocol, tls: serverTls(extra) });
      await assert.rejects(listener.start(() => {}), message);
    }
  }
});

test('TLS: MQTT.js connects with a client certificate', async () => {
  const running = await startListener({ port: 0, tls: serverTls({ requireCertificate: true }) }, 'mqtt');
  try {
    const client = await mqtt.connectAsync(`mqtts://localhost:${running.listener.port}`, {
      ca: certs.ca,
      cert: certs.clientCert,
      key: certs.clientKey,
      reconnectPeriod: 0,
    });
    assert.equal(client.connected, true);
    const session = await running.session(0);
    assert.equal(session.packets[0]?.type, 'connect');
    assert.equal(session.stream.peer.peerCertificate?.subject.CN, 'culex-client');
    await client.endAsync();
  } finally {
    await running.close();
  }
});
