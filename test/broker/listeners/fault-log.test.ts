/**
 * Bad connections are logged at the default level (info), one line each with what went wrong, and a flood of them
 * from one address is cut down to a few lines and a summary. Real sockets against a Broker whose logger is captured.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';
import { Broker, type Logger, type LogLevel } from '../../../src/broker/index.js';
import type { BrokerListenerOptions, BrokerOptions } from '../../../src/broker/options.js';
import { makeCerts, type TestCerts } from '../../helpers/certs.js';
import { waitFor } from '../../helpers/wait.js';
import { CONNECT_V4 } from './harness.js';

let certs: TestCerts;
before(async () => {
  certs = await makeCerts();
});

/** A logger at `culex broker`'s default level that keeps its lines. */
function captureLog(): Logger & { lines: string[] } {
  const rank: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };
  const lines: string[] = [];
  const push = (level: LogLevel) => (message: string): void => void lines.push(`${level} ${message}`);
  return { lines, error: push('error'), warn: push('warn'), info: push('info'), debug: push('debug'), enabled: (l) => rank[l] <= rank.info };
}

async function startBroker(listeners: BrokerListenerOptions[], options: BrokerOptions = {}): Promise<{ broker: Broker; log: ReturnType<typeof captureLog>; ports: number[] }> {
  const log = captureLog();
  const broker = new Broker({ ...options, logger: log, listeners });
  await broker.listen();
  return { broker, log, ports: broker.boundListeners.map((l) => l.port) };
}

/** Sends `bytes` on a fresh connection and waits until the broker closes it (or a second passes: some wait for more). */
function sendRaw(port: number, bytes: Uint8Array | string): Promise<void> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write(bytes));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
    socket.resume();
    setTimeout(() => socket.destroy(), 1000).unref();
  });
}

/** A TLS ClientHello from Node's TLS client; the handshake fails as the other side does not speak TLS. */
function sendTlsHello(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
    setTimeout(() => socket.destroy(), 5000).unref();
  });
}

const UPGRADE = (version = 13): string =>
  `GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: ${version}\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`;

/** Upgrades to WebSocket by hand, then sends `frame` as it is (a client must mask its frames; this one may not). */
function sendAfterUpgrade(port: number, frame: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write(UPGRADE()));
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      if (answered || !chunk.toString('latin1').startsWith('HTTP/1.1 101')) return;
      answered = true;
      socket.write(frame);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
    setTimeout(() => socket.destroy(), 5000).unref();
  });
}

/** Opens a WebSocket properly and sends one message. */
function sendWsMessage(port: number, message: Uint8Array | string): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, ['mqtt']);
    ws.on('open', () => ws.send(message));
    ws.on('error', () => undefined);
    ws.on('close', () => resolve());
    setTimeout(() => ws.terminate(), 5000).unref();
  });
}

function expectLine(log: { lines: string[] }, pattern: RegExp): Promise<void> {
  return waitFor(() => log.lines.some((l) => pattern.test(l)), 5000, `a line like ${pattern}, got:\n${log.lines.join('\n')}`);
}

test('plain TCP: an HTTP request, a TLS handshake, a PROXY header or another packet before CONNECT is logged', async () => {
  const { broker, log, ports } = await startBroker([{ host: '127.0.0.1', port: 0, allowAnonymous: true }]);
  const name = broker.boundListeners[0]!.name;
  try {
    const port = ports[0]!;
    await sendRaw(port, 'GET / HTTP/1.1\r\nHost: broker\r\n\r\n');
    await expectLine(log, new RegExp(`^info ${name}: connection from 127\\.0\\.0\\.1: sent an HTTP request to an MQTT port$`));
    await sendTlsHello(port);
    await expectLine(log, /^info .*: connection from 127\.0\.0\.1: sent a TLS handshake to a plain MQTT port$/);
    await sendRaw(port, 'PROXY TCP4 192.0.2.1 192.0.2.2 1000 1883\r\n');
    await expectLine(log, /^info .*: sent a PROXY protocol header to a listener without proxyProtocol$/);
    await sendRaw(port, Uint8Array.of(0x30, 0x03, 0x00, 0x01, 0x74));
    await expectLine(log, /^info .*: first packet was not CONNECT \(first byte 0x30: PUBLISH\)$/);
    // A real client is not reported.
    const before = log.lines.length;
    await sendRaw(port, Buffer.concat([CONNECT_V4, Uint8Array.of(0xe0, 0x00)]));
    assert.deepEqual(log.lines.slice(before).filter((l) => /connection from/.test(l)), []);
  } finally {
    await broker.close();
  }
});

test('TLS: a plain MQTT client or an HTTP request on a TLS port is logged as a failed handshake', async () => {
  const tls = { cert: certs.serverCert, key: certs.serverKey };
  const { broker, log, ports } = await startBroker([{ host: '127.0.0.1', port: 0, tls }]);
  try {
    await sendRaw(ports[0]!, CONNECT_V4);
    await expectLine(log, /^info mqtts:.*: connection from 127\.0\.0\.1: TLS handshake failed: the client sent bytes that are not TLS \(a plain MQTT client on a TLS port\?\)$/);
    await sendRaw(ports[0]!, 'GET / HTTP/1.1\r\nHost: broker\r\n\r\n');
    await expectLine(log, /^info .*: TLS handshake failed: the client sent a plain HTTP request to a TLS port$/);
  } finally {
    await broker.close();
  }
});

test('WebSocket: plain MQTT, a refused upgrade, a protocol error, a text frame, a packet other than CONNECT', async () => {
  const { broker, log, ports } = await startBroker([{ host: '127.0.0.1', port: 0, protocol: 'websockets', allowAnonymous: true }]);
  try {
    const port = ports[0]!;
    await sendRaw(port, CONNECT_V4);
    await expectLine(log, /^info ws:.*: connection from 127\.0\.0\.1: sent MQTT without a WebSocket upgrade \(a plain MQTT client on a WebSocket port\)$/);
    await sendRaw(port, UPGRADE().replace('/mqtt', '/other'));
    await expectLine(log, /^info .*: WebSocket upgrade for unknown path "\/other"$/);
    await sendRaw(port, UPGRADE(7));
    await expectLine(log, /^info .*: WebSocket upgrade refused: Missing or invalid Sec-WebSocket-Version header$/);
    // An unmasked client frame breaks RFC 6455.
    await sendAfterUpgrade(port, Uint8Array.of(0x82, 0x02, 0xc0, 0x00));
    await expectLine(log, /^info .*: WebSocket protocol error: .*MASK must be set/);
    await sendWsMessage(port, 'hello');
    await expectLine(log, /^info .*: sent a text frame; MQTT needs binary frames$/);
    await sendWsMessage(port, Uint8Array.of(0xc0, 0x00));
    await expectLine(log, /^info .*: first packet was not CONNECT \(first byte 0xc0: PINGREQ\)$/);
  } finally {
    await broker.close();
  }
});

test('PROXY protocol: an untrusted address and a malformed header are logged', async () => {
  const { broker, log, ports } = await startBroker([
    { host: '127.0.0.1', port: 0, proxyProtocol: { trustedAddresses: ['192.0.2.0/24'] } },
    { host: '127.0.0.1', port: 0, proxyProtocol: { trustedAddresses: ['127.0.0.1'] } },
  ]);
  try {
    await sendRaw(ports[0]!, 'PROXY TCP4 198.51.100.1 192.0.2.2 1000 1883\r\n');
    await expectLine(log, /^info .*: connection from 127\.0\.0\.1: PROXY protocol header from untrusted address 127\.0\.0\.1$/);
    await sendRaw(ports[1]!, CONNECT_V4);
    await expectLine(log, /^info .*: connection from 127\.0\.0\.1: PROXY protocol header expected, got other bytes$/);
  } finally {
    await broker.close();
  }
});

test('a flood of bad connections from one address logs a few lines and a summary', async () => {
  const { broker, log, ports } = await startBroker([{ host: '127.0.0.1', port: 0 }], { logLimit: { lines: 5, intervalMs: 1500 } });
  try {
    for (let i = 0; i < 40; i++) await sendRaw(ports[0]!, 'GET / HTTP/1.1\r\n\r\n');
    const reports = (): string[] => log.lines.filter((l) => l.includes('sent an HTTP request'));
    assert.equal(reports().length, 5, log.lines.join('\n'));
    await expectLine(log, /^info not MQTT: suppressed 35 similar lines from 127\.0\.0\.1 in the last \d+ s$/);
  } finally {
    await broker.close();
  }
});
