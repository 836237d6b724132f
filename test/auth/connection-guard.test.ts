/** Per-address connection rate limit and the growing delay (then lock) after failed logins. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { ConnectionGuard, defaultConnectionGuard } from '../../src/auth/connection-guard.js';
import type { AuthenticateContext, AuthenticateResult, BrokerHooks } from '../../src/broker/hooks.js';
import { Broker, silentLogger, type Logger } from '../../src/broker/index.js';
import { connect, ConnectionRefusedError } from '../../src/client/index.js';
import { loadBrokerConfig } from '../../src/config/broker-config.js';
import { setUpBroker } from '../../src/config/broker-setup.js';
import type { PeerInfo } from '../../src/transport/stream.js';

const peer = (remoteAddress: string): PeerInfo => ({ remoteAddress, remotePort: 1, transport: 'tcp' });
const context = (remoteAddress: string, username?: string) =>
  ({ peer: peer(remoteAddress), username, step: 0, protocolVersion: 5 }) as AuthenticateContext;

/** Lines a broker or guard logged at info and above. */
function captureLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (message: string): void => void lines.push(`${level} ${message}`);
  return { lines, error: push('error'), warn: push('warn'), info: push('info'), debug() {}, enabled: (level) => level !== 'debug' };
}

/** Users and passwords of the tests' authenticate hook, which counts its calls per user name. */
function passwordHook(passwords: Record<string, string>): BrokerHooks & { checked: Map<string, number> } {
  const checked = new Map<string, number>();
  return {
    checked,
    authenticate(c: AuthenticateContext): AuthenticateResult {
      const name = c.username ?? '';
      checked.set(name, (checked.get(name) ?? 0) + 1);
      const ok = c.username !== undefined && passwords[c.username] === Buffer.from(c.password ?? []).toString();
      return ok ? { result: 'success' } : { result: 'fail', reasonCode: 0x86 };
    },
  };
}

/** CONNACK reason code of a login (0 = accepted), and how long the answer took. */
async function login(url: string, username: string, password: string, protocolVersion: 4 | 5 = 5): Promise<{ code: number; ms: number }> {
  const start = performance.now();
  try {
    const client = await connect(url, { username, password, reconnect: false, protocolVersion, connectTimeout: 20_000 });
    await client.end();
    return { code: 0, ms: performance.now() - start };
  } catch (error) {
    if (!(error instanceof ConnectionRefusedError)) throw error;
    return { code: error.reasonCode as number, ms: performance.now() - start };
  }
}

/**
 * A TCP relay to a PROXY protocol listener that introduces every connection as coming from `source()`: real
 * connections from many client addresses, all on 127.0.0.1.
 */
async function proxyRelay(brokerPort: number): Promise<{ url: string; from(address: string): void; close(): Promise<void> }> {
  let source = '10.0.0.1';
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(brokerPort, '127.0.0.1');
    upstream.write(`PROXY TCP4 ${source} 127.0.0.1 40000 1883\r\n`);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    from: (address) => void (source = address),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('ConnectionGuard', () => {
  it('lets a burst through, then the rate, per address; loopback only when exempted', () => {
    let now = 0;
    const guard = new ConnectionGuard({ connectionRate: 2, connectionBurst: 3, exemptLoopback: true }, { now: () => now });
    const a = peer('10.0.0.1');
    assert.deepEqual([1, 2, 3, 4].map(() => guard.acceptConnection(a)), [true, true, true, false]);
    assert.equal(guard.acceptConnection(peer('10.0.0.2')), true, 'another address has its own bucket');
    now += 500; // one token back at 2 per second
    assert.deepEqual([guard.acceptConnection(a), guard.acceptConnection(a)], [true, false]);
    assert.equal(guard.acceptConnection(peer('127.0.0.1')), true);
    for (let i = 0; i < 10; i++) assert.equal(guard.acceptConnection(peer('::ffff:127.0.0.1')), true, 'loopback is exempt');
    assert.equal(guard.counts.refused, 2);
    const strict = new ConnectionGuard({ connectionRate: 2, connectionBurst: 3 }, { now: () => now });
    assert.deepEqual([1, 2, 3, 4].map(() => strict.acceptConnection(peer('127.0.0.1'))), [true, true, true, false], 'not by default');
  });

  it('keeps bounded memory: idle buckets and quiet streaks expire, every table has a cap', async () => {
    let now = 0;
    const guard = new ConnectionGuard(
      { connectionRate: 1, connectionBurst: 1, maxAddresses: 100, authFailureDelay: 1, failureMemoryMs: 1000 },
      { now: () => now },
    );
    const authenticate = guard.wrapAuthenticate(() => ({ result: 'success' }));
    for (let i = 0; i < 1000; i++) {
      const address = `10.1.${i >> 8}.${i & 255}`;
      guard.acceptConnection(peer(address));
      void guard.onAuthFailure(peer(address), { username: `user${i}` });
      await authenticate(context(address, `user${i}`));
    }
    const internals = guard as unknown as Record<'buckets' | 'succeeded', Map<string, unknown>> & Record<'byAddress' | 'byUser' | 'byIdentity', { map: Map<string, unknown> }>;
    const tables = {
      buckets: internals.buckets,
      succeeded: internals.succeeded,
      byAddress: internals.byAddress.map,
      byUser: internals.byUser.map,
      byIdentity: internals.byIdentity.map,
    };
    for (const [name, table] of Object.entries(tables)) assert.ok(table.size <= 101, `${name} holds ${table.size}`);
    now += 5000;
    guard.acceptConnection(peer('10.9.9.9'));
    await guard.onAuthFailure(peer('10.9.9.9'), { username: 'x' });
    assert.equal(tables.buckets.size, 1, 'full buckets are forgotten');
    assert.equal(tables.byAddress.size, 1, 'quiet streaks are forgotten');
  });

  it('remembers long user names by a hash of bounded length, and keeps them apart', () => {
    const guard = new ConnectionGuard({ authFailureDelay: 1, authFailureDelayMax: 1000 });
    const long = 'x'.repeat(60_000);
    void guard.onAuthFailure(peer('10.0.0.1'), { username: long });
    const keys = (table: string): string[] => [...(guard as unknown as Record<string, { map: Map<string, unknown> }>)[table]!.map.keys()];
    for (const key of [...keys('byUser'), ...keys('byIdentity')]) assert.ok(key.length < 100, `a key of ${key.length} characters`);
    assert.equal(guard.failureDelay('10.0.0.2', long), 2, 'the user name has one failure');
    assert.equal(guard.failureDelay('10.0.0.2', `${long}y`.slice(1)), 1, 'a name of the same length has none');
  });

  it('doubles the delay per failure up to the cap, then locks; a lock ends with the streak', async () => {
    let now = 0;
    const guard = new ConnectionGuard(
      { authFailureDelay: 1, authFailureDelayMax: 8, failureMemoryMs: 1000 },
      { now: () => now },
    );
    const a = peer('10.0.0.1');
    const delays: number[] = [];
    while (!guard.locked('10.0.0.1', 'u')) {
      delays.push(guard.failureDelay('10.0.0.1', 'u'));
      await guard.onAuthFailure(a, { username: 'u' });
    }
    assert.deepEqual(delays, [1, 2, 4, 8], 'the next delay (16) would pass the cap: locked instead');
    assert.equal(guard.failureDelay('10.0.0.2', 'v'), 1, 'other addresses and user names are not slowed');
    assert.equal(await guard.onAuthFailure(a, { username: 'u' }), undefined, 'a failure while locked is answered at once');
    assert.equal(guard.counts.delayed, 4, 'and not counted');
    now += 1000;
    assert.equal(guard.locked('10.0.0.1', 'u'), false, 'the lock ends when the streak is forgotten');
    assert.equal(guard.failureDelay('10.0.0.1', 'u'), 1);
  });

  it('keeps every delay below half the connect timeout; a delay of 0 turns delays and locks off', () => {
    const guard = new ConnectionGuard({ authFailureDelay: 1000, authFailureDelayMax: 60_000, connectTimeout: 4 });
    assert.equal(guard.maxDelay, 2000);
    const off = new ConnectionGuard({ authFailureDelay: 0 });
    for (let i = 0; i < 100; i++) assert.equal(off.onAuthFailure(peer('10.0.0.1'), { username: 'u' }), undefined);
    assert.equal(off.locked('10.0.0.1', 'u'), false);
  });

  it('delays the broker\'s own refusals too: anonymous clients without an authenticate hook', async () => {
    const guard = new ConnectionGuard({ connectionRate: 0, authFailureDelay: 5, authFailureDelayMax: 40 });
    const seen: string[] = [];
    const broker = new Broker({
      logger: silentLogger,
      listeners: [{ host: '127.0.0.1', port: 0, allowAnonymous: false }],
      hooks: guard.guard({ onAuthFailure: (p, attempt) => void seen.push(`${p.remoteAddress} ${attempt.username ?? '-'}`) }),
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
      waits.push(guard.failureDelay('127.0.0.1', 'u'));
      await assert.rejects(
        connect(url, { reconnect: false, username: 'u', authenticationMethod: 'SCRAM-SHA-256' }),
        (e: unknown) => e instanceof ConnectionRefusedError && e.reasonCode === 0x8c,
      );
      assert.deepEqual(waits, [5, 10, 20, 40], 'each refusal from the address waits longer than the one before');
      assert.equal(guard.counts.delayed, 4);
      assert.deepEqual(seen, ['127.0.0.1 -', '127.0.0.1 -', '127.0.0.1 -', '127.0.0.1 u'], 'a hook given to guard() still runs');
    } finally {
      await broker.close();
    }
  });

  it('on a real broker: refuses connections over the rate and delays failed logins', async () => {
    const guard = new ConnectionGuard({ connectionRate: 1, connectionBurst: 2, authFailureDelay: 20, authFailureDelayMax: 40 });
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

  it('an attacker beside a working client on the same address is slowed, then locked out; the client is not', async () => {
    // Delays 20, 40, 80, 160 ms; the fifth would pass the 160 ms cap, so the fourth failure locks.
    const guard = new ConnectionGuard({ connectionRate: 0, authFailureDelay: 20, authFailureDelayMax: 160 });
    const hook = passwordHook({ sensor: 'right', admin: 'secret', other: 'pass' });
    const broker = new Broker({ logger: silentLogger, listeners: [{ host: '127.0.0.1', port: 0 }], hooks: guard.guard(hook) });
    await broker.listen();
    const url = `mqtt://127.0.0.1:${broker.boundListeners[0]!.port}`;
    try {
      const delays: number[] = [];
      for (const guess of ['a', 'b', 'c', 'd']) {
        delays.push(guard.failureDelay('127.0.0.1', 'admin'));
        const attempt = await login(url, 'admin', guess);
        assert.equal(attempt.code, 0x86);
        assert.ok(attempt.ms >= delays.at(-1)! - 5, `answered after ${attempt.ms} ms, before its ${delays.at(-1)} ms delay`);
        // The client beside it logs in between the guesses: that must not let the attacker off.
        assert.equal((await login(url, 'sensor', 'right')).code, 0);
      }
      assert.deepEqual(delays, [20, 40, 80, 160], 'each guess waits longer, whatever the other client does');
      const checks = hook.checked.get('admin');
      assert.deepEqual(await login(url, 'admin', 'secret').then((r) => r.code), 0x9f, 'even the right password is refused while locked');
      assert.equal(hook.checked.get('admin'), checks, 'and not even checked');
      assert.equal((await login(url, 'admin', 'secret', 4)).code, 5, '3.1.1: not authorized');
      assert.equal((await login(url, 'other', 'pass')).code, 0x9f, 'a user name new from this address is locked out with it');
      assert.equal((await login(url, 'sensor', 'right')).code, 0, 'the client that logged in before is not');
      assert.equal(guard.counts.locked, 3);
    } finally {
      await broker.close();
    }
  });

  it('guessing many user names from one address is slowed and locked by the address count', async () => {
    const guard = new ConnectionGuard({ connectionRate: 0, authFailureDelay: 20, authFailureDelayMax: 160 });
    const hook = passwordHook({ sensor: 'right', user5: 'five' });
    const broker = new Broker({
      logger: silentLogger,
      listeners: [{ host: '127.0.0.1', port: 0, proxyProtocol: { trustedAddresses: ['127.0.0.1'] } }],
      hooks: guard.guard(hook),
    });
    await broker.listen();
    const relay = await proxyRelay(broker.boundListeners[0]!.port);
    try {
      relay.from('10.0.0.5');
      assert.equal((await login(relay.url, 'sensor', 'right')).code, 0);
      const delays: number[] = [];
      for (const name of ['user1', 'user2', 'user3', 'user4']) {
        delays.push(guard.failureDelay('10.0.0.5', name));
        assert.equal((await login(relay.url, name, 'guess')).code, 0x86);
        // A working client's login from the same address leaves the address's count alone.
        assert.equal((await login(relay.url, 'sensor', 'right')).code, 0);
      }
      assert.deepEqual(delays, [20, 40, 80, 160], 'each new user name waits longer than the last');
      assert.equal((await login(relay.url, 'user5', 'five')).code, 0x9f, 'the next user name is refused unchecked');
      assert.equal(hook.checked.get('user5'), undefined);
      assert.equal((await login(relay.url, 'sensor', 'right')).code, 0, 'the working client still logs in');
      relay.from('10.0.0.6');
      assert.equal((await login(relay.url, 'user5', 'five')).code, 0, 'another address is not locked');
    } finally {
      await relay.close();
      await broker.close();
    }
  });

  it('guessing one user name from many addresses is slowed by the user name count, not locked', async () => {
    const guard = new ConnectionGuard({ connectionRate: 0, authFailureDelay: 20, authFailureDelayMax: 160 });
    const hook = passwordHook({ admin: 'secret' });
    const broker = new Broker({
      logger: silentLogger,
      listeners: [{ host: '127.0.0.1', port: 0, proxyProtocol: { trustedAddresses: ['127.0.0.1'] } }],
      hooks: guard.guard(hook),
    });
    await broker.listen();
    const relay = await proxyRelay(broker.boundListeners[0]!.port);
    try {
      const delays: number[] = [];
      for (const n of [1, 2, 3, 4, 5]) {
        relay.from(`10.0.1.${n}`);
        delays.push(guard.failureDelay(`10.0.1.${n}`, 'admin'));
        const attempt = await login(relay.url, 'admin', `guess${n}`);
        assert.equal(attempt.code, 0x86, 'refused after its check: a user name alone never locks');
        assert.ok(attempt.ms >= delays.at(-1)! - 5, `answered after ${attempt.ms} ms, before its ${delays.at(-1)} ms delay`);
      }
      assert.deepEqual(delays, [20, 40, 80, 160, 160], 'each address new to the guesses waits as long as the user name has earned');
      relay.from('10.0.1.9');
      assert.equal((await login(relay.url, 'admin', 'secret')).code, 0, 'the right password from anywhere is not held up');
    } finally {
      await relay.close();
      await broker.close();
    }
  });

  it('at the cap a login is refused at once with 0x9F, never left to the connect timeout', async () => {
    const log = captureLog();
    // The old cap (10 s) outlasts this broker's 1 s connect timeout; the guard keeps its delays below 500 ms.
    const guard = new ConnectionGuard({ connectionRate: 0, authFailureDelay: 100, authFailureDelayMax: 10_000, connectTimeout: 1 }, { logger: log });
    const broker = new Broker({
      logger: log,
      limits: { connectTimeout: 1 },
      listeners: [{ host: '127.0.0.1', port: 0 }],
      hooks: guard.guard(passwordHook({ admin: 'secret' })),
    });
    await broker.listen();
    const url = `mqtt://127.0.0.1:${broker.boundListeners[0]!.port}`;
    try {
      const codes: number[] = [];
      for (let i = 0; i < 6; i++) codes.push((await login(url, 'admin', `guess${i}`)).code);
      assert.deepEqual(codes, [0x86, 0x86, 0x86, 0x9f, 0x9f, 0x9f], 'delays of 100, 200 and 400 ms, then refused at once');
      assert.equal(log.lines.filter((l) => l.includes('no CONNECT in time')).length, 0, log.lines.join('\n'));
      const locks = log.lines.filter((l) => l.includes('failed logins from 127.0.0.1'));
      assert.equal(locks.length, 1, `one line when the lock starts:\n${log.lines.join('\n')}`);
      assert.match(locks[0]!, /^warn 3 failed logins from 127\.0\.0\.1 \(the last with user "admin"\): logins of user "admin" and of user names new to 127\.0\.0\.1 are refused for 60 s after the last failure$/);
    } finally {
      await broker.close();
    }
  });

  it('is configured from the native file and on by default, loopback included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'culex-guard-'));
    const file = join(dir, 'culex.json');
    writeFileSync(file, JSON.stringify({
      listeners: [{ port: 0 }],
      security: { connectionRate: 1, connectionBurst: 1, authFailureDelay: 100, authFailureDelayMax: 1000, exemptLoopback: true },
    }));
    const config = await loadBrokerConfig(file);
    assert.deepEqual(config.security, { connectionRate: 1, connectionBurst: 1, authFailureDelay: 100, authFailureDelayMax: 1000, exemptLoopback: true });
    const setup = await setUpBroker(config, silentLogger);
    const accept = setup.options.hooks!.acceptConnection!;
    assert.ok(Array.from({ length: 10 }, () => accept(peer('127.0.0.1'), 'l')).every(Boolean), 'loopback exempt when asked');
    assert.deepEqual([accept(peer('192.0.2.1'), 'l'), accept(peer('192.0.2.1'), 'l')], [true, false]);

    writeFileSync(file, JSON.stringify({ listeners: [{ port: 0 }], security: { connectionRate: -1 } }));
    await assert.rejects(loadBrokerConfig(file), /security.connectionRate/);

    const defaults = await setUpBroker(await loadBrokerConfig(writeConf(dir, 'listener 1883 127.0.0.1\n')), silentLogger);
    const byDefault = defaults.options.hooks!.acceptConnection!;
    assert.equal(Array.from({ length: 100 }, () => byDefault(peer('127.0.0.1'), 'l')).filter(Boolean).length, 30, 'loopback limited by default');
    assert.equal(Array.from({ length: 100 }, () => byDefault(peer('192.0.2.1'), 'l')).filter(Boolean).length, 30, 'default burst');
  });

  it('closes a socket over the rate without reading it, and says so in the log', async () => {
    const log = captureLog();
    const guard = new ConnectionGuard({ connectionRate: 1, connectionBurst: 1 }, { logger: log });
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
      const lines = log.lines.filter((l) => /connection from 127\.0\.0\.1 refused: more than 1 at once or 1 a second/.test(l));
      assert.equal(lines.length, 2, log.lines.join('\n'));
    } finally {
      await broker.close();
    }
  });
});

describe('the documentation of the connection guard', () => {
  const root = new URL('../../', import.meta.url).pathname;
  const read = (file: string): string => readFileSync(join(root, file), 'utf8').replace(/\s+/g, ' ');
  const { connectionBurst, connectionRate, authFailureDelay, authFailureDelayMax, exemptLoopback } = defaultConnectionGuard;

  it('gives the defaults the code has, and why loopback is not exempt', () => {
    assert.equal(exemptLoopback, false);
    const mosquitto = read('docs/coming-from-mosquitto.md');
    assert.ok(mosquitto.includes(`may open ${connectionBurst} connections at once and then ${connectionRate} per second`));
    assert.ok(mosquitto.includes(`answered after ${authFailureDelay} ms, doubling with each further failure up to ${authFailureDelayMax / 1000} s`));
    assert.ok(mosquitto.includes('**Loopback is not exempt.** Local users may be hostile too, and a TLS terminator or load balancer on the same machine makes every client look like 127.0.0.1'));
    assert.ok(mosquitto.includes('0x9F "Connection rate exceeded", 3.1.1 return code 5'));
    const readme = read('README.md');
    assert.ok(readme.includes(`${connectionBurst} connections at once and then ${connectionRate} a second per address`));
    assert.ok(readme.includes(`answered after ${authFailureDelay} ms`) && readme.includes(`up to ${authFailureDelayMax / 1000} s (below the connect timeout)`));
    const table = read('src/config/README.md');
    for (const [key, value] of Object.entries(defaultConnectionGuard)) assert.ok(table.includes(`| \`security.${key}\` | ${value} |`), key);
  });
});

function writeConf(dir: string, text: string): string {
  const file = join(dir, 'mosquitto.conf');
  writeFileSync(file, text);
  return file;
}
