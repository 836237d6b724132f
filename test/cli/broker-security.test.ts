// `culex broker` against hostile peers at its default log level: failed logins from loopback are slowed and then
// refused at once, bytes that are not MQTT are named in the log, and a flood of either leaves a few lines.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { connect, ConnectionRefusedError } from '../../src/client/index.js';
import { waitFor } from '../helpers/wait.js';
import { startCulexBroker } from './culex-broker.js';
import { culex } from './run.js';

async function login(port: number, username: string, password: string): Promise<{ code: number; ms: number }> {
  const start = performance.now();
  try {
    const client = await connect(`mqtt://127.0.0.1:${port}`, { username, password, reconnect: false, connectTimeout: 20_000 });
    await client.end();
    return { code: 0, ms: performance.now() - start };
  } catch (error) {
    if (!(error instanceof ConnectionRefusedError)) throw error;
    return { code: error.reasonCode as number, ms: performance.now() - start };
  }
}

function sendRaw(port: number, bytes: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write(bytes));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
    socket.resume();
    setTimeout(() => socket.destroy(), 2000).unref();
  });
}

describe('culex broker against hostile peers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'culex-security-'));

  it('slows failed logins from loopback by default, not the right password', async () => {
    const passwd = join(dir, 'passwd');
    const made = await culex(['passwd', '-c', '-b', passwd, 'alice', 'alice-pw']);
    assert.equal(made.code, 0, made.stderr);
    const config = join(dir, 'default.json');
    writeFileSync(config, JSON.stringify({ auth: { passwordFile: 'passwd' }, listeners: [{ port: 0 }], sysInterval: 0 }));
    const broker = await startCulexBroker(['-c', config, '--memory'], 1);
    const port = broker.ports[0]!;
    try {
      const first = await login(port, 'alice', 'guess');
      assert.equal(first.code, 0x86);
      assert.ok(first.ms >= 245, `the first failure from 127.0.0.1 was answered after ${first.ms} ms, not 250`);
      assert.equal((await login(port, 'alice', 'alice-pw')).code, 0, 'the right password is not slowed');
    } finally {
      assert.equal(await broker.stop(), 0, broker.log());
    }
  });

  it('names bad connections and locks in the log at the default level, a flood in a few lines', async () => {
    const config = join(dir, 'fast.json');
    // Delays of 50, 100, 200 and 400 ms, then the lock.
    writeFileSync(config, JSON.stringify({
      auth: { passwordFile: 'passwd' },
      listeners: [{ port: 0 }],
      sysInterval: 0,
      security: { authFailureDelay: 50, authFailureDelayMax: 400, connectionRate: 1, connectionBurst: 15 },
    }));
    const broker = await startCulexBroker(['-c', config, '--memory'], 1);
    const port = broker.ports[0]!;
    try {
      const codes: number[] = [];
      for (let i = 0; i < 6; i++) codes.push((await login(port, 'alice', `guess${i}`)).code);
      assert.deepEqual(codes, [0x86, 0x86, 0x86, 0x86, 0x9f, 0x9f]);
      for (let i = 0; i < 20; i++) await sendRaw(port, 'GET / HTTP/1.1\r\n\r\n');
      await waitFor(() => broker.log().includes('more than 15 at once'), 5000, 'a rate limit line');
      const lines = broker.log().split('\n');
      const matching = (pattern: RegExp): string[] => lines.filter((l) => pattern.test(l));
      assert.equal(matching(/ warn 4 failed logins from 127\.0\.0\.1 \(the last with user "alice"\): logins of user "alice" and of user names new to 127\.0\.0\.1 are refused for 60 s after the last failure$/).length, 1, broker.log());
      assert.equal(matching(/ info mqtt:\/\/127\.0\.0\.1:\d+: connection from 127\.0\.0\.1: sent an HTTP request to an MQTT port$/).length, 5, 'five lines, the rest counted');
      assert.ok(matching(/ info mqtt:.*: connection from 127\.0\.0\.1 refused: more than 15 at once or 1 a second/).length >= 1);
      assert.deepEqual(matching(/no CONNECT in time/), []);
    } finally {
      assert.equal(await broker.stop(), 0, broker.log());
    }
    // Summaries of what was held back come at the latest when the broker stops.
    assert.match(broker.log(), / info not MQTT: suppressed \d+ similar lines from 127\.0\.0\.1 in the last \d+ s/);
  });
});
