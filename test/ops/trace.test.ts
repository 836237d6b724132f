/**
 * Live traces over the admin API: started by client id, topic filter or address, read as Server-Sent Events
 * (connects, packets in and out with payloads cut and no secrets, drops with reasons, disconnects with reasons),
 * stopping by themselves; the broker's tap is set only while a trace runs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ReasonCode } from '../../src/broker/index.js';
import type { TraceInfo } from '../../src/ops/trace.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';
import { startOps, type OpsFixture } from './ops-fixture.js';
import { SseReader, type SseEvent } from './sse.js';

type Started = TraceInfo & { node: string };

const packet = (event: SseEvent): Record<string, unknown> => event.data['packet'] as Record<string, unknown>;
const isPacket = (type: string, direction: 'packet-in' | 'packet-out') => (event: SseEvent): boolean =>
  event.event === direction && packet(event)['type'] === type;

describe('traces', () => {
  let f: OpsFixture;
  const readers: SseReader[] = [];
  const clients: RawClient[] = [];
  const start = async (body: unknown): Promise<{ trace: Started; reader: SseReader }> => {
    const answer = await f.request<Started>('POST', '/api/v1/traces', { body });
    assert.equal(answer.status, 201, answer.text);
    const reader = await SseReader.open(`${f.url}/api/v1/traces/${answer.json.id}/events`);
    readers.push(reader);
    return { trace: answer.json, reader };
  };
  const connect = async (...args: Parameters<typeof RawClient.connect>): Promise<RawClient> => {
    const { client } = await RawClient.connect(...args);
    clients.push(client);
    return client;
  };

  before(async () => {
    f = await startOps({ hooks: { authorizePublish: ({ topic }) => !topic.startsWith('forbidden/') } });
  });
  after(async () => {
    for (const reader of readers) reader.close();
    for (const client of clients) client.destroy();
    await f.close();
  });

  it('follows one client id: connect, packets both ways with payloads cut and no password, refusals, disconnect', async () => {
    const { trace, reader } = await start({ clientId: 'traced', durationSeconds: 30, payloadLimit: 4 });
    assert.equal(trace.active, true);
    assert.deepEqual(trace.selector, { clientId: 'traced' });
    assert.equal(f.broker.stats.tap !== undefined, true, 'the tap is set while a trace runs');
    const other = await connect(f.broker.port, { protocolVersion: 5, clientId: 'untraced' });
    await other.subscribe('t/#', 0);
    const c = await connect(f.broker.port, { protocolVersion: 5, clientId: 'traced', username: 'u', password: new TextEncoder().encode('hunter2') });
    await c.subscribe('t/#', 1);
    await c.publish('t/x', 'payload-long', 1);
    await c.publish('forbidden/x', 'no', 1);
    await c.expectPublish('t/x');
    c.disconnect(ReasonCode.DisconnectWithWillMessage);
    const connectIn = await reader.until(isPacket('connect', 'packet-in'), 5000, 'CONNECT in');
    assert.equal(packet(connectIn)['clientId'], 'traced');
    assert.equal(packet(connectIn)['username'], 'u');
    assert.equal(packet(connectIn)['password'], '(set)');
    await reader.until(isPacket('connack', 'packet-out'), 5000, 'CONNACK out');
    const connected = await reader.until((e) => e.event === 'connected', 5000, 'connected');
    assert.equal(connected.data['address'], '127.0.0.1');
    assert.equal(connected.data['node'], 'node-a');
    await reader.until(isPacket('suback', 'packet-out'), 5000, 'SUBACK out');
    const published = await reader.until((e) => isPacket('publish', 'packet-in')(e) && packet(e)['topic'] === 't/x', 5000, 'PUBLISH in');
    assert.equal(packet(published)['payload'], 'payl');
    assert.equal(packet(published)['truncated'], true);
    assert.equal(packet(published)['payloadSize'], 12);
    await reader.until((e) => isPacket('publish', 'packet-out')(e) && packet(e)['topic'] === 't/x', 5000, 'PUBLISH out (its own subscription)');
    const refused = await reader.until((e) => e.event === 'dropped', 5000, 'the refused PUBLISH');
    assert.deepEqual([refused.data['topic'], refused.data['reason']], ['forbidden/x', 'notAuthorized']);
    const pubackRefused = await reader.until((e) => isPacket('puback', 'packet-out')(e) && packet(e)['reasonCode'] === ReasonCode.NotAuthorized, 5000, 'PUBACK 0x87');
    assert.equal(packet(pubackRefused)['reason'], 'not authorized');
    const disconnected = await reader.until((e) => e.event === 'disconnected', 5000, 'disconnected');
    assert.match(String(disconnected.data['reason']), /client disconnected \(0x4\)/);
    assert.ok(reader.all.every((e) => e.data['clientId'] !== 'untraced'), 'nothing of other clients');
    assert.doesNotMatch(JSON.stringify(reader.all), /hunter2/, 'never a password');
    const ids = reader.all.map((e) => Number(e.id));
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'events in order');
    assert.equal((await f.request('DELETE', `/api/v1/traces/${trace.id}`)).status, 204);
    const end = await reader.until((e) => e.event === 'end', 5000, 'end');
    assert.equal(end.data['events'], reader.all.length - 1);
    await reader.endedWithin(2000);
  });

  it('follows a topic filter: publishes in and out, and messages nobody took', async () => {
    const { trace, reader } = await start({ topicFilter: 'watch/#', durationSeconds: 30 });
    const sub = await connect(f.broker.port, { protocolVersion: 4, clientId: 'watch-sub' });
    await sub.subscribe('watch/a', 0);
    const pub = await connect(f.broker.port, { protocolVersion: 5, clientId: 'watch-pub' });
    await pub.publish('watch/a', 'seen', 0);
    await pub.publish('watch/b', 'nobody', 1);
    await pub.publish('elsewhere', 'not traced', 0);
    await sub.expectPublish('watch/a');
    await reader.until((e) => isPacket('publish', 'packet-out')(e) && e.data['clientId'] === 'watch-sub', 5000, 'PUBLISH out to watch-sub');
    const drop = await reader.until((e) => e.event === 'dropped', 5000, 'no subscribers');
    assert.deepEqual([drop.data['topic'], drop.data['reason']], ['watch/b', 'noSubscribers']);
    assert.ok(reader.all.every((e) => e.event !== 'connected' && e.data['topic'] !== 'elsewhere'));
    await f.request('DELETE', `/api/v1/traces/${trace.id}`);
  });

  it('follows an address, stops by itself after its duration, and unsets the tap when none runs', async () => {
    const { trace, reader } = await start({ address: '127.0.0.0/8', durationSeconds: 1 });
    await connect(f.broker.port, { protocolVersion: 4, clientId: 'addr-1' });
    await reader.until((e) => e.event === 'connected' && e.data['clientId'] === 'addr-1', 5000, 'addr-1 connected');
    await reader.until((e) => e.event === 'end', 5000, 'end after 1 s');
    await reader.endedWithin(2000);
    const info = await f.request<Started>('GET', `/api/v1/traces/${trace.id}`);
    assert.equal(info.json.active, false);
    await waitFor(() => f.broker.stats.tap === undefined, 2000, 'the tap unset');
  });

  it('replays what a late reader missed, then ends', async () => {
    const answer = await f.request<Started>('POST', '/api/v1/traces', { body: { clientId: 'late', durationSeconds: 1 } });
    await connect(f.broker.port, { protocolVersion: 4, clientId: 'late' });
    await waitFor(() => f.broker.stats.tap === undefined, 5000, 'the trace over');
    const reader = await SseReader.open(`${f.url}/api/v1/traces/${answer.json.id}/events`);
    readers.push(reader);
    await reader.until((e) => e.event === 'connected', 2000, 'the buffered connect');
    await reader.until((e) => e.event === 'end', 2000, 'end');
    const list = await f.request<{ items: Started[] }>('GET', '/api/v1/traces');
    assert.ok(list.json.items.some((t) => t.id === answer.json.id));
  });

  it('answers a bad trace request with the cause', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{}, /exactly one of clientId, topicFilter or address/],
      [{ clientId: 'a', address: '127.0.0.1' }, /exactly one of/],
      [{ topicFilter: 'a/#/b' }, /not a valid topic filter/],
      [{ address: 'somewhere' }, /not an IP address or a CIDR block/],
      [{ clientId: 'a', durationSeconds: 0 }, /'durationSeconds' must be an integer from 1 to 3600/],
      [{ clientId: 'a', payloadLimit: -1 }, /'payloadLimit' must be an integer/],
    ];
    for (const [body, message] of cases) {
      const answer = await f.request('POST', '/api/v1/traces', { body });
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.match(answer.json.error.message, message);
    }
    assert.equal((await f.request('GET', '/api/v1/traces/0123456789abcdef/events')).status, 404);
  });
});
