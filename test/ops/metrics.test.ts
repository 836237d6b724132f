/**
 * `GET /metrics`: what happens on the broker shows up under Prometheus names (connections, refusals by reason,
 * messages and bytes by QoS, drops by reason, store batches, delivery latency), the output passes `promtool check
 * metrics`, follows the naming rules, and needs credentials unless the listener says otherwise.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LevelStore, ReasonCode } from '../../src/broker/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';
import { startOps, type OpsFixture } from './ops-fixture.js';

/** One sample's value from exposition text: `name{a="b",...}` with exactly these labels; undefined when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const have = (match[2] ?? '')
      .split(/,(?=[a-zA-Z_]+=")/)
      .filter((pair) => pair !== '')
      .sort()
      .join(',');
    if (have === wanted) return Number(match[3]);
  }
  return undefined;
}

function promtool(text: string): { status: number | null; output: string } {
  const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (result.error) throw new Error(`promtool cannot run (Debian prometheus; scripts/system-deps.sh installs it): ${result.error.message}`);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('metrics', () => {
  let f: OpsFixture;
  let dataDir: string;
  const clients: RawClient[] = [];
  const connect = async (...args: Parameters<typeof RawClient.connect>): Promise<RawClient> => {
    const { client } = await RawClient.connect(...args);
    clients.push(client);
    return client;
  };
  const scrape = async (): Promise<string> => {
    const answer = await f.request('GET', '/metrics');
    assert.equal(answer.status, 200);
    assert.match(answer.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return answer.text;
  };

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'culex-ops-store-'));
    f = await startOps({
      store: new LevelStore(dataDir),
      limits: { maxQueuedMessages: 3 },
      hooks: {
        authenticate: ({ username }) =>
          username === 'bad' ? { result: 'fail', reasonCode: ReasonCode.BadUserNameOrPassword } : { result: 'success' },
        authorizePublish: ({ topic }) => !topic.startsWith('forbidden/'),
      },
    });
  });
  after(async () => {
    for (const client of clients) client.destroy();
    await f.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('needs credentials unless publicMetrics is set', async () => {
    assert.equal((await f.request('GET', '/metrics', { auth: null })).status, 401);
    const open = await startOps({}, { http: { port: 0, publicMetrics: true } });
    try {
      assert.equal((await open.request('GET', '/metrics', { auth: null })).status, 200);
      assert.equal((await open.request('GET', '/api/v1/broker', { auth: null })).status, 401, 'only /metrics is public');
    } finally {
      await open.close();
    }
  });

  it('counts connections by listener, refusals by reason and failed authentications', async () => {
    const refused = await RawClient.connect(f.broker.port, { protocolVersion: 5, username: 'bad', password: new Uint8Array([1]) });
    assert.equal(refused.connack.reasonCode, ReasonCode.BadUserNameOrPassword);
    refused.client.destroy();
    await connect(f.broker.port, { protocolVersion: 4, clientId: 'm-v4' });
    await connect(f.broker.port, { protocolVersion: 5, clientId: 'm-v5' });
    const text = await scrape();
    const listener = f.broker.boundListeners[0]!.name;
    assert.equal(sample(text, 'culex_connections', { listener }), 2);
    assert.equal(sample(text, 'culex_connections_total'), 3);
    assert.equal(sample(text, 'culex_connections_refused_total', { reason: 'bad_user_name_or_password' }), 1);
    assert.equal(sample(text, 'culex_authentication_failures_total'), 1);
    assert.equal(sample(text, 'culex_sessions', { state: 'online' }), 2);
  });

  it('counts messages and payload bytes in and out by QoS, subscriptions, and times deliveries and store batches', async () => {
    const sub = await connect(f.broker.port, { protocolVersion: 5, clientId: 'm-sub', clean: false, properties: { sessionExpiryInterval: 60 } });
    await sub.subscribe('m/#', 2);
    const pub = await connect(f.broker.port, { protocolVersion: 5, clientId: 'm-pub' });
    // Over 16 messages: at least one is timed from arrival to delivery.
    for (let i = 0; i < 40; i++) await pub.publish('m/a', 'xyz', 1);
    await pub.publish('m/b', 'hello', 2);
    await pub.publish('m/c', 'q0', 0);
    await waitFor(() => sub.pending().filter((p) => p.type === 'publish').length >= 42, 5000, '42 deliveries');
    const text = await scrape();
    assert.equal(sample(text, 'culex_messages_received_total', { qos: '1' }), 40);
    assert.equal(sample(text, 'culex_messages_received_total', { qos: '2' }), 1);
    assert.equal(sample(text, 'culex_messages_received_total', { qos: '0' }), 1);
    assert.equal(sample(text, 'culex_message_received_bytes_total', { qos: '1' }), 120);
    assert.equal(sample(text, 'culex_messages_sent_total', { qos: '1' }), 40);
    assert.equal(sample(text, 'culex_message_sent_bytes_total', { qos: '2' }), 5);
    assert.equal(sample(text, 'culex_subscriptions'), 1);
    assert.ok(sample(text, 'culex_delivery_latency_seconds_count')! >= 2, 'deliveries timed');
    assert.ok(sample(text, 'culex_delivery_latency_seconds_bucket', { le: '+Inf' })! >= 2);
    assert.ok(sample(text, 'culex_store_batch_duration_seconds_count')! >= 1, 'store batches of the persistent session timed');
    assert.ok(sample(text, 'culex_store_batch_operations_sum')! >= 40, 'its deliveries were stored');
    assert.ok(sample(text, 'culex_packets_received_total')! > 42);
    assert.ok(sample(text, 'culex_network_sent_bytes_total')! > 0);
  });

  it('counts dropped messages by reason', async () => {
    const pub = await connect(f.broker.port, { protocolVersion: 5, clientId: 'd-pub' });
    // No subscribers.
    assert.equal(await pub.publish('nobody/here', 'x', 1), ReasonCode.NoMatchingSubscribers);
    // Not authorised.
    assert.equal(await pub.publish('forbidden/x', 'x', 1), ReasonCode.NotAuthorized);
    // Too large for a subscriber that takes at most 100 bytes.
    const small = await connect(f.broker.port, { protocolVersion: 5, clientId: 'd-small', properties: { maximumPacketSize: 100 } });
    await small.subscribe('big/#', 0);
    await pub.publish('big/x', 'x'.repeat(300), 0);
    // Queue full: an offline session with room for 3; expired: 1 s of life while it waits.
    const offline = await connect(f.broker.port, { protocolVersion: 5, clientId: 'd-off', clean: false, properties: { sessionExpiryInterval: 60 } });
    await offline.subscribe('off/#', 1);
    offline.disconnect();
    await waitFor(() => f.broker.client('d-off')?.connected === false, 2000, 'offline');
    await pub.publish('off/x', 'short-lived', 1, { properties: { messageExpiryInterval: 1 } });
    for (let i = 0; i < 4; i++) await pub.publish('off/y', String(i), 1);
    await new Promise((r) => setTimeout(r, 1100));
    await connect(f.broker.port, { protocolVersion: 5, clientId: 'd-off', clean: false, properties: { sessionExpiryInterval: 60 } });
    await waitFor(() => f.broker.stats.dropped.expired >= 1, 2000, 'the expired message dropped');
    const text = await scrape();
    const dropped = (reason: string): number | undefined => sample(text, 'culex_messages_dropped_total', { reason });
    assert.ok(dropped('no_subscribers')! >= 1);
    assert.equal(dropped('not_authorized'), 1);
    assert.equal(dropped('too_large'), 1);
    assert.equal(dropped('queue_full'), 2);
    assert.equal(dropped('expired'), 1);
    assert.equal(dropped('store_failure'), 0);
    assert.equal(dropped('stuck_subscriber'), 0);
    const detail = f.broker.client('d-off')!;
    assert.equal(detail.dropped, 3);
    assert.equal(detail.lastDrop?.reason, 'expired');
  });

  it('passes promtool check metrics, with counters ending in _total and no client ids in labels', async () => {
    const text = await scrape();
    const checked = promtool(text);
    assert.equal(checked.status, 0, checked.output);
    const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => ({ name: m[1]!, type: m[2]! }));
    assert.ok(types.length > 30);
    for (const { name, type } of types) {
      if (type === 'counter') assert.match(name, /_total$/, name);
      else assert.doesNotMatch(name, /_total$/, name);
      if (name.startsWith('culex_')) assert.match(name, /^culex_[a-z_]+$/);
    }
    assert.doesNotMatch(text, /client_?id=|m-sub|d-off/, 'client ids never appear');
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes']) {
      assert.ok(types.some((t) => t.name === name), name);
    }
  });

  it('promtool refuses what breaks the rules (the check is real)', () => {
    const checked = promtool('# HELP culex_bad a counter without _total\n# TYPE culex_bad counter\nculex_bad 1\n');
    assert.notEqual(checked.status, 0);
    assert.match(checked.output, /_total/);
  });
});
