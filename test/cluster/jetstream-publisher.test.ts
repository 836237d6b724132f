import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamPublisher } from '../../src/cluster/jetstream-publisher.js';
import { startNats, type NatsInstance } from '../helpers/nats.js';

let nats: NatsInstance;
let nc: NatsConnection;

before(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.urls, pingInterval: 60_000 });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'PUB', subjects: ['pub.>'], duplicate_window: 60e9 });
  await jsm.streams.add({ name: 'SMALL', subjects: ['small.>'], max_msg_size: 16 });
});

after(async () => {
  await nc?.close();
  await nats?.stop();
});

test('acknowledged writes resolve with their stream sequence; the same id again is stored once', async () => {
  const publisher = new JetStreamPublisher(nc, 2000);
  const seqs = await Promise.all([1, 2, 3].map((i) => publisher.publish('pub.a', new Uint8Array([i]), `id-${i}`)));
  assert.deepEqual(seqs, [1, 2, 3]);
  assert.equal(await publisher.publish('pub.a', new Uint8Array([2]), 'id-2'), 2);
  const info = await (await jetstreamManager(nc)).streams.info('PUB');
  assert.equal(info.state.messages, 3);
  publisher.close();
});

test('refusals reject with the cause: no stream for the subject (503), a message over the stream limit', async () => {
  const publisher = new JetStreamPublisher(nc, 2000);
  await assert.rejects(publisher.publish('nostream.a', new Uint8Array(1), 'x1'), /no JetStream stream answered \(503\)/);
  await assert.rejects(publisher.publish('small.a', new Uint8Array(64), 'x2'), /JetStream refused the write: .*(size|maximum).*\(\d+\)/i);
  publisher.close();
});

test('a server that stops answering: the write rejects after the timeout; close rejects what is still waiting', async () => {
  const conn = await connect({ servers: nats.urls, pingInterval: 60_000 });
  const publisher = new JetStreamPublisher(conn, 300);
  nats.pause(0);
  try {
    const started = Date.now();
    await assert.rejects(publisher.publish('pub.b', new Uint8Array(1), 'y1'), /did not acknowledge the write within 300 ms/);
    assert.ok(Date.now() - started >= 290);
    const waiting = publisher.publish('pub.b', new Uint8Array(1), 'y2');
    publisher.close();
    await assert.rejects(waiting, /connection closed/);
  } finally {
    nats.resume(0);
    await conn.close();
  }
});
