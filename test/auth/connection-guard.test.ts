/** Per-address connection rate limit and the growing delay after failed authentication. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConnectionGuard } from '../../src/auth/connection-guard.js';
import type { AuthenticateContext, AuthenticateResult } from '../../src/broker/hooks.js';
import { Broker, silentLogger } from '../../src/broker/index.js';
import { connect, ConnectionRefusedError } from '../../src/client/index.js';
import { loadBrokerConfig } from '../../src/config/broker-config.js';
import { setUpBroker } from '../../src/config/broker-setup.js';
import type { PeerInfo } from '../../src/transport/stream.js';

const peer = (remoteAddress: string): PeerInfo => ({ remoteAddress, remotePort: 1, transport: 'tcp' });
const context = (remoteAddress: string) => ({ peer: peer(remoteAddress) }) as AuthenticateContext;

describe('ConnectionGuard', () => {
  it('lets a burst through, then the rate, per address', () => {
    let now = 0;
    const guard = new ConnectionGuard({ connectionRate: 2, connectionBurst: 3, exemptLoopback: true }, () => now);
    const a = peer('10.0.0.1');
    assert.deepEqual([1, 2, 3, 4].map(() => guard.acceptConnection(a)), [true, true, true, false]);
    assert.equal(guard.acceptConnection(peer('10.0.0.2')), true, 'another address has its own bucket');
    now += 500; // one token back at 2 per second
    assert.deepEqual([guard.acceptConnection(a), guard.acceptConnection(a)], [true, false]);
    assert.equal(guard.acceptConnection(peer('127.0.0.1')), true);
    for (let i = 0; i < 10; i++) assert.equal(guard.acceptConnection(peer('::ffff:127.0.0.1')), true, 'loopback is exempt');
    assert.equal(guard.counts.refused, 2);
  });

  it('keeps bounded memory: idle buckets expire, the table has a cap', () => {
    let now = 0;
    const guard = new ConnectionGuard({ connectionRate: 1, connectionBurst: 1, maxAddresses: 100 }, () => now);
    for (let i = 0; i < 1000; i++) guard.acceptConnection(peer(`10.1.${i >> 8}.${i & 255}`));
    const buckets = (guard as unknown as { buckets: Map<string, unknown> }).buckets;
    assert.ok(buckets.size <= 101, `table holds ${buckets.size}`);
    now += 5000;
    guard.acceptConnection(peer('10.9.9.9'));
    assert.equal(buckets.size, 1, 'full buckets are forgotten');
  });

  it('doubles the failure delay up to the cap, resets on success and after quiet time', async () => {
    let now = 0;
    const guard = new ConnectionGuard({ authFailureDelay: 1, authFailureDelayMax: 8, failureMemoryMs: 1000, exemptLoopback: false }, () => now);
    const authenticate = guard.wrapAuthenticate(() => ({ result: 'success' }));
    const a = peer('10.0.0.1');
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      delays.push(guard.failureDelay('10.0.0.1'));
      await guard.onAuthFailure(a);
    }
    assert.deepEqual(delays, [1, 2, 4, 8, 8, 8]);
    assert.equal(guard.failureDelay('10.0.0.2'), 1, 'per address');
    now += 1000;
    assert.equal(guard.failureDelay('10.0.0.1'), 1, 'forgotten after quiet time');
    await guard.onAuthFailure(a);
    assert.equal(guard.failureDelay('10.0.0.1'), 2);
    await authenticate(context('10.0.0.1'));
    assert.equal(guard.failureDelay('10.0.0.1'), 1, 'reset by a success');
    assert.equal(guard.counts.delayed, 7);
  });

  it('delays the broker\'s own refusals too: anonymous clients without an authenticate hook', async () => {
    const guard = new ConnectionGuard({ connectionRate: 0, authFailureDelay: 5, authFailureDelayMax: 40, exemptLoopback: false });
    const seen: string[] = [];
    const broker = new Broker({
      logger: silentLogger,
      listeners: [{ host: '127.0.0.1', port: 0, allowAnonymous: false }],
      hooks: guard.guard({ onAuthFailure: (p) => void seen.push(p.remoteAddress) }),
    });
    await broker.listen();
    const url = `mqtt://127.0.0.1:${broker.boundListeners[0]!.port}`;
    try {
      const refused = (e: unknown): boolean => e instanceof ConnectionRefusedError;
      const waits: number[] = [];
      for (let i = 0; i < 3; i++) {
        waits.push(guard.failureDelay('127.0.0.1'));
        await assert.rejects(connect(url, { reconnect: false, protocolVersion: i === 2 ? 5 : 4 }), refused);
      }
      // An Authentication Method the broker has no hook for is an authentication failure as well.
      waits.push(guard.failureDelay('127.0.0.1'));
      await assert.rejects(
        connect(url, { reconnect: false, username: 'u', authenticationMethod: 'SCRAM-SHA-256' }),
        (e: unknown) => e instanceof ConnectionRefusedError && e.reasonCode === 0x8c,
      );
      assert.deepEqual(waits, [5, 10, 20, 40], 'each refusal from the address waits longer than the one before');
      assert.equal(guard.counts.delayed, 4);
      assert.deepEqual(seen, ['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1'], 'a hook given to guard() still runs');
    } finally {
      await broker.close();
    }
  });

  it('on a real broker: refuses connections over the rate and delays failed logins', async () => {
    const guard = new ConnectionGuard({ connectionRate: 1, connectionBurst: 2, authFailureDelay: 20, authFailureDelayMax: 40, exemptLoopback: false });
    const broker = new Broker({
      logger: silentLogger,
      listeners: [{ host: '127.0.0.1', port: 0 }],
      hooks: guard.guard({ authenticate: (c) => (c.username === 'good' ? { result: 'success' } : { result: 'fail', reasonCode: 0x86 }) }),
    });
    await broker.listen();
    const url = `mqtt://127.0.0.1:${broker.boundListeners[0]!.port}`;
    try {
      await assert.rejects(connect(url, { username: 'bad', reconnect: false }), (e: unknown) => e instanceof ConnectionRefusedError && e.reasonCode === 0x86);
      const good = await connect(url, { username: 'good', reconnect: false });
      await good.end();
      // The bucket is empty now: the next connection is closed before a byte is read.
      await assert.rejects(connect(url, { username: 'good', reconnect: false, connectTimeout: 5000 }));
      assert.equal(guard.counts.refused, 1);
      assert.equal(guard.counts.delayed, 1);
    } finally {
      await broker.close();
    }
  });

  it('is configured from the native file and on by default, loopback exempt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'culex-guard-'));
    const file = join(dir, 'culex.json');
    writeFileSync(file, JSON.stringify({
      listeners: [{ port: 0 }],
      security: { connectionRate: 1, connectionBurst: 1, authFailureDelay: 100, authFailureDelayMax: 1000, exemptLoopback: false },
    }));
    const config = await loadBrokerConfig(file);
    assert.deepEqual(config.security, { connectionRate: 1, connectionBurst: 1, authFailureDelay: 100, authFailureDelayMax: 1000, exemptLoopback: false });
    const setup = await setUpBroker(config, silentLogger);
    const accept = setup.options.hooks!.acceptConnection!;
    assert.deepEqual([accept(peer('127.0.0.1'), 'l'), accept(peer('127.0.0.1'), 'l')], [true, false]);

    writeFileSync(file, JSON.stringify({ listeners: [{ port: 0 }], security: { connectionRate: -1 } }));
    await assert.rejects(loadBrokerConfig(file), /security.connectionRate/);

    const defaults = await setUpBroker(await loadBrokerConfig(writeConf(dir, 'listener 1883 127.0.0.1\n')), silentLogger);
    const byDefault = defaults.options.hooks!.acceptConnection!;
    assert.ok(Array.from({ length: 100 }, () => byDefault(peer('127.0.0.1'), 'l')).every(Boolean), 'loopback exempt by default');
    assert.equal(Array.from({ length: 100 }, () => byDefault(peer('192.0.2.1'), 'l')).filter(Boolean).length, 30, 'default burst');
  });

  it('closes a socket over the rate without reading it', async () => {
    const guard = new ConnectionGuard({ connectionRate: 1, connectionBurst: 1, exemptLoopback: false });
    const broker = new Broker({ logger: silentLogger, listeners: [{ host: '127.0.0.1', port: 0 }], hooks: guard.guard() });
    await broker.listen();
    try {
      const port = broker.boundListeners[0]!.port;
      const open = (): Promise<void> => new Promise((resolve) => {
        const socket = net.connect(port, '127.0.0.1', () => socket.write(Buffer.from([0x10, 0xff])));
        socket.on('close', () => resolve());
        socket.on('error', () => undefined);
        setTimeout(() => socket.destroy(), 2000).unref();
      });
      await Promise.all([open(), open(), open()]);
      assert.equal(guard.counts.refused, 2);
    } finally {
      await broker.close();
    }
  });
});

function writeConf(dir: string, text: string): string {
  const file = join(dir, 'mosquitto.conf');
  writeFileSync(file, text);
  return file;
}
