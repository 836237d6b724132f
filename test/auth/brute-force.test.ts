/**
 * A brute force of 1,000 wrong passwords from one address, against a broker started from the native configuration
 * with a password file and the connection guard's defaults (its per-address connection rate off, so that every guess
 * is a CONNECT with a password): clients logging in from other addresses meanwhile, one of them as the user under
 * attack, are neither refused nor slowed. The guesses come from another process; every connection is on 127.0.0.1
 * and says which address it comes from in a PROXY protocol header.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import { formatHash, hashPassword } from '../../src/auth/password-file.js';
import { Broker, silentLogger } from '../../src/broker/index.js';
import { loadBrokerConfig } from '../../src/config/broker-config.js';
import { setUpBroker } from '../../src/config/broker-setup.js';
import { RawClient } from '../helpers/raw-client.js';

const dir = mkdtempSync(join(tmpdir(), 'culex-brute-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const GUESSES = 1000;
/** Guesses in flight at once. */
const ATTACKERS = 25;

/** One login from `address`: the CONNACK code ('closed' without one) and how long it took. */
async function login(port: number, address: string, username: string, password: string): Promise<{ code: number | 'closed'; ms: number }> {
  const start = performance.now();
  const client = await RawClient.open(port);
  try {
    client.sendRaw(Buffer.from(`PROXY TCP4 ${address} 127.0.0.1 40000 1883\r\n`));
    const connack = await client.connect({ protocolVersion: 5, username, password: Buffer.from(password) }, 15_000);
    if (connack.reasonCode === 0) client.send({ type: 'disconnect', reasonCode: 0 });
    return { code: connack.reasonCode, ms: performance.now() - start };
  } catch (err) {
    if (!client.closed) throw err;
    return { code: 'closed', ms: performance.now() - start };
  } finally {
    client.destroy();
  }
}

/** Runs guesser.ts: `guesses` wrong passwords of `user` from `address`; the CONNACK codes it got, counted. */
async function guess(port: number, address: string, user: string, guesses: number, concurrency: number): Promise<Record<string, number>> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'guesser.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script, String(port), address, user, String(guesses), String(concurrency)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  assert.equal(code, 0, `guesser.ts: ${err}`);
  return JSON.parse(out) as Record<string, number>;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('a brute force of passwords', () => {
  it('1,000 wrong passwords from one address do not slow logins from other addresses', async (t) => {
    const users = ['admin', 'sensor1', 'sensor2', 'sensor3', 'sensor4'];
    writeFileSync(join(dir, 'passwd'), users.map((user) => `${user}:${formatHash(hashPassword(`${user}-pw`))}\n`).join(''));
    const file = join(dir, 'culex.json');
    writeFileSync(file, JSON.stringify({
      listeners: [{ host: '127.0.0.1', port: 0, proxyProtocol: { trustedAddresses: ['127.0.0.1'] } }],
      auth: { passwordFile: 'passwd' },
      allowAnonymous: false,
      sysInterval: 0,
      security: { connectionRate: 0 },
    }));
    const setup = await setUpBroker(await loadBrokerConfig(file), silentLogger);
    const broker = new Broker({ ...setup.options, logger: silentLogger });
    setup.attach(broker);
    await broker.listen();
    try {
      const round = async (): Promise<number[]> => {
        const answers = await Promise.all(users.map((user, i) => login(broker.port, `10.0.2.${i + 1}`, user, `${user}-pw`)));
        assert.deepEqual(answers.map((a) => a.code), users.map(() => 0));
        return answers.map((a) => a.ms);
      };
      const before: number[] = [];
      for (let i = 0; i < 10; i++) before.push(...(await round()));

      const attackStart = performance.now();
      let attacking = true;
      const attack = guess(broker.port, '10.66.0.1', 'admin', GUESSES, ATTACKERS).finally(() => (attacking = false));
      const during: number[] = [];
      const counts = setup.protection.connections.counts;
      while (attacking) {
        // Rounds from the first failed guess on (the guessing process takes a moment to start).
        const underAttack = counts.delayed + counts.locked > 0;
        const times = await round();
        if (underAttack) during.push(...times);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const outcomes = await attack;
      const attackMs = performance.now() - attackStart;

      t.diagnostic(`attack: ${GUESSES} guesses in ${(attackMs / 1000).toFixed(1)} s, answers ${JSON.stringify(outcomes)}`);
      t.diagnostic(`others' logins: before median ${median(before).toFixed(1)} ms, max ${Math.max(...before).toFixed(1)} ms; ` +
        `during (${during.length}) median ${median(during).toFixed(1)} ms, max ${Math.max(...during).toFixed(1)} ms`);
      assert.equal(outcomes['0'], undefined, 'no guess got in');
      assert.equal(Object.values(outcomes).reduce((a, b) => a + b, 0), GUESSES);
      assert.ok((outcomes[String(0x9f)] ?? 0) > GUESSES / 2, 'most guesses were refused unchecked, by the lock');
      assert.ok(counts.locked > GUESSES / 2);
      assert.ok(during.length >= users.length * 3, `${during.length} logins of the others during the attack`);
      // A failed login waits 250 ms and more: logins that had to wait like one would show it. Generous for a busy machine.
      assert.ok(median(during) < 250, `others' median login took ${median(during).toFixed(1)} ms during the attack`);
      assert.ok(Math.max(...during) < 2500, `an other's login took up to ${Math.max(...during).toFixed(1)} ms during the attack`);
      // What a failure would wait now: the first failure's 250 ms for the others; for admin, whose password was
      // guessed, the cap, wherever it comes from. Only failures wait: admin's right password does not.
      for (const [i, user] of users.entries()) {
        assert.equal(setup.protection.connections.failureDelay(`10.0.2.${i + 1}`, user), user === 'admin' ? 5000 : 250, user);
      }
      assert.equal((await login(broker.port, '10.0.2.99', 'admin', 'admin-pw')).code, 0, 'admin logs in from an address new to it');
    } finally {
      await broker.close();
      setup.protection.close();
    }
  });
});
