// The HTTP sink against a local endpoint that fails, hangs and recovers: every event and message is delivered once it
// recovers, in order, signed; the publishers are never held back; and a figure of the broker's throughput with the
// endpoint hanging, next to none.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Broker, LevelStore } from '../../src/broker/index.js';
import { BridgeManager, HttpSink } from '../../src/bridge/index.js';
import { connect } from '../../src/client/index.js';
import { startCulexBroker } from '../cli/culex-broker.js';
import { waitFor } from '../helpers/wait.js';
import { recordingLogger } from './fixture.js';

interface Endpoint {
  url: string;
  mode: 'fail' | 'hang' | 'ok';
  /** Requests answered 200, in arrival order. */
  accepted: Array<{ body: Buffer; headers: IncomingMessage['headers'] }>;
  /** Every request that arrived. */
  seen: number;
  close(): Promise<void>;
}

async function endpoint(): Promise<Endpoint> {
  const hung: ServerResponse[] = [];
  const state: Omit<Endpoint, 'url' | 'close'> = { mode: 'fail', accepted: [], seen: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.seen++;
      if (state.mode === 'fail') res.writeHead(500).end('failing on purpose');
      else if (state.mode === 'hang') hung.push(res);
      else {
        state.accepted.push({ body: Buffer.concat(chunks), headers: req.headers });
        res.writeHead(200).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    close: async () => {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  }) as Endpoint;
}

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function broker(): Promise<Broker> {
  const started = new Broker({ listeners: [{ port: 0 }], logger: recordingLogger(), sysInterval: 0 });
  await started.listen();
  cleanups.push(() => started.close());
  return started;
}

describe('HTTP sink', () => {
  it('delivers every event and message once the endpoint recovers from failing and hanging, in order, signed', async () => {
    const hook = await endpoint();
    cleanups.push(() => hook.close());
    const server = await broker();
    const logger = recordingLogger();
    const sink = new HttpSink({
      name: 'hook', url: hook.url, topics: ['m/#'], events: ['connected', 'subscribed', 'unsubscribed', 'disconnected'],
      hmacSecret: 'secret', timeoutMs: 300, retry: { base: 50, cap: 200 },
    }, server, logger);
    await sink.start();
    cleanups.push(() => sink.stop());
    // Another sink's session (the broker's own) is no client event.
    const other = new HttpSink({ name: 'other', url: hook.url }, server, logger);
    await other.start();
    cleanups.push(() => other.stop());

    const client = await connect(`mqtt://127.0.0.1:${server.port}`, { clientId: 'device-1', reconnect: false });
    await client.subscribe('x/#', { qos: 1 });
    await client.unsubscribe('x/#');
    // Acknowledged while the endpoint fails: the sink never holds a publisher back.
    for (let i = 0; i < 20; i++) await client.publish('m/a', String(i), { qos: 1 });
    await client.publish('m/bin', new Uint8Array([0xff, 0x00, 0xfe]), { qos: 1 });
    await client.end();

    await waitFor(() => sink.status().failures >= 2, 5000, 'failed attempts');
    assert.match(sink.status().lastError!, /answered 500/);
    hook.mode = 'hang';
    await waitFor(() => /no answer within 300 ms/.test(sink.status().lastError ?? ''), 5000, 'a timed-out attempt');
    assert.equal(sink.status().state, 'retrying');
    assert.ok(sink.status().queued + sink.status().inflight >= 25, `everything waits (${JSON.stringify(sink.status())})`);
    hook.mode = 'ok';
    await waitFor(() => hook.accepted.length === 25, 10_000, `every request accepted (have ${hook.accepted.length})`);
    await waitFor(() => sink.status().state === 'idle' && sink.status().queued === 0, 5000, 'nothing left');

    const bodies = hook.accepted.map((r) => JSON.parse(r.body.toString()) as Record<string, unknown>);
    assert.deepEqual(bodies.map((b) => b.event), ['connected', 'subscribed', 'unsubscribed', ...Array(21).fill('message'), 'disconnected']);
    assert.equal(bodies[0]!.clientId, 'device-1');
    assert.deepEqual(bodies[1]!.subscriptions, [{ filter: 'x/#', qos: 1 }]);
    assert.deepEqual(bodies[2]!.filters, ['x/#']);
    assert.deepEqual(bodies.slice(3, 23).map((b) => b.payload), Array.from({ length: 20 }, (_, i) => String(i)), 'messages once each, in order');
    assert.equal(bodies[23]!.payloadBase64, Buffer.from([0xff, 0x00, 0xfe]).toString('base64'), 'a binary payload as base64');
    for (const { body, headers } of hook.accepted) {
      assert.equal(headers['x-culex-signature'], `sha256=${createHmac('sha256', 'secret').update(body).digest('hex')}`);
    }
    assert.ok(hook.seen > 25, 'the failed and hung attempts reached the endpoint too');
    assert.equal(logger.lines.filter((l) => l.startsWith('warn sink hook')).length <= 2, true, `one warning per outage: ${logger.lines.join(' | ')}`);
  });

  it("what waits for the endpoint is kept in the broker's store across a restart", async () => {
    const hook = await endpoint();
    cleanups.push(() => hook.close());
    const dir = mkdtempSync(join(tmpdir(), 'culex-sink-'));
    const open = async (): Promise<{ server: Broker; sink: HttpSink }> => {
      const server = new Broker({ listeners: [{ port: 0 }], logger: recordingLogger(), sysInterval: 0, store: new LevelStore(dir) });
      await server.listen();
      const sink = new HttpSink({ name: 'kept', url: hook.url, topics: ['k/#'], events: ['connected'], retry: { base: 50, cap: 100 } }, server, recordingLogger());
      await sink.start();
      return { server, sink };
    };
    let { server, sink } = await open();
    const client = await connect(`mqtt://127.0.0.1:${server.port}`, { clientId: 'device-2', reconnect: false });
    for (let i = 0; i < 10; i++) await client.publish('k/x', String(i), { qos: 1 });
    await client.end();
    await waitFor(() => sink.status().failures > 0, 5000, 'a failed attempt');
    await sink.stop();
    await server.close();
    hook.mode = 'ok';
    ({ server, sink } = await open());
    try {
      await waitFor(() => hook.accepted.length === 11, 10_000, `everything after the restart (have ${hook.accepted.length})`);
      const bodies = hook.accepted.map((r) => JSON.parse(r.body.toString()) as Record<string, unknown>);
      assert.deepEqual(bodies.map((b) => b.payload ?? b.event), ['connected', ...Array.from({ length: 10 }, (_, i) => String(i))]);
    } finally {
      await sink.stop();
      await server.close();
    }
  });

  it('culex broker starts the sinks of its configuration file; removeSink ends the session', async () => {
    const hook = await endpoint();
    hook.mode = 'ok';
    cleanups.push(() => hook.close());
    const dir = mkdtempSync(join(tmpdir(), 'culex-sink-cli-'));
    const config = join(dir, 'culex.json');
    writeFileSync(config, JSON.stringify({ listeners: [{ port: 0 }], sinks: [{ name: 'hook', url: hook.url, events: ['connected'], headers: ['X-Site: 7'] }] }));
    const culex = await startCulexBroker(['-c', config], 1);
    cleanups.push(async () => void (await culex.stop()));
    const client = await connect(`mqtt://127.0.0.1:${culex.ports[0]}`, { clientId: 'device-3', reconnect: false });
    await client.end();
    await waitFor(() => hook.accepted.length === 1, 10_000, 'the connected event');
    assert.equal((JSON.parse(hook.accepted[0]!.body.toString()) as { clientId: string }).clientId, 'device-3');
    assert.equal(hook.accepted[0]!.headers['x-site'], '7');

    const server = await broker();
    const manager = new BridgeManager(server, recordingLogger());
    await manager.addSink({ name: 'gone', url: hook.url, topics: ['g/#'] });
    assert.notEqual(server.sessionInfo('sink.gone'), undefined);
    await manager.removeSink('gone');
    assert.equal(server.sessionInfo('sink.gone'), undefined);
    assert.deepEqual(manager.sinkStatus(), []);
    await manager.close();
  });

  it("is the broker's own: its session is admitted while the broker refuses clients (overload, bans)", async () => {
    const server = new Broker({ listeners: [{ port: 0 }], logger: recordingLogger(), sysInterval: 0, hooks: { admitClient: () => 0x89 } });
    await server.listen();
    cleanups.push(() => server.close());
    const sink = new HttpSink({ name: 'busy', url: 'http://127.0.0.1:9/', topics: ['b/#'] }, server, recordingLogger());
    await sink.start();
    cleanups.push(() => sink.stop());
    assert.deepEqual(server.sessionInfo('sink.busy')?.subscriptions, [{ filter: 'b/#', qos: 2 }]);
  });

  it('raw format: the payload as the body, topic and QoS in headers', async () => {
    const hook = await endpoint();
    hook.mode = 'ok';
    cleanups.push(() => hook.close());
    const server = await broker();
    const sink = new HttpSink({ name: 'raw', url: hook.url, topics: ['r/#'], format: 'raw', headers: { authorization: 'Bearer t' } }, server, recordingLogger());
    await sink.start();
    cleanups.push(() => sink.stop());
    const client = await connect(`mqtt://127.0.0.1:${server.port}`, { reconnect: false });
    await client.publish('r/é', new Uint8Array([1, 2, 3]), { qos: 2 });
    await waitFor(() => hook.accepted.length === 1, 5000, 'the request');
    // A QoS 0 message is posted once: refused, it is counted as dropped, not retried.
    hook.mode = 'fail';
    await client.publish('r/q0', 'once', { qos: 0 });
    await waitFor(() => sink.status().dropped.failed === 1, 5000, 'the refused QoS 0 message counted');
    assert.equal(sink.status().failures, 1);
    await client.end();
    const { body, headers } = hook.accepted[0]!;
    assert.deepEqual([...body], [1, 2, 3]);
    assert.equal(decodeURIComponent(headers['x-culex-topic'] as string), 'r/é');
    assert.equal(headers['x-culex-qos'], '2');
    assert.equal(headers.authorization, 'Bearer t');
    await waitFor(() => sink.status().state === 'idle' && server.sessionInfo('sink.raw')?.inflight === 0, 5000, 'the QoS 2 flow completed');
  });

  it('a hanging endpoint does not slow the broker, and memory stays within the queue bound (a figure, not a timed test)', async () => {
    const hook = await endpoint();
    hook.mode = 'hang';
    cleanups.push(() => hook.close());
    const count = 5000;
    const rate = async (withSink: boolean): Promise<{ rate: number; status?: ReturnType<HttpSink['status']> }> => {
      const server = await broker();
      const sink = withSink ? new HttpSink({ name: 'slow', url: hook.url, topics: ['load/#'], timeoutMs: 60_000, queue: { maxMessages: 1000 } }, server, recordingLogger()) : undefined;
      await sink?.start();
      const client = await connect(`mqtt://127.0.0.1:${server.port}`, { reconnect: false });
      const start = process.hrtime.bigint();
      for (let at = 0; at < count; at += 100) {
        await Promise.all(Array.from({ length: 100 }, (_, i) => client.publish('load/x', String(at + i), { qos: 1 })));
      }
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      await client.end();
      const status = sink?.status();
      await sink?.stop();
      return { rate: count / seconds, ...(status && { status }) };
    };
    await rate(false); // warm-up: the first run pays for compiling the hot paths
    const without = await rate(false);
    const withHanging = await rate(true);
    process.stdout.write(`# ${count} QoS 1 publishes: ${Math.round(without.rate)} msg/s without a sink, ${Math.round(withHanging.rate)} msg/s with a sink whose endpoint hangs\n`);
    const status = withHanging.status!;
    assert.equal(status.inflight, 1, 'one request in flight');
    assert.equal(status.queued, 1000, 'the queue at its bound');
    assert.equal(status.dropped.queueFull, count - 1001, 'the rest dropped and counted');
  });
});
