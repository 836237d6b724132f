/**
 * Bans and flapping detection: the ban list's matching with a fake clock, its file; then on real brokers banned
 * clients refused with CONNACK 0x8A, connected ones disconnected by a new ban, bans kept across a restart (an orderly
 * one, and a `culex broker` process killed with SIGKILL), and a client id in a reconnect loop banned for a while.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BanError, BanList, FileBanStore, type BanSubject } from '../../src/auth/bans.js';
import { FlappingDetector } from '../../src/auth/flapping.js';
import { Protection } from '../../src/auth/protection.js';
import { Broker, silentLogger, type AuthenticateContext, type AuthenticateResult, type Logger } from '../../src/broker/index.js';
import { loadBrokerConfig } from '../../src/config/broker-config.js';
import { setUpBroker } from '../../src/config/broker-setup.js';
import { freePort } from '../helpers/ports.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'culex-bans-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const who = (clientId: string, username?: string, address = '192.0.2.1'): BanSubject => ({ clientId, username, address });

function captureLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (message: string): void => void lines.push(`${level} ${message}`);
  return { lines, error: push('error'), warn: push('warn'), info: push('info'), debug() {}, enabled: (level) => level !== 'debug' };
}

describe('the ban list', () => {
  it('covers client ids and user names exactly or by prefix, addresses exactly or by CIDR block, until they expire', async () => {
    let now = 1_000_000;
    const bans = new BanList(undefined, () => now);
    await bans.add({ kind: 'clientId', value: 'sensor-7' });
    await bans.add({ kind: 'clientId', value: 'test-', prefix: true, until: now + 60_000, reason: 'test devices' });
    await bans.add({ kind: 'username', value: 'mallory' });
    await bans.add({ kind: 'address', value: '203.0.113.9' });
    await bans.add({ kind: 'address', value: '10.20.0.0/16' });
    await bans.add({ kind: 'address', value: '2001:db8::/32' });
    const hit = (subject: BanSubject): string | undefined => {
      const ban = bans.find(subject);
      return ban && `${ban.kind}${ban.prefix ? '*' : '='}${ban.value}`;
    };
    assert.equal(hit(who('sensor-7')), 'clientId=sensor-7');
    assert.equal(hit(who('sensor-70')), undefined, 'an exact ban is exact');
    assert.equal(hit(who('test-1')), 'clientId*test-');
    assert.equal(hit(who('a', 'mallory')), 'username=mallory');
    assert.equal(hit(who('a', 'mallory2')), undefined);
    assert.equal(hit(who('mallory')), undefined, 'a user name ban is not a client id ban');
    assert.equal(hit(who('a', undefined, '203.0.113.9')), 'address=203.0.113.9');
    assert.equal(hit(who('a', undefined, '203.0.113.10')), undefined);
    assert.equal(hit(who('a', undefined, '10.20.255.1')), 'address=10.20.0.0/16');
    assert.equal(hit(who('a', undefined, '::ffff:10.20.3.4')), 'address=10.20.0.0/16', 'an IPv4-mapped IPv6 address is its IPv4 address');
    assert.equal(hit(who('a', undefined, '10.21.0.1')), undefined);
    assert.equal(hit(who('a', undefined, '2001:db8:1::5')), 'address=2001:db8::/32');
    assert.equal(bans.list().length, 6);

    now += 60_000;
    assert.equal(hit(who('test-1')), undefined, 'expired');
    assert.equal(bans.list().length, 5, 'and no longer listed');

    const again = await bans.add({ kind: 'clientId', value: 'sensor-7', until: now + 1000 });
    assert.equal(bans.list().filter((ban) => ban.value === 'sensor-7').length, 1, 'the same ban again replaces the old one');
    assert.equal(bans.find(who('sensor-7')), again);
    assert.equal(await bans.remove('address', '10.20.0.0/16'), true);
    assert.equal(await bans.remove('address', '10.20.0.0/16'), false);
    assert.equal(await bans.remove('username', 'mallory', true), false, 'a prefix ban is another ban than the exact one');
    assert.equal(hit(who('a', undefined, '10.20.255.1')), undefined);
  });

  it('refuses malformed bans, saying why', async () => {
    const bans = new BanList();
    const refusal = (request: Parameters<BanList['add']>[0]): Promise<string> =>
      bans.add(request).then(
        () => 'accepted',
        (err: unknown) => (err instanceof BanError ? err.message : `not a BanError: ${String(err)}`),
      );
    assert.equal(await refusal({ kind: 'address', value: '10.0.0.300' }), "'10.0.0.300' is not an IP address or a CIDR block");
    assert.equal(await refusal({ kind: 'address', value: '10.0.0.0/33' }), "'10.0.0.0/33': /33 is not a prefix length for IPv4");
    assert.equal(await refusal({ kind: 'address', value: '10.0.0.0/8', prefix: true }), 'an address ban takes a CIDR block, not a prefix');
    assert.equal(await refusal({ kind: 'clientId', value: '' }), 'a ban needs a value');
    assert.equal(await refusal({ kind: 'topic' as 'clientId', value: 'x' }), "unknown ban kind 'topic' (known: clientId, username, address)");
    assert.equal(await refusal({ kind: 'clientId', value: 'x', until: Number.NaN }), 'until must be epoch milliseconds');
    assert.deepEqual(bans.list(), []);
  });

  it('keeps its bans in a JSON file, expired ones left out when loaded; a damaged file is an error naming it', async () => {
    let now = 5_000_000;
    const file = join(dir, 'unit', 'bans.json');
    const first = await BanList.load(new FileBanStore(file), { now: () => now });
    await first.add({ kind: 'username', value: 'eve', reason: 'abuse' });
    await first.add({ kind: 'address', value: '198.51.100.0/24', until: now + 1000 });
    assert.deepEqual(
      (JSON.parse(readFileSync(file, 'utf8')) as { bans: unknown[] }).bans,
      [
        { kind: 'username', value: 'eve', created: now, reason: 'abuse' },
        { kind: 'address', value: '198.51.100.0/24', created: now, until: now + 1000 },
      ],
    );
    now += 1000;
    const second = await BanList.load(new FileBanStore(file), { now: () => now });
    assert.deepEqual(second.list().map((ban) => ban.value), ['eve']);

    writeFileSync(file, '{"bans": [{"kind": "address", "value": "not-an-address", "created": 0}]}');
    await assert.rejects(BanList.load(new FileBanStore(file)), new BanError(`${file}: bans[0]: 'not-an-address' is not an IP address or a CIDR block`));
    writeFileSync(file, '{"bans": ');
    await assert.rejects(BanList.load(new FileBanStore(file)), (err: Error) => err instanceof BanError && err.message.startsWith(`${file}: not JSON`));
  });
});

/** A broker with `protection`'s hooks around an authenticate hook that takes one password, followed by it. */
async function startBroker(protection: Protection): Promise<Broker> {
  const authenticate = (c: AuthenticateContext): AuthenticateResult =>
    Buffer.from(c.password ?? []).toString() === 'right' ? { result: 'success' } : { result: 'fail', reasonCode: 0x86 };
  const broker = new Broker({ listeners: [{ host: '127.0.0.1', port: 0 }], sysInterval: 0, logger: silentLogger, hooks: protection.guard({ authenticate }) });
  protection.attach(broker);
  await broker.listen();
  return broker;
}

describe('bans on a real broker', () => {
  it('refuses banned clients with CONNACK 0x8A (3.1.1: 5); a new ban disconnects the clients it covers (0x98); removed, they come back', async () => {
    const log = captureLog();
    const protection = new Protection({ connectionRate: 0 }, { logger: log });
    const broker = await startBroker(protection);
    const clients: RawClient[] = [];
    const login = async (clientId: string, username = 'user', protocolVersion: 4 | 5 = 5): Promise<{ client: RawClient; code: number }> => {
      const { client, connack } = await RawClient.connect(broker.port, { protocolVersion, clientId, username, password: Buffer.from('right') });
      clients.push(client);
      return { client, code: connack.reasonCode };
    };
    try {
      await protection.bans.add({ kind: 'clientId', value: 'bad-', prefix: true });
      assert.equal((await login('bad-1')).code, 0x8a);
      assert.equal((await login('bad-2', 'user', 4)).code, 5, '3.1.1: not authorised');
      assert.equal((await login('good-1')).code, 0);

      const { client: alice } = await login('a1', 'alice');
      const { client: other } = await login('o1', 'bob');
      await protection.bans.add({ kind: 'username', value: 'alice', reason: 'compromised' });
      const disconnect = await alice.expect('disconnect');
      assert.deepEqual([disconnect.reasonCode, disconnect.properties?.reasonString], [0x98, 'banned: user name "alice" for ever (compromised)']);
      assert.equal((await login('a2', 'alice')).code, 0x8a);
      assert.equal(other.closed, false, 'a client the ban does not cover stays');

      await protection.bans.add({ kind: 'address', value: '127.0.0.0/8', until: Date.now() + 60_000 });
      await other.expect('disconnect');
      assert.equal((await login('o2', 'bob')).code, 0x8a, 'the whole block');
      assert.equal(await protection.bans.remove('address', '127.0.0.0/8'), true);
      assert.equal((await login('o3', 'bob')).code, 0);

      assert.deepEqual(log.lines.filter((line) => line.includes('banned')), [
        'info banned client id prefix "bad-" for ever: 0 connected clients disconnected',
        'info banned user name "alice" for ever (compromised): 1 connected client disconnected',
        log.lines.find((line) => line.startsWith('info banned address 127.0.0.0/8 until '))!,
      ]);
      assert.match(log.lines.at(-1)!, /: 2 connected clients disconnected$/);
      const figures = new Map(protection.figures());
      assert.equal(figures.get('security/bans/count'), 2);
      assert.equal(figures.get('security/bans/refused'), 4);
    } finally {
      for (const client of clients) client.destroy();
      await broker.close();
      protection.close();
    }
  });

  it('keeps bans across a restart, in bans.json beside the data', async () => {
    const dataDir = join(dir, 'restart-data');
    const file = join(dir, 'restart.json');
    writeFileSync(file, JSON.stringify({ listeners: [{ host: '127.0.0.1', port: 0 }], allowAnonymous: true, sysInterval: 0, persistence: { dataDir } }));
    const start = async (log: Logger): Promise<{ broker: Broker; setup: Awaited<ReturnType<typeof setUpBroker>> }> => {
      const setup = await setUpBroker(await loadBrokerConfig(file), log);
      const broker = new Broker({ ...setup.options, logger: silentLogger });
      setup.attach(broker);
      await broker.listen();
      return { broker, setup };
    };
    const code = async (broker: Broker, clientId: string): Promise<number> => {
      const { client, connack } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId });
      client.destroy();
      return connack.reasonCode;
    };
    const first = await start(silentLogger);
    try {
      await first.setup.protection.bans.add({ kind: 'clientId', value: 'thief', reason: 'stolen credentials' });
      await first.setup.protection.bans.add({ kind: 'clientId', value: 'brief', until: Date.now() + 300 });
      assert.equal(await code(first.broker, 'thief'), 0x8a);
    } finally {
      await first.broker.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const log = captureLog();
    const second = await start(log);
    try {
      assert.equal(await code(second.broker, 'thief'), 0x8a, 'still banned after the restart');
      assert.equal(await code(second.broker, 'brief'), 0, 'a ban that expired meanwhile is gone');
      assert.deepEqual(second.setup.protection.bans.list().map((ban) => [ban.value, ban.reason]), [['thief', 'stolen credentials']]);
      assert.ok(log.lines.includes(`info bans kept in ${join(dataDir, 'bans.json')}: 1 in force`), log.lines.join('\n'));
    } finally {
      await second.broker.close();
    }
  });
});

describe('flapping detection', () => {
  it('counts connects per client id in a sliding window, in a table of bounded size', async () => {
    let now = 0;
    const bans = new BanList(undefined, () => now);
    const detector = new FlappingDetector({ maxConnects: 3, windowSeconds: 10, banSeconds: 60, maxClients: 100 }, bans, { now: () => now });
    for (let i = 0; i < 3; i++) {
      assert.equal(detector.record('slow'), undefined);
      now += 4000;
    }
    assert.equal(detector.record('slow'), undefined, 'the first connect left the 10 s window: three in it');
    now += 1000;
    const ban = detector.record('slow');
    assert.deepEqual(ban && { ...ban }, { kind: 'clientId', value: 'slow', until: now + 60_000, reason: 'flapping: 4 connects in 10 s', created: now });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(bans.find(who('slow'))?.reason, 'flapping: 4 connects in 10 s');
    // Ten thousand ids seen once each: the table keeps at most 100 of them, the most recently seen.
    for (let i = 0; i < 10_000; i++) detector.record(`id-${i}`);
    assert.equal(detector.tracked, 100);
    assert.deepEqual([1, 2, 3].map(() => detector.record('id-0')), [undefined, undefined, undefined], "id-0's first connect was forgotten");
    assert.deepEqual([1, 2].map(() => detector.record('id-9999')), [undefined, undefined]);
    assert.equal(detector.record('id-9999')?.value, 'id-9999', "id-9999's was not");
    assert.equal(detector.counts.banned, 2);
  });

  it('bans a client id that connects more than maxConnects times in the window, for banSeconds; logged and counted', async () => {
    const log = captureLog();
    const protection = new Protection({ connectionRate: 0, authFailureDelay: 0, flapping: { maxConnects: 3, windowSeconds: 60, banSeconds: 2 } }, { logger: log });
    const broker = await startBroker(protection);
    const clients: RawClient[] = [];
    const login = async (clientId: string, password = 'right'): Promise<{ client: RawClient; code: number }> => {
      const { client, connack } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId, username: 'u', password: Buffer.from(password) });
      clients.push(client);
      return { client, code: connack.reasonCode };
    };
    try {
      // A stranger who knows the id but not the password: refused, and not counted, or they could get it banned.
      for (let i = 0; i < 5; i++) assert.equal((await login('loop', 'wrong')).code, 0x86);
      for (let i = 0; i < 3; i++) {
        const { client, code } = await login('loop');
        assert.equal(code, 0);
        client.destroy();
      }
      const fourth = await login('loop');
      assert.equal(fourth.code, 0, 'accepted, and then counted');
      const disconnect = await fourth.client.expect('disconnect');
      assert.equal(disconnect.reasonCode, 0x98);
      assert.match(disconnect.properties?.reasonString ?? '', /^banned: client id "loop" until .+ \(flapping: 4 connects in 60 s\)$/);
      assert.equal((await login('loop')).code, 0x8a, 'then refused');
      assert.equal((await login('steady')).code, 0, 'another client id is not');
      const warned = log.lines.filter((line) => line.includes('security.flapping'));
      assert.deepEqual(warned, ['warn client id "loop" connected 4 times in 60 s: banned for 2 s (security.flapping)']);
      assert.equal(new Map(protection.figures()).get('security/flapping/banned'), 1);

      await waitFor(() => protection.bans.find(who('loop')) === undefined, 5000, 'the ban to end');
      assert.equal((await login('loop')).code, 0, 'in again once the ban is over, its count started afresh');
    } finally {
      for (const client of clients) client.destroy();
      await broker.close();
      protection.close();
    }
  });

  it('a flapping ban of a culex broker process outlives kill -9', async () => {
    const dataDir = join(dir, 'kill-data');
    const port = await freePort();
    const config = join(dir, 'kill.json');
    writeFileSync(config, JSON.stringify({
      listeners: [{ host: '127.0.0.1', port }],
      allowAnonymous: true,
      persistence: { dataDir },
      security: { exemptLoopback: true, flapping: { maxConnects: 2, windowSeconds: 60, banSeconds: 3600 } },
    }));
    const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
    const run = async (): Promise<{ kill(): Promise<void> }> => {
      const child = spawn(process.execPath, ['--import', 'tsx', main, 'broker', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      let output = '';
      const kill = async (): Promise<void> => {
        child.kill('SIGKILL');
        await exited;
      };
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`culex broker did not start within 20 s: ${output}`)), 20_000);
          const onData = (chunk: Buffer): void => {
            output += chunk.toString();
            if (output.includes('listening on')) {
              clearTimeout(timer);
              resolve();
            }
          };
          child.stdout.on('data', onData);
          child.stderr.on('data', onData);
          child.once('exit', (code) => reject(new Error(`culex broker exited (${code}): ${output}`)));
        });
      } catch (err) {
        await kill();
        throw err;
      }
      return { kill };
    };
    const code = async (clientId: string): Promise<number> => {
      const { client, connack } = await RawClient.connect(port, { protocolVersion: 5, clientId });
      client.destroy();
      return connack.reasonCode;
    };
    const first = await run();
    try {
      assert.deepEqual([await code('twin'), await code('twin'), await code('twin')], [0, 0, 0], 'the third is accepted, then banned');
      await waitFor(() => {
        try {
          return readFileSync(join(dataDir, 'bans.json'), 'utf8').includes('"twin"');
        } catch {
          return false;
        }
      }, 5000, 'the ban in bans.json');
      assert.equal(await code('twin'), 0x8a);
    } finally {
      await first.kill();
    }
    const second = await run();
    try {
      assert.equal(await code('twin'), 0x8a, 'banned after the kill and restart');
      assert.equal(await code('other'), 0);
    } finally {
      await second.kill();
    }
  });
});
