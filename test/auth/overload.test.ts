/**
 * Overload protection on a real broker, with real overload: the event loop held busy, memory really allocated. New
 * clients get CONNACK 0x89 until the broker recovers; the episode is logged once at its start and once at its end.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Protection } from '../../src/auth/protection.js';
import { Broker, silentLogger, type Logger } from '../../src/broker/index.js';
import { lagEventLoop } from '../helpers/event-loop.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';

function captureLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (message: string): void => void lines.push(`${level} ${message}`);
  return { lines, error: push('error'), warn: push('warn'), info: push('info'), debug() {}, enabled: () => true };
}

async function withBroker(protection: Protection, run: (connect: (version?: 4 | 5) => Promise<number>) => Promise<void>): Promise<void> {
  const broker = new Broker({ listeners: [{ port: 0 }], allowAnonymous: true, sysInterval: 0, logger: silentLogger, hooks: protection.guard({}) });
  await broker.listen();
  const clients: RawClient[] = [];
  try {
    await run(async (protocolVersion = 5) => {
      const { client, connack } = await RawClient.connect(broker.port, { protocolVersion }, {});
      clients.push(client);
      return connack.reasonCode;
    });
  } finally {
    for (const client of clients) client.destroy();
    await broker.close();
    protection.close();
  }
}

describe('overload protection', () => {
  it('refuses new clients with 0x89 while the event loop lags, logs the episode once, and lets them in again after', async () => {
    const log = captureLog();
    const protection = new Protection({ connectionRate: 0, overload: { maxEventLoopDelayMs: 100, checkIntervalMs: 200 } }, { logger: log });
    await withBroker(protection, async (connect) => {
      assert.equal(await connect(), 0);
      const stop = lagEventLoop(250, 20);
      try {
        await waitFor(() => protection.overload.overloaded, 5000, 'the overload to be seen');
        assert.equal(await connect(), 0x89, 'Server busy');
        assert.equal(await connect(4), 3, '3.1.1: server unavailable');
        assert.equal(await connect(), 0x89);
      } finally {
        stop();
      }
      await waitFor(() => !protection.overload.overloaded, 5000, 'the recovery');
      assert.equal(await connect(), 0);
      const episode = log.lines.filter((line) => /overload/.test(line));
      assert.equal(episode.length, 2, episode.join('\n'));
      assert.match(episode[0]!, /^warn overloaded: event-loop delay \d+ ms \(security\.overload\.maxEventLoopDelayMs 100\): new clients are refused \(0x89\) until it recovers$/);
      assert.match(episode[1]!, /^warn recovered from overload after [\d.]+ s: 3 new clients were refused$/);
      assert.deepEqual(protection.figures().filter(([name]) => name.startsWith('security/overload/')), [
        ['security/overload/active', 0],
        ['security/overload/episodes', 1],
        ['security/overload/refused', 3],
      ]);
    });
  });

  it('refuses new clients (0x9F when asked) while the process holds more memory than allowed', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const start = process.memoryUsage.rss() / (1024 * 1024);
    const log = captureLog();
    const protection = new Protection(
      { connectionRate: 0, overload: { maxMemoryMB: Math.ceil(start + 150), checkIntervalMs: 100, refuseWith: 'connectionRateExceeded' } },
      { logger: log },
    );
    await withBroker(protection, async (connect) => {
      assert.equal(await connect(), 0);
      // Touched, so that it is resident: 300 MiB in 1 MiB buffers.
      let ballast: Buffer[] | undefined = Array.from({ length: 300 }, (_, i) => Buffer.alloc(1024 * 1024, i));
      await waitFor(() => protection.overload.overloaded, 5000, `resident memory above ${Math.ceil(start + 150)} MiB`);
      assert.equal(await connect(), 0x9f);
      assert.equal(ballast.length, 300);
      ballast = undefined;
      gc();
      await waitFor(() => !protection.overload.overloaded, 10_000, `resident memory back under 90% (now ${protection.overload.last.memoryMB.toFixed(0)} MiB)`);
      assert.equal(await connect(), 0);
      assert.match(log.lines.find((line) => line.includes('overloaded'))!, /resident memory \d+ MiB \(security\.overload\.maxMemoryMB \d+\): new clients are refused \(0x9f\)/);
    });
  });
});
