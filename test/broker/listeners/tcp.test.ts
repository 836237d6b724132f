import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { createListener } from '../../../src/broker/listeners/index.js';
import { waitFor } from '../../helpers/wait.js';
import { CONNECT_V4, Receiver, startListener, tcpConnect } from './harness.js';

test('TCP: bytes echo through the stream; peer describes the socket', async () => {
  const running = await startListener({ port: 0 });
  try {
    assert.ok(running.listener.port > 0);
    assert.equal(running.listener.name, `mqtt://127.0.0.1:${running.listener.port}`);
    const socket = await tcpConnect(running.listener.port);
    const receiver = new Receiver(socket);
    socket.write(Buffer.from('hello, '));
    socket.write(Buffer.from('broker'));
    assert.equal((await receiver.read(13)).toString(), 'hello, broker');
    const { stream } = await running.session(0);
    assert.deepEqual(stream.peer, { remoteAddress: '127.0.0.1', remotePort: socket.localPort, transport: 'tcp' });
    socket.end();
    await waitFor(() => running.sessions[0]!.closed, 5000, 'the stream to close');
  } finally {
    await running.close();
  }
});

test('TCP: MQTT.js connects to a responder built on the stream', async () => {
  const running = await startListener({ port: 0 }, 'mqtt');
  try {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${running.listener.port}`, { reconnectPeriod: 0, clientId: 'tcp-1' });
    assert.equal(client.connected, true);
    await client.endAsync();
    const session = await running.session(0);
    assert.equal(session.packets[0]?.type, 'connect');
  } finally {
    await running.close();
  }
});

test('TCP: a bind failure names the listener, host and port', async () => {
  const running = await startListener({ port: 0 });
  try {
    const port = running.listener.port;
    const second = createListener({ port, name: 'second' });
    await assert.rejects(second.start(() => {}), (error: Error) => {
      assert.match(error.message, new RegExp(`^listener second: listen EADDRINUSE.*127\\.0\\.0\\.1:${port}`));
      return true;
    });
    const unnamed = createListener({ port });
    await assert.rejects(unnamed.start(() => {}), new RegExp(`listener mqtt://127\\.0\\.0\\.1:${port}: listen EADDRINUSE`));
  } finally {
    await running.close();
  }
});

test('TCP: close stops accepting and leaves existing streams open', async () => {
  const running = await startListener({ port: 0 });
  const port = running.listener.port;
  const socket = await tcpConnect(port);
  const receiver = new Receiver(socket);
  await running.session(0);
  await running.listener.close();
  await assert.rejects(tcpConnect(port), /ECONNREFUSED/);
  socket.write(CONNECT_V4);
  assert.deepEqual(new Uint8Array(await receiver.read(CONNECT_V4.length)), CONNECT_V4);
  socket.destroy();
  await running.close();
});

test('TCP: a connection reset mid-stream, or before the stream starts, leaves the listener serving', async () => {
  let held: import('../../../src/transport/stream.js').ByteStream | undefined;
  const listener = createListener({ port: 0 });
  const closes: Array<Error | undefined> = [];
  // Streams are started late, so an error can strike before anyone listens to them.
  await listener.start((stream) => {
    held = stream;
  });
  try {
    const first = await tcpConnect(listener.port);
    await waitFor(() => held !== undefined, 5000, 'the first stream');
    first.resetAndDestroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const early = held!;
    early.start({ data() {}, drain() {}, close: (error) => closes.push(error) });
    await waitFor(() => closes.length === 1, 5000, 'the reset stream to report its close');
    assert.match(String(closes[0]), /ECONNRESET/, 'an error before start() is reported by start()');

    held = undefined;
    const second = await tcpConnect(listener.port);
    await waitFor(() => held !== undefined, 5000, 'the second stream');
    const stream = held!;
    stream.start({ data: (chunk) => stream.write([chunk]), drain() {}, close: (error) => closes.push(error) });
    const receiver = new Receiver(second);
    second.write('still here');
    assert.equal((await receiver.read(10)).toString(), 'still here');
    second.resetAndDestroy();
    await waitFor(() => closes.length === 2, 5000, 'the second stream to report its close');
  } finally {
    await listener.close();
  }
});

/** The listen backlog of the TCP socket listening on `port`, as the kernel reports it (`ss`: Send-Q). */
function listenBacklog(port: number): number {
  const line = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }).trim();
  const fields = line.split(/\s+/);
  assert.equal(fields[0], 'LISTEN', `ss: ${line}`);
  return Number(fields[2]);
}

test('TCP: the listen backlog is 1024 by default (Node would give 511) and can be set; the kernel caps it at somaxconn', async () => {
  const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
  const byDefault = await startListener({ port: 0 });
  const set = await startListener({ port: 0, backlog: 64 });
  try {
    assert.equal(listenBacklog(byDefault.listener.port), Math.min(1024, somaxconn));
    assert.equal(listenBacklog(set.listener.port), Math.min(64, somaxconn));
  } finally {
    await byDefault.close();
    await set.close();
  }
});
