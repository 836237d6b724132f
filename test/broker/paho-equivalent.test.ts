// The behaviours the Eclipse Paho interoperability suite checks (10 MQTT 3.1.1 and 27 MQTT 5.0 tests), spoken in
// exact protocol through the raw client, without depending on the suite itself. The broker runs as the suite
// expects it: keepalive capped at 60 s and subscriptions to `test/nosubscribe` refused with 0x80.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { ConnectPacket, Packet, ProtocolVersion, PublishPacket } from '../../src/packet/types.js';
import { RawClient } from '../helpers/raw-client.js';
import { brokerKinds, startBroker, type BrokerUnderTest } from './target.js';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString();
const publishes = (packets: Packet[]): PublishPacket[] => packets.filter((p): p is PublishPacket => p.type === 'publish');

for (const kind of brokerKinds()) {
  describe(`Paho-equivalent behaviours against ${kind}`, () => {
    let broker: BrokerUnderTest;
    let open: RawClient[] = [];

    before(async () => {
      broker = await startBroker(kind, {
        limits: { maxKeepalive: 60 },
        refuseSubscriptions: ['test/nosubscribe'],
      });
    });
    after(() => broker?.stop());
    afterEach(() => {
      for (const c of open) c.destroy();
      open = [];
    });

    async function client(
      version: ProtocolVersion,
      fields: Partial<Omit<ConnectPacket, 'type' | 'protocolVersion'>> = {},
      options: { autoAck?: boolean } = {},
    ): Promise<RawClient> {
      const { client: c, connack } = await RawClient.connect(broker.port, { protocolVersion: version, ...fields }, options);
      open.push(c);
      assert.equal(connack.reasonCode, 0, `CONNACK refused: 0x${connack.reasonCode.toString(16)}`);
      return c;
    }

    for (const version of [4, 5] as const) {
      const v = version === 4 ? 'v3.1.1' : 'v5';
      const t = (name: string): string => `paho/${v}/${name}`;

      test(`${v} basic: QoS 0/1/2 round trip; a second CONNECT and a wrong protocol name close the connection`, async () => {
        const a = await client(version);
        assert.deepEqual(await a.subscribe(t('basic'), 2), [2]);
        for (const qos of [0, 1, 2] as const) await a.publish(t('basic'), `qos ${qos}`, qos);
        const got = [await a.expect('publish'), await a.expect('publish'), await a.expect('publish')];
        assert.deepEqual(
          got.map((p) => [text(p.payload), p.qos]),
          [
            ['qos 0', 0],
            ['qos 1', 1],
            ['qos 2', 2],
          ],
        );

        a.send({ type: 'connect', protocolVersion: version, clientId: 'again', clean: true, keepalive: 0 });
        await a.closedWithin();

        // Protocol name "hj" instead of "MQTT": CONNECT, remaining length, name, level, flags, keepalive, id.
        const raw = await RawClient.open(broker.port, { version });
        open.push(raw);
        const props = version === 5 ? [0] : [];
        raw.sendRaw(Uint8Array.from([0x10, 10 + props.length, 0, 2, 0x68, 0x6a, version, 2, 0, 0, ...props, 0, 0]));
        await raw.closedWithin();
        assert.ok(!raw.pending().some((p) => p.type === 'connack' && p.reasonCode === 0), 'accepted a bad protocol name');
      });

      test(`${v} retained messages: stored per topic with their QoS and properties, cleared by an empty payload`, async () => {
        const a = await client(version);
        const props = version === 5 ? { userProperties: [['a', '2'], ['c', '3']] as Array<[string, string]> } : undefined;
        for (const qos of [0, 1, 2] as const) {
          await a.publish(t(`retained/q${qos}`), `qos ${qos}`, qos, { retain: true, ...(props && { properties: props }) });
        }
        const b = await client(version);
        await b.subscribe(t('retained/+'), 2);
        const got = [await b.expect('publish'), await b.expect('publish'), await b.expect('publish')];
        assert.deepEqual(got.map((p) => [p.topic, p.qos, p.retain]).sort(), [
          [t('retained/q0'), 0, true],
          [t('retained/q1'), 1, true],
          [t('retained/q2'), 2, true],
        ]);
        if (props) for (const p of got) assert.deepEqual(p.properties?.userProperties, props.userProperties);

        for (const qos of [0, 1, 2] as const) await a.publish(t(`retained/q${qos}`), '', 0, { retain: true });
        const c = await client(version);
        await c.subscribe(t('retained/+'), 2);
        await a.publish(t('retained/live'), 'live', 1);
        const live = await c.expect('publish');
        assert.deepEqual([live.topic, live.retain], [t('retained/live'), false], 'a cleared retained message came back');
      });

      test(`${v} zero-length client id`, async () => {
        if (version === 4) {
          const ok = await client(4, { clientId: '', clean: true });
          ok.disconnect();
          const { client: refused, connack } = await RawClient.connect(broker.port, { protocolVersion: 4, clientId: '', clean: false });
          open.push(refused);
          assert.equal(connack.reasonCode, 2, 'clean session 0 with an empty id must get CONNACK 0x02');
          await refused.closedWithin();
        } else {
          for (const clean of [true, false]) {
            const { client: c, connack } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: '', clean });
            open.push(c);
            assert.equal(connack.reasonCode, 0);
            assert.ok(connack.properties?.assignedClientIdentifier, 'no Assigned Client Identifier');
            c.disconnect();
          }
        }
      });

      test(`${v} offline message queueing: QoS 1 and 2 messages wait for a persistent session`, async () => {
        const id = `${v}-offline`;
        const expiry = version === 5 ? { properties: { sessionExpiryInterval: 99999 } } : {};
        const a = await client(version, { clientId: id, clean: version === 5, ...expiry });
        await a.subscribe(t('offline/+'), 2);
        a.disconnect();
        await a.closedWithin();
        const b = await client(version);
        for (const qos of [0, 1, 2] as const) await b.publish(t(`offline/q${qos}`), `qos ${qos}`, qos);
        const { client: back, connack } = await RawClient.connect(broker.port, { protocolVersion: version, clientId: id, clean: false, ...expiry });
        open.push(back);
        assert.equal(connack.sessionPresent, true);
        await back.expectPublish(t('offline/q1'));
        await back.expectPublish(t('offline/q2'));
        back.disconnect();
      });

      test(`${v} overlapping subscriptions: one message at the highest QoS, or one per subscription`, async () => {
        const a = await client(version);
        await a.subscribe([
          { topicFilter: t('overlap/#'), qos: 2 },
          { topicFilter: t('overlap/+'), qos: 1 },
        ]);
        await a.publish(t('overlap/x'), 'overlapping', 2);
        const got = publishes(await a.drain(500));
        // MQTT-3.3.5-1; the issue also requires a single copy at the highest QoS for 3.1.1.
        if (version === 4 || got.length === 1) {
          assert.deepEqual(got.map((p) => p.qos), [2]);
        } else {
          assert.deepEqual(got.map((p) => p.qos).sort(), [1, 2]);
        }
      });

      test(`${v} keepalive: a silent client is disconnected and its will published`, async () => {
        const watcher = await client(version);
        await watcher.subscribe(t('keepalive/will'), 2);
        const silent = await client(version, {
          keepalive: 2,
          will: { topic: t('keepalive/will'), payload: new TextEncoder().encode('keepalive expiry'), qos: 1, retain: false },
        });
        await silent.closedWithin(10_000);
        const will = await watcher.expectPublish(t('keepalive/will'), 5000);
        assert.equal(text(will.payload), 'keepalive expiry');
      });

      test(`${v} redelivery on reconnect: unacknowledged QoS 1 and 2 messages come again with DUP`, async () => {
        const id = `${v}-redeliver`;
        const expiry = version === 5 ? { properties: { sessionExpiryInterval: 99999 } } : {};
        const a = await client(version, { clientId: id, clean: version === 5, ...expiry }, { autoAck: false });
        await a.subscribe(t('redeliver/+'), 2);
        const sender = await client(version);
        await sender.publish(t('redeliver/q1'), 'one', 1);
        await sender.publish(t('redeliver/q2'), 'two', 2);
        const first = [await a.expect('publish'), await a.expect('publish')];
        assert.deepEqual(first.map((p) => p.dup), [false, false]);
        a.destroy();
        await a.closedWithin();
        const { client: back, connack } = await RawClient.connect(
          broker.port,
          { protocolVersion: version, clientId: id, clean: false, ...expiry },
          { autoAck: true },
        );
        open.push(back);
        assert.equal(connack.sessionPresent, true);
        const again = [await back.expect('publish'), await back.expect('publish')];
        assert.deepEqual(again.map((p) => [p.topic, p.qos, p.dup]).sort(), [
          [t('redeliver/q1'), 1, true],
          [t('redeliver/q2'), 2, true],
        ]);
        back.disconnect();
      });

      test(`${v} subscribe failure: test/nosubscribe is refused with 0x80`, { skip: kind === 'mosquitto' && 'needs a dynamic-security plugin in Mosquitto' }, async () => {
        const a = await client(version);
        assert.deepEqual(await a.subscribe([{ topicFilter: 'test/nosubscribe', qos: 2 }, { topicFilter: t('fine'), qos: 1 }]), [0x80, 1]);
      });

      test(`${v} $ topics are not matched by leading wildcards`, async () => {
        const a = await client(version);
        await a.subscribe([
          { topicFilter: '+/+', qos: 1 },
          { topicFilter: '#', qos: 1 },
        ]);
        await a.drain(200); // retained messages of other tests
        await a.publish(`$${t('dollar')}`, 'dollar', 1);
        await a.publish(t('dollar'), 'plain', 1);
        const got = await a.expect('publish');
        assert.equal(got.topic, t('dollar'));
        assert.ok(!publishes(await a.drain(200)).some((p) => p.topic.startsWith('$')), 'a $ topic matched # or +/+');
      });

      test(`${v} unsubscribe stops delivery for that filter only`, async () => {
        const a = await client(version);
        await a.subscribe([
          { topicFilter: t('unsub/a'), qos: 1 },
          { topicFilter: t('unsub/b'), qos: 1 },
          { topicFilter: t('unsub/c'), qos: 1 },
        ]);
        const codes = await a.unsubscribe([t('unsub/a'), t('unsub/b'), t('unsub/none')]);
        assert.deepEqual(codes, version === 5 ? [0, 0, 0x11] : []);
        for (const x of ['a', 'b', 'c']) await a.publish(t(`unsub/${x}`), x, 1);
        const got = await a.expect('publish');
        assert.equal(got.topic, t('unsub/c'));
        assert.deepEqual(publishes(await a.drain(300)), []);
      });
    }

    describe('MQTT 5 only', () => {
      const t = (name: string): string => `paho/v5/${name}`;

      test('will message: published with its properties on an abnormal close, not after DISCONNECT, yes after DISCONNECT 0x04', async () => {
        const watcher = await client(5);
        await watcher.subscribe(t('will'), 2);
        const will = {
          topic: t('will'),
          payload: new TextEncoder().encode('will message'),
          qos: 1 as const,
          retain: false,
          properties: { userProperties: [['a', '2'], ['c', '3']] as Array<[string, string]>, willDelayInterval: 0 },
        };
        const a = await client(5, { will });
        a.destroy();
        const got = await watcher.expectPublish(t('will'));
        assert.deepEqual(got.properties?.userProperties, [['a', '2'], ['c', '3']]);

        const b = await client(5, { will });
        b.disconnect();
        const c = await client(5, { will: { ...will, payload: new TextEncoder().encode('asked for') } });
        c.disconnect(0x04);
        const next = await watcher.expectPublish(t('will'));
        assert.equal(text(next.payload), 'asked for', 'a will was sent after a normal DISCONNECT');
      });

      test('session expiry: a session outlives its connection for its expiry interval, then ends', async () => {
        const id = 'v5-expiry';
        const a = await client(5, { clientId: id, properties: { sessionExpiryInterval: 1 } });
        await a.subscribe(t('expiry'), 1);
        a.disconnect();
        await a.closedWithin();
        const { client: soon, connack: present } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 1 } });
        open.push(soon);
        assert.equal(present.sessionPresent, true, 'session gone before its expiry');
        // DISCONNECT may shorten the interval: 0 ends the session at once.
        soon.disconnect(0, { sessionExpiryInterval: 0 });
        await soon.closedWithin();
        const { client: later, connack: absent } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: id, clean: false });
        open.push(later);
        assert.equal(absent.sessionPresent, false, 'session kept after DISCONNECT set its expiry to 0');

        // A session that asked for 0 at CONNECT may not ask for more at DISCONNECT (MQTT-3.14.2-2).
        later.send({ type: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 30 } });
        const answer = await later.expect('disconnect').catch(() => undefined);
        if (answer) assert.equal(answer.reasonCode, 0x82);
        await later.closedWithin();

        const b = await client(5, { clientId: 'v5-expiry-2', properties: { sessionExpiryInterval: 1 } });
        b.destroy();
        await new Promise((r) => setTimeout(r, 2500));
        const { client: gone, connack } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: 'v5-expiry-2', clean: false });
        open.push(gone);
        assert.equal(connack.sessionPresent, false, 'session still present 2.5 s after a 1 s expiry');
      });

      test('user properties, payload format, content type, response topic and correlation data pass through in order', async () => {
        const a = await client(5);
        await a.subscribe(t('props'), 2);
        const properties = {
          userProperties: [['z', '1'], ['a', '2'], ['z', '3']] as Array<[string, string]>,
          payloadFormatIndicator: true,
          contentType: 'application/json',
          responseTopic: t('props/reply'),
          correlationData: Uint8Array.from([1, 2, 3, 0]),
        };
        await a.publish(t('props'), '{"x":1}', 2, { properties });
        const got = await a.expect('publish');
        assert.deepEqual(got.properties?.userProperties, properties.userProperties);
        assert.equal(got.properties?.payloadFormatIndicator, true);
        assert.equal(got.properties?.contentType, 'application/json');
        assert.equal(got.properties?.responseTopic, t('props/reply'));
        assert.deepEqual([...(got.properties?.correlationData ?? [])], [1, 2, 3, 0]);
      });

      test('publication expiry: expired queued messages are dropped, others arrive with the time left', async () => {
        const id = 'v5-pubexpiry';
        const a = await client(5, { clientId: id, properties: { sessionExpiryInterval: 60 } });
        await a.subscribe(t('pubexpiry/+'), 1);
        a.disconnect();
        await a.closedWithin();
        const b = await client(5);
        await b.publish(t('pubexpiry/short'), 'short', 1, { properties: { messageExpiryInterval: 1 } });
        await b.publish(t('pubexpiry/long'), 'long', 1, { properties: { messageExpiryInterval: 60 } });
        await b.publish(t('pubexpiry/retained'), 'r', 1, { retain: true, properties: { messageExpiryInterval: 1 } });
        await new Promise((r) => setTimeout(r, 2200));
        const back = await client(5, { clientId: id, clean: false, properties: { sessionExpiryInterval: 0 } });
        const got = await back.expect('publish');
        assert.equal(got.topic, t('pubexpiry/long'));
        const left = got.properties?.messageExpiryInterval ?? 0;
        assert.ok(left > 0 && left < 60, `message expiry interval not decremented: ${left}`);
        assert.deepEqual(publishes(await back.drain(300)), []);
        const c = await client(5);
        await c.subscribe(t('pubexpiry/retained'), 1);
        await c.publish(t('pubexpiry/after'), 'after', 0);
        assert.deepEqual(publishes(await c.drain(300)), [], 'an expired retained message was delivered');
      });

      test('subscribe options: no local, retain as published, retain handling 0/1/2', async () => {
        const a = await client(5);
        await a.subscribe({ topicFilter: t('opts/nolocal'), qos: 1, noLocal: true });
        await a.publish(t('opts/nolocal'), 'mine', 1);
        const b = await client(5);
        await b.publish(t('opts/nolocal'), 'theirs', 1);
        assert.equal(text((await a.expect('publish')).payload), 'theirs');

        await a.subscribe({ topicFilter: t('opts/rap'), qos: 1, retainAsPublished: true });
        await a.subscribe({ topicFilter: t('opts/norap/+'), qos: 1 });
        await b.publish(t('opts/rap'), 'kept flag', 1, { retain: true });
        assert.equal((await a.expectPublish(t('opts/rap'))).retain, true);
        await b.publish(t('opts/norap/x'), 'cleared flag', 1, { retain: true });
        assert.equal((await a.expectPublish(t('opts/norap/x'))).retain, false);

        const c = await client(5);
        await c.subscribe({ topicFilter: t('opts/rap'), qos: 1, retainHandling: 2 });
        await c.subscribe({ topicFilter: t('opts/norap/+'), qos: 1, retainHandling: 1 });
        assert.equal((await c.expectPublish(t('opts/norap/x'))).retain, true, 'retain handling 1 sends on a new subscription');
        await c.subscribe({ topicFilter: t('opts/norap/+'), qos: 1, retainHandling: 1 });
        await c.subscribe({ topicFilter: t('opts/norap/+'), qos: 1, retainHandling: 0 });
        assert.equal((await c.expectPublish(t('opts/norap/x'))).retain, true, 'retain handling 0 sends on every subscribe');
        assert.deepEqual(publishes(await c.drain(300)), [], 'retain handling 2 or a repeated 1 sent retained messages');
        await b.publish(t('opts/rap'), '', 1, { retain: true });
        await b.publish(t('opts/norap/x'), '', 1, { retain: true });
      });

      test('subscription identifiers: every matching subscription id is on the delivery', async () => {
        const a = await client(5);
        await a.subscribe({ topicFilter: t('subid/+'), qos: 1 }, 0, { subscriptionIdentifiers: [2] });
        await a.subscribe({ topicFilter: t('subid/#'), qos: 1 }, 0, { subscriptionIdentifiers: [3] });
        await a.publish(t('subid/x'), 'ids', 1);
        const got = publishes(await a.drain(500));
        const ids = got.flatMap((p) => p.properties?.subscriptionIdentifiers ?? []).sort();
        assert.deepEqual(ids, [2, 3], `deliveries: ${JSON.stringify(got.map((p) => p.properties))}`);
      });

      test('request/response: response information when asked, response topic and correlation data passed on', async () => {
        const { client: a, connack } = await RawClient.connect(broker.port, { protocolVersion: 5, properties: { requestResponseInformation: true } });
        open.push(a);
        assert.equal(connack.reasonCode, 0);
        const responder = await client(5);
        await responder.subscribe(t('reqresp/request'), 1);
        await a.subscribe(t('reqresp/response'), 1);
        await a.publish(t('reqresp/request'), 'question', 1, {
          properties: { responseTopic: t('reqresp/response'), correlationData: Uint8Array.from([7, 7]) },
        });
        const request = await responder.expect('publish');
        const { responseTopic, correlationData } = request.properties ?? {};
        assert.equal(responseTopic, t('reqresp/response'));
        await responder.publish(responseTopic ?? '', 'answer', 1, { properties: { correlationData: correlationData ?? new Uint8Array() } });
        const response = await a.expect('publish');
        assert.equal(text(response.payload), 'answer');
        assert.deepEqual([...(response.properties?.correlationData ?? [])], [7, 7]);
      });

      test('client topic alias: an alias set with a topic stands for it; one above the maximum is a protocol error', async () => {
        const { client: a, connack } = await RawClient.connect(broker.port, { protocolVersion: 5 });
        open.push(a);
        const max = connack.properties?.topicAliasMaximum ?? 0;
        await a.subscribe(t('alias/client'), 1);
        if (max > 0) {
          await a.publish(t('alias/client'), 'set', 1, { properties: { topicAlias: 1 } });
          await a.publish('', 'used', 1, { properties: { topicAlias: 1 } });
          const got = [await a.expect('publish'), await a.expect('publish')];
          const topics = got.map((p) => p.topic || '(alias)');
          assert.ok(topics.every((x) => x === t('alias/client') || x === '(alias)'), topics.join());
          assert.deepEqual(got.map((p) => text(p.payload)), ['set', 'used']);
        }
        a.send({ type: 'publish', topic: t('alias/client'), payload: new Uint8Array(), qos: 0, retain: false, dup: false, properties: { topicAlias: max + 1 } });
        const disconnect = await a.expect('disconnect');
        assert.equal(disconnect.reasonCode, 0x94);
        await a.closedWithin();
      });

      test('server topic alias: aliases the broker uses stay within the client maximum and resolve to the topic', async () => {
        const a = await client(5, { properties: { topicAliasMaximum: 1 } });
        await a.subscribe([
          { topicFilter: t('salias/a'), qos: 1 },
          { topicFilter: t('salias/b'), qos: 1 },
        ]);
        const sent = [t('salias/a'), t('salias/a'), t('salias/b'), t('salias/a'), t('salias/b'), t('salias/b')];
        for (const topic of sent) await a.publish(topic, topic, 1);
        const aliases = new Map<number, string>();
        let used = 0;
        for (const expected of sent) {
          const p = await a.expect('publish');
          const alias = p.properties?.topicAlias;
          let topic = p.topic;
          if (alias !== undefined) {
            assert.ok(alias >= 1 && alias <= 1, `alias ${alias} above the client's maximum 1`);
            if (topic === '') {
              used++;
              topic = aliases.get(alias) ?? assert.fail(`alias ${alias} used before it was set`);
            } else {
              aliases.set(alias, topic);
            }
          }
          assert.equal(topic, expected);
          assert.equal(text(p.payload), expected);
        }
        if (kind === 'culex') assert.ok(used > 0, 'the broker never sent a PUBLISH by alias alone');
      });

      test('maximum packet size: the broker refuses larger packets and skips messages too large for a client', async () => {
        const small = await startBroker(kind, { limits: { maxPacketSize: 2048 } });
        try {
          const { client: a, connack } = await RawClient.connect(small.port, { protocolVersion: 5 });
          open.push(a);
          assert.equal(connack.properties?.maximumPacketSize, 2048);
          a.send({ type: 'publish', topic: t('big'), payload: new Uint8Array(2048), qos: 0, retain: false, dup: false });
          assert.equal((await a.expect('disconnect')).reasonCode, 0x95);
          await a.closedWithin();
        } finally {
          await small.stop();
        }
        const b = await client(5, { properties: { maximumPacketSize: 64 } });
        await b.subscribe(t('maxsize'), 1);
        await b.publish(t('maxsize'), '.'.repeat(32), 0);
        assert.equal((await b.expect('publish')).payload.length, 32);
        const c = await client(5);
        await c.publish(t('maxsize'), '.'.repeat(64), 1);
        await c.publish(t('maxsize'), 'small again', 1);
        const next = await b.expect('publish');
        assert.equal(text(next.payload), 'small again', 'a message larger than the client maximum was sent');
      });

      test('server keep alive: a keepalive above the cap is lowered to 60 and told', async () => {
        const { client: a, connack } = await RawClient.connect(broker.port, { protocolVersion: 5, keepalive: 120 });
        open.push(a);
        assert.equal(connack.properties?.serverKeepAlive, 60);
        const { client: b, connack: c311 } = await RawClient.connect(broker.port, { protocolVersion: 4, keepalive: 120 });
        open.push(b);
        assert.equal(c311.reasonCode, 0, '3.1.1 clients above the cap are accepted');
      });

      test('flow control: the broker never exceeds the client Receive Maximum', async () => {
        const a = await client(5, { properties: { receiveMaximum: 2 } }, { autoAck: false });
        await a.subscribe(t('flow1'), 1);
        const b = await client(5);
        for (let i = 1; i <= 3; i++) await b.publish(t('flow1'), `message ${i}`, 1);
        const first = await a.expect('publish');
        const second = await a.expect('publish');
        assert.deepEqual(publishes(await a.drain(500)), [], 'a third message came before an acknowledgement');
        a.send({ type: 'puback', packetId: first.packetId ?? 0 });
        const third = await a.expect('publish');
        assert.deepEqual([first, second, third].map((p) => text(p.payload)), ['message 1', 'message 2', 'message 3']);
      });

      test('flow control: a client exceeding the broker Receive Maximum gets DISCONNECT 0x93', async () => {
        const { client: a, connack } = await RawClient.connect(broker.port, { protocolVersion: 5 });
        open.push(a);
        const max = connack.properties?.receiveMaximum ?? 65535;
        assert.ok(max < 65535, 'the broker does not advertise a Receive Maximum');
        for (let i = 1; i <= max + 1; i++) {
          a.send({ type: 'publish', topic: t('flow2'), payload: new Uint8Array(1), qos: 2, retain: false, dup: false, packetId: i });
        }
        const disconnect = await a.expect('disconnect');
        assert.equal(disconnect.reasonCode, 0x93);
        await a.closedWithin();
      });

      test('will delay: cancelled by a timely reconnect, sent at session end when that comes first', async () => {
        const watcher = await client(5);
        await watcher.subscribe(t('willdelay/+'), 1);
        const will = (name: string, delay: number) => ({
          topic: t(`willdelay/${name}`),
          payload: new TextEncoder().encode(name),
          qos: 1 as const,
          retain: false,
          properties: { willDelayInterval: delay },
        });
        const a = await client(5, { clientId: 'v5-willdelay-a', will: will('cancelled', 3), properties: { sessionExpiryInterval: 30 } });
        a.destroy();
        await a.closedWithin();
        const back = await client(5, { clientId: 'v5-willdelay-a', clean: false, properties: { sessionExpiryInterval: 0 } });
        // Session expiry (1 s) comes long before the will delay (3600 s): the will goes then.
        const b = await client(5, { clientId: 'v5-willdelay-b', will: will('at-expiry', 3600), properties: { sessionExpiryInterval: 1 } });
        b.destroy();
        const got = await watcher.expect('publish', 10_000);
        assert.equal(got.topic, t('willdelay/at-expiry'));
        back.disconnect();
        assert.deepEqual(publishes(await watcher.drain(3500)), [], 'a will was sent although its client came back in time');
      });

      test('shared subscriptions: each message goes to one member; No Local on a shared subscription is a protocol error', async () => {
        const members = [await client(5), await client(5)];
        for (const m of members) await m.subscribe(`$share/sharename/${t('shared')}`, 1);
        const plain = await client(5);
        await plain.subscribe(t('shared'), 1);
        const count = 20;
        for (let i = 0; i < count; i++) await plain.publish(t('shared'), `m${i}`, 1);
        for (let i = 0; i < count; i++) assert.equal(text((await plain.expect('publish')).payload), `m${i}`);
        const received = (await Promise.all(members.map((m) => m.drain(500)))).map((got) => publishes(got).map((p) => text(p.payload)));
        assert.deepEqual(received.flat().sort(), Array.from({ length: count }, (_, i) => `m${i}`).sort(), 'each message once to the group');

        const bad = await client(5);
        bad.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: `$share/g/${t('shared')}`, qos: 0, noLocal: true }] });
        const answer = await bad.expect('disconnect');
        assert.equal(answer.reasonCode, 0x82);
        await bad.closedWithin();
      });
    });
  });
}
