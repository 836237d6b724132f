/**
 * The admin API on a broker with real MQTT clients: listing and filtering clients with paging, one client's
 * detail, disconnecting one (v5 DISCONNECT with the reason code) or many, offline sessions, server-side
 * subscriptions, retained messages (list, get, delete one or by filter), publish, and the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ReasonCode } from '../../src/broker/index.js';
import type { ClientDetailItem, ClientItem } from '../../src/ops/api-clients.js';
import type { RetainedItem } from '../../src/ops/api-retained.js';
import type { Page } from '../../src/ops/paging.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';
import { startOps, type OpsFixture } from './ops-fixture.js';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

describe('admin API', () => {
  let f: OpsFixture;
  const clients: RawClient[] = [];
  const connect = async (...args: Parameters<typeof RawClient.connect>): Promise<RawClient> => {
    const { client, connack } = await RawClient.connect(...args);
    assert.equal(connack.reasonCode, 0);
    clients.push(client);
    return client;
  };
  const ids = (page: Page<ClientItem>): string[] => page.items.map((c) => c.clientId);

  before(async () => {
    f = await startOps({ hooks: { authorizePublish: ({ topic }) => !topic.startsWith('forbidden/') } });
  });
  after(async () => {
    for (const client of clients) client.destroy();
    await f.close();
  });

  describe('clients', () => {
    let other: RawClient;
    before(async () => {
      const sleeper = await connect(f.broker.port, { protocolVersion: 5, clientId: 'sleeper', clean: false, properties: { sessionExpiryInterval: 300 } });
      await sleeper.subscribe('sleep/#', 1);
      sleeper.disconnect();
      await waitFor(() => f.broker.client('sleeper')?.connected === false, 2000, 'sleeper offline');
      await connect(f.broker.port, { protocolVersion: 5, clientId: 'dev-1', username: 'alice', keepalive: 30 });
      await connect(f.broker.port, { protocolVersion: 4, clientId: 'dev-2', username: 'bob' });
      other = await connect(f.broker.port, { protocolVersion: 5, clientId: 'other', username: 'bob' });
    });

    it('lists every session, connected or not, by client id', async () => {
      const answer = await f.request<Page<ClientItem>>('GET', '/api/v1/clients');
      assert.equal(answer.status, 200);
      assert.deepEqual(ids(answer.json), ['dev-1', 'dev-2', 'other', 'sleeper']);
      const dev1 = answer.json.items[0]!;
      assert.equal(dev1.node, 'node-a');
      assert.equal(dev1.username, 'alice');
      assert.equal(dev1.protocolVersion, 5);
      assert.equal(dev1.connected, true);
      assert.equal(dev1.connection?.address, '127.0.0.1');
      assert.equal(dev1.connection?.keepalive, 30);
      assert.equal(dev1.connection?.listener, f.broker.boundListeners[0]!.name);
      assert.ok(Date.parse(dev1.connection!.connectedAt) > Date.now() - 60_000);
      const sleeper = answer.json.items[3]!;
      assert.equal(sleeper.connected, false);
      assert.equal(sleeper.connection, null);
      assert.equal(sleeper.sessionExpiryInterval, 300);
      assert.equal(sleeper.subscriptionCount, 1);
      assert.match(sleeper.disconnectReason ?? '', /client disconnected/);
    });

    it('filters by client id prefix, user name, protocol, address, listener and connection', async () => {
      const listener = encodeURIComponent(f.broker.boundListeners[0]!.name);
      const cases: Array<[string, string[]]> = [
        ['clientIdPrefix=dev-', ['dev-1', 'dev-2']],
        ['username=bob', ['dev-2', 'other']],
        ['protocol=3.1.1', ['dev-2']],
        ['protocol=5&username=bob', ['other']],
        ['connected=false', ['sleeper']],
        ['address=127.0.0.1', ['dev-1', 'dev-2', 'other']],
        ['address=127.0.0.0/8', ['dev-1', 'dev-2', 'other']],
        ['address=10.0.0.0/8', []],
        [`listener=${listener}`, ['dev-1', 'dev-2', 'other']],
      ];
      for (const [query, expected] of cases) {
        const answer = await f.request<Page<ClientItem>>('GET', `/api/v1/clients?${query}`);
        assert.equal(answer.status, 200, query);
        assert.deepEqual(ids(answer.json), expected, query);
      }
    });

    it('answers bad filters and paging with 400 and the cause', async () => {
      const cases: Array<[string, RegExp]> = [
        ['protocol=6', /'protocol' must be one of 3\.1, 3\.1\.1, 5/],
        ['connected=yes', /'connected' must be true or false/],
        ['address=nowhere', /'nowhere' is not an IP address or a CIDR block/],
        ['address=10.0.0.0/33', /bad prefix length/],
        ['limit=0', /'limit' must be an integer from 1 to 1000/],
        ['limit=x', /'limit' must be an integer/],
        ['cursor=garbage', /'cursor' is not one this API gave out/],
        ['clientId=dev', /unknown query parameter 'clientId'/],
        ['username=a&username=b', /'username' given twice/],
      ];
      for (const [query, message] of cases) {
        const answer = await f.request('GET', `/api/v1/clients?${query}`);
        assert.equal(answer.status, 400, query);
        assert.equal(answer.json.error.code, 'bad_request');
        assert.match(answer.json.error.message, message, query);
      }
    });

    it('pages with limit and cursor, without repeats or gaps', async () => {
      const first = await f.request<Page<ClientItem>>('GET', '/api/v1/clients?limit=3');
      assert.deepEqual(ids(first.json), ['dev-1', 'dev-2', 'other']);
      assert.ok(first.json.nextCursor);
      // A client arriving between pages, before the cursor, does not shift the next page.
      await connect(f.broker.port, { protocolVersion: 5, clientId: 'aaa-late' });
      const second = await f.request<Page<ClientItem>>('GET', `/api/v1/clients?limit=3&cursor=${first.json.nextCursor}`);
      assert.deepEqual(ids(second.json), ['sleeper']);
      assert.equal(second.json.nextCursor, undefined);
      clients.pop()!.disconnect();
      await waitFor(() => f.broker.client('aaa-late') === undefined, 2000, 'aaa-late gone');
    });

    it("shows one client's detail: subscriptions and last errors; 404 for an unknown one", async () => {
      const c = await connect(f.broker.port, { protocolVersion: 5, clientId: 'detail/1 x' });
      await c.subscribe([{ topicFilter: 'd/#', qos: 1, noLocal: true }]);
      assert.equal(await c.publish('forbidden/x', 'no', 1), ReasonCode.NotAuthorized);
      const answer = await f.request<ClientDetailItem>('GET', `/api/v1/clients/${encodeURIComponent('detail/1 x')}`);
      assert.equal(answer.status, 200);
      assert.equal(answer.json.clientId, 'detail/1 x');
      assert.deepEqual(answer.json.subscriptions, [{ filter: 'd/#', qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 0 }]);
      assert.equal(answer.json.lastErrors.length, 1);
      assert.match(answer.json.lastErrors[0]!.text, /PUBLISH to forbidden\/x refused: not authorized \(0x87\)/);
      const subs = await f.request<{ items: Array<{ filter: string; node: string }> }>('GET', `/api/v1/clients/${encodeURIComponent('detail/1 x')}/subscriptions`);
      assert.deepEqual(subs.json.items.map((s) => [s.node, s.filter]), [['node-a', 'd/#']]);
      const missing = await f.request('GET', '/api/v1/clients/nobody');
      assert.equal(missing.status, 404);
      assert.match(missing.json.error.message, /no client 'nobody'/);
    });

    it('disconnects one client: v5 hears DISCONNECT with the reason code; 404 when not connected, 400 for a bad code', async () => {
      const v5 = await connect(f.broker.port, { protocolVersion: 5, clientId: 'kick-me' });
      assert.equal((await f.request('DELETE', '/api/v1/clients/kick-me?reasonCode=0x00')).status, 400);
      assert.equal((await f.request('DELETE', '/api/v1/clients/kick-me?reasonCode=0x8X')).status, 400);
      const answer = await f.request('DELETE', '/api/v1/clients/kick-me?reasonCode=0x9c');
      assert.equal(answer.status, 204);
      const disconnect = await v5.expect('disconnect');
      assert.equal(disconnect.reasonCode, 0x9c);
      assert.match(disconnect.properties?.reasonString ?? '', /use another server/);
      await v5.closedWithin(2000);
      const again = await f.request('DELETE', '/api/v1/clients/kick-me');
      assert.equal(again.status, 404);
      assert.match(again.json.error.message, /not connected/);
      assert.equal((await f.request('DELETE', '/api/v1/clients/other')).status, 204);
      assert.equal((await other.expect('disconnect')).reasonCode, ReasonCode.AdministrativeAction, 'default 0x98');
    });

    it('disconnects many by filter, and refuses to without one', async () => {
      const a = await connect(f.broker.port, { protocolVersion: 4, clientId: 'bulk-1', username: 'carol' });
      const b = await connect(f.broker.port, { protocolVersion: 4, clientId: 'bulk-2', username: 'carol' });
      const none = await f.request('DELETE', '/api/v1/clients');
      assert.equal(none.status, 400);
      assert.match(none.json.error.message, /needs at least one filter/);
      const answer = await f.request<{ disconnected: number }>('DELETE', '/api/v1/clients?username=carol');
      assert.equal(answer.status, 200);
      assert.equal(answer.json.disconnected, 2);
      await a.closedWithin(2000);
      await b.closedWithin(2000);
    });
  });

  describe('sessions', () => {
    it('lists offline persistent sessions and ends one', async () => {
      const c = await connect(f.broker.port, { protocolVersion: 4, clientId: 'persist-1', clean: false });
      await c.subscribe('persist/#', 1);
      c.destroy();
      await waitFor(() => f.broker.client('persist-1')?.connected === false, 2000, 'offline');
      const list = await f.request<Page<ClientItem>>('GET', '/api/v1/sessions?clientIdPrefix=persist');
      assert.deepEqual(ids(list.json), ['persist-1']);
      assert.equal(list.json.items[0]!.sessionExpiryInterval, null, '3.1.1 persistent sessions never expire by default');
      assert.equal((await f.request('DELETE', '/api/v1/sessions/persist-1')).status, 204);
      assert.equal((await f.request('GET', '/api/v1/clients/persist-1')).status, 404);
      assert.equal((await f.request('DELETE', '/api/v1/sessions/persist-1')).status, 404);
    });

    it('ends a connected client\'s session too, disconnecting it first', async () => {
      const c = await connect(f.broker.port, { protocolVersion: 5, clientId: 'persist-2', clean: false, properties: { sessionExpiryInterval: 600 } });
      assert.equal((await f.request('DELETE', '/api/v1/sessions/persist-2')).status, 204);
      assert.equal((await c.expect('disconnect')).reasonCode, ReasonCode.AdministrativeAction);
      assert.equal(f.broker.client('persist-2'), undefined);
    });
  });

  describe('subscriptions', () => {
    it('subscribes a client server-side: it gets matching messages and retained ones, until unsubscribed', async () => {
      const pub = await connect(f.broker.port, { protocolVersion: 5, clientId: 'srv-pub' });
      await pub.publish('srv/kept', 'retained before', 1, { retain: true });
      const target = await connect(f.broker.port, { protocolVersion: 5, clientId: 'srv-target' });
      const created = await f.request<{ topicFilter: string; qos: number }>('POST', '/api/v1/clients/srv-target/subscriptions', { body: { topicFilter: 'srv/#', qos: 1 } });
      assert.equal(created.status, 201);
      assert.deepEqual([created.json.topicFilter, created.json.qos], ['srv/#', 1]);
      const retained = await target.expectPublish('srv/kept');
      assert.equal(text(retained.payload), 'retained before');
      assert.equal(retained.retain, true);
      await pub.publish('srv/live', 'live', 1);
      assert.equal(text((await target.expectPublish('srv/live')).payload), 'live');
      const listed = await f.request<{ items: Array<{ filter: string; qos: number }> }>('GET', '/api/v1/clients/srv-target/subscriptions');
      assert.deepEqual(listed.json.items.map((s) => [s.filter, s.qos]), [['srv/#', 1]]);
      assert.equal((await f.request('DELETE', `/api/v1/clients/srv-target/subscriptions?topicFilter=${encodeURIComponent('srv/#')}`)).status, 204);
      await pub.publish('srv/after', 'after', 0);
      assert.deepEqual((await target.drain(200)).filter((p) => p.type === 'publish'), []);
      assert.equal((await f.request('DELETE', `/api/v1/clients/srv-target/subscriptions?topicFilter=${encodeURIComponent('srv/#')}`)).status, 404);
    });

    it('answers a bad subscription request with the cause', async () => {
      await connect(f.broker.port, { protocolVersion: 5, clientId: 'srv-bad' });
      const cases: Array<[unknown, number, RegExp]> = [
        [{ topicFilter: 'a/#/b', qos: 0 }, 400, /'a\/#\/b' is not a valid topic filter/],
        [{ topicFilter: 'a', qos: 3 }, 400, /'qos' must be an integer from 0 to 2/],
        [{ qos: 1 }, 400, /'topicFilter' is required/],
        [{ topicFilter: 'a', colour: 'red' }, 400, /unknown field 'colour'/],
        [['a'], 400, /must be a JSON object/],
      ];
      for (const [body, status, message] of cases) {
        const answer = await f.request('POST', '/api/v1/clients/srv-bad/subscriptions', { body });
        assert.equal(answer.status, status, JSON.stringify(body));
        assert.match(answer.json.error.message, message);
      }
      assert.equal((await f.request('POST', '/api/v1/clients/nobody/subscriptions', { body: { topicFilter: 'x' } })).status, 404);
      const garbage = await f.request('POST', '/api/v1/clients/srv-bad/subscriptions', { body: '{"topicFilter":' });
      assert.equal(garbage.status, 400);
      assert.match(garbage.json.error.message, /request body is not JSON/);
    });
  });

  describe('retained messages', () => {
    before(async () => {
      const pub = await connect(f.broker.port, { protocolVersion: 5, clientId: 'ret-pub' });
      await pub.publish('r/1', 'one', 1, { retain: true, properties: { contentType: 'text/plain', userProperties: [['k', 'v']] } });
      await pub.publish('r/2', 'x'.repeat(1000), 1, { retain: true });
      await pub.publish('r/3/bin', new Uint8Array([0xff, 0x00, 0x80]), 1, { retain: true });
    });

    it('lists by filter and pages, payloads as text or base64, cut at payloadLimit', async () => {
      const answer = await f.request<Page<RetainedItem>>('GET', `/api/v1/retained?filter=${encodeURIComponent('r/#')}`);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.json.items.map((m) => m.topic), ['r/1', 'r/2', 'r/3/bin']);
      const [one, two, bin] = answer.json.items;
      assert.equal(one!.payload, 'one');
      assert.deepEqual(one!.properties, { contentType: 'text/plain', userProperties: [['k', 'v']] });
      assert.equal(two!.payload.length, 256);
      assert.equal(two!.truncated, true);
      assert.equal(two!.payloadSize, 1000);
      assert.equal(bin!.payloadEncoding, 'base64');
      assert.equal(bin!.payload, Buffer.from([0xff, 0x00, 0x80]).toString('base64'));
      const paged = await f.request<Page<RetainedItem>>('GET', `/api/v1/retained?filter=${encodeURIComponent('r/#')}&limit=2&payloadLimit=0`);
      assert.deepEqual(paged.json.items.map((m) => [m.topic, m.payload]), [['r/1', ''], ['r/2', '']]);
      const rest = await f.request<Page<RetainedItem>>('GET', `/api/v1/retained?filter=${encodeURIComponent('r/#')}&limit=2&cursor=${paged.json.nextCursor}`);
      assert.deepEqual(rest.json.items.map((m) => m.topic), ['r/3/bin']);
      const sys = await f.request<Page<RetainedItem>>('GET', '/api/v1/retained');
      assert.ok(sys.json.items.every((m) => !m.topic.startsWith('$')), '# does not match $SYS');
      const bad = await f.request('GET', `/api/v1/retained?filter=${encodeURIComponent('r/#/x')}`);
      assert.equal(bad.status, 400);
      assert.match(bad.json.error.message, /not a valid topic filter/);
    });

    it('gets one by its percent-encoded topic (or with plain slashes), 404 when none, 400 for a bad topic', async () => {
      const encoded = await f.request<RetainedItem>('GET', '/api/v1/retained/r%2F2');
      assert.equal(encoded.status, 200);
      assert.equal(encoded.json.payloadSize, 1000);
      assert.equal(encoded.json.truncated, false, 'one message shows its whole payload');
      const plain = await f.request<RetainedItem>('GET', '/api/v1/retained/r/1');
      assert.equal(plain.json.topic, 'r/1');
      assert.equal((await f.request('GET', '/api/v1/retained/r%2Fnone')).status, 404);
      const bad = await f.request('GET', '/api/v1/retained/r%2F%2B');
      assert.equal(bad.status, 400);
      assert.match(bad.json.error.message, /'r\/\+' is not a valid topic name/);
    });

    it('deletes one without sending subscribers anything, and many by filter', async () => {
      const watcher = await connect(f.broker.port, { protocolVersion: 5, clientId: 'ret-watch' });
      await watcher.subscribe('r/#', 1);
      await watcher.drain(100);
      assert.equal((await f.request('DELETE', '/api/v1/retained/r%2F1')).status, 204);
      assert.equal((await f.request('GET', '/api/v1/retained/r%2F1')).status, 404);
      assert.equal((await f.request('DELETE', '/api/v1/retained/r%2F1')).status, 404);
      const deleted = await f.request<{ deleted: number }>('DELETE', `/api/v1/retained?filter=${encodeURIComponent('r/#')}`);
      assert.equal(deleted.json.deleted, 2);
      assert.deepEqual((await f.request<Page<RetainedItem>>('GET', `/api/v1/retained?filter=${encodeURIComponent('r/#')}`)).json.items, []);
      assert.deepEqual((await watcher.drain(200)).filter((p) => p.type === 'publish'), [], 'no empty retained message was routed');
      const noFilter = await f.request('DELETE', '/api/v1/retained');
      assert.equal(noFilter.status, 400);
      assert.match(noFilter.json.error.message, /'filter' is required/);
    });
  });

  describe('publish', () => {
    it('publishes as the broker with properties; base64 payloads; retained', async () => {
      const sub = await connect(f.broker.port, { protocolVersion: 5, clientId: 'pub-sub' });
      await sub.subscribe('api/#', 1);
      const answer = await f.request<{ delivered: number }>('POST', '/api/v1/publish', {
        body: { topic: 'api/1', payload: 'hello', qos: 1, properties: { contentType: 'text/plain', userProperties: { from: 'api' }, messageExpiryInterval: 60 } },
      });
      assert.equal(answer.status, 200);
      assert.equal(answer.json.delivered, 1);
      const got = await sub.expectPublish('api/1');
      assert.equal(text(got.payload), 'hello');
      assert.equal(got.qos, 1);
      assert.equal(got.properties?.contentType, 'text/plain');
      assert.deepEqual(got.properties?.userProperties, [['from', 'api']]);
      assert.ok((got.properties?.messageExpiryInterval ?? 0) > 0);
      await f.request('POST', '/api/v1/publish', { body: { topic: 'api/2', payload: Buffer.from([1, 2, 3]).toString('base64'), payloadEncoding: 'base64', retain: true } });
      assert.deepEqual([...(await sub.expectPublish('api/2')).payload], [1, 2, 3]);
      assert.equal((await f.request<RetainedItem>('GET', '/api/v1/retained/api%2F2')).json.payload, 'AQID');
    });

    it('answers a bad publish with the cause', async () => {
      const cases: Array<[unknown, RegExp]> = [
        [{ topic: 'a/+', payload: 'x' }, /'a\/\+' is not a valid topic name/],
        [{ topic: '$SYS/x', payload: 'x' }, /\$SYS topics/],
        [{ payload: 'x' }, /'topic' is required/],
        [{ topic: 'a', payload: '***', payloadEncoding: 'base64' }, /'payload' is not base64/],
        [{ topic: 'a', qos: -1 }, /'qos' must be an integer from 0 to 2/],
        [{ topic: 'a', properties: { userProperties: [['k']] } }, /'properties.userProperties' must be/],
        [{ topic: 'a', properties: { topicAlias: 1 } }, /unknown field 'properties.topicAlias'/],
        [{ topic: 'a', payload: '/w==', payloadEncoding: 'base64', properties: { payloadFormatIndicator: true } }, /not UTF-8|is not/],
      ];
      for (const [body, message] of cases) {
        const answer = await f.request('POST', '/api/v1/publish', { body });
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.match(answer.json.error.message, message, JSON.stringify(body));
      }
    });
  });

  describe('OpenAPI', () => {
    it('documents every route as OpenAPI 3.1, and every reference resolves', async () => {
      const answer = await f.request<{ openapi: string; paths: Record<string, Record<string, { responses: object }>>; components: Record<string, Record<string, unknown>> }>(
        'GET',
        '/api/openapi.json',
      );
      assert.equal(answer.status, 200);
      const doc = answer.json;
      assert.equal(doc.openapi, '3.1.0');
      const operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
      for (const expected of [
        'GET /api/v1/clients',
        'DELETE /api/v1/clients/{clientId}',
        'GET /api/v1/sessions',
        'DELETE /api/v1/sessions/{clientId}',
        'POST /api/v1/clients/{clientId}/subscriptions',
        'GET /api/v1/retained',
        'DELETE /api/v1/retained/{topic}',
        'POST /api/v1/publish',
        'POST /api/v1/reload',
        'GET /api/v1/broker',
        'POST /api/v1/traces',
        'GET /api/v1/traces/{id}/events',
        'GET /metrics',
      ]) {
        assert.ok(operations.includes(expected), expected);
      }
      const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/(\w+)\/(\w+)"/g)];
      assert.ok(refs.length > 20);
      for (const [, kind, name] of refs) assert.ok(doc.components[kind!]?.[name!] !== undefined, `${kind}/${name}`);
    });
  });
});
