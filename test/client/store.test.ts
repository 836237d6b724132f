import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { connect, createClient, ClientClosedError, FileStore, MemoryMessageStore } from '../../src/client/index.js';
import { startMosquitto, type MosquittoInstance } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { FakeBroker } from './fake-broker.js';
import { CuttingProxy } from './proxy.js';
import { storeContract } from './store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'culex-store-'));
let files = 0;

storeContract('MemoryMessageStore', async () => {
  const store = new MemoryMessageStore();
  return { store, reopen: async () => store, cleanup: async () => undefined };
});

storeContract('FileStore', async () => {
  const path = join(dir, `contract-${files++}.log`);
  return { store: new FileStore(path), reopen: async () => new FileStore(path), cleanup: async () => rmSync(path, { force: true }) };
});

after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A URL where no broker ever answers, held by this process: a port merely probed free may be taken meanwhile by
 * another test's broker, which would then acknowledge (and so remove from the store) what is meant to wait.
 */
async function closedDoor(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `mqtt://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('FileStore', () => {
  it('settles a put once its own batch is written, while later puts keep coming', async () => {
    const path = join(dir, 'steady.log');
    const store = new FileStore(path);
    await store.load();
    let id = 0;
    let writing = true;
    const feeder = (async () => {
      // A steady writer, bounded in time: one put per event-loop turn for at most 3 s.
      const until = Date.now() + 3000;
      while (writing && Date.now() < until) {
        void store.put({ id: ++id, topic: 't', payload: new Uint8Array(100), qos: 1, retain: false });
        await new Promise((r) => setImmediate(r));
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await store.put({ id: 1_000_000, topic: 't', payload: new Uint8Array(1), qos: 1, retain: false });
    const waited = Date.now() - started;
    writing = false;
    await feeder;
    await store.close();
    assert.ok(waited < 1500, `the put waited ${waited} ms for the writer to go idle`);
  });

  it('ignores a last line cut short by a crash, and compacts the log', async () => {
    const path = join(dir, 'crash.log');
    const store = new FileStore(path, { compactBytes: 2000 });
    await store.load();
    for (let id = 1; id <= 100; id++) await store.put({ id, topic: 't', payload: new Uint8Array(10), qos: 1, retain: false });
    for (let id = 1; id < 100; id++) await store.delete(id);
    await store.close();
    assert.ok(statSync(path).size < 2000 * 2, 'the log was compacted');
    appendFileSync(path, '{"put":{"id":101,"to');
    const again = new FileStore(path);
    assert.deepEqual((await again.load()).map((m) => m.id), [100]);
    await again.close();
    assert.equal(readFileSync(path, 'utf8').split('\n').filter(Boolean).length, 1);
  });
});

describe('unacknowledged messages survive a restart', () => {
  let mosquitto: MosquittoInstance;
  before(async () => {
    mosquitto = await startMosquitto();
  });
  after(async () => mosquitto.stop());

  it('messages queued while offline are delivered by the next client using the file', async () => {
    const path = join(dir, 'restart.log');
    const subscriber = await connect(`mqtt://127.0.0.1:${mosquitto.port}`);
    const got: string[] = [];
    subscriber.on('message', (_t, p) => got.push(new TextDecoder().decode(p)));
    await subscriber.subscribe('restart', { qos: 2 });

    const proxy = await new CuttingProxy(mosquitto.port).start();
    const first = await connect(`mqtt://127.0.0.1:${proxy.port}`, { store: new FileStore(path), reconnect: { initialDelay: 60_000 } });
    const offline = new Promise((resolve) => first.once('offline', () => resolve(undefined)));
    await proxy.stop();
    await offline;
    const pending = ['a', 'b', 'c'].map((m, i) => first.publish('restart', m, { qos: i === 1 ? 2 : 1 }));
    const settled = Promise.allSettled(pending);
    await first.end({ force: true });
    for (const r of await settled) {
      assert.ok(r.status === 'rejected' && r.reason instanceof ClientClosedError);
    }

    const store = new FileStore(path);
    const second = await connect(`mqtt://127.0.0.1:${mosquitto.port}`, { store });
    await waitFor(() => got.length === 3, 5000, 'the stored messages');
    await waitFor(() => store.size === 0 && second.pendingCount === 0, 5000, 'the store to empty');
    assert.deepEqual(got.sort(), ['a', 'b', 'c']);
    await second.end();
    await subscriber.end();
  });

  it('a message in flight at the restart is resent with DUP under its packet id when the session is present', async () => {
    const path = join(dir, 'inflight.log');
    const broker = await new FakeBroker().start();
    try {
      const connecting = connect(broker.url, { protocolVersion: 4, clean: false, clientId: 'restart', store: new FileStore(path) });
      const c0 = await broker.connection(0);
      await c0.accept();
      const first = await connecting;
      void first.publish('t', 'kept', { qos: 1 }).catch(() => undefined);
      const sent = await c0.next('publish');
      await first.end({ force: true });

      const connecting2 = connect(broker.url, { protocolVersion: 4, clean: false, clientId: 'restart', store: new FileStore(path) });
      const c1 = await broker.connection(1);
      await c1.accept({ sessionPresent: true });
      const second = await connecting2;
      const resent = await c1.next('publish');
      assert.equal(resent.dup, true);
      assert.equal(resent.packetId, sent.packetId);
      assert.equal(new TextDecoder().decode(resent.payload), 'kept');
      c1.send({ type: 'puback', packetId: resent.packetId! });
      await waitFor(() => second.pendingCount === 0, 2000, 'the ack');
      await second.end({ force: true });
    } finally {
      await broker.stop();
    }
  });
});

describe('whenStored: a killed process loses nothing it was told is stored', () => {
  const child = fileURLToPath(new URL('./store-child.ts', import.meta.url));

  /** Runs the child until it reports the messages stored, then kills it with SIGKILL at once. */
  async function publishAndKill(path: string, url: string, count: number, mode: 'offline' | 'connected'): Promise<void> {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, path, url, String(count), '5', mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the child did not report within 20 s: ${output}`)), 20_000);
        const onData = (d: Buffer): void => {
          output += d.toString();
          if (!output.includes('stored\n')) return;
          proc.kill('SIGKILL');
          clearTimeout(timer);
          resolve();
        };
        proc.stdout.on('data', onData);
        proc.stderr.on('data', onData);
        proc.once('exit', () => {
          clearTimeout(timer);
          reject(new Error(`the child exited before reporting: ${output}`));
        });
      });
    } finally {
      proc.kill('SIGKILL');
      await exited;
    }
  }

  async function storedPayloads(path: string): Promise<string[]> {
    const store = new FileStore(path);
    const messages = await store.load();
    await store.close();
    return messages.map((m) => new TextDecoder().decode(m.payload));
  }

  it('offline: 500 queued messages are all in the file after the kill', async () => {
    const path = join(dir, 'kill-offline.log');
    const door = await closedDoor();
    try {
      await publishAndKill(path, door.url, 500, 'offline');
    } finally {
      await door.close();
    }
    assert.deepEqual(await storedPayloads(path), Array.from({ length: 500 }, (_, i) => String(i)));
  });

  it('connected: 500 messages sent and unanswered are all in the file after the kill', async () => {
    const path = join(dir, 'kill-connected.log');
    const broker = await new FakeBroker().start();
    try {
      const killing = publishAndKill(path, broker.url, 500, 'connected');
      await (await broker.connection(0, 20_000)).accept();
      await killing;
    } finally {
      await broker.stop();
    }
    assert.deepEqual(await storedPayloads(path), Array.from({ length: 500 }, (_, i) => String(i)));
  });

  it('a client made offline numbers what is published before its store is loaded after the stored messages', async () => {
    const path = join(dir, 'early.log');
    const seed = new FileStore(path);
    await seed.load();
    for (let id = 1; id <= 3; id++) await seed.put({ id, topic: 'early', payload: new TextEncoder().encode(`old ${id}`), qos: 1, retain: false });
    await seed.close();
    const door = await closedDoor();
    try {
      const client = createClient(door.url, { store: new FileStore(path), reconnect: { initialDelay: 60_000 } });
      client.on('error', () => undefined);
      const settled = Promise.allSettled(['new 1', 'new 2'].map((m) => client.publish('early', m, { qos: 1 })));
      await client.whenStored();
      assert.equal(client.pendingCount, 5);
      await client.end({ force: true });
      await settled;
    } finally {
      await door.close();
    }
    assert.deepEqual(await storedPayloads(path), ['old 1', 'old 2', 'old 3', 'new 1', 'new 2']);
  });
});
