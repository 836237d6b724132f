import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';
import type { ListenerOptions } from '../../../src/broker/listeners/index.js';
import { makeCerts, type TestCerts } from '../../helpers/certs.js';
import { waitFor } from '../../helpers/wait.js';
import { CONNACK_V4, CONNECT_V4, Receiver, startListener, tcpConnect } from './harness.js';

let certs: TestCerts;
before(async () => {
  certs = await makeCerts();
});

const TRUSTED = { trustedAddresses: ['127.0.0.1'] };
const SIGNATURE = '0d0a0d0a000d0a515549540a';
const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const V1_TCP4 = Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 40001 1883\r\n');
/** v2 PROXY, TCP over IPv6, from [2001:db8::7]:40002 to [2001:db8::1]:1883. */
const V2_TCP6 = hex(`${SIGNATURE} 21 21 0024 20010db8000000000000000000000007 20010db8000000000000000000000001 9c42 075b`);
const V2_LOCAL = hex(`${SIGNATURE} 20 00 0000`);

test('PROXY over TCP: v1 TCP4 with MQTT bytes in the same segment', async () => {
  const running = await startListener({ port: 0, proxyProtocol: TRUSTED }, 'mqtt');
  try {
    const socket = await tcpConnect(running.listener.port);
    const receiver = new Receiver(socket);
    socket.write(Buffer.concat([V1_TCP4, CONNECT_V4]));
    assert.deepEqual(new Uint8Array(await receiver.read(4)), CONNACK_V4);
    const session = await running.session(0);
    assert.deepEqual(session.stream.peer, { remoteAddress: '203.0.113.7', remotePort: 40001, transport: 'tcp' });
    assert.equal(session.packets[0]?.type, 'connect');
    socket.destroy();
  } finally {
    await running.close();
  }
});

test('PROXY over TCP: v2 TCP6 arriving in pieces, then v2 LOCAL', async () => {
  const running = await startListener({ port: 0, proxyProtocol: TRUSTED });
  try {
    const socket = await tcpConnect(running.listener.port);
    const receiver = new Receiver(socket);
    socket.write(V2_TCP6.subarray(0, 5));
    await new Promise((resolve) => setTimeout(resolve, 20));
    socket.write(V2_TCP6.subarray(5, 30));
    await new Promise((resolve) => setTimeout(resolve, 20));
    socket.write(Buffer.concat([V2_TCP6.subarray(30), Buffer.from('abc')]));
    assert.equal((await receiver.read(3)).toString(), 'abc');
    const session = await running.session(0);
    assert.deepEqual(session.stream.peer, { remoteAddress: '2001:db8::7', remotePort: 40002, transport: 'tcp' });
    socket.destroy();

    // LOCAL (a health check) keeps the connection's own address.
    const local = await tcpConnect(running.listener.port);
    const localReceiver = new Receiver(local);
    local.write(V2_LOCAL);
    local.write('xyz');
    assert.equal((await localReceiver.read(3)).toString(), 'xyz');
    const localSession = await running.session(1);
    assert.equal(localSession.stream.peer.remoteAddress, '127.0.0.1');
    assert.equal(localSession.stream.peer.remotePort, local.localPort);
    local.destroy();
  } finally {
    await running.close();
  }
});

for (const protocol of ['mqtt', 'websockets'] as const) {
  test(`PROXY on ${protocol}: bad signature, untrusted source and slow header close the connection before any stream`, async () => {
    const strict = await startListener({ port: 0, protocol, proxyProtocol: { trustedAddresses: ['10.0.0.0/8', '::1'] } });
    const open = await startListener({ port: 0, protocol, proxyProtocol: { trustedAddresses: ['127.0.0.0/8'], headerTimeoutMs: 200 } });
    try {
      const untrusted = new Receiver(await tcpConnect(strict.listener.port));
      await untrusted.waitClosed('the untrusted connection to close');
      assert.match(strict.refused[0]!.reason.message, /untrusted address 127\.0\.0\.1/);

      const bad = new Receiver(await tcpConnect(open.listener.port));
      bad.socket.write(CONNECT_V4);
      await bad.waitClosed('a connection without a header to close');

      const badV2 = new Receiver(await tcpConnect(open.listener.port));
      badV2.socket.write(hex('0d0a0d0a000d0a515549540b 21 11 000c'));
      await badV2.waitClosed('a connection with a bad v2 signature to close');

      const slow = new Receiver(await tcpConnect(open.listener.port));
      slow.socket.write('PROXY TCP4 ');
      await slow.waitClosed('a slow header to time out');

      await waitFor(() => open.refused.length === 3, 5000, 'three refusals');
      const reasons = open.refused.map((r) => r.reason.message);
      assert.match(reasons[0]!, /PROXY protocol header expected/);
      assert.match(reasons[1]!, /bad PROXY protocol signature/);
      assert.match(reasons[2]!, /no complete PROXY protocol header within 200 ms/);
      assert.equal(open.sessions.length + strict.sessions.length, 0);
    } finally {
      await strict.close();
      await open.close();
    }
  });
}

test('PROXY: a listener closing drops connections still sending their header', async () => {
  const running = await startListener({ port: 0, proxyProtocol: TRUSTED });
  const waiting = new Receiver(await tcpConnect(running.listener.port));
  waiting.socket.write('PROXY TCP4 1.2.3.4');
  await new Promise((resolve) => setTimeout(resolve, 20));
  await running.close();
  await waiting.waitClosed();
  assert.equal(running.sessions.length, 0);
});

/**
 * A stand-in load balancer: accepts clients on its own port and forwards each to `target`, sending `header`
 * together with the client's first bytes in one write, as real proxies do.
 */
async function startRelay(target: number, header: Buffer): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = netConnect(target, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.once('data', (first: Buffer) => {
      upstream.write(Buffer.concat([header, first]));
      client.pipe(upstream);
      upstream.pipe(client);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

test('PROXY over TLS: the header comes before the handshake', async () => {
  const options: ListenerOptions = {
    port: 0,
    proxyProtocol: TRUSTED,
    tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, requireCertificate: true },
  };
  const running = await startListener(options);
  const relay = await startRelay(running.listener.port, V1_TCP4);
  try {
    const secure = tlsConnect({ host: '127.0.0.1', port: relay.port, servername: 'localhost', ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    const receiver = new Receiver(secure);
    secure.write('over tls');
    assert.equal((await receiver.read(8)).toString(), 'over tls');
    const { stream } = await running.session(0);
    assert.equal(stream.peer.remoteAddress, '203.0.113.7');
    assert.equal(stream.peer.transport, 'tls');
    assert.equal(stream.peer.peerCertificate?.subject.CN, 'culex-client');
    secure.destroy();
  } finally {
    await relay.close();
    await running.close();
  }
});

function openWebSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['mqtt'], { perMessageDeflate: false, ca: certs.ca });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

for (const secure of [false, true]) {
  const scheme = secure ? 'wss' : 'ws';
  test(`PROXY over ${scheme.toUpperCase()}: the header comes before the HTTP upgrade`, async () => {
    const options: ListenerOptions = { port: 0, protocol: 'websockets', proxyProtocol: TRUSTED };
    if (secure) options.tls = { cert: certs.serverCert, key: certs.serverKey };
    const running = await startListener(options, 'mqtt');
    const relays = [V1_TCP4, V2_TCP6, V2_LOCAL].map((header) => startRelay(running.listener.port, header));
    try {
      for (const [index, relay] of (await Promise.all(relays)).entries()) {
        const ws = await openWebSocket(`${scheme}://localhost:${relay.port}/mqtt`);
        const replies: Buffer[] = [];
        ws.on('message', (data: Buffer) => replies.push(data));
        ws.send(CONNECT_V4);
        await waitFor(() => replies.length > 0, 5000, 'CONNACK');
        assert.deepEqual(new Uint8Array(replies[0]!), CONNACK_V4);
        const { stream } = await running.session(index);
        assert.equal(stream.peer.transport, scheme);
        // LOCAL (the third) keeps the address of the connection, which comes from the relay.
        assert.equal(stream.peer.remoteAddress, ['203.0.113.7', '2001:db8::7', '127.0.0.1'][index]);
        ws.close();
      }
      // Without a header, the start of the request is a bad signature.
      await assert.rejects(openWebSocket(`${scheme}://localhost:${running.listener.port}/mqtt`));
      await waitFor(() => running.refused.length === 1, 5000, 'the refusal');
      assert.match(running.refused[0]!.reason.message, /PROXY protocol header expected/);
      assert.equal(running.sessions.length, 3);
    } finally {
      for (const relay of await Promise.all(relays)) await relay.close();
      await running.close();
    }
  });
}
