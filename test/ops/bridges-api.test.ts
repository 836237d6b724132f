/**
 * Bridges managed through the admin API (`/api/v1/bridges`) and `culex ctl bridges|bridge`: a bridge added over
 * HTTP carries a message to a second Culex broker; paused, it queues; resumed, it delivers; removed, it is gone.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BridgeManager } from '../../src/bridge/index.js';
import { Broker, silentLogger } from '../../src/broker/index.js';
import { createClient, type MqttClient } from '../../src/client/index.js';
import { bridgeControl } from '../../src/cli/broker-ops.js';
import type { BridgeItem, SinkItem } from '../../src/ops/index.js';
import { collector } from '../bridge/fixture.js';
import { startCulexBroker } from '../cli/culex-broker.js';
import { culex } from '../cli/run.js';
import { waitFor } from '../helpers/wait.js';
import { ADMIN, credentialFiles, startOps, type OpsFixture } from './ops-fixture.js';

/** A bridge sending `data/#` to the remote broker on `port`. */
const upstream = (name: string, port: number): Record<string, unknown> => ({
  name,
  addresses: [`127.0.0.1:${port}`],
  topics: [{ pattern: 'data/#', direction: 'out', qos: 1 }],
  restartTimeout: { base: 1 },
});

/** Reads until `ok` holds (every 50 ms, 15 s at most); the last reading. */
async function poll<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 15_000;
  let value = await read();
  while (!ok(value)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await read();
  }
  return value;
}

async function connected(url: string): Promise<MqttClient> {
  const client = createClient(url, { reconnect: false });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('end', () => reject(new Error(`cannot connect to ${url}`)));
  });
  return client;
}

describe('bridges in the admin API', () => {
  const closers: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  async function remoteBroker(): Promise<Broker> {
    const remote = new Broker({ listeners: [{ port: 0 }], sysInterval: 0, logger: silentLogger });
    await remote.listen();
    closers.push(() => remote.close());
    return remote;
  }

  /** A broker whose admin listener manages its bridges, the manager made at the first add (as culex broker does). */
  async function edge(): Promise<{ f: OpsFixture; manager: () => BridgeManager | undefined }> {
    let manager: BridgeManager | undefined;
    let broker: Broker | undefined;
    const control = bridgeControl(
      () => manager,
      () => (manager ??= new BridgeManager(broker!, silentLogger)),
    );
    const f = await startOps({}, { bridges: control });
    broker = f.broker;
    closers.push(async () => {
      await manager?.close();
      await f.close();
    });
    return { f, manager: () => manager };
  }

  it('adds a bridge that carries a message; paused it queues, resumed it delivers; removed it is gone', async () => {
    const remote = await remoteBroker();
    const { f } = await edge();
    const { client: subscriber, received } = await collector(`mqtt://127.0.0.1:${remote.port}`, ['data/#'], { qos: 1 });
    closers.push(() => subscriber.end());
    const publisher = await connected(`mqtt://127.0.0.1:${f.broker.port}`);
    closers.push(() => publisher.end());

    assert.deepEqual((await f.request<{ items: BridgeItem[] }>('GET', '/api/v1/bridges')).json, { items: [] });
    const added = await f.request<BridgeItem>('POST', '/api/v1/bridges', { body: upstream('up', remote.port) });
    assert.equal(added.status, 201, added.text);
    assert.equal(added.json.name, 'up');
    const status = async (): Promise<BridgeItem> => (await f.request<BridgeItem>('GET', '/api/v1/bridges/up')).json;
    const until = (predicate: (s: BridgeItem) => boolean, what: string): Promise<BridgeItem> => poll(status, predicate, what);
    const up = await until((s) => s.state === 'connected', 'the bridge connected');
    assert.equal(up.remote, `127.0.0.1:${remote.port}`);

    await publisher.publish('data/1', 'one', { qos: 1 });
    await waitFor(() => received.length === 1, 10_000, 'data/1 across the bridge');
    assert.equal(received[0]!.payload, 'one');

    const paused = await f.request<BridgeItem>('POST', '/api/v1/bridges/up/pause');
    assert.equal(paused.status, 200, paused.text);
    assert.equal(paused.json.state, 'paused');
    await publisher.publish('data/2', 'two', { qos: 1 });
    await until((s) => s.queued === 1, 'data/2 queued');
    assert.equal(received.length, 1, 'nothing crosses a paused bridge');

    const resumed = await f.request<BridgeItem>('POST', '/api/v1/bridges/up/resume');
    assert.equal(resumed.status, 200, resumed.text);
    await waitFor(() => received.length === 2, 10_000, 'data/2 across the resumed bridge');
    assert.equal(received[1]!.payload, 'two');
    await until((s) => s.state === 'connected' && s.queued === 0 && s.inflight === 0, 'the queue emptied');
    const { items } = (await f.request<{ items: BridgeItem[] }>('GET', '/api/v1/bridges')).json;
    assert.equal(items.length, 1);
    const figures = items[0]!;
    assert.equal(figures.sent, 2);
    assert.equal(figures.received, 0);
    assert.ok(figures.connections >= 2, `connections ${figures.connections}`);
    assert.equal(figures.dropped['queueFull'], 0);
    assert.ok('lastError' in figures && 'lastErrorAt' in figures);

    assert.equal((await f.request('DELETE', '/api/v1/bridges/up')).status, 204);
    const gone = await f.request('GET', '/api/v1/bridges/up');
    assert.equal(gone.status, 404);
    assert.equal(gone.json.error.code, 'not_found');
    assert.deepEqual((await f.request<{ items: BridgeItem[] }>('GET', '/api/v1/bridges')).json, { items: [] });
  });

  it('changes a bridge with PUT: it reconnects with the new options, paused if it was', async () => {
    const remote = await remoteBroker();
    const other = await remoteBroker();
    const { f } = await edge();
    assert.equal((await f.request('POST', '/api/v1/bridges', { body: upstream('moving', remote.port) })).status, 201);
    assert.equal((await f.request('POST', '/api/v1/bridges/moving/pause')).status, 200);
    const changed = await f.request<BridgeItem>('PUT', '/api/v1/bridges/moving', { body: { ...upstream('moving', other.port), name: undefined } });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.json.state, 'paused');
    assert.equal((await f.request('POST', '/api/v1/bridges/moving/resume')).status, 200);
    await waitFor(() => [...other.clients()].length === 1, 10_000, 'the bridge on the new remote');
    const named = await f.request('PUT', '/api/v1/bridges/moving', { body: upstream('elsewhere', other.port) });
    assert.equal(named.status, 400);
    assert.equal(named.json.error.message, "the body names bridge 'elsewhere', the path 'moving'");
    assert.equal((await f.request('PUT', '/api/v1/bridges/nobody', { body: upstream('nobody', other.port) })).status, 404);
  });

  it('answers bad input with 400 and the cause, a name in use with 409, an unknown bridge with 404', async () => {
    const { f } = await edge();
    const noAddress = await f.request('POST', '/api/v1/bridges', { body: { name: 'b', addresses: [], topics: [{ pattern: 'a/#' }] } });
    assert.equal(noAddress.status, 400);
    assert.equal(noAddress.json.error.code, 'bad_request');
    assert.match(noAddress.json.error.message, /at least one address is needed/);
    const badTopic = await f.request('POST', '/api/v1/bridges', { body: { name: 'b', addresses: ['127.0.0.1:1'], topics: [{ pattern: 'a/#/b' }] } });
    assert.equal(badTopic.status, 400);
    assert.match(badTopic.json.error.message, /topic/);
    const unknownKey = await f.request('POST', '/api/v1/bridges', { body: { name: 'b', addresses: ['127.0.0.1:1'], topics: [{ pattern: 'a/#' }], colour: 'red' } });
    assert.equal(unknownKey.status, 400);
    assert.match(unknownKey.json.error.message, /colour/);
    const wrongType = await f.request('POST', '/api/v1/bridges', { body: { name: 'b', addresses: '127.0.0.1:1', topics: [{ pattern: 'a/#' }] } });
    assert.equal(wrongType.status, 400);
    assert.match(wrongType.json.error.message, /addresses/);
    assert.equal((await f.request('POST', '/api/v1/bridges', { body: [] })).status, 400);
    const misspelt = await f.request('GET', '/api/v1/bridges?state=paused');
    assert.equal(misspelt.status, 400);
    assert.match(misspelt.json.error.message, /unknown query parameter 'state'/);

    // Port 1 refuses: the bridge exists and retries, which is enough for the name to be taken.
    const body = { name: 'b', addresses: ['127.0.0.1:1'], topics: [{ pattern: 'a/#' }], restartTimeout: { base: 5 } };
    assert.equal((await f.request('POST', '/api/v1/bridges', { body })).status, 201);
    const twice = await f.request('POST', '/api/v1/bridges', { body });
    assert.equal(twice.status, 409);
    assert.equal(twice.json.error.code, 'conflict');
    for (const [method, path] of [['POST', '/api/v1/bridges/nobody/pause'], ['POST', '/api/v1/bridges/nobody/resume'], ['DELETE', '/api/v1/bridges/nobody'], ['GET', '/api/v1/bridges/nobody']] as const) {
      const answer = await f.request(method, path);
      assert.equal(answer.status, 404, `${method} ${path}`);
    }
    const put = await f.request('PUT', '/api/v1/bridges/b', { body: { addresses: ['127.0.0.1:1'], topics: [{ pattern: 'a/#' }] }, headers: { 'content-type': 'text/plain' } });
    assert.equal(put.status, 415);
    assert.equal((await f.request('DELETE', '/api/v1/bridges/b')).status, 204);
  });

  it('adds an HTTP sink that posts to an endpoint, shows its figures, removes it; refuses a bad one', async () => {
    const posted: string[] = [];
    const endpoint = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        posted.push(body);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => endpoint.close(resolve)));
    const { f } = await edge();
    const publisher = await connected(`mqtt://127.0.0.1:${f.broker.port}`);
    closers.push(() => publisher.end());

    assert.deepEqual((await f.request<{ items: SinkItem[] }>('GET', '/api/v1/sinks')).json, { items: [] });
    const url = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/hook`;
    const added = await f.request<SinkItem>('POST', '/api/v1/sinks', { body: { name: 'hook', url, topics: ['alerts/#'] } });
    assert.equal(added.status, 201, added.text);
    assert.equal(added.json.name, 'hook');
    await publisher.publish('alerts/1', 'fire', { qos: 1 });
    await waitFor(() => posted.length === 1, 10_000, 'the message posted');
    assert.equal((JSON.parse(posted[0]!) as { topic: string }).topic, 'alerts/1');
    const sink = await poll(async () => (await f.request<SinkItem>('GET', '/api/v1/sinks/hook')).json, (s) => s.delivered === 1, 'the delivery counted');
    assert.equal(sink.failures, 0);

    const badUrl = await f.request('POST', '/api/v1/sinks', { body: { name: 'bad', url: 'ftp://x' } });
    assert.equal(badUrl.status, 400);
    assert.match(badUrl.json.error.message, /http:\/\/ or https:\/\//);
    const noUrl = await f.request('POST', '/api/v1/sinks', { body: { name: 'bad' } });
    assert.equal(noUrl.status, 400);
    assert.match(noUrl.json.error.message, /url/);
    assert.equal((await f.request('POST', '/api/v1/sinks', { body: { name: 'hook', url } })).status, 409);

    assert.equal((await f.request('DELETE', '/api/v1/sinks/hook')).status, 204);
    assert.equal((await f.request('DELETE', '/api/v1/sinks/hook')).status, 404);
    assert.equal((await f.request('GET', '/api/v1/sinks/hook')).status, 404);
    assert.deepEqual((await f.request<{ items: SinkItem[] }>('GET', '/api/v1/sinks')).json, { items: [] });
  });

  it('answers 501 when the listener was given no bridges, and documents the routes', async () => {
    const f = await startOps();
    closers.push(() => f.close());
    for (const [method, path] of [['GET', '/api/v1/bridges'], ['GET', '/api/v1/bridges/x'], ['POST', '/api/v1/bridges'], ['PUT', '/api/v1/bridges/x'], ['DELETE', '/api/v1/bridges/x'], ['POST', '/api/v1/bridges/x/pause'], ['POST', '/api/v1/bridges/x/resume'], ['GET', '/api/v1/sinks'], ['POST', '/api/v1/sinks'], ['DELETE', '/api/v1/sinks/x']] as const) {
      const answer = await f.request(method, path, method === 'GET' || method === 'DELETE' ? {} : { body: {} });
      assert.equal(answer.status, 501, `${method} ${path}`);
      assert.equal(answer.json.error.code, 'not_implemented');
      assert.match(answer.json.error.message, /no bridges to manage/);
    }
    const doc = (await f.request<{ paths: Record<string, Record<string, unknown>> }>('GET', '/api/openapi.json')).json;
    assert.deepEqual(Object.keys(doc.paths['/api/v1/bridges/{name}']!).sort(), ['delete', 'get', 'put']);
    assert.ok(doc.paths['/api/v1/bridges/{name}/pause']!['post']);
  });
});

describe('culex ctl bridges and bridge against culex broker --http', () => {
  it('adds a bridge from a file, lists it, pauses, resumes and removes it; refuses bad input', async () => {
    const files = credentialFiles();
    const remote = new Broker({ listeners: [{ port: 0 }], sysInterval: 0, logger: silentLogger });
    await remote.listen();
    const broker = await startCulexBroker(['--port', '0', '--memory', '--http', '127.0.0.1:0', '--http-passwd', files.passwordFile], 1);
    const clients: MqttClient[] = [];
    try {
      await waitFor(() => /admin HTTP listening/.test(broker.log()), 10_000, 'the admin listener');
      const url = /admin HTTP listening on (\S+)/.exec(broker.log())![1]!;
      const ctl = (...args: string[]) => culex(['ctl', ...args, '--url', url, '-u', ADMIN.username, '-P', ADMIN.password]);
      const listed = async (): Promise<BridgeItem[]> => JSON.parse((await ctl('bridges', '--json')).stdout.toString()) as BridgeItem[];
      const until = (predicate: (items: BridgeItem[]) => boolean, what: string): Promise<BridgeItem[]> => poll(listed, predicate, what);

      assert.equal((await ctl('bridges')).stdout.toString(), 'no bridges\n');
      const file = join(files.dir, 'bridge.json');
      writeFileSync(file, JSON.stringify(upstream('up', remote.port)));
      const added = await ctl('bridge', 'add', file);
      assert.equal(added.stdout.toString(), 'bridge up added\n', added.stderr.toString());
      await until((items) => items[0]?.state === 'connected', 'the bridge connected');
      const table = (await ctl('bridges')).stdout.toString().split('\n');
      assert.match(table[0]!, /^NAME +STATE +REMOTE +QUEUED +INFLIGHT +SENT +RECEIVED +DROPPED +LAST ERROR$/);
      assert.match(table[1]!, new RegExp(`^up +connected +127\\.0\\.0\\.1:${remote.port} +0 +0 +0 +0 +0 +`));

      const { client: subscriber, received } = await collector(`mqtt://127.0.0.1:${remote.port}`, ['data/#'], { qos: 1 });
      clients.push(subscriber);
      const publisher = await connected(`mqtt://127.0.0.1:${broker.ports[0]}`);
      clients.push(publisher);
      await publisher.publish('data/1', 'one', { qos: 1 });
      await waitFor(() => received.length === 1, 10_000, 'data/1 across the bridge');

      assert.equal((await ctl('bridge', 'pause', 'up')).stdout.toString(), 'bridge up paused\n');
      await publisher.publish('data/2', 'two', { qos: 1 });
      await until((items) => items[0]?.state === 'paused' && items[0].queued === 1, 'data/2 queued');
      assert.equal(received.length, 1);
      assert.equal((await ctl('bridge', 'resume', 'up')).stdout.toString(), 'bridge up resumed\n');
      await waitFor(() => received.length === 2, 10_000, 'data/2 across the resumed bridge');
      await until((items) => items[0]?.sent === 2 && items[0].queued === 0, 'the figures');

      const inline = await ctl('bridge', 'add', JSON.stringify({ name: 'bad', addresses: [], topics: [{ pattern: 'a/#' }] }));
      assert.equal(inline.code, 1);
      assert.match(inline.stderr.toString(), /^culex ctl: 400 bad_request: .*at least one address is needed/);
      const twice = await ctl('bridge', 'add', file);
      assert.equal(twice.code, 1);
      assert.match(twice.stderr.toString(), /^culex ctl: 409 conflict: /);
      assert.equal((await ctl('bridge', 'pause', 'nobody')).code, 1);
      for (const args of [['bridge'], ['bridge', 'add'], ['bridge', 'add', '{not json'], ['bridge', 'fly', 'up'], ['bridges', 'up']]) {
        assert.equal((await ctl(...args)).code, 2, args.join(' '));
      }

      assert.equal((await ctl('bridge', 'remove', 'up')).stdout.toString(), 'bridge up removed\n');
      assert.equal((await ctl('bridges')).stdout.toString(), 'no bridges\n');

      // A sink whose endpoint refuses: it exists, retries, and is listed until removed.
      assert.equal((await ctl('sinks')).stdout.toString(), 'no sinks\n');
      const sink = await ctl('sink', 'add', JSON.stringify({ name: 'hook', url: 'http://127.0.0.1:9/hook', topics: ['alerts/#'] }));
      assert.equal(sink.stdout.toString(), 'sink hook added\n', sink.stderr.toString());
      const sinks = (await ctl('sinks')).stdout.toString().split('\n');
      assert.match(sinks[0]!, /^NAME +STATE +QUEUED +INFLIGHT +DELIVERED +FAILURES +DROPPED +LAST ERROR$/);
      assert.match(sinks[1]!, /^hook +\w+ +\d+ +\d+ +0 +\d+ +0 /);
      assert.equal((await ctl('sink', 'add', JSON.stringify({ name: 'bad', url: 'ftp://x' }))).code, 1);
      assert.equal((await ctl('sink', 'remove', 'hook')).stdout.toString(), 'sink hook removed\n');
      assert.equal((await ctl('sinks')).stdout.toString(), 'no sinks\n');
    } finally {
      for (const client of clients) await client.end();
      await broker.stop();
      await remote.close();
      rmSync(files.dir, { recursive: true, force: true });
    }
  });
});
