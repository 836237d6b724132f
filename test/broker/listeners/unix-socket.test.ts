/**
 * Unix-socket listeners, as Mosquitto serves them (`listener 0 /path`) and as the native file names them (`unix`):
 * clients connect through the socket file, a file left by a killed broker is replaced, a live server's socket and
 * a file that is no socket are left alone, and the file goes when the broker closes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Broker, silentLogger, type Logger, type LogLevel } from '../../../src/broker/index.js';
import { connect } from '../../../src/client/index.js';
import { loadBrokerConfig, setUpBroker } from '../../../src/config/index.js';
import { waitFor } from '../../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'culex-unix-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A client's round trip through the broker over the socket at `path`. */
async function roundTrip(path: string): Promise<string> {
  const client = await connect(`unix://${path}`, { protocolVersion: 4, reconnect: false });
  try {
    const got = new Promise<string>((resolve) => client.once('message', (_topic, payload) => resolve(String(payload))));
    await client.subscribe('t', { qos: 1 });
    await client.publish('t', 'through the socket', { qos: 1 });
    return await got;
  } finally {
    await client.end();
  }
}

describe('Unix-socket listeners', () => {
  it('serve MQTT through the socket file, take anonymous clients as a loopback listener does, and remove the file on close', async () => {
    const path = join(dir, 'a.sock');
    const lines: string[] = [];
    const push = (level: LogLevel) => (message: string): void => void lines.push(`${level} ${message}`);
    const logger: Logger = { error: push('error'), warn: push('warn'), info: push('info'), debug: push('debug'), enabled: () => true };
    const broker = new Broker({ logger, sysInterval: 0, listeners: [{ port: 0, unix: path }] });
    await broker.listen();
    try {
      assert.ok(statSync(path).isSocket());
      assert.ok(lines.includes(`info listening on mqtt+unix://${path} (anonymous clients allowed)`), lines.join('\n'));
      assert.equal(await roundTrip(path), 'through the socket');
      // A protocol mix-up on the socket is logged with the socket as the address.
      const socket = netConnect(path, () => socket.write('GET / HTTP/1.1\r\n\r\n'));
      socket.on('error', () => undefined);
      socket.resume();
      await waitFor(() => lines.some((line) => line === `info mqtt+unix://${path}: connection from unix:${path}: sent an HTTP request to an MQTT port`), 10_000, 'the mix-up logged');
      socket.destroy();
    } finally {
      await broker.close();
    }
    assert.equal(existsSync(path), false);
  });

  it('replace the socket file of a broker killed with SIGKILL, and leave a live server\'s socket and other files alone', async () => {
    const path = join(dir, 'b.sock');
    const child = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve) => child.stdout.once('data', resolve));
    const live = new Broker({ logger: silentLogger, sysInterval: 0, listeners: [{ port: 0, unix: path }] });
    await assert.rejects(live.listen(), new RegExp(`listener mqtt\\+unix://${path}: ${path} is in use by another server`));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    assert.ok(statSync(path).isSocket(), 'the killed server left its socket file');
    const broker = new Broker({ logger: silentLogger, sysInterval: 0, listeners: [{ port: 0, unix: path }] });
    await broker.listen();
    try {
      assert.equal(await roundTrip(path), 'through the socket');
    } finally {
      await broker.close();
    }

    const file = join(dir, 'not-a-socket');
    writeFileSync(file, 'keep me');
    const other = new Broker({ logger: silentLogger, sysInterval: 0, listeners: [{ port: 0, unix: file }] });
    await assert.rejects(other.listen(), /not-a-socket exists and is not a socket/);
    assert.ok(statSync(file).isFile());
  });

  it('refuse proxyProtocol on a Unix socket, whose peers have no address to trust', async () => {
    const broker = new Broker({ logger: silentLogger, sysInterval: 0, listeners: [{ port: 0, unix: join(dir, 'c.sock'), proxyProtocol: { trustedAddresses: ['127.0.0.1'] } }] });
    await assert.rejects(broker.listen(), /proxyProtocol needs a TCP listener, not a Unix socket/);
  });

  it('come from mosquitto.conf `listener 0 /path` and from the native file\'s `unix` (relative to the file)', async () => {
    const mosquittoSock = join(dir, 'm.sock');
    const mosquitto = join(dir, 'mosquitto.conf');
    writeFileSync(mosquitto, `listener 0 ${mosquittoSock}\nallow_anonymous true\nlistener 0 127.0.0.1\n`);
    const native = join(dir, 'culex.json');
    writeFileSync(native, JSON.stringify({ listeners: [{ unix: 'n.sock' }], sysInterval: 0 }));
    const fromMosquitto = await loadBrokerConfig(mosquitto);
    assert.deepEqual(fromMosquitto.listeners.map((l) => [l.port, l.unix, l.host]), [[0, mosquittoSock, undefined], [0, undefined, '127.0.0.1']]);
    const fromNative = await loadBrokerConfig(native);
    assert.deepEqual(fromNative.listeners.map((l) => [l.port, l.unix]), [[0, join(dir, 'n.sock')]]);
    for (const config of [fromMosquitto, fromNative]) {
      const setup = await setUpBroker(config, silentLogger);
      const broker = new Broker({ ...setup.options, logger: silentLogger, sysInterval: 0 });
      await broker.listen();
      try {
        assert.equal(await roundTrip(config.listeners[0]!.unix!), 'through the socket');
      } finally {
        await broker.close();
      }
    }
    writeFileSync(native, JSON.stringify({ listeners: [{ unix: 'n.sock', port: 1883 }] }));
    await assert.rejects(loadBrokerConfig(native), /port.*unix|unix.*port/);
  });
});
