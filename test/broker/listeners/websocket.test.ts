import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import mqtt from 'mqtt';
import WebSocket, { type ClientOptions } from 'ws';
import type { ListenerOptions } from '../../../src/broker/listeners/index.js';
import { makeCerts, type TestCerts } from '../../helpers/certs.js';
import { waitFor } from '../../helpers/wait.js';
import { CONNACK_V4, CONNECT_V4, PINGREQ, PINGRESP, Receiver, startListener, tcpConnect } from './harness.js';

let certs: TestCerts;
before(async () => {
  certs = await makeCerts();
});

/** A `ws` client that records binary messages; resolves once open, or with the error or HTTP status that ended it. */
class Client {
  readonly messages: Buffer[] = [];
  closeCode: number | undefined;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.messages.push(data));
    ws.on('close', (code) => (this.closeCode = code));
  }

  static open(url: string, protocols: string[] = ['mqtt'], options: ClientOptions = {}): Promise<Client | { status: number } | Error> {
    return new Promise((resolve) => {
      const ws = new WebSocket(url, protocols, { perMessageDeflate: false, ...options });
      const client = new Client(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_request, response) => {
        resolve({ status: response.statusCode ?? 0 });
        ws.terminate();
      });
      ws.once('error', (error) => resolve(error));
    });
  }

  async bytes(length: number): Promise<Buffer> {
    await waitFor(() => Buffer.concat(this.messages).length >= length || this.closeCode !== undefined, 5000, `${length} bytes`);
    return Buffer.concat(this.messages);
  }
}

async function openClient(url: string, protocols?: string[], options?: ClientOptions): Promise<Client> {
  const client = await Client.open(url, protocols, options);
  assert.ok(client instanceof Client, `expected to connect, got ${JSON.stringify(client instanceof Error ? client.message : client)}`);
  return client;
}

test('WS: echo of binary frames; subprotocol negotiation', async () => {
  const running = await startListener({ port: 0, protocol: 'websockets' });
  try {
    const port = running.listener.port;
    assert.equal(running.listener.name, `ws://127.0.0.1:${port}`);
    const url = `ws://127.0.0.1:${port}/mqtt`;
    const cases: Array<[string[], string]> = [
      [['mqtt'], 'mqtt'],
      [['mqttv3.1'], 'mqttv3.1'],
      [['mqttv3.1', 'mqtt'], 'mqtt'],
      [[], ''],
    ];
    for (const [index, [offered, chosen]] of cases.entries()) {
      const client = await openClient(url, offered);
      assert.equal(client.ws.protocol, chosen, `offered ${offered.join(',')}`);
      client.ws.send(Uint8Array.of(1, 2, 3));
      assert.deepEqual([...(await client.bytes(3))], [1, 2, 3]);
      const { stream } = await running.session(index);
      assert.equal(stream.peer.transport, 'ws');
      assert.equal(stream.peer.remoteAddress, '127.0.0.1');
      client.ws.close();
    }
    // A client offering only protocols other than MQTT gets none chosen and gives up itself.
    const other = await Client.open(url, ['chat']);
    assert.ok(other instanceof Error && /no subprotocol/i.test(other.message), String(other));
  } finally {
    await running.close();
  }
});

test('WS: an MQTT packet split across frames and several packets in one frame', async () => {
  const running = await startListener({ port: 0, protocol: 'websockets' }, 'mqtt');
  try {
    const client = await openClient(`ws://127.0.0.1:${running.listener.port}/mqtt`);
    client.ws.send(CONNECT_V4.subarray(0, 1));
    client.ws.send(CONNECT_V4.subarray(1, 6));
    client.ws.send(CONNECT_V4.subarray(6));
    assert.deepEqual([...(await client.bytes(4))], [...CONNACK_V4]);
    client.ws.send(Buffer.concat([PINGREQ, PINGREQ, PINGREQ]));
    assert.deepEqual([...(await client.bytes(10))], [...CONNACK_V4, ...PINGRESP, ...PINGRESP, ...PINGRESP]);
    const session = await running.session(0);
    assert.deepEqual(session.packets.map((p) => p.type), ['connect', 'pingreq', 'pingreq', 'pingreq']);
    client.ws.close();
  } finally {
    await running.close();
  }
});

test('WS: a text frame closes the connection', async () => {
  const running = await startListener({ port: 0, protocol: 'websockets' });
  try {
    const client = await openClient(`ws://127.0.0.1:${running.listener.port}/mqtt`);
    client.ws.send('not MQTT');
    await waitFor(() => client.closeCode !== undefined, 5000, 'the close');
    assert.equal(client.closeCode, 1003);
    const session = await running.session(0);
    await waitFor(() => session.closed, 5000, 'the stream to close');
    assert.match(String(session.closeError), /text frame/);
    assert.equal(session.received.length, 0);
  } finally {
    await running.close();
  }
});

test('WS: other paths get 404, plain HTTP requests are refused', async () => {
  const running = await startListener({ port: 0, protocol: 'websockets', path: '/broker' });
  try {
    const port = running.listener.port;
    assert.deepEqual(await Client.open(`ws://127.0.0.1:${port}/mqtt`), { status: 404 });
    await openClient(`ws://127.0.0.1:${port}/broker?client=1`);
    const status = (path: string): Promise<number> =>
      new Promise((resolve, reject) => {
        request({ host: '127.0.0.1', port, path }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        }).on('error', reject).end();
      });
    assert.equal(await status('/'), 404);
    assert.equal(await status('/broker'), 426);
    await waitFor(() => running.refused.length === 1, 5000, 'the refusal');
    assert.match(running.refused[0]!.reason.message, /unknown path "\/mqtt"/);
  } finally {
    await running.close();
  }
});

test('WS: Origin allow-list', async () => {
  const running = await startListener({ port: 0, protocol: 'websockets', allowedOrigins: ['https://app.example'] });
  try {
    const url = `ws://127.0.0.1:${running.listener.port}/mqtt`;
    await openClient(url, ['mqtt'], { origin: 'https://app.example' });
    assert.deepEqual(await Client.open(url, ['mqtt'], { origin: 'https://evil.example' }), { status: 403 });
    assert.deepEqual(await Client.open(url, ['mqtt']), { status: 403 });
    assert.equal(running.sessions.length, 1);
    await waitFor(() => running.refused.length === 2, 5000, 'two refusals');
    assert.match(running.refused[0]!.reason.message, /origin "https:\/\/evil.example" is not allowed/);
  } finally {
    await running.close();
  }
});

test('WS: frames larger than maxPacketSize close the connection', async () => {
  const running = await startListener({ port: 0, protocol: 'websockets', maxPacketSize: 100 });
  try {
    const client = await openClient(`ws://127.0.0.1:${running.listener.port}/mqtt`);
    client.ws.send(new Uint8Array(100));
    assert.equal((await client.bytes(100)).length, 100);
    client.ws.send(new Uint8Array(200));
    await waitFor(() => client.closeCode !== undefined, 5000, 'the close');
    assert.equal(client.closeCode, 1009);
  } finally {
    await running.close();
  }
});

test('WS: MQTT.js connects over ws', async () => {
  const running = await startListener({ port: 0, protocol: 'websockets' }, 'mqtt');
  try {
    const client = await mqtt.connectAsync(`ws://127.0.0.1:${running.listener.port}/mqtt`, { reconnectPeriod: 0, protocolVersion: 5 });
    assert.equal(client.connected, true);
    const session = await running.session(0);
    assert.equal(session.packets[0]?.type, 'connect');
    assert.equal(session.stream.peer.transport, 'ws');
    await client.endAsync();
  } finally {
    await running.close();
  }
});

function wssOptions(extra: Partial<NonNullable<ListenerOptions['tls']>> = {}): ListenerOptions {
  return { port: 0, protocol: 'websockets', tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, ...extra } };
}

test('WSS: echo with the ws client, client certificates', async () => {
  const running = await startListener(wssOptions({ requireCertificate: true }));
  try {
    const port = running.listener.port;
    assert.equal(running.listener.name, `wss://127.0.0.1:${port}`);
    const url = `wss://localhost:${port}/mqtt`;
    const client = await openClient(url, ['mqtt'], { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    client.ws.send(Uint8Array.of(9, 8, 7));
    assert.deepEqual([...(await client.bytes(3))], [9, 8, 7]);
    const { stream } = await running.session(0);
    assert.equal(stream.peer.transport, 'wss');
    assert.equal(stream.peer.peerCertificate?.subject.CN, 'culex-client');
    const refused = await Client.open(url, ['mqtt'], { ca: certs.ca });
    assert.ok(refused instanceof Error, 'no certificate, no connection');
    await waitFor(() => running.refused.length === 1, 5000, 'the refusal');
    assert.equal(running.sessions.length, 1);
    // Closing the listener leaves established streams to their owners.
    await running.listener.close();
    client.ws.send(Uint8Array.of(6));
    assert.deepEqual([...(await client.bytes(4))], [9, 8, 7, 6]);
    client.ws.close();
  } finally {
    await running.close();
  }
});

test('WSS: MQTT.js connects over wss; reloadTls applies to new connections', async () => {
  const running = await startListener(wssOptions(), 'mqtt');
  try {
    const url = `wss://localhost:${running.listener.port}/mqtt`;
    const client = await mqtt.connectAsync(url, { ca: certs.ca, reconnectPeriod: 0 });
    assert.equal(client.connected, true);
    assert.equal((await running.session(0)).stream.peer.transport, 'wss');
    await client.endAsync();
    // A server certificate the client does not trust: reloaded, new connections fail verification.
    running.listener.reloadTls!({ cert: certs.clientCert, key: certs.clientKey });
    await assert.rejects(mqtt.connectAsync(url, { ca: certs.ca, reconnectPeriod: 0, connectTimeout: 3000 }));
  } finally {
    await running.close();
  }
});

test('WS: a connection that never completes the upgrade is closed after setupTimeoutMs', async () => {
  const running = await startListener({ port: 0, protocol: 'websockets', setupTimeoutMs: 200 });
  try {
    const idle = new Receiver(await tcpConnect(running.listener.port));
    idle.socket.write('GET /mqtt HTTP/1.1\r\n');
    await idle.waitClosed('the idle connection to close');
    await waitFor(() => running.refused.length === 1, 5000, 'the refusal');
    assert.match(running.refused[0]!.reason.message, /not set up within 200 ms/);
  } finally {
    await running.close();
  }
});
