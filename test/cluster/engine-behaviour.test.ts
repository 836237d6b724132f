/**
 * What the cluster engine (Debian nats-server 2.9.10, nats.js 3.x) does, as experiments: the claims in
 * docs/cluster-engine-notes.md. Each test states one behaviour the cluster code will rely on or must work around.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect, type NatsConnection, type Status } from '@nats-io/transport-node';
import { AckPolicy, JetStreamApiError, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { startNats, type NatsInstance } from '../helpers/nats.js';

/** The error a promise rejects with (fails if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error & { code?: number; status?: number }> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error, `rejected with a non-Error: ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection, got a result');
}

/** Records the connection's status events in order. */
function statusLog(nc: NatsConnection): Status[] {
  const log: Status[] = [];
  void (async () => {
    for await (const status of nc.status()) log.push(status);
  })();
  return log;
}

async function until(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let shared: NatsInstance;
let nc: NatsConnection;
let jsm: JetStreamManager;

before(async () => {
  shared = await startNats();
  nc = await connect({ servers: shared.urls });
  jsm = await jetstreamManager(nc);
});

after(async () => {
  await nc?.close();
  await shared?.stop();
});

test('2.9.10: the server says so in INFO, has no JetStream API level, and refuses sync_interval as an unknown field', async () => {
  assert.equal(nc.info?.version, '2.9.10');
  const info = JSON.parse((await nc.request('$JS.API.INFO', '')).string()) as { api: Record<string, unknown> };
  assert.equal(info.api.level, undefined, 'feature detection must use the server version, not api.level (2.11+)');
  const dir = mkdtempSync(join(tmpdir(), 'culex-nats-conf-'));
  try {
    const conf = join(dir, 'sync.conf');
    writeFileSync(conf, `jetstream {\n  store_dir: "${dir}"\n  sync_interval: always\n}\n`);
    const check = spawnSync('/usr/sbin/nats-server', ['-t', '-c', conf], { encoding: 'utf8' });
    assert.notEqual(check.status, 0);
    assert.match(check.stderr + check.stdout, /unknown field "sync_interval"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no multi-filter consumers: nats.js refuses filter_subjects, and the raw API silently creates a consumer with NO filter', async () => {
  await jsm.streams.add({ name: 'MF', subjects: ['mf.>'] });
  const refused = await rejection(jsm.consumers.add('MF', { durable_name: 'two', ack_policy: AckPolicy.Explicit, filter_subjects: ['mf.a', 'mf.b'] }));
  assert.equal(refused.name, 'InvalidArgumentError');
  assert.match(refused.message, /'filter_subjects' requires server 2\.10\.0/);
  // Sent by hand, 2.9.10 drops the field it does not know: the consumer then delivers every subject of the stream.
  const raw = await nc.request('$JS.API.CONSUMER.DURABLE.CREATE.MF.raw', JSON.stringify({
    stream_name: 'MF',
    config: { durable_name: 'raw', ack_policy: 'explicit', filter_subjects: ['mf.a', 'mf.b'] },
  }));
  const created = JSON.parse(raw.string()) as { config: Record<string, unknown>; error?: unknown };
  assert.equal(created.error, undefined);
  assert.equal(created.config.filter_subjects, undefined);
  assert.equal(created.config.filter_subject, undefined);
});

test('no per-message TTL: allow_msg_ttl is dropped from the stream config and a Nats-TTL header expires nothing', async () => {
  const info = await jsm.streams.add({ name: 'TTL', subjects: ['ttl.>'], allow_msg_ttl: true });
  assert.equal(info.config.allow_msg_ttl, undefined);
  const js = jetstream(nc);
  await js.publish('ttl.a', 'short-lived', { ttl: '1s' });
  await new Promise((r) => setTimeout(r, 1300));
  assert.equal((await jsm.streams.getMessage('TTL', { last_by_subj: 'ttl.a' }))?.string(), 'short-lived');
});

test('duplicate msgID: the second publish resolves with duplicate: true and the first sequence, nothing stored twice', async () => {
  await jsm.streams.add({ name: 'DUP', subjects: ['dup.>'], duplicate_window: 60_000_000_000 });
  const js = jetstream(nc);
  const first = await js.publish('dup.a', 'x', { msgID: 'client-1:7:3' });
  const again = await js.publish('dup.a', 'x, resent', { msgID: 'client-1:7:3' });
  assert.deepEqual(first, { stream: 'DUP', seq: 1, duplicate: false });
  assert.deepEqual(again, { stream: 'DUP', seq: 1, duplicate: true });
  assert.equal((await jsm.streams.info('DUP')).state.messages, 1);
});

test('failed expectations: JetStreamApiError with err_code 10071 (wrong last sequence), 10070 (msg ID), 10060 (stream)', async () => {
  await jsm.streams.add({ name: 'EXP', subjects: ['exp.>'] });
  const js = jetstream(nc);
  await js.publish('exp.a', '1');
  await js.publish('exp.b', '2');
  const cases: [options: Parameters<typeof js.publish>[2], code: number, message: string][] = [
    [{ expect: { lastSequence: 1 } }, 10071, 'wrong last sequence: 2'],
    [{ expect: { lastSubjectSequence: 2 } }, 10071, 'wrong last sequence: 1'],
    [{ expect: { lastSubjectSequence: 0 } }, 10071, 'wrong last sequence: 1'],
    [{ expect: { lastMsgID: 'other' } }, 10070, 'wrong last msg ID: '],
    [{ expect: { streamName: 'OTHER' } }, 10060, 'expected stream does not match'],
  ];
  for (const [options, code, message] of cases) {
    const error = await rejection(js.publish('exp.a', '3', options));
    assert.ok(error instanceof JetStreamApiError, `${JSON.stringify(options)}: ${error.name}`);
    assert.equal(error.code, code);
    assert.equal(error.status, 400);
    assert.equal(error.message, message);
  }
  assert.equal((await js.publish('exp.a', '3', { expect: { lastSubjectSequence: 1 } })).seq, 3);
});

test('KV revision CAS: a stale update or a create of an existing key is JetStreamApiError 10071; create after delete works', async () => {
  const kv = await new Kvm(nc).create('cas', { history: 1 });
  const r1 = await kv.create('session.h1', 'owner=a');
  const r2 = await kv.update('session.h1', 'owner=b', r1);
  assert.equal(r2, r1 + 1);
  const stale = await rejection(kv.update('session.h1', 'owner=c', r1));
  assert.ok(stale instanceof JetStreamApiError);
  assert.equal(stale.code, 10071);
  assert.equal(stale.message, `wrong last sequence: ${r2}`);
  const exists = await rejection(kv.create('session.h1', 'owner=d'));
  assert.equal(exists.code, 10071);
  await kv.delete('session.h1');
  assert.ok((await kv.create('session.h1', 'owner=e')) > r2, 'create succeeds over a delete marker');
  // A bucket that does not exist: open() does not check, the first read fails.
  const missing = await new Kvm(nc).open('no_such_bucket');
  const notFound = await rejection(missing.get('k'));
  assert.equal(notFound.name, 'StreamNotFoundError');
  assert.equal(notFound.code, 10059);
});

test('missing things: stream 10059/404, consumer 10014/404; a publish no stream captures fails at once with no responders', async () => {
  const stream = await rejection(jsm.streams.info('NO_SUCH_STREAM'));
  assert.equal(stream.name, 'StreamNotFoundError');
  assert.ok(stream instanceof JetStreamApiError);
  assert.deepEqual([stream.code, stream.status], [10059, 404]);
  await jsm.streams.add({ name: 'HAS', subjects: ['has.>'] });
  const consumer = await rejection(jsm.consumers.info('HAS', 'no_such_consumer'));
  assert.equal(consumer.name, 'ConsumerNotFoundError');
  assert.deepEqual([consumer.code, consumer.status], [10014, 404]);
  const started = Date.now();
  const orphan = await rejection(jetstream(nc, { timeout: 5000 }).publish('nobody.captures.this', 'x'));
  // Misleadingly named: the cause is that no stream (or no stream leader) answered the subject.
  assert.equal(orphan.name, 'JetStreamNotEnabled');
  const cause = orphan.cause as Error & { cause?: Error };
  assert.equal(cause.name, 'RequestError');
  assert.equal(cause.cause?.name, 'NoResponders');
  assert.ok(Date.now() - started < 4000, 'no responders is immediate, not the 5 s timeout');
});

test('a server that answers nothing (SIGSTOP): JetStream publish and KV get reject with TimeoutError after their timeout', async (t) => {
  const nats = await startNats();
  t.after(() => nats.stop());
  const conn = await connect({ servers: nats.urls, pingInterval: 60_000 });
  t.after(() => conn.close());
  await (await jetstreamManager(conn)).streams.add({ name: 'P', subjects: ['p.>'] });
  const js = jetstream(conn, { timeout: 300 });
  const kv = await new Kvm(js).create('paused');
  nats.pause(0);
  try {
    assert.equal((await rejection(js.publish('p.a', 'x'))).name, 'TimeoutError');
    assert.equal((await rejection(kv.get('k'))).name, 'TimeoutError');
  } finally {
    nats.resume(0);
  }
  const after = await jetstream(conn).publish('p.a', 'x');
  assert.equal(after.seq, 2, 'the publish that timed out was stored once the server ran again');
});

test('a subject longer than max_control_line (4096) makes the server close the connection; 3840 bytes are accepted', async (t) => {
  const nats = await startNats();
  t.after(() => nats.stop());
  const conn = await connect({ servers: nats.urls, reconnectTimeWait: 50 });
  t.after(() => conn.close());
  const log = statusLog(conn);
  const js = jetstream(conn);
  await (await jetstreamManager(conn)).streams.add({ name: 'LONG', subjects: ['long.>'] });
  // The default mapping limit: a JetStream publish (HPUB with reply subject and a Nats-Msg-Id header) fits.
  const fits = 'long.' + 'a'.repeat(3840 - 5);
  assert.equal((await js.publish(fits, 'x', { msgID: 'a-message-id' })).seq, 1);
  conn.publish('long.' + 'b'.repeat(4100), 'x');
  await until('a reconnect', () => log.some((s) => s.type === 'reconnect'));
  const error = log.find((s) => s.type === 'error');
  assert.ok(error?.type === 'error');
  assert.match(error.error.message, /maximum control line exceeded/);
  assert.deepEqual(log.map((s) => s.type).filter((type) => type !== 'reconnecting'), ['error', 'disconnect', 'update', 'reconnect']);
});

test('kill -9 and restart: the client reconnects by itself; in-flight and disconnected-time publishes are not resent', async (t) => {
  const nats = await startNats();
  t.after(() => nats.stop());
  const conn = await connect({ servers: nats.urls, reconnectTimeWait: 50, maxReconnectAttempts: -1 });
  t.after(() => conn.close());
  const log = statusLog(conn);
  const manager = await jetstreamManager(conn);
  await manager.streams.add({ name: 'K', subjects: ['k.>', 'core.>'] });
  await manager.consumers.add('K', { durable_name: 'reader', ack_policy: AckPolicy.Explicit, filter_subject: 'k.after' });
  const js = jetstream(conn, { timeout: 1000 });
  const coreReceived: string[] = [];
  conn.subscribe('core.sub', { callback: (_e, msg) => void coreReceived.push(msg.string()) });
  const consumed: string[] = [];
  const messages = await (await js.consumers.get('K', 'reader')).consume({ max_messages: 10 });
  void (async () => {
    for await (const msg of messages) {
      consumed.push(msg.string());
      msg.ack();
    }
  })();

  // 1. Publishes in flight when the server dies: none rejects at the disconnect; each waits for its timeout.
  // A pump keeps 500 in flight (a batch sent at once would be acknowledged at once, before the kill).
  let acked = 0;
  let pumping = true;
  const failures: Error[] = [];
  /** How long each failed publish took to fail, from the moment it was made. */
  const failedAfterMs: number[] = [];
  const pending = new Set<Promise<void>>();
  const pump = (i: number): void => {
    if (!pumping) return;
    const made = performance.now();
    const p: Promise<void> = js.publish('k.burst', `m${i}`).then(
      () => {
        acked++;
        pending.delete(p);
        pump(i + 500);
      },
      (e: Error) => {
        failures.push(e);
        failedAfterMs.push(performance.now() - made);
        pending.delete(p);
      },
    );
    pending.add(p);
  };
  for (let i = 0; i < 500; i++) pump(i);
  await until('the first acknowledgements', () => acked >= 2000);
  await nats.kill(0);
  pumping = false;
  while (pending.size > 0) await Promise.all([...pending]);
  assert.ok(failures.length > 0, 'nothing was in flight at the kill');
  assert.deepEqual([...new Set(failures.map((e) => e.name))], ['TimeoutError']);
  assert.ok(Math.min(...failedAfterMs) >= 950, `one failed ${Math.min(...failedAfterMs)} ms after it was made: before its 1 s timeout`);
  const disconnects = log.filter((s) => s.type === 'disconnect').length;
  assert.equal(disconnects, 1);

  // 2. Published while disconnected: each reconnect attempt empties the client's output buffer.
  conn.publish('core.lost', 'published while disconnected');
  // Its timeout is longer than the server takes to come back: it is still not sent again.
  const lostPublish = rejection(jetstream(conn, { timeout: 2500 }).publish('k.lost', 'x'));
  const lostFlush = rejection(conn.flush());
  // Two more attempts: the log may not show yet an attempt that began just before these publishes.
  const attempts = log.filter((s) => s.type === 'reconnecting').length;
  await until('two more reconnect attempts', () => log.filter((s) => s.type === 'reconnecting').length > attempts + 1);
  const flushError = await lostFlush;
  assert.deepEqual([flushError.name, flushError.message], ['RequestError', 'connection disconnected']);
  await nats.restart(0);
  await until('the reconnect', () => log.some((s) => s.type === 'reconnect'));
  assert.equal((await lostPublish).name, 'TimeoutError');

  // 3. After the reconnect: subscriptions and the pull consumer work again without help.
  const state = (await manager.streams.info('K')).state;
  t.diagnostic(`in flight at the kill: ${failures.length} timed out, ${acked} acknowledged, ${state.messages - acked} stored without an acknowledgement`);
  assert.ok(state.messages >= acked, 'an acknowledged message was lost');
  for (const subject of ['core.lost', 'k.lost']) {
    assert.equal(await manager.streams.getMessage('K', { last_by_subj: subject }), null, `${subject} was stored`);
  }
  conn.publish('core.sub', 'after the restart');
  await js.publish('k.after', 'stored after the restart');
  await until('the subscription and the consumer to deliver', () => coreReceived.length === 1 && consumed.length === 1);
  assert.deepEqual(coreReceived, ['after the restart']);
  assert.deepEqual(consumed, ['stored after the restart']);
  const types = log.map((s) => s.type).filter((type) => type !== 'reconnecting');
  assert.deepEqual(types.slice(0, 3), ['disconnect', 'update', 'reconnect']);
});

test('reconnect attempts used up: status close, a pending request rejects with RequestError, later calls throw', async (t) => {
  const nats = await startNats();
  t.after(() => nats.stop());
  const conn = await connect({ servers: nats.urls, reconnectTimeWait: 50, maxReconnectAttempts: 2 });
  const log = statusLog(conn);
  await (await jetstreamManager(conn)).streams.add({ name: 'C', subjects: ['c.>'] });
  const js = jetstream(conn, { timeout: 10_000 });
  await nats.kill(0);
  const pending = rejection(js.publish('c.a', 'x'));
  const closedWith = await conn.closed();
  assert.equal(closedWith?.name, 'ConnectionError');
  const error = await pending;
  assert.equal(error.name, 'RequestError');
  assert.equal(error.message, 'connection closed');
  assert.deepEqual(log.map((s) => s.type), ['disconnect', 'reconnecting', 'reconnecting', 'close']);
  assert.equal((await rejection(js.publish('c.a', 'y'))).name, 'ClosedConnectionError');
  assert.throws(() => conn.publish('c.a', 'z'), { name: 'ClosedConnectionError' });
});
