import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RawClient } from '../../helpers/raw-client.js';
import { waitFor } from '../../helpers/wait.js';

const main = new URL('../../../src/cli/main.ts', import.meta.url).pathname;
/** The built command (the test command builds before testing), for runs in another working directory. */
const bin = new URL('../../../bin/culex.js', import.meta.url).pathname;

/** `culex broker ARGS`; state stays in memory unless the arguments say otherwise. */
function culex(args: string[], options: { cwd?: string; memory?: boolean } = {}) {
  const command = options.cwd ? [bin] : ['--import', 'tsx', main];
  const memory = options.memory ?? !args.includes('--help');
  const child = spawn(process.execPath, [...command, 'broker', ...(memory ? ['--memory'] : []), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: options.cwd,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return { child, out: () => stdout, err: () => stderr };
}

describe('culex broker', () => {
  it('--help lists every option with its default', async () => {
    const run = culex(['--help']);
    const [code] = await once(run.child, 'exit');
    assert.equal(code, 0);
    for (const option of ['--port', '--host', '--allow-anonymous', '--max-keepalive', '--sys-interval', '--verbose', '--help']) {
      assert.ok(run.out().includes(option), `help lacks ${option}`);
    }
    assert.match(run.out(), /default 1883/);
    assert.match(run.out(), /default 127\.0\.0\.1/);
  });

  it('rejects bad options with exit code 2', async () => {
    const run = culex(['--port', 'abc']);
    const [code] = await once(run.child, 'exit');
    assert.equal(code, 2);
    assert.match(run.err(), /--port/);
  });

  it('serves clients, logs connects, and stops cleanly on SIGTERM with DISCONNECT 0x8B', async () => {
    const run = culex(['--port', '0', '--max-keepalive', '30']);
    try {
      await waitFor(() => /listening on mqtt:\/\/127\.0\.0\.1:\d+/.test(run.err()), 20000, 'the listening line');
      assert.match(run.err(), /anonymous clients allowed/);
      const port = Number(/listening on mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(run.err())![1]);
      const { client, connack } = await RawClient.connect(port, { protocolVersion: 5, clientId: 'cli-test', keepalive: 100, username: 'alice', password: new TextEncoder().encode('hunter2') });
      assert.equal(connack.properties?.serverKeepAlive, 30);
      await waitFor(() => run.err().includes('client connected: id=cli-test'), 5000, 'the connect log line');
      assert.match(run.err(), /username=alice/);
      assert.ok(!run.err().includes('hunter2'), 'the password was logged');
      run.child.kill('SIGTERM');
      const disconnect = await client.expect('disconnect');
      assert.equal(disconnect.reasonCode, 0x8b);
      const [code] = await once(run.child, 'exit');
      assert.equal(code, 0);
      assert.match(run.err(), /stopped/);
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it('refuses anonymous clients on a non-loopback address unless --allow-anonymous', async () => {
    const run = culex(['--port', '0', '--host', '0.0.0.0']);
    try {
      await waitFor(() => /listening on .*:\d+/.test(run.err()), 20000, 'the listening line');
      assert.match(run.err(), /anonymous clients refused/);
      const port = Number(/listening on \S+:(\d+)/.exec(run.err())![1]);
      const { client, connack } = await RawClient.connect(port, { protocolVersion: 4 });
      assert.equal(connack.reasonCode, 5);
      client.destroy();
    } finally {
      run.child.kill('SIGTERM');
      await once(run.child, 'exit');
    }
  });

  it('keeps its state in ./culex-data by default and refuses a second broker on the same directory', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'culex-cwd-'));
    const first = culex(['--port', '0', '--sys-interval', '0'], { cwd, memory: false });
    try {
      await waitFor(() => /listening on mqtt:/.test(first.err()), 20000, 'the listening line');
      assert.match(first.err(), /state kept in culex-data/);
      assert.ok(existsSync(join(cwd, 'culex-data')), 'no ./culex-data directory');
      const second = culex(['--port', '0', '--sys-interval', '0'], { cwd, memory: false });
      const [code] = await once(second.child, 'exit');
      assert.notEqual(code, 0);
      assert.match(second.err(), /data directory .*culex-data is in use by pid \d+/);
    } finally {
      first.child.kill('SIGTERM');
      await once(first.child, 'exit');
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
