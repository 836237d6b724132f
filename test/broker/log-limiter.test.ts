/** Repeated log lines are limited per source and kind, summed up, and kept in bounded memory. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Broker, type Logger, type LogLevel } from '../../src/broker/index.js';
import { LogLimiter } from '../../src/broker/logger.js';
import { connect } from '../../src/client/index.js';
import { FailingStore } from '../helpers/failing-store.js';
import { waitFor } from '../helpers/wait.js';

function captureLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (l: LogLevel) => (message: string): void => void lines.push(`${l} ${message}`);
  return { lines, error: push('error'), warn: push('warn'), info: push('info'), debug: push('debug'), enabled: () => true };
}

describe('LogLimiter', () => {
  it('logs the first lines per source and kind, then one summary per interval', () => {
    let now = 0;
    const log = captureLog();
    const limiter = new LogLimiter(log, { lines: 3, intervalMs: 60_000 }, () => now);
    for (let i = 0; i < 50; i++) limiter.log('info', 'TLS handshake failed', '10.0.0.1', `tls ${i}`);
    for (let i = 0; i < 2; i++) limiter.log('info', 'not MQTT', '10.0.0.1', `http ${i}`);
    for (let i = 0; i < 4; i++) limiter.log('info', 'TLS handshake failed', '10.0.0.2', `other ${i}`);
    assert.deepEqual(log.lines, [
      'info tls 0', 'info tls 1', 'info tls 2', 'info http 0', 'info http 1', 'info other 0', 'info other 1', 'info other 2',
    ]);
    now = 60_000;
    limiter.log('info', 'TLS handshake failed', '10.0.0.1', 'tls again');
    assert.deepEqual(log.lines.slice(8), [
      'info TLS handshake failed: suppressed 47 similar lines from 10.0.0.1 in the last 60 s',
      'info TLS handshake failed: suppressed 1 similar lines from 10.0.0.2 in the last 60 s',
      'info tls again',
    ]);
  });

  it('bounds the lines and the sources of an interval', () => {
    const log = captureLog();
    const limiter = new LogLimiter(log, { lines: 2, maxLines: 10, maxSources: 20 }, () => 0);
    for (let i = 0; i < 10_000; i++) limiter.log('warn', 'not MQTT', `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, `line ${i}`);
    const tracks = (limiter as unknown as { tracks: Map<string, unknown> }).tracks;
    assert.equal(tracks.size, 20, 'sources tracked at once');
    assert.equal(log.lines.length, 10, 'lines of the interval');
    limiter.flush();
    const summaries = log.lines.slice(10);
    assert.equal(summaries.length, 11, `ten summaries and one line for the rest:\n${summaries.join('\n')}`);
    assert.equal(summaries[10], 'warn suppressed 9980 more log lines about other sources in the last 1 s');
    assert.equal(tracks.size, 0, 'emptied every interval');
  });

  it('sums up when the interval ends even if nothing more is logged', async () => {
    const log = captureLog();
    const limiter = new LogLimiter(log, { lines: 1, intervalMs: 200 });
    limiter.log('info', 'kind', 'source', 'first');
    limiter.log('info', 'kind', 'source', 'second');
    await waitFor(() => log.lines.length === 2, 5000, 'the summary');
    assert.match(log.lines[1]!, /^info kind: suppressed 1 similar lines from source in the last \d+ s$/);
  });
});

describe('store write failures', () => {
  it('a failing store logs one line per cause a minute and a count, not one per attempt', async () => {
    const log = captureLog();
    const store = new FailingStore();
    const broker = new Broker({ logger: log, store, listeners: [{ host: '127.0.0.1', port: 0 }] });
    await broker.listen();
    const url = `mqtt://127.0.0.1:${broker.boundListeners[0]!.port}`;
    const subscriber = await connect(url, { clientId: 'keeper', clean: false, sessionExpiryInterval: 3600, reconnect: false });
    const publisher = await connect(url, { clientId: 'writer', reconnect: false });
    try {
      await subscriber.subscribe('load/#', { qos: 1 });
      store.failing = true;
      // Every QoS 1 message asks for a write while the store fails: a full disk under load.
      const deadline = Date.now() + 1500;
      let sent = 0;
      while (Date.now() < deadline && sent < 300) {
        await Promise.race([publisher.publish(`load/${sent++}`, 'x', { qos: 1 }).catch(() => undefined), new Promise((r) => setTimeout(r, 5))]);
      }
      const failures = log.lines.filter((l) => l.includes('store write of'));
      assert.ok(sent > 50, `only ${sent} messages sent`);
      assert.ok(failures.length >= 1 && failures.length <= 5, `${failures.length} failure lines for ${sent} messages:\n${failures.join('\n')}`);
      store.failing = false;
    } finally {
      await publisher.end().catch(() => undefined);
      await subscriber.end().catch(() => undefined);
      await broker.close();
    }
  });
});
