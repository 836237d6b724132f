import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, ConnectionRefusedError, InvalidOptionError, ClientClosedError } from '../../src/client/index.js';
import { startMosquitto, type MosquittoInstance } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { CuttingProxy } from './proxy.js';

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

for (const protocolVersion of [3, 4, 5] as const) {
  describe(`client basics over TCP, MQTT level ${protocolVersion}`, () => {
    let broker: MosquittoInstance;
    before(async () => {
      broker = await startMosquitto();
    });
    after(async () => {
      await broker.stop();
    });

    it('publishes and receives at QoS 0, 1 and 2', async () => {
      const client = await connect(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion });
      const received: string[] = [];
      client.on('message', (topic, payload, packet) => received.push(`${topic}:${text(payload)}:${packet.qos}`));
      const granted = await client.subscribe('basic/#', { qos: 2 });
      assert.deepEqual(granted, [2]);
      assert.equal(await client.publish('basic/a', 'zero', { qos: 0 }), undefined);
      const ack1 = await client.publish('basic/b', 'one', { qos: 1 });
      assert.equal(ack1?.type, 'puback');
      const ack2 = await client.publish('basic/c', new TextEncoder().encode('two'), { qos: 2 });
      assert.equal(ack2?.type, 'pubcomp');
      await waitFor(() => received.length === 3, 5000, 'three messages');
      assert.deepEqual(received.sort(), ['basic/a:zero:0', 'basic/b:one:1', 'basic/c:two:2']);
      const codes = await client.unsubscribe('basic/#');
      assert.deepEqual(codes, protocolVersion === 5 ? [0] : []);
      await client.end();
      assert.equal(client.connected, false);
    });

    it('publishes many messages concurrently and in order', async () => {
      const client = await connect(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion });
      const received: number[] = [];
      client.on('message', (_t, payload) => received.push(Number(text(payload))));
      await client.subscribe('order', { qos: 1 });
      const n = 500;
      await Promise.all(Array.from({ length: n }, (_, i) => client.publish('order', String(i), { qos: 1 })));
      await waitFor(() => received.length === n, 10_000, 'all messages');
      assert.deepEqual(received, Array.from({ length: n }, (_, i) => i));
      await client.end();
    });

    it('carries large payloads unchanged', async () => {
      const client = await connect(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion });
      const big = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
      let got: Uint8Array | undefined;
      client.on('message', (_t, payload) => (got = payload));
      await client.subscribe('large', { qos: 1 });
      await client.publish('large', big, { qos: 1 });
      await waitFor(() => got !== undefined, 5000, 'the large message');
      assert.ok(Buffer.isBuffer(got) && got.equals(big), 'the payload, as a Buffer, holds the bytes sent');
      await client.end();
    });

    it('sends the will when the connection breaks', async () => {
      const watcher = await connect(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion });
      const wills: string[] = [];
      watcher.on('message', (topic, payload, packet) =>
        wills.push(`${topic} ${text(payload)} ${packet.properties?.contentType ?? '-'}`));
      await watcher.subscribe('will/#', { qos: 1 });
      const proxy = await new CuttingProxy(broker.port).start();
      const client = await connect(`mqtt://127.0.0.1:${proxy.port}`, {
        protocolVersion,
        reconnect: false,
        will: { topic: 'will/gone', payload: 'bye', qos: 1, ...(protocolVersion === 5 ? { properties: { contentType: 'text/plain' } } : {}) },
      });
      const ended = new Promise((resolve) => client.once('end', () => resolve(undefined)));
      await proxy.stop();
      await ended;
      await waitFor(() => wills.length === 1, 5000, 'the will');
      assert.deepEqual(wills, [`will/gone bye ${protocolVersion === 5 ? 'text/plain' : '-'}`]);
      await watcher.end();
    });

    it('refuses MQTT 5 options on 3.x and rejects bad topics', async () => {
      if (protocolVersion === 5) {
        const client = await connect(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion });
        await assert.rejects(client.publish('a/+', 'x'), InvalidOptionError);
        await client.end();
        return;
      }
      await assert.rejects(connect(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion, sessionExpiryInterval: 10 }),
        InvalidOptionError);
      const client = await connect(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion });
      await assert.rejects(client.publish('a', 'x', { properties: { contentType: 'x' } }), InvalidOptionError);
      await assert.rejects(client.subscribe('a', { nl: true }), InvalidOptionError);
      await assert.rejects(client.request('a', 'x'), InvalidOptionError);
      await client.end();
    });

    it('settles every pending promise on end({ force: true })', async () => {
      const client = await connect(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion });
      const pending = Array.from({ length: 50 }, (_, i) => client.publish('force', String(i), { qos: 2 }));
      const sub = client.subscribe('force/x', { qos: 1 });
      const settled = Promise.allSettled([...pending, sub]);
      await client.end({ force: true });
      const results = await settled;
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof ClientClosedError);
      await assert.rejects(client.publish('after', 'x'), ClientClosedError);
    });

    it('waits for in-flight messages on end()', async () => {
      const client = await connect(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion });
      const pending = Array.from({ length: 100 }, (_, i) => client.publish('graceful', String(i), { qos: 1 }));
      const settled = Promise.allSettled(pending);
      await client.end();
      const results = await settled;
      assert.ok(results.every((r) => r.status === 'fulfilled'));
    });
  });
}

describe('connection refusal', () => {
  let broker: MosquittoInstance;
  before(async () => {
    broker = await startMosquitto({ extraConfig: 'allow_anonymous false' });
  });
  after(async () => broker.stop());

  it('rejects connect with a typed error carrying the CONNACK code', async () => {
    // Anonymous clients are refused: not authorized (3.x return code 5) / 0x87 (5).
    for (const [protocolVersion, code] of [[3, 5], [4, 5], [5, 0x87]] as const) {
      const error = await connect(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion })
        .then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof ConnectionRefusedError, String(error));
      assert.equal(error.reasonCode, code);
    }
  });

  it('rejects connect when nothing listens', async () => {
    await assert.rejects(connect('mqtt://127.0.0.1:1', { reconnect: false }), /ECONNREFUSED/);
  });

});
