/** `culex pub --unix PATH` and `culex sub --unix PATH`, as mosquitto_pub/sub: the broker's Unix socket instead of a host. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import { Broker, silentLogger } from '../../src/broker/index.js';
import { culex } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'culex-cli-unix-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('pub and sub reach a broker through its Unix socket, and a missing socket is named', async () => {
  const path = join(dir, 'mqtt.sock');
  const broker = new Broker({ logger: silentLogger, sysInterval: 0, listeners: [{ port: 0, unix: path }] });
  await broker.listen();
  try {
    const pub = await culex(['pub', '--unix', path, '-t', 'cli/unix', '-m', 'over the socket', '-r', '-q', '1']);
    assert.equal(pub.code, 0, pub.stderr);
    // A relative path is taken from the working directory, as any file name on the command line.
    const sub = await culex(['sub', '--unix', relative(process.cwd(), path), '-t', 'cli/unix', '-C', '1', '-W', '10', '-v']);
    assert.equal(sub.code, 0, sub.stderr);
    assert.equal(sub.stdout.toString(), 'cli/unix over the socket\n');
  } finally {
    await broker.close();
  }
  const missing = await culex(['pub', '--unix', join(dir, 'none.sock'), '-t', 't', '-m', 'x']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, `culex pub: cannot connect to ${join(dir, 'none.sock')}: no such socket (is a broker listening there?)\n`);
});
